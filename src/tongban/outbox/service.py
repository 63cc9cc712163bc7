"""Write to the outbox in the caller's transaction; read and mark what is pending."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from tongban.db import utcnow
from tongban.outbox.models import OutboxMessage


def enqueue(
    *, db_session: Session, topic: str, kind: str, payload: dict[str, Any]
) -> OutboxMessage:
    """Add a message that commits (or not) with the change that caused it."""
    message = OutboxMessage(topic=topic, kind=kind, payload=payload)
    db_session.add(message)
    return message


def pending(
    *, db_session: Session, topic: str, limit: int = 500, now: datetime | None = None
) -> list[OutboxMessage]:
    """Undelivered messages of a topic, oldest first, that are due for an attempt."""
    now = now or utcnow()
    stmt = (
        select(OutboxMessage)
        .where(
            OutboxMessage.topic == topic,
            OutboxMessage.delivered_at.is_(None),
            or_(OutboxMessage.next_attempt_at.is_(None), OutboxMessage.next_attempt_at <= now),
        )
        .order_by(OutboxMessage.seq)
        .limit(limit)
    )
    return list(db_session.scalars(stmt))


def mark_delivered(*, db_session: Session, message: OutboxMessage) -> None:
    """Record that the message reached its consumer."""
    message.delivered_at = utcnow()
    message.attempts += 1
