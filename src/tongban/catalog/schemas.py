"""Pydantic models of the catalog: the guide (办事指南) exactly as docs/catalog-format.md
specifies it, and the API's in/out models.

Cross-field rules are field validators on the later field (so an error names the field
that is wrong, e.g. `promised_days`, not the whole guide).
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)

from tongban.catalog.models import ItemType
from tongban.identity.ids import IdentifierError, validate_uscc

BASIC_CODE_RE = re.compile(r"^[0-9A-Z]{12}$")
REGION_CODE_RE = re.compile(r"^([0-9]{6}|[0-9]{9}|[0-9]{12})$")
FORMAT = "tongban-catalog/1"


class ItemKind(StrEnum):
    immediate = "immediate"  # 即办件
    promised = "promised"  # 承诺件


class ApplicantType(StrEnum):
    person = "person"
    enterprise = "enterprise"


class HandlingForm(StrEnum):
    window = "window"
    online = "online"
    mobile = "mobile"
    post = "post"


class CrossRegionMode(StrEnum):
    fully_online = "fully_online"  # 全程网办
    receive_and_forward = "receive_and_forward"  # 异地代收代办
    joint = "joint"  # 多地联办


class MaterialForm(StrEnum):
    original = "original"
    copy = "copy"
    electronic = "electronic"


class MaterialSource(StrEnum):
    upload = "upload"
    licence = "licence"
    shared_data = "shared_data"


class ResultKind(StrEnum):
    licence = "licence"
    document = "document"
    none = "none"


class _Strict(BaseModel):
    """Unknown fields are errors: a typo in an import file must not pass silently."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _unique(values: list[Any], what: str) -> list[Any]:
    if len(set(values)) != len(values):
        raise ValueError(f"{what}不得重复 / {what} must not repeat")
    return values


class Material(_Strict):
    """申请材料: one document the applicant supplies or the platform fetches."""

    code: str = Field(min_length=1, max_length=40)
    name: str = Field(min_length=1, max_length=200)
    required: bool = True
    key: bool = False
    deficiency_allowed: bool = Field(default=False, validate_default=True)
    form: MaterialForm = MaterialForm.original
    count: int = Field(default=1, ge=1)
    source: MaterialSource = MaterialSource.upload
    licence_type: str | None = Field(default=None, validate_default=True)
    dataset: str | None = Field(default=None, validate_default=True)
    note: str = ""

    @field_validator("deficiency_allowed")
    @classmethod
    def _deficiency_only_on_non_key(cls, value: bool, info: ValidationInfo) -> bool:
        if value and info.data.get("key"):
            raise ValueError(
                "关键材料不允许容缺 / deficiency_allowed is only allowed on non-key materials"
            )
        return value

    @field_validator("licence_type")
    @classmethod
    def _licence_type_when_licence(cls, value: str | None, info: ValidationInfo) -> str | None:
        value = value or None
        if info.data.get("source") == MaterialSource.licence and not value:
            raise ValueError(
                "来源为电子证照时须填写证照类型 / licence_type is required when source is licence"
            )
        return value

    @field_validator("dataset")
    @classmethod
    def _dataset_when_shared(cls, value: str | None, info: ValidationInfo) -> str | None:
        value = value or None
        if info.data.get("source") == MaterialSource.shared_data and not value:
            raise ValueError(
                "来源为共享数据时须填写数据集 / dataset is required when source is shared_data"
            )
        return value


class Step(_Strict):
    """办理流程: one step with its working days."""

    name: str = Field(min_length=1, max_length=100)
    days: int = Field(default=0, ge=0)
    description: str = ""


class Fee(_Strict):
    """收费: a named fee in yuan (a decimal string, never a float)."""

    name: str = Field(min_length=1, max_length=100)
    amount: Decimal = Field(ge=0, max_digits=14, decimal_places=2)
    basis: str = ""

    @field_validator("amount", mode="before")
    @classmethod
    def _no_floats(cls, value: Any) -> Any:
        if isinstance(value, float):
            raise ValueError("金额应为十进制字符串,如 \"10.50\" / amount must be a decimal string")
        if isinstance(value, str) and not re.fullmatch(r"[0-9]+(\.[0-9]{1,2})?", value.strip()):
            raise ValueError(
                "金额应为非负十进制字符串,最多两位小数 / amount must be a non-negative "
                "decimal string with at most 2 decimals"
            )
        return value


class Result(_Strict):
    """审批结果: what the applicant receives."""

    name: str = Field(min_length=1, max_length=200)
    kind: ResultKind = ResultKind.document
    licence_type: str | None = Field(default=None, validate_default=True)

    @field_validator("licence_type")
    @classmethod
    def _licence_type_when_licence(cls, value: str | None, info: ValidationInfo) -> str | None:
        value = value or None
        if info.data.get("kind") == ResultKind.licence and not value:
            raise ValueError(
                "结果为电子证照时须填写证照类型 / licence_type is required when kind is licence"
            )
        return value


class GuideElements(_Strict):
    """The elements every guide shares with its standard (the six elements of 三级六同,
    conditions and applicant types), validated as one whole."""

    item_kind: ItemKind
    applicant_types: list[ApplicantType] = Field(min_length=1)
    acceptance_conditions: list[str] = Field(default_factory=list)
    materials: list[Material] = Field(default_factory=list)
    steps: list[Step] = Field(default_factory=list)
    legal_days: int = Field(ge=0)
    promised_days: int = Field(ge=0)
    fees: list[Fee] = Field(default_factory=list)
    handling_forms: list[HandlingForm] = Field(min_length=1)
    online_depth: int = Field(ge=1, le=4)
    visits: int = Field(default=0, ge=0)
    cross_region_modes: list[CrossRegionMode] = Field(default_factory=list)
    special_procedures: list[str] = Field(default_factory=list)
    legal_basis: str = ""
    result: Result

    @field_validator("applicant_types", "handling_forms", "cross_region_modes")
    @classmethod
    def _no_repeats(cls, value: list[Any], info: ValidationInfo) -> list[Any]:
        return _unique(value, str(info.field_name))

    @field_validator("materials")
    @classmethod
    def _material_codes_unique(cls, value: list[Material]) -> list[Material]:
        _unique([m.code for m in value], "材料编码 / material code")
        return value

    @field_validator("promised_days")
    @classmethod
    def _promised_within_legal(cls, value: int, info: ValidationInfo) -> int:
        legal = info.data.get("legal_days")
        if legal is not None and value > legal:
            raise ValueError(
                f"承诺时限({value})不得超过法定时限({legal}) / promised_days must not "
                f"exceed legal_days"
            )
        if info.data.get("item_kind") == ItemKind.immediate and value != 0:
            raise ValueError(
                "即办件的承诺时限应为0 / an immediate item has promised_days 0"
            )
        return value

    @field_validator("cross_region_modes")
    @classmethod
    def _fully_online_needs_depth_4(
        cls, value: list[CrossRegionMode], info: ValidationInfo
    ) -> list[CrossRegionMode]:
        depth = info.data.get("online_depth")  # absent if it was itself invalid
        if CrossRegionMode.fully_online in value and depth is not None and depth != 4:
            raise ValueError(
                "全程网办要求网上办理深度为4 / fully_online needs online_depth 4"
            )
        return value


class Guide(GuideElements):
    """办事指南: every element an applicant needs, validated as one whole."""

    window_address: str = ""
    window_phone: str = ""
    office_hours: str = ""


class StandardGuide(GuideElements):
    """标准办事指南 of a standard item: the reference values every region's guide is
    compared with (docs/standardisation.md). `competent_department` (主管部门) names the
    kind of body that handles it, e.g. 住房公积金管理中心; alignment blocks on it."""

    competent_department: str = Field(default="", max_length=100)


# ---------------------------------------------------------------- regions


class RegionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    name: str
    level: int
    parent_code: str | None


class RegionDetail(RegionOut):
    """A region with the chain of regions above it (top first) and its children."""

    parents: list[RegionOut]
    children: list[RegionOut]


# ---------------------------------------------------------------- departments


def _check_region_code(value: str) -> str:
    if not REGION_CODE_RE.match(value):
        raise ValueError(
            "行政区划代码应为6、9或12位数字 / region code must be 6, 9 or 12 digits"
        )
    return value


class DepartmentIn(_Strict):
    name: str = Field(min_length=1, max_length=200)
    region_code: str
    credit_code: str
    kind: str = Field(default="", max_length=40)
    level: int = Field(ge=1, le=6)

    _region = field_validator("region_code")(_check_region_code)

    @field_validator("credit_code")
    @classmethod
    def _valid_credit_code(cls, value: str) -> str:
        try:
            return validate_uscc(value)
        except IdentifierError as exc:
            raise ValueError(str(exc)) from None


class DepartmentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    region_code: str
    credit_code: str
    kind: str
    level: int


class DepartmentPage(BaseModel):
    items: list[DepartmentOut]
    next_cursor: str | None


# ---------------------------------------------------------------- items


def _check_basic_code(value: str) -> str:
    if not BASIC_CODE_RE.match(value):
        raise ValueError(
            "基本编码应为12位数字或大写字母 / basic_code must be 12 characters of 0-9A-Z"
        )
    return value


def _check_use_levels(value: list[int]) -> list[int]:
    if any(level not in range(1, 7) for level in value):
        raise ValueError("行使层级应在1到6之间 / use_levels must be within 1..6")
    return sorted(set(value))


class ItemIn(_Strict):
    basic_code: str
    name: str = Field(min_length=1, max_length=200)
    item_type: ItemType
    use_levels: list[int] = Field(min_length=1)
    legal_basis: str = ""
    description: str = ""
    topics: list[str] = Field(default_factory=list)

    _code = field_validator("basic_code")(_check_basic_code)
    _levels = field_validator("use_levels")(_check_use_levels)


class ItemUpdate(_Strict):
    """Fields of a standard item that may change; its 基本编码 never does."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    item_type: ItemType | None = None
    use_levels: list[int] | None = None
    legal_basis: str | None = None
    description: str | None = None
    topics: list[str] | None = None

    @field_validator("use_levels")
    @classmethod
    def _levels(cls, value: list[int] | None) -> list[int] | None:
        """An item is exercised at some level: `[]` is refused here (it would break the
        exchange document, which requires one), leaving it out keeps the levels."""
        if value is not None and not value:
            raise ValueError("行使层级至少一项 / use_levels must name at least one level")
        return None if value is None else _check_use_levels(value)


class ItemOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    basic_code: str
    name: str
    item_type: str
    use_levels: list[int]
    legal_basis: str
    description: str
    topics: list[str]


class ItemPage(BaseModel):
    items: list[ItemOut]
    next_cursor: str | None


# ---------------------------------------------------------------- implementations


class DraftIn(_Strict):
    """The editable content of an implementation version."""

    name: str = Field(min_length=1, max_length=200)
    guide: Guide
    form_schema: dict[str, Any]


class ImplementationIn(DraftIn):
    """A new implementation (实施清单) with its first draft; also one import row."""

    basic_code: str
    department_credit_code: str
    region_code: str
    level: int = Field(ge=1, le=6)
    implementation_code: str | None = None

    _code = field_validator("basic_code")(_check_basic_code)
    _region = field_validator("region_code")(_check_region_code)


class WithdrawIn(_Strict):
    reason: str = Field(default="", max_length=500)


class ImportImplementation(ImplementationIn):
    """One implementation of an exchange document: publish it right away or keep a draft."""

    publish: bool = True


class VersionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    implementation_code: str
    version: int
    state: str
    name: str
    guide: Guide
    form_schema: dict[str, Any]
    legal_days: int
    promised_days: int
    created_at: datetime
    published_at: datetime | None


class GuidePage(BaseModel):
    """Everything an applicant needs on one page: the current published guide and context."""

    implementation_code: str
    name: str
    version: int
    version_id: uuid.UUID
    published_at: datetime | None
    item: ItemOut
    department: DepartmentOut
    region: RegionOut
    # From the top (province) down to the implementation's own region.
    region_chain: list[RegionOut]
    guide: Guide
    form_schema: dict[str, Any]


class SearchHit(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    implementation_code: str
    name: str
    item_name: str
    basic_code: str
    item_type: str
    department_id: uuid.UUID
    department_name: str
    region_code: str
    region_name: str
    applicant_types: list[str]
    popularity: int


class SearchPage(BaseModel):
    items: list[SearchHit]
    next_cursor: str | None


# ---------------------------------------------------------------- exchange


class ImportErrorRow(BaseModel):
    """One problem of an import file: where (sheet/section, row as in the file, field), what."""

    sheet: str
    row: int | None
    field: str | None
    message: str


class ImportReport(BaseModel):
    departments: int
    items: int
    implementations: int
    published: int
