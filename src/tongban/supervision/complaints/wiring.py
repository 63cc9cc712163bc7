"""What complaints plug into the node (called by tongban.supervision.wiring)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from tongban.config import Settings
from tongban.node.root import Wiring


def deadlines_job(db_session: Session, settings: Settings) -> int:
    """Open tickets' due dates from the calendar as it is now: a year loaded or corrected
    reaches every open ticket within a minute."""
    from tongban.supervision.complaints import service

    del settings
    return service.recompute_deadlines(db_session=db_session)


def wire(w: Wiring) -> None:
    """The deadline job, about once a minute on one worker."""
    w.jobs.add("supervision.complaints.deadlines", deadlines_job, every=60.0)
