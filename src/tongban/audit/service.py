"""Append to the audit trail in the caller's transaction.

An entry is written at once with a Core INSERT on the session's connection, not added as
an ORM object: the trail is append-only, nothing reads an entry back through the
session, and every write request appends one, so the unit of work's bookkeeping for it
was pure cost (bench/http_cases.py). It still commits, or rolls back, with its cause.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from tongban.audit.models import AuditEntry
from tongban.db import new_id, utcnow

SYSTEM = "system"
_INSERT = insert(AuditEntry.__table__)  # type: ignore[arg-type]


def record(
    *,
    db_session: Session,
    actor_id: uuid.UUID | None,
    actor_name: str,
    action: str,
    entity: str,
    entity_id: str,
    details: dict[str, Any] | None = None,
) -> uuid.UUID:
    """Append one attributed entry now; it commits with the change it describes. Returns
    its id."""
    row = entry_row(actor_id=actor_id, actor_name=actor_name, action=action, entity=entity,
                    entity_id=entity_id, details=details)
    db_session.connection().execute(_INSERT, row)
    entry_id: uuid.UUID = row["id"]
    return entry_id


def entry_row(*, actor_id: uuid.UUID | None, actor_name: str, action: str, entity: str,
              entity_id: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    """The row `record` writes, for a caller that writes it with its change in one
    statement (db.insert_together into AuditEntry.__table__)."""
    return {"id": new_id(), "at": utcnow(), "actor_id": actor_id,
            "actor_name": actor_name or SYSTEM, "action": action, "entity": entity,
            "entity_id": entity_id, "details": details or {}}


def list_for(*, db_session: Session, entity: str, entity_id: str) -> list[AuditEntry]:
    """The trail of one entity, oldest first."""
    stmt = (
        select(AuditEntry)
        .where(AuditEntry.entity == entity, AuditEntry.entity_id == entity_id)
        .order_by(AuditEntry.at, AuditEntry.id)
    )
    return list(db_session.scalars(stmt))
