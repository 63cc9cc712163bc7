"""The transactional outbox: what must reach another process, written with its cause."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from tongban.db import Base, new_id, utcnow
from tongban.sealed import SealedJson

PENDING = "delivered_at IS NULL AND failed_at IS NULL"


class OutboxMessage(Base):
    """One message for a topic (ledger, notify, federation); delivered at least once.

    `seq` orders messages of a topic, so a consumer (the ledger) can process them in
    the order their causes committed.
    """

    __tablename__ = "outbox_messages"

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    id: Mapped[uuid.UUID] = mapped_column(unique=True, default=new_id)
    topic: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(60))
    payload: Mapped[dict[str, Any]] = mapped_column(SealedJson("outbox_messages.payload"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    # Given up on (a permanent refusal, or too many temporary failures): never retried,
    # recorded and shown to a person by the topic's consumer.
    failed_at: Mapped[datetime | None]

    # Exactly the claim predicate, pending rows only: delivered or given-up rows (most of
    # the table) never enter the index the workers walk, so a claim stays cheap.
    __table_args__ = (Index("ix_outbox_messages_pending", "topic", "seq",
                            postgresql_where=text(PENDING),
                            sqlite_where=text(PENDING)),)
