"""Pydantic models of the licences API."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class LicenceTypeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    name: str
    holder_kind: str
    issuer_kind: str
    field_schema: dict[str, Any]
    validity: dict[str, Any]
    item_codes: list[str]
    description: str
    reference_only: bool


class StatusChangeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    at: datetime
    from_status: str | None
    to_status: str
    reason: str
    actor_name: str


class LicenceOut(BaseModel):
    """A licence as its holder or the issuing department's staff see it."""

    identifier: str
    type_code: str
    type_name: str
    holder: dict[str, Any]
    fields: dict[str, Any]
    issuer: dict[str, Any]
    status: str
    status_name: str
    valid_from: date
    valid_until: date | None
    issued_at: datetime
    issued_on: date = Field(description="颁发日期: the Asia/Shanghai date of issued_at")
    case_id: str | None
    imported: bool
    jws: str
    document: dict[str, Any]
    replaced_by: str | None = None
    history: list[StatusChangeOut] = Field(default_factory=list)


class ReplaceIn(_Strict):
    """补领 (reissue: lost or damaged) or 换领 (renewal: expiring or particulars changed)."""

    kind: Literal["reissue", "renewal"]
    reason: str = Field(min_length=1, max_length=2000)
    fields: dict[str, Any] | None = Field(default=None, description="changed fields (换领)")


class StatusChangeIn(_Strict):
    status: str = Field(pattern=r"^0[1-57]$", description="01 有效 02 暂扣 03 撤销 04 注销 "
                                                          "05 失效 07 吊销")
    reason: str = Field(default="", max_length=2000)


class VerifyIn(_Strict):
    """Exactly one of licence_jws, identifier, qr_payload; `document` is the licence JSON
    shown beside its JWS, checked against what was signed."""

    licence_jws: str | None = Field(default=None, max_length=100_000)
    identifier: str | None = Field(default=None, max_length=200)
    qr_payload: str | None = Field(default=None, max_length=2000)
    document: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> VerifyIn:
        given = [v for v in (self.licence_jws, self.identifier, self.qr_payload) if v is not None]
        if len(given) != 1:
            raise ValueError("请提供 licence_jws、identifier、qr_payload 之一 / "
                             "give exactly one of licence_jws, identifier, qr_payload")
        return self


class VerificationOut(BaseModel):
    outcome: str
    valid: bool
    message: str
    identifier: str | None
    signature_valid: bool | None
    issuer_trusted: bool | None
    issuer: dict[str, Any] | None
    status: str | None
    status_name: str | None
    validity: str | None
    valid_from: str | None
    valid_until: str | None
    failures: list[str]
    changed_fields: list[str]
    document: dict[str, Any] | None
    replaced_by: str | None = Field(default=None, description="补领/换领: the identifier of "
                                                               "the licence that replaced it")


class LicenceImportIn(_Strict):
    """A licence issued before tongban (or by another system of the same department)."""

    licence_type_code: str = Field(min_length=1, max_length=100)
    identifier: str = Field(min_length=1, max_length=200)
    holder_id_number: str | None = None
    holder_credit_code: str | None = None
    issuer_credit_code: str = Field(min_length=18, max_length=18)
    fields: dict[str, Any]
    issued_at: datetime
    valid_from: date
    valid_until: date | None = None

    @model_validator(mode="after")
    def _one_holder(self) -> LicenceImportIn:
        if (self.holder_id_number is None) == (self.holder_credit_code is None):
            raise ValueError("须且只能给出 holder_id_number 或 holder_credit_code 之一 / give "
                             "exactly one of holder_id_number, holder_credit_code")
        if self.issued_at.tzinfo is None:
            raise ValueError("issued_at 须带时区 / issued_at needs a time zone")
        return self
