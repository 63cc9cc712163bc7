"""What /api/v1/health reports: the database, the queue backlog, the ledger's lag, the
worker jobs, the rate-limit store and this process. Cheap queries only (the pending
partial indexes), so a load balancer may ask every few seconds."""

from __future__ import annotations

import os
import time
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tongban import __version__
from tongban.db import utcnow
from tongban.node.root import Node
from tongban.outbox.models import OutboxMessage

# Past these the node is "degraded": the worker is behind or a job keeps failing.
LEDGER_LAG_SECONDS = 60.0
FAILING_RUNS = 3


def _age(since: datetime | None, now: datetime) -> float | None:
    return None if since is None else round(max(0.0, (now - since).total_seconds()), 3)


def queue_backlog(*, db_session: Session, now: datetime) -> dict[str, Any]:
    """Undelivered outbox messages by topic (with the oldest's age), unprocessed inbox
    envelopes, cases whose clock check is due, and the worker jobs' last runs."""
    from tongban.federation.models import InboxEnvelope
    from tongban.queue.service import job_states

    rows = db_session.execute(
        select(OutboxMessage.topic, func.count(), func.min(OutboxMessage.created_at))
        .where(OutboxMessage.delivered_at.is_(None), OutboxMessage.failed_at.is_(None))
        .group_by(OutboxMessage.topic)).all()
    failed = dict(db_session.execute(
        select(OutboxMessage.topic, func.count()).where(OutboxMessage.failed_at.is_not(None))
        .group_by(OutboxMessage.topic)).all())
    inbox = db_session.scalar(select(func.count()).select_from(InboxEnvelope)
                              .where(InboxEnvelope.processed_at.is_(None),
                                     InboxEnvelope.parked_at.is_(None))) or 0
    parked = db_session.scalar(select(func.count()).select_from(InboxEnvelope)
                               .where(InboxEnvelope.parked_at.is_not(None))) or 0
    jobs = [{"name": j.name, "runs": j.runs, "failures": j.failures,
             "last_finished_at": j.last_finished_at, "last_error": j.last_error,
             "last_worker": j.last_worker} for j in job_states(db_session=db_session)]
    outbox: dict[str, dict[str, Any]] = {
        topic: {"pending": n, "oldest_seconds": _age(oldest, now), "failed": 0}
        for topic, n, oldest in rows}
    for topic, n in failed.items():
        outbox.setdefault(topic, {"pending": 0, "oldest_seconds": None})["failed"] = n
    return {"outbox": outbox, "inbox_pending": inbox, "inbox_parked": parked,
            "cases_due": _cases_due(db_session, now), "jobs": jobs}


def _cases_due(db_session: Session, now: datetime) -> int | None:
    from tongban.cases.models import Case

    column = getattr(Case, "next_check_at", None)
    if column is None:
        return None
    return db_session.scalar(select(func.count()).select_from(Case).where(column <= now)) or 0


def ledger_lag(*, db_session: Session, now: datetime) -> dict[str, Any]:
    """Acts not yet in the log and how long the oldest has waited; the log's size and the
    size of its latest signed checkpoint."""
    from tongban.ledger import service as ledger

    pending, oldest = db_session.execute(
        select(func.count(), func.min(OutboxMessage.created_at))
        .where(OutboxMessage.topic == ledger.TOPIC, OutboxMessage.delivered_at.is_(None))
    ).one()
    latest = ledger.latest_checkpoint(db_session=db_session)
    return {"pending": pending, "lag_seconds": _age(oldest, now) or 0.0,
            "tree_size": ledger.tree_size(db_session=db_session),
            "checkpoint_size": latest.tree_size if latest else 0}


def report(node: Node, *, worker_in_process: bool) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body): 503 only when the database does not answer."""
    settings = node.settings
    body: dict[str, Any] = {
        "version": __version__, "region": settings.node_region,
        "database": node.engine.dialect.name,
        "process": {"pid": os.getpid(), "worker_in_process": worker_in_process},
        "blob_store": settings.blob_store,
        "rate_limits": {"storage": settings.rate_limit_storage.split("://")[0],
                        "shared": node.rate_limiter.shared,
                        "last_error": node.rate_limiter.last_error},
    }
    started = time.perf_counter()
    try:
        with node.sessionmaker() as session:
            now = utcnow()
            body["queue"] = queue_backlog(db_session=session, now=now)
            body["ledger"] = ledger_lag(db_session=session, now=now)
    except Exception as exc:
        body.update(status="down", database_ok=False,
                    database_error=f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
        return 503, body
    body["database_ok"] = True
    body["database_ms"] = round((time.perf_counter() - started) * 1000, 2)
    failing = [j["name"] for j in body["queue"]["jobs"] if j["failures"] >= FAILING_RUNS]
    problems = (failing and [f"failing jobs: {', '.join(failing)}"]) or []
    if body["ledger"]["lag_seconds"] > LEDGER_LAG_SECONDS:
        problems.append(f"ledger {body['ledger']['lag_seconds']:.0f} s behind")
    if body["queue"]["inbox_parked"]:
        problems.append(f"{body['queue']['inbox_parked']} parked inbox envelopes "
                        "(GET /api/v1/federation/inbox/parked)")
    if node.rate_limiter.last_error:
        problems.append("rate-limit store unavailable")
    body["status"] = "degraded" if problems else "ok"
    body["problems"] = problems
    return 200, body
