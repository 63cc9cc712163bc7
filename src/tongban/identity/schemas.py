"""Pydantic models of the identity API. ID numbers leave the node masked, never in full
(except the one audited reveal response)."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from tongban.identity.models import Account


class LoginIn(BaseModel):
    username: str = Field(max_length=64)
    password: str = Field(max_length=256)


class ScopeIO(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    region_code: str = Field(min_length=1, max_length=12)
    department_id: uuid.UUID | None = None


class AccountOut(BaseModel):
    id: uuid.UUID
    username: str
    display_name: str
    roles: list[str]
    scopes: list[ScopeIO]
    person_id: uuid.UUID | None
    enterprise_id: uuid.UUID | None
    active: bool
    created_at: datetime

    @classmethod
    def of(cls, account: Account) -> AccountOut:
        """The public view of an account (never its password hash)."""
        return cls(
            id=account.id, username=account.username, display_name=account.display_name,
            roles=sorted(r.role for r in account.roles),
            scopes=[ScopeIO.model_validate(s) for s in account.scopes],
            person_id=account.person_id, enterprise_id=account.enterprise_id,
            active=account.active, created_at=account.created_at,
        )


class LoginOut(BaseModel):
    token: str
    expires_at: datetime
    account: AccountOut
    # For a caller that uses the cookie instead of the bearer token: the X-CSRF-Token
    # header its POST/PUT/PATCH/DELETE requests must carry.
    csrf_token: str


class MeOut(BaseModel):
    account: AccountOut
    acting_for_authorisation_id: uuid.UUID | None = None


class ActForIn(BaseModel):
    authorisation_id: uuid.UUID


class AccountIn(BaseModel):
    username: str = Field(max_length=64)
    password: str = Field(max_length=256)
    display_name: str = Field(max_length=100)
    roles: list[str]
    scopes: list[ScopeIO] = []
    person_id: uuid.UUID | None = None
    enterprise_id: uuid.UUID | None = None


class PersonIn(BaseModel):
    name: str = Field(max_length=100)
    id_number: str = Field(max_length=32)
    phone: str | None = Field(default=None, max_length=32)


class PersonOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    id_number_masked: str
    gender: str
    birth_date: date
    home_region: str
    created_at: datetime


class RevealIn(BaseModel):
    purpose: str = Field(max_length=200)
    case_id: uuid.UUID | None = None


class RevealOut(BaseModel):
    person_id: uuid.UUID
    id_number: str


class EnterpriseIn(BaseModel):
    name: str = Field(max_length=200)
    credit_code: str = Field(max_length=32)
    region_code: str | None = Field(default=None, max_length=12)
    legal_representative_id: uuid.UUID | None = None


class EnterpriseOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    credit_code: str
    region_code: str
    legal_representative_id: uuid.UUID | None
    created_at: datetime


class AgentAuthorisationIn(BaseModel):
    agent_account_id: uuid.UUID
    principal_person_id: uuid.UUID | None = None
    principal_enterprise_id: uuid.UUID | None = None
    item_codes: list[str] = Field(default=[], max_length=200)
    valid_from: AwareDatetime | None = None
    valid_until: AwareDatetime


class AgentAuthorisationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    agent_account_id: uuid.UUID
    principal_person_id: uuid.UUID | None
    principal_enterprise_id: uuid.UUID | None
    item_codes: list[str]
    valid_from: datetime
    valid_until: datetime
    revoked_at: datetime | None
    created_by: uuid.UUID | None
    created_at: datetime


class RevokeIn(BaseModel):
    reason: str = Field(default="", max_length=500)
