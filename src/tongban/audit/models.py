"""The audit trail: every write, attributed, appended, never updated."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from tongban.db import Base, IdMixin, utcnow
from tongban.sealed import SealedJson


class AuditEntry(IdMixin, Base):
    __tablename__ = "audit_entries"

    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    actor_name: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(60))
    entity: Mapped[str] = mapped_column(String(60))
    entity_id: Mapped[str] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(SealedJson("audit_entries.details"),
                                                     default=dict)

    __table_args__ = (Index("ix_audit_entries_entity", "entity", "entity_id"),)
