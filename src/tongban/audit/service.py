"""Append to the audit trail in the caller's transaction."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tongban.audit.models import AuditEntry

SYSTEM = "system"


def record(
    *,
    db_session: Session,
    actor_id: uuid.UUID | None,
    actor_name: str,
    action: str,
    entity: str,
    entity_id: str,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append one attributed entry; it commits with the change it describes."""
    entry = AuditEntry(
        actor_id=actor_id,
        actor_name=actor_name or SYSTEM,
        action=action,
        entity=entity,
        entity_id=entity_id,
        details=details or {},
    )
    db_session.add(entry)
    return entry


def list_for(*, db_session: Session, entity: str, entity_id: str) -> list[AuditEntry]:
    """The trail of one entity, oldest first."""
    stmt = (
        select(AuditEntry)
        .where(AuditEntry.entity == entity, AuditEntry.entity_id == entity_id)
        .order_by(AuditEntry.at, AuditEntry.id)
    )
    return list(db_session.scalars(stmt))
