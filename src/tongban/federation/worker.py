"""The federation's periodic jobs (tongban.worker.jobs), each its own transaction.

- registry: the authority re-signs the registry before half its life is gone; members
  pull it from the anchor URL every 60 s (every 5 s while they have none or it expired).
- deliver: post queued envelopes to peers (retries with exponential backoff).
- inbox: run each accepted envelope's handler; send licences of handled cases home.
- witness: every 30 s, check and countersign peers' ledger checkpoints.

A node that has not run `federation init` does nothing here.
"""

from __future__ import annotations

import time
from datetime import datetime

from sqlalchemy.orm import Session

from tongban.config import Settings
from tongban.db import utcnow
from tongban.federation import modes, registry, retention, service, transport, witness
from tongban.federation.envelopes import EnvelopeRejected
from tongban.federation.models import LocalNode

WITNESS_EVERY = 30.0
_last_witness: dict[str, float] = {}


def _active(db_session: Session) -> bool:
    return db_session.get(LocalNode, 1) is not None


def registry_job(db_session: Session, settings: Settings, now: datetime | None = None) -> int:
    """Keep a current registry: re-sign it (authority) or pull it (member)."""
    if not _active(db_session):
        return 0
    now = now or utcnow()
    if registry.is_authority(settings):
        if registry.authority_due(db_session=db_session, settings=settings, now=now):
            registry.issue(db_session=db_session, settings=settings, now=now)
            return 1
        return 0
    if registry.needs_refresh(db_session=db_session, now=now):
        return int(transport.pull_registry(db_session=db_session, now=now))
    return 0


def deliver_job(db_session: Session, settings: Settings) -> int:
    """Post queued envelopes; how many were receipted."""
    if not _active(db_session):
        return 0
    return transport.deliver_pending(db_session=db_session, settings=settings).delivered


def inbox_job(db_session: Session, settings: Settings) -> int:
    """Process accepted envelopes and forward licences of handled cases."""
    if not _active(db_session):
        return 0
    done = service.process_inbox(db_session=db_session, settings=settings)
    return done + modes.forward_licences(db_session=db_session, settings=settings)


RETENTION_EVERY = 60.0  # seconds: 数据回流 purges are not urgent, only certain


def retention_job(db_session: Session, settings: Settings) -> int:
    """数据回流: purge what a node held only to serve another region (retention.run)."""
    if not _active(db_session):
        return 0
    return retention.run(db_session, settings)


def witness_job(db_session: Session, settings: Settings) -> int:
    """Countersign peers' checkpoints about every 30 seconds."""
    if not _active(db_session):
        return 0
    key = str(settings.var_dir)
    if time.monotonic() - _last_witness.get(key, 0.0) < WITNESS_EVERY:
        return 0
    _last_witness[key] = time.monotonic()
    try:
        results = witness.witness_peers(db_session=db_session, settings=settings)
    except EnvelopeRejected:
        return 0  # no current registry: nothing to witness against
    return sum(1 for r in results.values() if r == "cosigned")
