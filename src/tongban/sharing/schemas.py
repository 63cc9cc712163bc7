"""Pydantic models of the sharing API and of the sharing catalog document."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tongban.identity.ids import IdentifierError, validate_uscc
from tongban.sharing.fields import FieldSpec, Masking
from tongban.sharing.models import SharingType, SubjectKind

CATALOG_FORMAT = "tongban-sharing-catalog/1"
FREQUENCIES = ("realtime", "daily", "weekly", "monthly", "quarterly", "yearly", "on_change")
REGISTRIES = ("population", "legal_entity", "social_insurance", "housing_fund", "credit",
              "real_estate", "vehicle", "income_tax", "disability", "civil_assistance")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _credit_code(value: str) -> str:
    try:
        return validate_uscc(value)
    except IdentifierError as exc:
        raise ValueError(str(exc)) from None


class DatasetIn(_Strict):
    """A dataset as the catalog document (and the API) states it."""

    code: str = Field(pattern=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$", max_length=60)
    name: str = Field(min_length=1, max_length=100)
    aliases: list[str] = Field(default_factory=list)
    base_registry: str
    owner_credit_code: str
    subject_kind: SubjectKind
    fields: list[FieldSpec] = Field(min_length=2)
    record_key: str | None = None
    update_frequency: str = "daily"
    sharing_type: SharingType = SharingType.conditional
    sharing_conditions: str = ""
    legal_basis: str = Field(min_length=1)
    description: str = ""

    _owner = field_validator("owner_credit_code")(_credit_code)

    @field_validator("base_registry")
    @classmethod
    def _known_registry(cls, value: str) -> str:
        if value not in REGISTRIES:
            raise ValueError(f"基础库应为 {', '.join(REGISTRIES)} 之一 / unknown registry")
        return value

    @field_validator("update_frequency")
    @classmethod
    def _known_frequency(cls, value: str) -> str:
        if value not in FREQUENCIES:
            raise ValueError(f"更新频率应为 {', '.join(FREQUENCIES)} 之一 / unknown frequency")
        return value

    @model_validator(mode="after")
    def _fields_consistent(self) -> DatasetIn:
        names = [f.name for f in self.fields]
        if len(set(names)) != len(names):
            raise ValueError("字段名不得重复 / field names must not repeat")
        subjects = [f for f in self.fields if f.subject]
        wanted = "id_number" if self.subject_kind == SubjectKind.person else "credit_code"
        if len(subjects) != 1 or subjects[0].type != wanted or subjects[0].name != wanted:
            raise ValueError(f"须有且仅有一个名称和类型均为 {wanted} 的主体字段 / exactly one "
                             f"subject field, named and typed {wanted}")
        if self.record_key is not None and self.record_key not in names:
            raise ValueError("record_key 须为本数据集的字段 / record_key must be a field")
        if self.record_key == subjects[0].name:
            raise ValueError("record_key 不能是主体字段 / record_key cannot be the subject")
        return self


class CatalogDocument(_Strict):
    format: str
    datasets: list[DatasetIn]

    @field_validator("format")
    @classmethod
    def _format(cls, value: str) -> str:
        if value != CATALOG_FORMAT:
            raise ValueError(f"format 应为 {CATALOG_FORMAT} / format must be {CATALOG_FORMAT}")
        return value


class DatasetOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    name: str
    aliases: list[str]
    base_registry: str
    owner_department_id: uuid.UUID
    owner_name: str = ""
    owner_credit_code: str = ""
    subject_kind: str
    fields: list[dict[str, Any]]
    record_key: str | None
    update_frequency: str
    sharing_type: str
    sharing_conditions: str
    legal_basis: str
    description: str
    version: int
    updated_at: datetime
    records: int = 0


class CatalogReport(BaseModel):
    created: int
    updated: int
    unchanged: int


class ImportProblem(BaseModel):
    """One problem of an import file: the row as a spreadsheet numbers it (the header is
    row 1), the column, and what is wrong."""

    row: int | None
    field: str | None
    message: str


class ImportReport(BaseModel):
    batch_id: uuid.UUID
    dataset: str
    rows: int
    inserted: int
    updated: int
    unchanged: int
    deleted: int
    as_of: datetime
    source: str


class GrantOut(BaseModel):
    grant_id: uuid.UUID
    version: int
    status: str  # as stored: active / paused / revoked
    effective_status: str  # now: active / expired / exhausted / not_yet_valid / revoked
    dataset: str
    consumer_credit_code: str
    consumer_name: str
    consumer_region: str
    provider_name: str
    provider_region: str = ""
    purpose_code: str
    purpose_text: str
    basis: str
    legal_ref: str
    requires: str
    fields: dict[str, str]
    valid_from: datetime
    valid_until: datetime
    use_limit: int | None
    use_count: int
    hidden_days: int
    hidden_reason: str | None
    change_reason: str | None
    created_at: datetime
    jws: str
    signature_ok: bool | None = None
    signature_problem: str | None = None


class RequestOut(BaseModel):
    id: uuid.UUID
    dataset: str
    consumer_name: str
    consumer_credit_code: str
    fields: list[str]
    purpose_code: str
    purpose_text: str
    legal_ref: str
    wanted_days: int
    wanted_use_limit: int | None
    state: str
    filed_by_name: str
    created_at: datetime
    decided_at: datetime | None
    decision_reason: str | None
    grant_id: uuid.UUID | None


class DecideIn(_Strict):
    decision: str = Field(pattern="^(grant|refuse)$")
    reason: str | None = Field(default=None, max_length=500)
    masking: dict[str, Masking] | None = None  # checked here: an unknown masking is a 422
    basis: str = "statute"
    requires: str = "case_or_consent"
    valid_days: int | None = Field(default=None, ge=1, le=3650)
    use_limit: int | None = Field(default=None, ge=1)
    legal_ref: str | None = Field(default=None, max_length=500)


class RevokeIn(_Strict):
    reason: str = Field(min_length=1, max_length=500)


class QueryIn(_Strict):
    dataset: str = Field(max_length=60)
    subject: str = Field(min_length=1, max_length=32, description="ID number or credit code")
    purpose_code: str = Field(default="", max_length=40)
    purpose_text: str = Field(default="", max_length=500)
    fields: list[str] | None = None
    case_number: str | None = Field(default=None, max_length=32)
    consent_id: uuid.UUID | None = None
    consumer_credit_code: str | None = Field(default=None, max_length=18)
    provider_region: str | None = Field(default=None, max_length=12,
                                        description="a peer node's region: ask it")


class QueryRecord(BaseModel):
    values: dict[str, Any]
    source: str
    as_of: str


class QueryOut(BaseModel):
    access_id: uuid.UUID
    outcome: str
    dataset: str
    subject: str
    fields: list[str]
    purpose_code: str
    grant_id: uuid.UUID | None
    grant_version: int | None
    masking: dict[str, str] = Field(default_factory=dict)
    records: list[QueryRecord] = Field(default_factory=list)
    provider_region: str = ""
    reason: str | None = None


class AccessOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    at: datetime
    kind: str
    outcome: str
    reason: str | None
    actor_name: str
    consumer_name: str
    consumer_credit_code: str | None
    consumer_region: str
    provider_region: str
    dataset_code: str
    subject_masked: str
    fields: list[str]
    purpose_code: str
    purpose_text: str
    legal_ref: str
    grant_id: uuid.UUID | None
    grant_version: int | None
    case_number: str | None
    result_count: int
    hidden_until: datetime | None
    hidden_reason: str | None


class UsageRead(BaseModel):
    """One read of the subject's data, as the subject sees it."""

    at: datetime
    who: str  # the department
    by: str  # the staff member
    dataset: str
    dataset_name: str
    fields: list[str]
    purpose: str
    legal_basis: str
    case_number: str | None
    kind: str


class UsageHidden(BaseModel):
    reason: str
    shows_on: datetime


class UsageOut(BaseModel):
    reads: list[UsageRead]
    hidden: list[UsageHidden]


class ConsentIn(_Strict):
    consumer_credit_code: str = Field(max_length=18)
    dataset: str = Field(max_length=60)
    purpose_code: str = Field(min_length=1, max_length=40)
    purpose_text: str = Field(min_length=1, max_length=200)
    valid_days: int = Field(default=30, ge=1, le=365)


class ConsentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    consumer_credit_code: str
    dataset_code: str
    purpose_code: str
    given_via: str
    created_at: datetime
    valid_until: datetime
    revoked_at: datetime | None
    notice_sha256: str


class FetchIn(_Strict):
    implementation_code: str = Field(min_length=31, max_length=31)
    material_code: str = Field(min_length=1, max_length=40)
    case_number: str | None = Field(default=None, max_length=32)


class WindowFetchIn(_Strict):
    """一窗受理: a window clerk fetches a material of a walk-in applicant's case."""

    material_code: str = Field(min_length=1, max_length=40)
    applicant_agrees: bool = Field(description="the applicant, present, agreed to the fetch")


class AttachIn(_Strict):
    case_number: str = Field(min_length=1, max_length=32)


class PreviewOut(BaseModel):
    """A 免提交 fetch as the applicant previews it."""

    fetch_id: uuid.UUID | None
    state: str | None
    material_code: str
    material_name: str
    dataset: str | None
    dataset_name: str | None
    owner_name: str | None
    labels: dict[str, str]
    records: list[QueryRecord]
    case_number: str | None = None


class FetchedOut(BaseModel):
    """A fetched material as the reviewer sees it: values, source, time."""

    material_code: str
    dataset: str
    dataset_name: str
    owner_name: str
    fetched_at: datetime
    access_id: uuid.UUID
    grant_id: uuid.UUID | None
    labels: dict[str, str]
    records: list[QueryRecord]
