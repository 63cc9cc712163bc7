"""Notifications, their deliveries (the channel outbox) and people's preferences.

A `Notification` is the message itself and, at once, its in-app inbox entry: it is
written in the transaction of the change that caused it, so a decision and the news of
it commit together. Each external channel (e-mail, SMS) gets a `Delivery` row, the
outbox the delivery job works through under claims. Message content and addresses are
personal data: sealed with the node's data key (tongban.identity.crypto), never plain.
The caller's dedupe key is stored as a keyed hash (a key may name a case or a person).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from tongban.db import Base, IdMixin, JsonType, utcnow


class RecipientKind(StrEnum):
    person = "person"
    enterprise = "enterprise"
    account = "account"


class Channel(StrEnum):
    inbox = "inbox"
    email = "email"
    sms = "sms"


class DeliveryState(StrEnum):
    pending = "pending"
    sent = "sent"
    failed = "failed"  # permanent, or temporary too often: an operator looks at it


class Notification(IdMixin, Base):
    """One message to one recipient; its inbox entry (read or not)."""

    __tablename__ = "notify_notifications"

    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(60))
    recipient_kind: Mapped[str] = mapped_column(String(12))
    recipient_id: Mapped[uuid.UUID]
    # {"title": {"zh": .., "en": ..}, "body": {...}, "link": ..} sealed (PII).
    content_enc: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_notify_notifications_recipient", "recipient_kind",
                            "recipient_id", "created_at"),)


class Delivery(IdMixin, Base):
    """One notification on one external channel: pending until sent or given up."""

    __tablename__ = "notify_deliveries"

    notification_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("notify_notifications.id"), index=True)
    channel: Mapped[str] = mapped_column(String(10))
    address_enc: Mapped[bytes] = mapped_column(LargeBinary)
    state: Mapped[str] = mapped_column(String(10), default=DeliveryState.pending)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_attempt_at: Mapped[datetime | None]
    # "temporary" / "permanent" and what went wrong, addresses masked.
    failure: Mapped[str | None] = mapped_column(String(10))
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None]
    adapter: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("notification_id", "channel"),
        # The claim predicate, pending rows only (sent history never enters the index).
        Index("ix_notify_deliveries_pending", "next_attempt_at",
              postgresql_where=text("state = 'pending'"),
              sqlite_where=text("state = 'pending'")),
    )


class Preference(IdMixin, Base):
    """A recipient's addresses (sealed) and, per kind, the external channels wanted."""

    __tablename__ = "notify_preferences"

    recipient_kind: Mapped[str] = mapped_column(String(12))
    recipient_id: Mapped[uuid.UUID]
    email_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    phone_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    # {kind: ["email", "sms"]}; a kind not named gets the default (every known address).
    channels: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("recipient_kind", "recipient_id"),)


class Cursor(Base):
    """How far a watching job has read another domain's history (licence status changes)."""

    __tablename__ = "notify_cursors"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    at: Mapped[datetime]
