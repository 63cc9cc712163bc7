"""Check cases and their events against what the tamper-evident log says of them.

The log holds, for every submission and transition, the event's ids, states, time, actor
and the hashes of its reason and data, and the record of the case's bound columns after
it (service.BOUND_COLUMNS). An event edited or deleted in the database no longer matches;
a case row whose bound columns differ from its latest act's record, that no act records,
or whose state moved by an event the log never saw, is named by case and column.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from tongban.cases.models import Case, CaseEvent
from tongban.cases.service import BOUND_COLUMNS, ledger_digest
from tongban.ledger import binding

# Logged field -> how to read it from an event.
_FIELDS = {
    "action": lambda e: e.action,
    "from_state": lambda e: e.from_state,
    "to_state": lambda e: e.to_state,
    "at": lambda e: e.at.isoformat(),
    "actor_id": lambda e: str(e.actor_id) if e.actor_id else None,
    "actor_role": lambda e: e.actor_role,
    "reason_sha256": lambda e: ledger_digest(e.reason),
    "data_sha256": lambda e: ledger_digest(e.data),
}

# The last event of each case that moved its state (facts such as warnings do not).
_LAST_MOVE = (select(CaseEvent.case_id, func.max(CaseEvent.seq))
              .where(or_(CaseEvent.from_state.is_(None),
                         CaseEvent.from_state != CaseEvent.to_state))
              .group_by(CaseEvent.case_id))

Act = tuple[str, dict[str, Any]]  # where it is logged ("log entry 7"), its payload


def check_against_log(*, db_session: Session, acts: Iterable[Act]) -> list[str]:
    """Problems with the events the log names and with every case row."""
    problems: list[str] = []
    latest: dict[uuid.UUID, Act] = {}
    for where, payload in acts:
        problems += _event_problems(db_session, where, payload)
        case_id = uuid.UUID(payload["case_id"])
        if case_id not in latest or latest[case_id][1]["seq"] < payload["seq"]:
            latest[case_id] = (where, payload)
    return problems + _row_problems(db_session, latest)


def _event_problems(db_session: Session, where: str, payload: dict[str, Any]) -> list[str]:
    event = db_session.scalar(select(CaseEvent).where(
        CaseEvent.case_id == uuid.UUID(payload["case_id"]), CaseEvent.seq == payload["seq"]))
    where = f"{where}: case {payload['case_number']} event {payload['seq']}"
    if event is None:
        return [f"{where}: the event is missing from the database"]
    changed = [name for name, read in _FIELDS.items() if read(event) != payload.get(name)]
    return [f"{where}: {', '.join(changed)} differ from the log"] if changed else []


def _row_problems(db_session: Session, latest: dict[uuid.UUID, Act]) -> list[str]:
    """Each case row against the record its latest act logged."""
    problems = []
    moved: dict[uuid.UUID, int] = {case_id: seq for case_id, seq in db_session.execute(_LAST_MOVE)}
    rows = db_session.scalars(select(Case).order_by(Case.submitted_at, Case.id)
                              .execution_options(yield_per=500))
    for case in rows:
        act = latest.pop(case.id, None)
        if act is None:
            problems.append(f"case {case.number}: no act in the log records it (the row was "
                            "written outside the case engine)")
            continue
        where, payload = act
        changed = binding.changed_columns(case, payload.get("record") or {}, BOUND_COLUMNS)
        if changed:
            problems.append(f"{where}: case {case.number}: {', '.join(changed)} differ from "
                            "the log (the case row was edited)")
        last_move = moved.get(case.id, 0)
        if last_move > payload["seq"]:
            problems.append(f"case {case.number} event {last_move}: a change of state the "
                            "log does not hold")
    problems += [f"{where}: case {payload['case_number']}: the case is missing from the "
                 "database" for where, payload in latest.values()]
    return problems
