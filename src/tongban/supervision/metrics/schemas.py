"""API shapes of the metrics; every figure carries its definition version and sources."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel

from tongban.supervision.metrics.definitions import MetricDefinition
from tongban.supervision.metrics.service import MetricValue, Report, ReportRow


class DefinitionOut(BaseModel):
    id: str
    version: int
    effective_from: date
    name: str
    name_en: str
    kind: str
    unit: str
    source: str
    basis: str
    numerator: str
    denominator: str | None
    definition: str
    definition_en: str


class DefinitionsOut(BaseModel):
    definitions_hash: str
    fact_rules_version: int
    fact_rules: dict[str, object]
    metrics: list[DefinitionOut]


class ValueOut(BaseModel):
    metric: str
    version: int
    value: float | None
    numerator: int | None
    denominator: int | None
    unit: str
    available: bool
    note: str | None


class RowOut(BaseModel):
    key: str
    label: str
    values: list[ValueOut]


class ReportOut(BaseModel):
    from_month: str
    to_month: str
    by: str
    region_code: str | None
    department_id: str | None
    item_code: str | None
    rows: list[RowOut]
    total: RowOut
    definitions_hash: str
    fact_rules_version: int
    refreshed_at: datetime | None
    computed_at: datetime


class RefreshOut(BaseModel):
    rebuilt: bool
    cases: int
    ratings: int
    complaints: int
    series: int
    facts: int
    refreshed_at: datetime


def definition_out(d: MetricDefinition) -> DefinitionOut:
    return DefinitionOut(**d.model_dump(exclude={"unit"}), unit=d.value_unit)


def _value_out(v: MetricValue) -> ValueOut:
    return ValueOut(metric=v.definition.id, version=v.definition.version, value=v.value,
                    numerator=v.numerator, denominator=v.denominator,
                    unit=v.definition.value_unit, available=v.available, note=v.note)


def _row_out(row: ReportRow) -> RowOut:
    return RowOut(key=row.key, label=row.label, values=[_value_out(v) for v in row.values])


def report_out(r: Report) -> ReportOut:
    q = r.query
    return ReportOut(
        from_month=q.from_month, to_month=q.to_month, by=q.by, region_code=q.region_code,
        department_id=str(q.department_id) if q.department_id else None,
        item_code=q.item_code, rows=[_row_out(x) for x in r.rows], total=_row_out(r.total),
        definitions_hash=r.definitions_hash, fact_rules_version=r.fact_rules_version,
        refreshed_at=r.refreshed_at, computed_at=r.computed_at)
