"""The delivery job: pending deliveries sent through the channel adapters, under claims.

Every worker runs it (a "shared" job): each claims its own batch of due deliveries with
FOR UPDATE SKIP LOCKED, so two workers never hold the same row, and a worker that dies
gives its batch back with its connection. All sending happens before the first write of
the batch (a SQLite node then never holds its write lock while an SMTP server thinks),
and the outcomes are written in the job's transaction:

- sent: recorded with the adapter's name and the time;
- temporary failure: retried with exponential backoff (30 s, 1 min, 2 min, .. at most an
  hour) until `notify_max_attempts`, then failed ("temporary", gave up);
- permanent failure: failed at once, with the reason (addresses masked);
- failed deliveries are listed for operators (`tongban notify failures`) and sent again
  only when one asks (`tongban notify retry`).

A worker that crashes after a send and before its batch commits sends it again on the
next claim, with the same reference (Message-ID / SMS client reference): at least once,
recognisably the same message, never lost.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from tongban.config import Settings
from tongban.db import utcnow
from tongban.identity import crypto
from tongban.notify.channels import ChannelAdapter, Outgoing, SendFailure, TemporaryFailure
from tongban.notify.models import Delivery, DeliveryState, Notification
from tongban.notify.service import ADDRESS_COLUMN, CONTENT_COLUMN
from tongban.queue.service import claim

BATCH = 50
FIRST_WAIT = 30.0
MAX_WAIT = 3600.0


@dataclass
class DeliveryReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def done(self) -> int:
        return self.sent + self.retried + self.failed


def backoff(attempts: int) -> timedelta:
    """The wait after the `attempts`-th temporary failure: 30 s doubling, at most an hour."""
    return timedelta(seconds=min(MAX_WAIT, FIRST_WAIT * 2.0 ** max(0, attempts - 1)))


def adapter_for(settings: Settings, channel: str) -> ChannelAdapter:
    """The adapter the settings choose for `channel` (an unknown name stops the job)."""
    from tongban.node.root import wiring

    name = {"email": settings.notify_email_adapter, "sms": settings.notify_sms_adapter}
    return wiring().notify_adapters.get(f"{channel}.{name.get(channel, '')}")


def _due(now: datetime, limit: int) -> Select[Delivery]:
    return (select(Delivery).where(Delivery.state == DeliveryState.pending,
                                   Delivery.next_attempt_at <= now)
            .order_by(Delivery.next_attempt_at, Delivery.id).limit(limit))


def _outgoing(db_session: Session, settings: Settings, delivery: Delivery) -> Outgoing:
    notification = db_session.get(Notification, delivery.notification_id)
    assert notification is not None
    content = json.loads(crypto.decrypt(settings=settings, blob=notification.content_enc,
                                        column=CONTENT_COLUMN))
    link = content.get("link")
    return Outgoing(
        delivery_id=delivery.id, channel=delivery.channel, kind=notification.kind,
        address=crypto.decrypt(settings=settings, blob=delivery.address_enc,
                               column=ADDRESS_COLUMN),
        title=content["title"], body=content["body"],
        link=f"{settings.public_url.rstrip('/')}{link}" if link else None)


def _send(settings: Settings, message: Outgoing) -> tuple[str, str | None, SendFailure | None]:
    """(adapter name, reference, failure) of one attempt; an adapter's unexpected error is
    temporary (retried, bounded), never a lost message."""
    adapter = adapter_for(settings, message.channel)
    try:
        return adapter.name, adapter.send(message, settings), None
    except SendFailure as failure:
        return adapter.name, None, failure
    except Exception as exc:  # a bug or an unforeseen error of a back-end
        return adapter.name, None, TemporaryFailure(f"{type(exc).__name__}: {exc}"[:500])


def _record(settings: Settings, delivery: Delivery, adapter: str, failure: SendFailure | None,
            now: datetime, report: DeliveryReport) -> None:
    delivery.attempts += 1
    delivery.last_attempt_at, delivery.adapter = now, adapter
    if failure is None:
        delivery.state, delivery.sent_at = DeliveryState.sent, now
        delivery.failure = delivery.last_error = None
        report.sent += 1
        return
    delivery.failure = "temporary" if failure.temporary else "permanent"
    delivery.last_error = failure.reason[:2000]
    if failure.temporary and delivery.attempts < settings.notify_max_attempts:
        delivery.next_attempt_at = now + backoff(delivery.attempts)
        report.retried += 1
        return
    if failure.temporary:
        delivery.last_error = f"gave up after {delivery.attempts} attempts: {failure.reason}"[
            :2000]
    delivery.state = DeliveryState.failed
    report.failed += 1
    report.errors.append(f"{delivery.id}: {delivery.last_error}")


def deliver_due(*, db_session: Session, settings: Settings, now: datetime | None = None,
                limit: int = BATCH) -> DeliveryReport:
    """Send this worker's batch of due deliveries and record each outcome."""
    now = now or utcnow()
    report = DeliveryReport()
    batch = list(db_session.scalars(claim(_due(now, limit))))
    if not batch:
        return report
    with db_session.no_autoflush:
        outcomes = [(d, *_send(settings, _outgoing(db_session, settings, d))) for d in batch]
        for delivery, adapter, _reference, failure in outcomes:
            _record(settings, delivery, adapter, failure, now, report)
    db_session.flush()
    return report


def job(db_session: Session, settings: Settings) -> int:
    """The worker job: one batch per tick and worker; how many deliveries it settled."""
    return deliver_due(db_session=db_session, settings=settings).done


# --- operators ---------------------------------------------------------------------------


def failures(*, db_session: Session, limit: int = 200) -> list[Delivery]:
    """Deliveries that failed for good, newest attempt first (for an operator)."""
    return list(db_session.scalars(select(Delivery).where(
        Delivery.state == DeliveryState.failed)
        .order_by(Delivery.last_attempt_at.desc(), Delivery.id).limit(limit)))


def retry(*, db_session: Session, delivery_ids: list[uuid.UUID] | None = None,
          now: datetime | None = None) -> int:
    """Put failed deliveries (these, or every one) back in the queue for a fresh round of
    attempts; how many. A delivery that is pending or sent is left alone."""
    stmt = select(Delivery).where(Delivery.state == DeliveryState.failed)
    if delivery_ids is not None:
        stmt = stmt.where(Delivery.id.in_(delivery_ids))
    rows = list(db_session.scalars(stmt))
    for row in rows:
        row.state, row.attempts = DeliveryState.pending, 0
        row.next_attempt_at = now or utcnow()
    db_session.flush()
    return len(rows)


def counts(*, db_session: Session) -> dict[str, int]:
    """Deliveries by state (health, the CLI)."""
    return {state: n for state, n in db_session.execute(
        select(Delivery.state, func.count()).group_by(Delivery.state))}


def address_of(*, settings: Settings, delivery: Delivery) -> str:
    """A delivery's address, masked (what an operator sees)."""
    from tongban.notify.channels import mask

    return mask(crypto.decrypt(settings=settings, blob=delivery.address_enc,
                               column=ADDRESS_COLUMN))
