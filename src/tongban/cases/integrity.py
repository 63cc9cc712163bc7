"""Check case events against what the tamper-evident log says of them.

The log holds, for every legal act, the event's ids, states, time, actor and the hashes
of its reason and data. An event edited or deleted in the database no longer matches.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tongban.cases.models import CaseEvent
from tongban.cases.service import ledger_digest

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


def check_against_log(*, db_session: Session, acts: list[tuple[int, dict[str, Any]]]
                      ) -> list[str]:
    """Problems with the events the log names: (log index, logged payload) pairs."""
    problems = []
    for index, payload in acts:
        event = db_session.scalar(select(CaseEvent).where(
            CaseEvent.case_id == uuid.UUID(payload["case_id"]),
            CaseEvent.seq == payload["seq"]))
        where = f"log entry {index}: case {payload['case_number']} event {payload['seq']}"
        if event is None:
            problems.append(f"{where}: the event is missing from the database")
            continue
        changed = [name for name, read in _FIELDS.items() if read(event) != payload.get(name)]
        if changed:
            problems.append(f"{where}: {', '.join(changed)} differ from the log")
    return problems
