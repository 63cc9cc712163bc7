"""From case events to facts, and from facts to monthly cells: set-based SQL, the same on
SQLite and PostgreSQL, so ten million cases are one statement, never a Python loop.

This is a reporting read of the case tables (cases, case_events and the item version a case
was filed under), the way a read replica would serve it: nothing here writes to them. Which
events mean what is data (definitions.json "facts"), plus the clock effects of the case
workflow tables (the actions that start the legal clock).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    case,
    func,
    insert,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import aliased

from tongban.cases.models import Case, CaseEvent
from tongban.cases.workflow import CASE_WORKFLOWS, Clock
from tongban.catalog.models import ImplementationVersion
from tongban.supervision.metrics import feedback
from tongban.supervision.metrics.definitions import CASE_COUNTERS, CELL_COUNTERS, FactRules
from tongban.supervision.metrics.models import MetricCell, MetricFact, MetricWorkday
from tongban.supervision.metrics.sql import flag, local_day, month_of, series_of

DEEMED = "deem_accept"  # Art. 32: acceptance dates back to the submission


def clock_start_actions() -> tuple[str, ...]:
    """Every action that starts the legal clock in some case workflow table."""
    return tuple(sorted({row.action.value for wf in CASE_WORKFLOWS.values() for row in wf.rows
                         if row.clock in (Clock.start, Clock.start_stop)}))


def _per_case(rules: FactRules) -> Any:
    """One row per case: what its events say (first acceptance, decision, pauses...).

    The Beijing day is taken of the earliest instant (the day of the first event is the
    first of its days), so the time-zone conversion runs once per case, not per event."""
    e = CaseEvent
    decisions = list(rules.decision_states)

    def first_day(condition: ColumnElement[bool]) -> Any:
        return local_day(func.min(case((condition, e.at))))

    return (
        select(
            e.case_id.label("case_id"),
            func.max(e.seq).label("event_seq"),
            first_day(e.action == "submit").label("submitted_on"),
            func.max(case((e.action == "submit", e.facts["channel"].as_string()))
                     ).label("channel"),
            first_day(and_(e.action.in_(clock_start_actions()), e.action != DEEMED)
                      ).label("accepted_by_act"),
            func.max(flag(e.action == DEEMED)).label("deemed"),
            first_day(and_(e.to_state.in_(decisions),
                           or_(e.from_state.is_(None), e.from_state.not_in(decisions)))
                      ).label("decided_on"),
            func.coalesce(func.sum(e.facts["paused_working_days"].as_integer()), 0
                          ).label("paused_days"),
            func.coalesce(func.sum(case((e.action == "extend",
                                         e.facts["days"].as_integer()))), 0
                          ).label("extension_days"),
            func.max(flag(and_(e.action == "deliver", e.facts["method"].as_string().in_(
                list(rules.window_delivery_methods) or [""])))).label("window_delivery"),
        )
        .group_by(e.case_id)
    )


FACT_COLUMNS = ("case_id", "series", "kind", "region_code", "department_id", "item_code",
                "event_seq", "submitted_on", "accepted_on", "decided_on", "promised_days",
                "paused_days", "extension_days", "online_capable", "fully_online",
                "zero_visit", "immediate", "cross_province")


def fact_select(rules: FactRules, case_ids: Collection[Any] | None = None) -> Select[Any]:
    """The facts of every case (or of `case_ids`), in MetricFact's column order."""
    inner = _per_case(rules)
    if case_ids is not None:
        inner = inner.where(CaseEvent.case_id.in_(list(case_ids)))
    ev = inner.subquery("ev")
    c, v = Case, ImplementationVersion
    accepted = case((ev.c.deemed == 1, ev.c.submitted_on), else_=ev.c.accepted_by_act)
    depth = v.guide["online_depth"].as_integer()
    visits = v.guide["visits"].as_integer()
    columns = (
            ev.c.case_id, series_of(c.region_code, c.department_id, c.item_code),
            c.kind, c.region_code, c.department_id, c.item_code, ev.c.event_seq,
            ev.c.submitted_on, accepted,
            case((accepted.is_(None), None), else_=ev.c.decided_on),
            c.promised_days, ev.c.paused_days, ev.c.extension_days,
            flag(depth >= rules.online_capable_min_depth),
            flag(and_(ev.c.channel.in_(list(rules.online_channels)),
                       ev.c.window_delivery == 0)),
            flag(and_(v.id.is_not(None), func.coalesce(visits, 0) == 0)),
            flag(c.workflow.in_(list(rules.immediate_workflows))),
            flag(func.substr(c.receiving_region_code, 1, 2) != func.substr(c.region_code, 1, 2)),
    )
    return (
        select(*[col.label(name) for col, name in zip(columns, FACT_COLUMNS, strict=True)])
        .join(c, c.id == ev.c.case_id)
        .outerjoin(v, v.id == c.implementation_version_id)
        .where(c.kind.not_in(list(rules.excluded_kinds) or [""]),
               ev.c.submitted_on.is_not(None))
    )


def insert_facts(rules: FactRules, case_ids: Collection[Any] | None = None) -> Any:
    """INSERT INTO facts SELECT ... (the facts of every case, or of `case_ids`)."""
    return insert(MetricFact).from_select(list(FACT_COLUMNS), fact_select(rules, case_ids))


def changed_cases(rules: FactRules, limit: int) -> Select[Any]:
    """Cases whose facts are missing or older than their last event."""
    f = MetricFact
    return (select(Case.id).outerjoin(f, f.case_id == Case.id)
            .where(Case.kind.not_in(list(rules.excluded_kinds) or [""]),
                   or_(f.case_id.is_(None), f.event_seq != Case.last_event_seq))
            .limit(limit))


def _case_rows(f: Any, series: Collection[str] | None) -> list[Select[Any]]:
    """Each case fact once in its submission month and once (if decided) in its decision
    month, with every cell counter (the rating and complaint ones 0)."""
    a, d = aliased(MetricWorkday), aliased(MetricWorkday)
    one = literal(1)
    submitted = feedback.cell_row(
        month_of(f.submitted_on), f, submitted=one, online_capable=f.online_capable,
        fully_online=f.fully_online, zero_visit=f.zero_visit, immediate=f.immediate,
        cross_province=f.cross_province)
    used = d.ordinal - a.ordinal  # working days in (accepted, decided]
    allowed = f.promised_days + f.paused_days + f.extension_days
    on_time = or_(used < allowed, and_(used == allowed,
                                       or_(d.working.is_(True), f.decided_on == f.accepted_on)))
    decided = (
        feedback.cell_row(month_of(f.decided_on), f, decided=one, on_time=flag(on_time),
                          handling_days=case((used - f.paused_days > 0,
                                              used - f.paused_days), else_=0))
        .join(a, a.day == f.accepted_on).join(d, d.day == f.decided_on)
        .where(f.decided_on.is_not(None)))
    if series is not None:
        submitted = submitted.where(f.series.in_(list(series)))
        decided = decided.where(f.series.in_(list(series)))
    return [submitted, decided]


def _cell_rows(series: Collection[str] | None, facts: Any = None) -> Any:
    """Every fact's contribution to its month's cell: cases, ratings and tickets.

    `facts` is the case fact table by default; the benchmark passes fact_select() as a
    CTE to ask the case part of the question of the raw events."""
    if facts is not None:
        return union_all(*_case_rows(facts.c, series)).subquery("facts_by_month")
    return union_all(*_case_rows(MetricFact.__table__.c, series),
                     *feedback.cell_rows(series)).subquery("facts_by_month")


def raw_by_month(rules: FactRules, first: str, last: str) -> Select[Any]:
    """The case counters per month straight from the case events, nothing materialised:
    what a report by month reads from the cells (the benchmark's plain-SQL peer). Each
    case's facts are derived once (a CTE both months read)."""
    rows = _cell_rows(None, fact_select(rules).cte("raw_facts"))
    return (select(rows.c.month, *[func.sum(rows.c[n]).label(n) for n in CASE_COUNTERS])
            .where(rows.c.month >= first, rows.c.month <= last)
            .group_by(rows.c.month).order_by(rows.c.month))


def insert_cells(series: Collection[str] | None = None) -> Any:
    """INSERT INTO cells SELECT ... GROUP BY month, region, department, item."""
    rows = _cell_rows(series)
    keys = [rows.c.month, rows.c.series, rows.c.region_code, rows.c.department_id,
            rows.c.item_code]
    sums = [func.sum(rows.c[name]) for name in CELL_COUNTERS]
    return insert(MetricCell).from_select(
        ["month", "series", "region_code", "department_id", "item_code", *CELL_COUNTERS],
        select(*keys, *sums).group_by(*keys))
