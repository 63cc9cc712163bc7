"""`tongban verify`: the log is consistent, and the records agree with the log.

The ledger proves its own append-only history; this module replays it and asks each
domain whether the records it keeps (case decisions, licences) still say what was
logged when they were made.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tongban.cases import integrity as case_integrity
from tongban.config import Settings
from tongban.ledger import service as ledger
from tongban.licences import integrity as licence_integrity
from tongban.outbox.models import OutboxMessage


@dataclass
class RecordsReport:
    entries: int = 0
    pending: int = 0  # acts not yet in the log, checked against their outbox rows
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class _Acts:
    cases: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    issued: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    last_status: dict[str, str] = field(default_factory=dict)
    replaced_by: dict[str, str] = field(default_factory=dict)

    def add(self, where: str, kind: str, payload: dict[str, Any]) -> None:
        if kind.startswith("case.") and "seq" in payload:
            self.cases.append((where, payload))
        elif kind in {"licence.issued", "licence.imported"}:
            self.issued[payload["licence_id"]] = (where, payload)
        elif kind == "licence.status_changed":
            self.last_status[payload["licence_id"]] = payload["to"]
            if payload.get("replaced_by"):
                self.replaced_by[payload["licence_id"]] = payload["replaced_by"]


# Acts committed but not yet appended by the ledger worker (it runs every few seconds):
# records are checked against them too, so a fresh act is not reported as missing.
_PENDING = (select(OutboxMessage.seq, OutboxMessage.kind, OutboxMessage.payload)
            .where(OutboxMessage.topic == ledger.TOPIC, OutboxMessage.delivered_at.is_(None))
            .order_by(OutboxMessage.seq))


def verify_records(*, db_session: Session, settings: Settings) -> RecordsReport:
    """Replay the log (then the acts still on their way to it) and name every record that
    no longer matches what was logged, and every record that nothing logged."""
    acts, start = _Acts(), 0
    size = ledger.tree_size(db_session=db_session)
    while start < size:
        page = ledger.entries(db_session=db_session, start=start)
        for entry in page.entries:
            acts.add(f"log entry {entry.index}", entry.kind, entry.payload)
        start = page.end
    report = RecordsReport(entries=size)
    for seq, kind, payload in db_session.execute(_PENDING):
        acts.add(f"pending act {seq}", kind, payload)
        report.pending += 1
    report.problems += case_integrity.check_against_log(db_session=db_session, acts=acts.cases)
    report.problems += licence_integrity.check_against_log(
        db_session=db_session, settings=settings, issued=acts.issued,
        last_status=acts.last_status, replaced_by=acts.replaced_by)
    return report
