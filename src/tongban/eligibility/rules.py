"""The rule-set document: one policy's conditions as data ("tongban-rule-set/1", TOML).

A rule set names its policy, legal basis, the population it screens (a dataset whose
current records are the subjects), the purpose its reads are granted for, whether it is
granted without an application (免申即享) and whether a person confirms before the
benefit case opens. Each rule reads one field of one dataset (or counts records), with a
threshold, an operator and the article it comes from; `any` rules pass when one of their
parts does. All rules must pass.

One rule, three evaluators, the same meaning (tests hold them equal):
- `single.py`: one subject's records, with an explanation of every rule;
- `vector.py`: columns over the whole population (polars), OpenFisca's model;
- `sqlform.py`: one plain SQL query (the limit the vectorised form is measured against).

Semantics (every evaluator follows them):
- the records a rule reads are the subject's current records of `dataset` whose `where`
  fields equal the given values (a list: any of them);
- `aggregate` "value" reads the one record's field (datasets with one record per
  subject); "count" counts the records; "sum" / "max" / "min" fold the non-empty values;
- a value that is absent (no record, an empty field, nothing to fold) is `missing`:
  "fail" (the default), "pass", or "zero" (treated as 0: no income record, no income);
- decimals compare exactly; dates and months compare as ISO text (chronological).
"""

from __future__ import annotations

import hashlib
import operator
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import cached_property
from importlib import resources
from typing import Any, Literal

import rfc8785
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tongban.errors import InvalidInput

FORMAT = "tongban-rule-set/1"
OPS = ("eq", "ne", "lt", "le", "gt", "ge", "in", "not_in", "prefix")
AGGREGATES = ("value", "count", "sum", "max", "min")
Op = Literal["eq", "ne", "lt", "le", "gt", "ge", "in", "not_in", "prefix"]
Aggregate = Literal["value", "count", "sum", "max", "min"]
Missing = Literal["fail", "pass", "zero"]
Scalar = str | int | bool | float | Decimal


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


class Condition(_Strict):
    """One test of one dataset's records of the subject."""

    dataset: str = Field(min_length=1, max_length=60)
    field: str | None = Field(default=None, max_length=40)
    where: dict[str, Scalar | list[Scalar]] = Field(default_factory=dict)
    aggregate: Aggregate = "value"
    op: Op
    value: Scalar | list[Scalar]
    missing: Missing = "fail"

    @model_validator(mode="after")
    def _shape(self) -> Condition:
        if self.aggregate != "count" and not self.field:
            raise ValueError("须指明字段 / a rule that is not a count names its field")
        if (self.op in ("in", "not_in")) != isinstance(self.value, list):
            raise ValueError("in / not_in 取列表,其他运算取单值 / in and not_in take a list, "
                             "the other operators one value")
        return self

    @property
    def read_fields(self) -> list[str]:
        """The dataset fields this condition reads."""
        return sorted({*self.where, *([self.field] if self.field else [])})


class Rule(_Strict):
    """One condition of the policy, with its label and legal source; either a condition
    itself or `any` of several (their parts carry no label of their own)."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")
    label: str = Field(min_length=1, max_length=120)
    source: str = Field(min_length=1, max_length=300)
    dataset: str | None = None
    field: str | None = None
    where: dict[str, Scalar | list[Scalar]] = Field(default_factory=dict)
    aggregate: Aggregate = "value"
    op: Op | None = None
    value: Scalar | list[Scalar] | None = None
    missing: Missing = "fail"
    any: list[Condition] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_kind(self) -> Rule:
        if bool(self.any) == (self.dataset is not None):
            raise ValueError("规则须为单一条件或 any 组合之一 / a rule is either one condition "
                             "(dataset, op, value) or `any` of several")
        if self.dataset is not None:
            self.condition()  # validates the condition's own shape
        return self

    def condition(self) -> Condition:
        """This rule as a condition (a rule that is not an `any` group)."""
        return Condition(dataset=self.dataset or "", field=self.field, where=self.where,
                         aggregate=self.aggregate, op=self.op or "eq",
                         value=self.value if self.value is not None else "",
                         missing=self.missing)

    def conditions(self) -> list[Condition]:
        """The conditions of the rule: itself, or the parts of its `any`."""
        return list(self._conditions)

    @cached_property
    def _conditions(self) -> tuple[Condition, ...]:
        # made once per (immutable) rule: a check binds its rules on every request
        return tuple(self.any) if self.any else (self.condition(),)


class RuleSetDoc(_Strict):
    """One version of one policy's rule set."""

    format: Literal["tongban-rule-set/1"]
    code: str = Field(pattern=r"^[a-z][a-z0-9_]{1,59}$")
    version: int = Field(ge=1)
    name: str = Field(min_length=1, max_length=100)
    name_en: str = Field(min_length=1, max_length=200)
    kind: Literal["assistance", "enterprise_policy"]
    subject_kind: Literal["person", "enterprise"]
    population: str = Field(min_length=1, max_length=60)
    legal_basis: str = Field(min_length=1, max_length=1000)
    effective_from: date
    effective_until: date | None = None
    # The department (by its demo key / kind) that runs the policy: the node binds it to
    # one of its departments when it loads the rule set.
    department: str = Field(min_length=1, max_length=100)
    purpose_code: str = Field(min_length=1, max_length=40)
    purpose_text: str = Field(min_length=1, max_length=500)
    # proactive: 免申即享 (the benefit case opens without an application);
    # notify: 政策推送 (the subject is told and applies).
    mode: Literal["proactive", "notify"]
    # Whether a person of the department confirms each candidate (二次确认) first.
    confirmation: Literal["required", "none"]
    # The standard item whose case a 免申即享 benefit opens, if any.
    item_code: str | None = Field(default=None, pattern=r"^\d{12}$")
    description: str = ""
    limitations: str = ""
    rules: list[Rule] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> RuleSetDoc:
        ids = [r.id for r in self.rules]
        if len(ids) != len(set(ids)):
            raise ValueError("规则编号重复 / rule ids repeat")
        if self.effective_until is not None and self.effective_until <= self.effective_from:
            raise ValueError("失效日期须晚于生效日期 / effective_until must follow "
                             "effective_from")
        return self

    def datasets(self) -> dict[str, list[str]]:
        """Every dataset the rule set reads, with the fields it reads of each."""
        return {code: list(fields) for code, fields in self._datasets.items()}

    @cached_property
    def _datasets(self) -> dict[str, tuple[str, ...]]:
        # worked out once per (immutable) document, not on every use
        out: dict[str, set[str]] = {self.population: set()}
        for rule in self.rules:
            for cond in rule.conditions():
                out.setdefault(cond.dataset, set()).update(cond.read_fields)
        return {code: tuple(sorted(fields)) for code, fields in sorted(out.items())}


def parse(raw: dict[str, Any]) -> RuleSetDoc:
    """A rule-set document, checked; 422 naming the first bad field otherwise."""
    try:
        return RuleSetDoc.model_validate(raw)
    except ValidationError as exc:
        problems = [{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]}
                    for e in exc.errors()]
        first = problems[0]
        raise InvalidInput(f"规则集文件有误 / the rule set is invalid: {first['field']}: "
                           f"{first['message']}", details=problems) from None


def parse_toml(text: str) -> RuleSetDoc:
    """A rule-set document from TOML text."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"规则集不是有效的 TOML / the rule set is not valid TOML: {exc}",
                           details=[{"field": "toml", "message": str(exc)}]) from None
    return parse(raw)


def digest(doc: RuleSetDoc) -> str:
    """sha256 of the canonical JSON of the document: what a result says it ran."""
    return hashlib.sha256(rfc8785.dumps(doc.model_dump(mode="json"))).hexdigest()


def shipped() -> list[RuleSetDoc]:
    """The rule sets the project ships (data/*.toml), by code."""
    found = [parse_toml(entry.read_text(encoding="utf-8"))
             for entry in resources.files("tongban.eligibility").joinpath("data").iterdir()
             if entry.name.endswith(".toml")]
    return sorted(found, key=lambda d: (d.code, d.version))


# --- typed values ---------------------------------------------------------------------------


def typed(value: Any, field_type: str) -> Any:
    """A stored registry value (or a threshold) as the type it compares as: Decimal for
    decimals, int for integers, bool for booleans, text otherwise; None when empty."""
    if value is None or value == "":
        return None
    if field_type == "decimal":
        try:
            return Decimal(str(value))
        except InvalidOperation:
            raise ValueError(f"not a decimal: {value!r}") from None
    if field_type == "integer":
        if isinstance(value, bool):
            raise ValueError(f"not an integer: {value!r}")
        return int(value)
    if field_type == "boolean":
        if not isinstance(value, bool):
            raise ValueError(f"not a boolean: {value!r}")
        return value
    return str(value)


OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq, "ne": operator.ne, "lt": operator.lt, "le": operator.le,
    "gt": operator.gt, "ge": operator.ge,
    "in": lambda actual, threshold: actual in threshold,
    "not_in": lambda actual, threshold: actual not in threshold,
    "prefix": lambda actual, threshold: str(actual).startswith(str(threshold)),
}
# Which operators a field type allows (a boolean is never "less than"; prefix is text).
_ORDERED = ("eq", "ne", "lt", "le", "gt", "ge", "in", "not_in")
TYPE_OPS: dict[str, tuple[str, ...]] = {
    "decimal": _ORDERED, "integer": _ORDERED, "date": _ORDERED, "month": _ORDERED,
    "boolean": ("eq", "ne"), "enum": ("eq", "ne", "in", "not_in", "prefix"),
    "string": OPS, "credit_code": ("eq", "ne", "in", "not_in", "prefix"),
}


def compare(op: str, actual: Any, threshold: Any) -> bool:
    """Apply an operator to a present value."""
    return bool(OPERATORS[op](actual, threshold))


# --- binding to the sharing catalog ---------------------------------------------------------


@dataclass(frozen=True)
class Bound:
    """A condition with the types of the catalog: what every evaluator reads."""

    dataset: str
    field: str | None
    field_type: str  # the compared value's type ("integer" for a count)
    where: tuple[tuple[str, str, tuple[Any, ...]], ...]  # (field, type, allowed values)
    aggregate: str
    op: str
    threshold: Any
    missing: str


@dataclass(frozen=True)
class BoundRule:
    rule: Rule
    parts: tuple[Bound, ...]


@dataclass(frozen=True)
class BoundRuleSet:
    doc: RuleSetDoc
    rules: tuple[BoundRule, ...]
    field_types: dict[str, dict[str, str]]  # dataset -> field -> type

    @property
    def datasets(self) -> dict[str, list[str]]:
        return self.doc.datasets()


def _bad(where: str, message: str) -> InvalidInput:
    return InvalidInput(f"规则集与共享目录不符 / the rule set does not fit the sharing catalog: "
                        f"{where}: {message}", details=[{"field": where, "message": message}])


def _typed_or_bad(where: str, value: Any, field_type: str) -> Any:
    try:
        out = typed(value, field_type)
    except (ValueError, TypeError) as exc:
        raise _bad(where, f"取值与字段类型 {field_type} 不符 / {exc}") from None
    if out is None:
        raise _bad(where, "阈值不能为空 / a threshold cannot be empty")
    return out


def _bind(doc: RuleSetDoc, where: str, cond: Condition, catalog: dict[str, CatalogDataset]
          ) -> Bound:
    found = catalog.get(cond.dataset)
    if found is None:
        raise _bad(f"{where}.dataset", f"共享目录中没有数据集 {cond.dataset} / no such dataset")
    if found.subject_kind != doc.subject_kind:
        raise _bad(f"{where}.dataset", "数据集的主体类型与规则集不同 / the dataset is about "
                   f"{found.subject_kind}, the rule set about {doc.subject_kind}")
    for name in cond.read_fields:
        if name not in found.fields:
            raise _bad(f"{where}.field", f"数据集 {cond.dataset} 没有字段 {name} / no such field")
        if found.sealed(name):
            raise _bad(f"{where}.field", f"字段 {name} 为加密个人字段,规则不能读取 / rules read "
                       "plain fields only")
    if cond.aggregate == "value" and found.record_key is not None:
        raise _bad(f"{where}.aggregate", "该数据集每个主体可有多条记录,请用 count/sum/max/min / "
                   "this dataset holds several records per subject: fold them")
    field_type = "integer" if cond.aggregate == "count" else found.fields[cond.field or ""]
    if cond.aggregate in ("sum",) and field_type not in ("decimal", "integer"):
        raise _bad(f"{where}.aggregate", "只能对数值求和 / only numbers are summed")
    if cond.op not in TYPE_OPS.get(field_type, OPS):
        raise _bad(f"{where}.op", f"运算 {cond.op} 不适用于 {field_type} 字段 / operator does "
                   "not apply to this type")
    if cond.missing == "zero" and field_type not in ("decimal", "integer"):
        raise _bad(f"{where}.missing", "只有数值可以视为 0 / only numbers default to zero")
    values = cond.value if isinstance(cond.value, list) else [cond.value]
    typed_values = [_typed_or_bad(f"{where}.value", v, field_type) for v in values]
    threshold = tuple(typed_values) if isinstance(cond.value, list) else typed_values[0]
    wheres = []
    for name, allowed in sorted(cond.where.items()):
        options = allowed if isinstance(allowed, list) else [allowed]
        wheres.append((name, found.fields[name], tuple(
            _typed_or_bad(f"{where}.where.{name}", v, found.fields[name]) for v in options)))
    return Bound(dataset=cond.dataset, field=cond.field, field_type=field_type,
                 where=tuple(wheres), aggregate=cond.aggregate, op=cond.op,
                 threshold=threshold, missing=cond.missing)


@dataclass(frozen=True)
class CatalogDataset:
    """What binding needs of a dataset: its subject kind, field types, sealed fields."""

    subject_kind: str
    fields: dict[str, str]
    sealed_fields: frozenset[str]
    record_key: str | None

    def sealed(self, name: str) -> bool:
        return name in self.sealed_fields


def bind(doc: RuleSetDoc, catalog: dict[str, CatalogDataset]) -> BoundRuleSet:
    """The rule set checked against the catalog it reads (datasets, fields, types,
    thresholds); 422 naming the rule and field otherwise."""
    population = catalog.get(doc.population)
    if population is None or population.subject_kind != doc.subject_kind:
        raise _bad("population", f"共享目录中没有 {doc.subject_kind} 数据集 {doc.population} / "
                   "no such dataset of this subject kind")
    bound = []
    for index, rule in enumerate(doc.rules):
        where = f"rules.{index}({rule.id})"
        parts = [_bind(doc, f"{where}.any.{i}" if rule.any else where, cond, catalog)
                 for i, cond in enumerate(rule.conditions())]
        bound.append(BoundRule(rule, tuple(parts)))
    read = doc.datasets()
    types = {code: dict(ds.fields) for code, ds in catalog.items() if code in read}
    return BoundRuleSet(doc, tuple(bound), types)
