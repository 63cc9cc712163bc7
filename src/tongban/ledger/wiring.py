"""What the ledger plugs into the node (called by tongban.node.root, once)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from tongban.config import Settings
from tongban.node.root import Wiring


def _ledger_job(session: Session, settings: Settings) -> int:
    """Append what the outbox holds for the log and sign a checkpoint (about once a tick)."""
    from tongban.ledger.service import run_once

    return run_once(db_session=session, settings=settings).appended


def wire(w: Wiring) -> None:
    """The worker job that feeds the log from the outbox: one sequencer, the worker that
    holds its advisory lock (another takes over when it dies)."""
    w.jobs.add("ledger", _ledger_job, claim="leader")
