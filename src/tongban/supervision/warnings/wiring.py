"""What warnings plug into the node (called by tongban.supervision.wiring)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from tongban.config import Settings
from tongban.node.root import Wiring


def escalation_job(db_session: Session, settings: Settings) -> int:
    """Follow warned cases and escalate those held too long (one worker at a time)."""
    from tongban.supervision.warnings import service

    del settings
    return service.escalate(db_session=db_session)


def wire(w: Wiring) -> None:
    """The escalation job, about once a minute."""
    w.jobs.add("supervision.warnings.escalate", escalation_job, every=60.0)
