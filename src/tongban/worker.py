"""The node's worker: runs each domain's periodic job, each in its own transaction.

`tongban worker` runs it as a process; `tongban serve` runs it in a thread for the
single-machine default. Jobs are idempotent, so two workers (or a restart mid-batch)
never do a step twice in effect.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from tongban.config import Settings
from tongban.db import transaction

log = logging.getLogger("tongban.worker")

Job = Callable[[Session, Settings], int]


@dataclass(frozen=True)
class NamedJob:
    name: str
    run: Job


def jobs() -> list[NamedJob]:
    """Every domain's periodic job, in the order they should run each tick."""
    from tongban.cases.worker import job as cases_job
    from tongban.federation import worker as federation

    return [NamedJob("cases", cases_job),
            NamedJob("ledger", _ledger_job),
            NamedJob("federation.registry", federation.registry_job),
            NamedJob("federation.deliver", federation.deliver_job),
            NamedJob("federation.inbox", federation.inbox_job),
            NamedJob("federation.witness", federation.witness_job)]


def _ledger_job(session: Session, settings: Settings) -> int:
    """Append what the outbox holds for the log and sign a checkpoint (about once a tick)."""
    from tongban.ledger.service import run_once

    return run_once(db_session=session, settings=settings).appended


def tick(factory: sessionmaker[Session], settings: Settings) -> dict[str, int]:
    """Run each job once; a failing job is logged and does not stop the others."""
    done: dict[str, int] = {}
    for job in jobs():
        try:
            with transaction(factory) as session:
                done[job.name] = job.run(session, settings)
        except Exception:
            log.exception("worker job %s failed", job.name)
            done[job.name] = -1
    return done


def run_forever(
    factory: sessionmaker[Session], settings: Settings, stop: threading.Event,
    interval: float = 1.0,
) -> None:
    """Tick about once per `interval` seconds until `stop` is set."""
    while not stop.is_set():
        started = time.monotonic()
        tick(factory, settings)
        stop.wait(max(0.0, interval - (time.monotonic() - started)))


def start_in_thread(factory: sessionmaker[Session], settings: Settings) -> threading.Event:
    """Start the worker loop in a daemon thread; set the returned event to stop it."""
    stop = threading.Event()
    thread = threading.Thread(
        target=run_forever, args=(factory, settings, stop), name="tongban-worker", daemon=True
    )
    thread.start()
    return stop
