"""Pydantic models of the bundles API: a bundle's terms in, its merged form and materials
out, and a bundle case with its tasks."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tongban.bundles.models import DenyRule
from tongban.cases.models import Channel
from tongban.cases.schemas import ApplicantIn, CaseOut, CaseSummary

CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{1,39}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class MemberIn(_Strict):
    implementation_code: str = Field(min_length=31, max_length=31)
    depends_on: list[str] = Field(default_factory=list, max_length=20)
    promised_days: int | None = Field(default=None, ge=0, le=365)


class BundleIn(_Strict):
    """A bundle's terms: a new bundle with its draft v1, or the next draft of one."""

    code: str = Field(pattern=CODE_PATTERN)
    name: str = Field(min_length=2, max_length=200)
    topic: str = Field(default="", max_length=60)
    description: str = Field(default="", max_length=4000)
    region_code: str = Field(pattern=r"^[0-9]{6}([0-9]{3}){0,2}$")
    legal_days: int = Field(ge=1, le=365)
    promised_days: int = Field(ge=0, le=365)
    deny_rule: DenyRule = DenyRule.deny_bundle
    members: list[MemberIn] = Field(min_length=2, max_length=20)

    @model_validator(mode="after")
    def _limits(self) -> BundleIn:
        if self.promised_days > self.legal_days:
            raise ValueError("承诺时限不得超过法定时限 / promised_days must not exceed "
                             "legal_days")
        return self


class ApplyIn(_Strict):
    form_data: dict[str, Any] = Field(default_factory=dict)
    channel: Channel = Channel.online
    applicant: ApplicantIn | None = None
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=100)


class MemberOut(BaseModel):
    implementation_code: str
    name: str
    item_code: str
    department_id: uuid.UUID
    department_name: str
    region_code: str
    item_kind: str
    depends_on: list[str]
    legal_days: int
    promised_days: int
    promised_days_override: bool
    published: bool


class FieldOut(BaseModel):
    name: str
    title: str
    type: str | None
    required: bool
    members: list[str]


class MaterialOut(BaseModel):
    code: str
    name: str
    required: bool
    source: str
    deficiency_allowed: bool
    members: list[str]
    names: list[str]


class BundleSummary(BaseModel):
    code: str
    name: str
    topic: str
    region_code: str
    version: int
    state: str
    legal_days: int
    promised_days: int
    deny_rule: str
    member_count: int
    published_at: datetime | None


class BundleOut(BundleSummary):
    description: str
    members: list[MemberOut]
    applicant_types: list[str]
    handling_forms: list[str]
    form_schema: dict[str, Any]
    fields: list[FieldOut]
    materials: list[MaterialOut]
    problems: list[dict[str, Any]]


class TaskOut(BaseModel):
    implementation_code: str
    name: str
    department_id: uuid.UUID
    depends_on: list[str]
    status: str
    note: str | None
    case: CaseSummary | None


class SharedMaterialOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    material_code: str
    name: str
    sha256: str
    size: int
    content_type: str
    filename: str
    supplied_at: datetime
    shared_with: list[str]


class HeldLicenceOut(BaseModel):
    """A material a task case got from the applicant's valid e-licence (一证通办)."""

    material_code: str
    name: str
    reference: str | None
    task_case_number: str
    supplied_at: datetime


class BundleCaseOut(BaseModel):
    bundle_code: str
    bundle_name: str
    bundle_version: int
    deny_rule: str
    case: CaseOut
    tasks: list[TaskOut]
    materials: list[SharedMaterialOut]
    licences: list[HeldLicenceOut] = Field(default_factory=list)
