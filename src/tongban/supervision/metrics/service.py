"""Metrics: refresh the derived tables from the events, and answer metric queries.

A refresh is incremental: the facts of a case (a rating, a 12345 ticket) are rebuilt when
its last event moved (cases.last_event_seq; the rating's handling's, the ticket's), then
the monthly cells of the regions, departments and items those facts belong to. A change of
the working-day calendar or of the definitions rebuilds everything (a loaded 调休 notice
changes who was on time). Queries read only the cells, so they cost the same for a
thousand cases as for ten million.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, delete, false, func, insert, literal, or_, select, true
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from tongban.calendar import service as calendar
from tongban.catalog import service as catalog
from tongban.db import utcnow
from tongban.errors import Forbidden, InvalidInput
from tongban.identity.actor import Actor, region_prefix
from tongban.supervision.metrics import facts, feedback
from tongban.supervision.metrics.definitions import (
    CELL_COUNTERS,
    MetricDefinition,
    by_id,
    definitions_hash,
    fact_rules,
)
from tongban.supervision.metrics.models import (
    MetricCell,
    MetricComplaintFact,
    MetricFact,
    MetricRatingFact,
    MetricState,
    MetricWorkday,
)

STAFF_ROLES = ("supervisor", "operator", "reviewer", "clerk")
GROUPINGS = ("total", "month", "province", "region", "department", "item")
BATCH = 2000
MAX_MONTHS = 120
MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


# --- refresh ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RefreshResult:
    rebuilt: bool
    cases: int
    series: int
    facts: int
    refreshed_at: datetime
    ratings: int = 0
    complaints: int = 0


def calendar_hash(*, db_session: Session) -> str:
    """SHA-256 of every year of the working-day calendar (shipped and loaded)."""
    years = calendar.calendar(db_session=db_session).years
    text = json.dumps([[y.year, sorted(map(str, y.holidays)), sorted(map(str, y.workdays))]
                       for y in years], separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _fill_workdays(db_session: Session, first: date, last: date) -> None:
    """Index every day of the years from `first` through `last` (and one more)."""
    cal = calendar.calendar(db_session=db_session)
    day, end, ordinal, rows = date(first.year, 1, 1), date(last.year + 1, 12, 31), 0, []
    while day <= end:
        working, _ = cal.is_working(day)
        ordinal += working
        rows.append({"day": day, "working": working, "ordinal": ordinal})
        day += timedelta(days=1)
    db_session.execute(delete(MetricWorkday))
    db_session.execute(insert(MetricWorkday), rows)


def _dates_of(db_session: Session, case_ids: list[Any] | None) -> tuple[date | None, ...]:
    f = MetricFact
    stmt = select(func.min(f.submitted_on), func.max(f.decided_on))
    if case_ids is not None:
        stmt = stmt.where(f.case_id.in_(case_ids))
    return tuple(db_session.execute(stmt).one())


def _cover(db_session: Session, case_ids: list[Any] | None, *, refill: bool = False) -> None:
    """Make the working-day index span every date of these facts (or all facts). Spans
    are differences of ordinals, so widening the index never changes a stored cell."""
    first, last = _dates_of(db_session, case_ids)
    if first is None:
        return
    last = max(last or first, first)
    have = db_session.execute(select(func.min(MetricWorkday.day),
                                     func.max(MetricWorkday.day))).one()
    if not refill and have[0] is not None and have[0] <= first and last <= have[1]:
        return
    if have[0] is not None:
        first, last = min(first, have[0]), max(last, have[1])
    _fill_workdays(db_session, first, last)


@dataclass(frozen=True)
class _Source:
    """Where facts come from: their table and key, how to make them (all, or some keys),
    and which keys are missing or stale."""

    fact: Any
    key: Any
    insert: Callable[[list[Any] | None], Any]
    changed: Callable[[int], Any]


def _sources() -> dict[str, _Source]:
    rules = fact_rules()
    return {
        "cases": _Source(MetricFact, MetricFact.case_id,
                         lambda ids: facts.insert_facts(rules, ids),
                         lambda limit: facts.changed_cases(rules, limit)),
        "ratings": _Source(MetricRatingFact, MetricRatingFact.rating_id,
                           feedback.insert_rating_facts, feedback.changed_ratings),
        "complaints": _Source(MetricComplaintFact, MetricComplaintFact.complaint_id,
                              feedback.insert_complaint_facts, feedback.changed_complaints),
    }


def _rebuild(db_session: Session) -> dict[str, int]:
    db_session.execute(delete(MetricCell))
    counts = {}
    for name, source in _sources().items():
        db_session.execute(delete(source.fact))
        db_session.execute(source.insert(None))
        counts[name] = db_session.scalar(select(func.count()).select_from(source.fact)) or 0
    _cover(db_session, None, refill=True)
    db_session.execute(facts.insert_cells())
    return counts


def _series_of(db_session: Session, source: _Source, ids: list[Any]) -> set[str]:
    return set(db_session.scalars(select(source.fact.series).distinct()
                                  .where(source.key.in_(ids))))


def _refresh_facts(db_session: Session, source: _Source, ids: list[Any]) -> set[str]:
    """New facts for these keys; the series (region/department/item) they touched."""
    touched = _series_of(db_session, source, ids)
    db_session.execute(delete(source.fact).where(source.key.in_(ids)))
    db_session.execute(source.insert(ids))
    if source.fact is MetricFact:
        _cover(db_session, ids)
    return touched | _series_of(db_session, source, ids)


def _refresh_changed(db_session: Session, source: _Source) -> tuple[int, set[str]]:
    """Re-read every key whose events moved, in batches; how many, and their series."""
    count, series, seen = 0, set[str](), set[Any]()
    # A key whose events yield no fact (a case never submitted) stays "changed": seen once.
    while (batch := [i for i in db_session.scalars(source.changed(BATCH + len(seen)))
                     if i not in seen]):
        count += len(batch)
        seen.update(batch)
        series |= _refresh_facts(db_session, source, batch)
    return count, series


def _rebuild_cells(db_session: Session, series: set[str]) -> None:
    ordered = sorted(series)
    for start in range(0, len(ordered), 500):
        chunk = ordered[start:start + 500]
        db_session.execute(delete(MetricCell).where(MetricCell.series.in_(chunk)))
        db_session.execute(facts.insert_cells(chunk))


def _locked_state(db_session: Session, now: datetime) -> MetricState:
    """The state row (made if missing, without racing another first refresh), locked on
    PostgreSQL: one refresh at a time per node, the others wait and find little to do."""
    dialect = db_session.get_bind().dialect.name
    ins = postgresql.insert(MetricState) if dialect == "postgresql" \
        else sqlite.insert(MetricState)
    db_session.execute(ins.values(id=1, calendar_hash="", definitions_hash="",
                                  refreshed_at=now, facts=0).on_conflict_do_nothing())
    return db_session.scalars(select(MetricState).where(MetricState.id == 1)
                              .with_for_update().execution_options(populate_existing=True)
                              ).one()


def refresh(*, db_session: Session, rebuild: bool = False, now: datetime | None = None
            ) -> RefreshResult:
    """Bring facts and cells up to date with the case events (rebuild: from scratch)."""
    now = now or utcnow()
    cal_hash, defs_hash = calendar_hash(db_session=db_session), definitions_hash()
    state = _locked_state(db_session, now)
    rebuild = rebuild or (state.calendar_hash, state.definitions_hash) != (cal_hash,
                                                                           defs_hash)
    series: set[str] = set()
    if rebuild:
        counts = _rebuild(db_session)
    else:
        counts = {}
        for name, source in _sources().items():
            counts[name], touched = _refresh_changed(db_session, source)
            series |= touched
        _rebuild_cells(db_session, series)
    state.calendar_hash, state.definitions_hash, state.refreshed_at = cal_hash, defs_hash, now
    state.facts = db_session.scalar(select(func.count()).select_from(MetricFact)) or 0
    db_session.flush()
    return RefreshResult(rebuilt=rebuild, cases=counts["cases"], series=len(series),
                         facts=state.facts, refreshed_at=now, ratings=counts["ratings"],
                         complaints=counts["complaints"])


def job(db_session: Session, settings: Any) -> int:
    """The worker's metrics job: an incremental refresh; how many facts it re-read."""
    r = refresh(db_session=db_session)
    return r.cases + r.ratings + r.complaints


# --- queries -------------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricQuery:
    """What a caller asks: months (YYYY-MM, inclusive), a grouping and filters."""

    from_month: str
    to_month: str
    by: str = "total"
    region_code: str | None = None
    department_id: uuid.UUID | None = None
    item_code: str | None = None
    metrics: tuple[str, ...] = ()


@dataclass(frozen=True)
class MetricValue:
    definition: MetricDefinition
    numerator: int | None
    denominator: int | None
    value: float | None
    available: bool
    note: str | None = None


@dataclass
class ReportRow:
    key: str
    label: str
    values: list[MetricValue] = field(default_factory=list)


@dataclass(frozen=True)
class Report:
    query: MetricQuery
    rows: list[ReportRow]
    total: ReportRow
    definitions_hash: str
    fact_rules_version: int
    refreshed_at: datetime | None
    computed_at: datetime


def _month(text: str, name: str) -> str:
    if not MONTH.match(text or ""):
        raise InvalidInput(f"月份格式应为 YYYY-MM / {name} must be YYYY-MM: {text!r}",
                           details={"field": name, "value": text})
    return text


def _month_index(text: str) -> int:
    return int(text[:4]) * 12 + int(text[5:]) - 1


def check_query(query: MetricQuery) -> list[MetricDefinition]:
    """The definitions asked for, or a clear error naming the bad field."""
    start, end = _month(query.from_month, "from"), _month(query.to_month, "to")
    span = _month_index(end) - _month_index(start) + 1
    if span < 1:
        raise InvalidInput("起始月份晚于结束月份 / from is after to",
                           details={"field": "from", "from": start, "to": end})
    if span > MAX_MONTHS:
        raise InvalidInput(f"统计期最长 {MAX_MONTHS} 个月 / at most {MAX_MONTHS} months",
                           details={"field": "to", "months": span})
    if query.by not in GROUPINGS:
        raise InvalidInput(f"分组方式应为 {'、'.join(GROUPINGS)} 之一 / by must be one of "
                           f"{', '.join(GROUPINGS)}", details={"field": "by", "value": query.by})
    known = by_id()
    unknown = [m for m in query.metrics if m not in known]
    if unknown:
        raise InvalidInput(f"未知指标 / unknown metrics: {', '.join(unknown)}",
                           details={"field": "metrics", "unknown": unknown,
                                    "known": list(known)})
    return [known[m] for m in query.metrics] if query.metrics else list(known.values())


def _scope_clause(actor: Actor) -> ColumnElement[bool]:
    """The cells of the actor's scopes (a department scope sees its department only)."""
    if actor.has("system"):
        return true()
    if not actor.has(*STAFF_ROLES):
        raise Forbidden("仅限工作人员查看指标 / metrics are for staff",
                        details={"required_roles": list(STAFF_ROLES)})
    clauses: list[ColumnElement[bool]] = []
    for scope in actor.scopes:
        region = true() if scope.region_code == "100000" else \
            MetricCell.region_code.like(region_prefix(scope.region_code) + "%")
        clauses.append(region if scope.department_id is None
                       else region & (MetricCell.department_id == scope.department_id))
    return or_(*clauses) if clauses else false()


def _group_key(by: str) -> Any:
    c = MetricCell
    return {
        "month": c.month,
        "province": func.substr(c.region_code, 1, 2) + literal("0000"),
        "region": c.region_code, "department": c.department_id, "item": c.item_code,
    }[by]


def _filters(db_session: Session, query: MetricQuery) -> list[ColumnElement[bool]]:
    c = MetricCell
    clauses = [c.month >= query.from_month, c.month <= query.to_month]
    if query.region_code:
        catalog.ensure_region_exists(db_session=db_session, region_code=query.region_code)
        if query.region_code != "100000":
            clauses.append(c.region_code.like(region_prefix(query.region_code) + "%"))
    if query.department_id:
        catalog.get_department(db_session=db_session, department_id=query.department_id)
        clauses.append(c.department_id == query.department_id)
    if query.item_code:
        catalog.get_item_by_code(db_session=db_session, basic_code=query.item_code)
        clauses.append(c.item_code == query.item_code)
    return clauses


NO_DENOMINATOR = {"cases": "分母为零 / no cases in the denominator",
                  "ratings": "分母为零 / no ratings in the denominator",
                  "complaints": "分母为零 / no closed tickets in the denominator"}


def _value(definition: MetricDefinition, sums: dict[str, int]) -> MetricValue:
    num = int(sums.get(definition.numerator) or 0)
    if definition.denominator is None:
        return MetricValue(definition, num, None, float(num), True)
    den = int(sums.get(definition.denominator) or 0)
    value = None if den == 0 else num / den
    return MetricValue(definition, num, den, value, True,
                       note=None if den else NO_DENOMINATOR[definition.source])


_LABEL_KINDS = {"province": "region", "region": "region", "department": "department",
                "item": "item"}


def _labels(db_session: Session, by: str, keys: list[Any]) -> dict[str, str]:
    """Each group key's name (one catalog query); the key itself when it has none."""
    texts = ["—" if k is None else str(k) for k in keys]
    if by not in _LABEL_KINDS:
        return {t: {"total": "合计"}.get(t, t) for t in texts}
    names = catalog.names_of(db_session=db_session, kind=_LABEL_KINDS[by], keys=texts)
    return {t: names.get(t, t) for t in texts}


def _rows(db_session: Session, where: Iterable[ColumnElement[bool]], by: str
          ) -> list[tuple[Any, dict[str, int]]]:
    sums = [func.sum(getattr(MetricCell, n)).label(n) for n in CELL_COUNTERS]
    if by == "total":
        row = db_session.execute(select(*sums).where(*where)).one()
        return [("total", {n: int(getattr(row, n) or 0) for n in CELL_COUNTERS})]
    key = _group_key(by).label("key")
    stmt = select(key, *sums).where(*where).group_by(key).order_by(key)
    return [(row.key, {n: int(getattr(row, n) or 0) for n in CELL_COUNTERS})
            for row in db_session.execute(stmt)]


def counters(*, db_session: Session, actor: Actor, query: MetricQuery
             ) -> list[tuple[Any, dict[str, int]]]:
    """The summed cell counters per group (what every metric of a report divides)."""
    check_query(query)
    return _rows(db_session, [_scope_clause(actor), *_filters(db_session, query)], query.by)


def report(*, db_session: Session, actor: Actor, query: MetricQuery) -> Report:
    """The metrics asked for, per group and in total, within the actor's scope."""
    wanted = check_query(query)
    where = [_scope_clause(actor), *_filters(db_session, query)]
    grouped = _rows(db_session, where, query.by)
    labels = _labels(db_session, query.by, [k for k, _ in grouped])
    rows = [ReportRow(key, labels[key], [_value(d, sums) for d in wanted])
            for key, sums in (("—" if k is None else str(k), s) for k, s in grouped)]
    # The groups partition the cells asked for: their sums are the total.
    total_sums = {n: sum(sums[n] for _, sums in grouped) for n in CELL_COUNTERS}
    state = db_session.get(MetricState, 1)
    return Report(query=query, rows=rows,
                  total=ReportRow("total", "合计", [_value(d, total_sums) for d in wanted]),
                  definitions_hash=definitions_hash(),
                  fact_rules_version=fact_rules().version,
                  refreshed_at=state.refreshed_at if state else None, computed_at=utcnow())
