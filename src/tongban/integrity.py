"""`tongban verify`: the log is consistent, and the records agree with the log.

The ledger proves its own append-only history; this module replays it and asks each
domain whether the records it keeps (case decisions, licences) still say what was
logged when they were made.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from tongban.cases import integrity as case_integrity
from tongban.config import Settings
from tongban.ledger import service as ledger
from tongban.licences import integrity as licence_integrity


@dataclass
class RecordsReport:
    entries: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class _Acts:
    cases: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    issued: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    last_status: dict[str, str] = field(default_factory=dict)

    def add(self, index: int, kind: str, payload: dict[str, Any]) -> None:
        if kind.startswith("case.") and "seq" in payload:
            self.cases.append((index, payload))
        elif kind in {"licence.issued", "licence.imported"}:
            self.issued[payload["licence_id"]] = (index, payload)
        elif kind == "licence.status_changed":
            self.last_status[payload["licence_id"]] = payload["to"]


def verify_records(*, db_session: Session, settings: Settings) -> RecordsReport:
    """Replay the log and name every record that no longer matches what was logged."""
    acts, start = _Acts(), 0
    size = ledger.tree_size(db_session=db_session)
    while start < size:
        page = ledger.entries(db_session=db_session, start=start)
        for entry in page.entries:
            acts.add(entry.index, entry.kind, entry.payload)
        start = page.end
    report = RecordsReport(entries=size)
    report.problems += case_integrity.check_against_log(db_session=db_session, acts=acts.cases)
    report.problems += licence_integrity.check_against_log(
        db_session=db_session, settings=settings, issued=acts.issued,
        last_status=acts.last_status)
    return report
