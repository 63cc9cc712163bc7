"""The fields of a dataset: their types, how a cell of an import file becomes a value, and
how a value is masked when a grant says so.

Values are JSON: strings, integers, booleans; dates as ISO `YYYY-MM-DD`, months as
`YYYY-MM`, decimals (money, areas) as exact decimal strings such as "2400.00" (a float
would round a rule's threshold). ID numbers, phones and every field marked personal are
sealed at rest (models.Record.personal_enc); the rest stay queryable.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tongban.identity.ids import (
    IdentifierError,
    mask_id_number,
    parse_resident_id,
    validate_uscc,
)


class FieldType(StrEnum):
    string = "string"
    integer = "integer"
    decimal = "decimal"
    date = "date"
    month = "month"
    boolean = "boolean"
    enum = "enum"
    id_number = "id_number"  # 公民身份号码, GB 11643
    credit_code = "credit_code"  # 统一社会信用代码, GB 32100
    phone = "phone"


# Types whose values identify a person: always sealed, whatever the catalog says.
ALWAYS_PERSONAL = frozenset({FieldType.id_number, FieldType.phone})


class Masking(StrEnum):
    """How a grant shows a field to its consumer."""

    none = "none"  # the value as held
    partial = "partial"  # 510***********123X, 张*, 138****0001, 成都市锦江区****
    year = "year"  # a date or month as its year only
    presence = "presence"  # only whether there is a value


class FieldSpec(BaseModel):
    """One field of a dataset, as the sharing catalog describes it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")
    label: str = Field(min_length=1, max_length=60)
    type: FieldType = FieldType.string
    required: bool = False
    personal: bool = False
    # The field that names the record's subject (one per dataset).
    subject: bool = False
    values: list[str] | None = None
    max_length: int = Field(default=200, ge=1, le=2000)
    description: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> FieldSpec:
        if self.type == FieldType.enum and not self.values:
            raise ValueError("枚举字段须列出取值 / an enum field must list its values")
        if self.type in ALWAYS_PERSONAL:
            self.personal = True
        if self.subject:
            self.required = True
        return self

    @property
    def sealed(self) -> bool:
        """Kept encrypted at rest."""
        return self.personal or self.type in ALWAYS_PERSONAL


_TRUE = {"1", "true", "yes", "y", "是", "有", "t"}
_FALSE = {"0", "false", "no", "n", "否", "无", "f"}
_PHONE = re.compile(r"^\+?\d{5,20}$")
_MONTH = re.compile(r"^(\d{4})[-/.](\d{1,2})$")
_DECIMAL = re.compile(r"^-?\d{1,15}(\.\d{1,4})?$")


def _as_date(raw: Any) -> str:
    if isinstance(raw, datetime):
        return raw.date().isoformat()
    if isinstance(raw, date):
        return raw.isoformat()
    text = str(raw).strip().replace("/", "-").replace(".", "-")
    try:
        return date.fromisoformat("-".join(p.zfill(2) for p in text.split("-"))).isoformat()
    except ValueError:
        raise ValueError("日期格式应为 YYYY-MM-DD / a date must be YYYY-MM-DD") from None


def _as_month(raw: Any) -> str:
    if isinstance(raw, date | datetime):
        return f"{raw.year:04d}-{raw.month:02d}"
    match = _MONTH.match(str(raw).strip())
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise ValueError("月份格式应为 YYYY-MM / a month must be YYYY-MM")
    return f"{int(match.group(1)):04d}-{int(match.group(2)):02d}"


def _as_integer(raw: Any) -> int:
    if isinstance(raw, bool):
        raise ValueError("应为整数 / must be an integer")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float) and raw.is_integer():
        return int(raw)
    text = str(raw).strip().replace(",", "")
    if not re.match(r"^-?\d{1,18}$", text):
        raise ValueError("应为整数 / must be an integer")
    return int(text)


def _as_decimal(raw: Any) -> str:
    if isinstance(raw, bool):
        raise ValueError("应为数字 / must be a number")
    text = (repr(raw) if isinstance(raw, float) else str(raw)).strip().replace(",", "")
    if not _DECIMAL.match(text):
        raise ValueError("应为数字(至多4位小数) / must be a number with at most 4 decimals")
    value = Decimal(text)
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent > -2:
        value = value.quantize(Decimal("0.01"))
    return str(value)


def _as_boolean(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError("应为 是/否 / must be yes or no (是/否)")


def _as_identifier(spec: FieldSpec, raw: Any) -> str:
    try:
        if spec.type == FieldType.id_number:
            return parse_resident_id(str(raw)).number
        return validate_uscc(str(raw))
    except IdentifierError as exc:
        raise ValueError(str(exc)) from None


def parse_value(spec: FieldSpec, raw: Any) -> Any:
    """The stored value of one cell; raises ValueError with a readable message. An empty
    cell is None (and an error when the field is required)."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        if spec.required:
            raise ValueError("必填 / required")
        return None
    kind = spec.type
    if kind in (FieldType.id_number, FieldType.credit_code):
        return _as_identifier(spec, raw)
    if kind == FieldType.integer:
        return _as_integer(raw)
    if kind == FieldType.decimal:
        return _as_decimal(raw)
    if kind == FieldType.date:
        return _as_date(raw)
    if kind == FieldType.month:
        return _as_month(raw)
    if kind == FieldType.boolean:
        return _as_boolean(raw)
    text = str(raw).strip()
    if kind == FieldType.phone:
        cleaned = re.sub(r"[\s-]", "", text)
        if not _PHONE.match(cleaned):
            raise ValueError("电话号码格式不正确 / phone number is malformed")
        return cleaned
    if kind == FieldType.enum and text not in (spec.values or []):
        raise ValueError(f"取值应为 {'/'.join(spec.values or [])} 之一 / must be one of "
                         f"{spec.values}")
    if len(text) > spec.max_length:
        raise ValueError(f"不超过{spec.max_length}字 / at most {spec.max_length} characters")
    return text


def _partial(spec: FieldSpec, value: Any) -> Any:
    text = str(value)
    if spec.type == FieldType.id_number:
        return mask_id_number(text)
    if spec.type == FieldType.phone:
        return text[:3] + "*" * max(0, len(text) - 7) + text[-4:] if len(text) > 7 else "***"
    if spec.type in (FieldType.date, FieldType.month):
        return text[:4] + "-**" + ("-**" if spec.type == FieldType.date else "")
    if spec.type in (FieldType.integer, FieldType.decimal, FieldType.boolean):
        return "***"
    if len(text) <= 1:
        return "*"
    if len(text) <= 4:  # a name: keep the surname
        return text[0] + "*" * (len(text) - 1)
    keep = min(6, len(text) // 2)
    return text[:keep] + "****"


def mask(spec: FieldSpec, value: Any, how: Masking | str) -> Any:
    """`value` as a consumer granted masking `how` sees it."""
    how = Masking(how)
    if how == Masking.none or value is None:
        return value if how != Masking.presence else value is not None
    if how == Masking.presence:
        return True
    if how == Masking.year:
        return str(value)[:4] if spec.type in (FieldType.date, FieldType.month) else \
            _partial(spec, value)
    return _partial(spec, value)


def specs_of(fields: list[dict[str, Any]]) -> dict[str, FieldSpec]:
    """A dataset's stored field list as specs, by name (stored lists were validated)."""
    return {f["name"]: FieldSpec.model_validate(f) for f in fields}
