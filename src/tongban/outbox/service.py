"""Write to the outbox in the caller's transaction; read and mark what is pending.

A message is written at once with a Core INSERT on the session's connection (every
write request of the case engine logs one; the unit of work's bookkeeping for an object
nothing reads back was pure cost). It still commits, or not, with its cause.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, insert, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from tongban.db import new_id, utcnow
from tongban.outbox.models import OutboxMessage
from tongban.queue.service import claim

_INSERT = insert(OutboxMessage.__table__)  # type: ignore[arg-type]


def enqueue(
    *, db_session: Session, topic: str, kind: str, payload: dict[str, Any],
    message_id: uuid.UUID | None = None,
) -> uuid.UUID:
    """Write a message that commits (or not) with the change that caused it; its id
    (`message_id`, else a new one)."""
    row = message_row(topic=topic, kind=kind, payload=payload, message_id=message_id)
    db_session.connection().execute(_INSERT, row)
    written: uuid.UUID = row["id"]
    return written


def message_row(*, topic: str, kind: str, payload: dict[str, Any],
                message_id: uuid.UUID | None = None) -> dict[str, Any]:
    """The row `enqueue` writes, for a caller that writes it with its cause in one
    statement (db.insert_together into OutboxMessage.__table__)."""
    return {"id": message_id or new_id(), "topic": topic, "kind": kind, "payload": payload,
            "created_at": utcnow(), "attempts": 0}


def pending(
    *, db_session: Session, topic: str, limit: int = 500, now: datetime | None = None
) -> list[OutboxMessage]:
    """Undelivered messages of a topic, oldest first, that are due for an attempt."""
    return list(db_session.scalars(_pending(topic, limit, now or utcnow())))


@dataclass
class ClaimCursor:
    """Where a worker's next claim of a topic starts: just past the last message it
    claimed. The rows it (and the others) delivered before stay in the pending index as
    dead entries until VACUUM, so a claim from the start of the topic walks every message
    drained so far: a worker draining a backlog alone slowed as the backlog grew (a claim
    at 30k read ~600 index pages to find its 100 rows). A claim from the cursor reads only
    its own batch; once the tail runs short it takes the rest from the start (rows below
    the cursor: skipped while another worker held them, or due again after a failure) and
    starts over there."""

    after: int = 0


def claim_pending(
    *, db_session: Session, topic: str, limit: int = 100, now: datetime | None = None,
    cursor: ClaimCursor | None = None,
) -> list[OutboxMessage]:
    """A batch of due messages of a topic that this transaction holds: workers running
    the same shared job at once each get a different batch (FOR UPDATE SKIP LOCKED), and
    a worker that dies releases its batch with its connection. A worker that claims in a
    loop passes its `cursor` (see ClaimCursor): the same messages, without re-walking
    what it drained."""
    stmt = _pending(topic, limit, now or utcnow())
    if cursor is None:
        return list(db_session.scalars(claim(stmt)))
    tail: list[OutboxMessage] = []
    if cursor.after:
        tail = list(db_session.scalars(claim(stmt.where(OutboxMessage.seq > cursor.after))))
        if len(tail) == limit:
            cursor.after = tail[-1].seq
            return tail
        # The tail ran short: the rest of the batch from the start, below the cursor.
        stmt = stmt.where(OutboxMessage.seq <= cursor.after).limit(limit - len(tail))
    head = list(db_session.scalars(claim(stmt)))
    cursor.after = head[-1].seq if head and len(head) + len(tail) == limit else 0
    return head + tail


def _pending(topic: str, limit: int, now: datetime) -> Select[OutboxMessage]:
    return (
        select(OutboxMessage)
        .where(
            OutboxMessage.topic == topic,
            OutboxMessage.delivered_at.is_(None),
            OutboxMessage.failed_at.is_(None),
            or_(OutboxMessage.next_attempt_at.is_(None), OutboxMessage.next_attempt_at <= now),
        )
        .order_by(OutboxMessage.seq)
        .limit(limit)
    )


def mark_all_delivered(*, db_session: Session, messages: list[OutboxMessage]) -> None:
    """Record that a claimed batch reached its consumer, in one statement (a flush of one
    UPDATE per message cost more than the work of most jobs)."""
    if not messages:
        return
    now = utcnow()
    db_session.execute(
        update(OutboxMessage).where(OutboxMessage.seq.in_([m.seq for m in messages]))
        .values(delivered_at=now, attempts=OutboxMessage.attempts + 1)
        .execution_options(synchronize_session=False))
    for message in messages:  # what the caller holds says so too, without a reload
        set_committed_value(message, "delivered_at", now)
        set_committed_value(message, "attempts", message.attempts + 1)


def mark_failed(*, db_session: Session, message: OutboxMessage, error: str,
                now: datetime | None = None) -> None:
    """Give up on the message: it is never attempted again; the error says why."""
    message.failed_at = now or utcnow()
    message.last_error = error[:2000]


def mark_delivered(*, db_session: Session, message: OutboxMessage) -> None:
    """Record that the message reached its consumer."""
    message.delivered_at = utcnow()
    message.attempts += 1
