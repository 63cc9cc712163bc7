"""The node's worker: runs every registered job, each in its own transaction, under the
claim its registration names (tongban.node.root.WorkerJob, tongban.queue.service).

`tongban worker` runs it as a process, as many of them as the node needs, on as many
machines: a leased job runs in one of them at a time, a shared job in all of them on
different rows, and the ledger in the one that leads it. A SQLite node (one machine,
one writer) runs it in a thread of `tongban serve` instead. A job's work and the record
of its claim commit together (on SQLite the claim commits just before: Worker._turn_taken),
so a worker killed mid-batch leaves nothing half done and the next worker does it again,
once.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from tongban.config import Settings
from tongban.db import transaction, utcnow
from tongban.node.root import Node, WorkerJob, wiring
from tongban.queue import service as queue

log = logging.getLogger("tongban.worker")


@dataclass(frozen=True)
class NamedJob:
    name: str
    job: WorkerJob


def jobs() -> list[NamedJob]:
    """Every domain's job, in the order the root registered them."""
    return [NamedJob(name, job) for name, job in wiring().jobs.items()]


class Worker:
    """One worker process's view of the node's jobs (its leads live as long as it does)."""

    def __init__(self, factory: sessionmaker[Session], settings: Settings) -> None:
        self.factory, self.settings = factory, settings
        bind = factory.kw["bind"]
        self.leadership = queue.Leadership(bind.engine if hasattr(bind, "engine") else bind)
        # PostgreSQL: a turn is a row lock held with the job's work (N workers share the
        # jobs); SQLite: one writer for the whole database, see _turn_taken.
        self._one_writer = bind.dialect.name == "sqlite"
        self._ensured = False

    def _ensure(self, named: list[NamedJob]) -> None:
        if not self._ensured:
            with transaction(self.factory) as session:
                queue.ensure_jobs(db_session=session, names=[j.name for j in named],
                                  now=utcnow())
            self._ensured = True

    def run_job(self, named: NamedJob, *, force: bool = False) -> int | None:
        """Run one job if this worker may now; its count, None if it was not its turn,
        -1 if it failed (logged, recorded on its row, put off with backoff)."""
        job, name = named.job, named.name
        if job.claim == "leader" and not self.leadership.leads(name):
            return None
        try:
            turn = job.claim != "shared"
            if turn and self._one_writer:
                if not self._turn_taken(name, job.every, force):
                    return None
                turn = False  # claimed and committed already
            with transaction(self.factory) as session:
                if turn and not queue.take_turn(db_session=session, name=name,
                                                every=job.every, now=utcnow(), force=force):
                    return None
                done = job.run(session, self.settings)
                if job.claim != "shared":
                    queue.finish_turn(db_session=session, name=name, done=done, now=utcnow())
                return done
        except Exception as exc:
            log.exception("worker job %s failed", name)
            self._record_failure(name, f"{type(exc).__name__}: {exc}")
            return -1

    def _turn_taken(self, name: str, every: float, force: bool) -> bool:
        """SQLite: the turn is claimed and committed before the job runs. There the claim's
        UPDATE takes the write lock of the whole database, and a job that then waits on a
        peer (an envelope posted, a checkpoint fetched: seconds when the peer hangs) held
        it for every request of the node, which answered 503 busy. The UPDATE stays the
        claim (a second worker finds the turn taken); a worker killed mid-job leaves its
        work rolled back and the job due again `every` seconds on."""
        with transaction(self.factory) as session:
            return queue.take_turn(db_session=session, name=name, every=every, now=utcnow(),
                                   force=force)

    def _record_failure(self, name: str, error: str) -> None:
        try:
            with transaction(self.factory) as session:
                queue.record_failure(db_session=session, name=name, error=error, now=utcnow())
        except Exception:
            log.exception("could not record the failure of worker job %s", name)

    def tick(self, *, force: bool = False, only: list[NamedJob] | None = None
             ) -> dict[str, int | None]:
        """Run each job whose turn it is (every job, with `force`); a failing job does
        not stop the others."""
        named = only if only is not None else jobs()
        self._ensure(named)
        return {j.name: self.run_job(j, force=force) for j in named}

    def close(self) -> None:
        self.leadership.close()


def tick(factory: sessionmaker[Session], settings: Settings, *, force: bool = True
         ) -> dict[str, int | None]:
    """Run every job once (`tongban worker --once`, tests), each under its claim."""
    worker = Worker(factory, settings)
    try:
        return worker.tick(force=force)
    finally:
        worker.close()


def run_forever(node: Node, stop: threading.Event, interval: float = 1.0) -> None:
    """Tick about once per `interval` seconds until `stop` is set."""
    worker = Worker(node.sessionmaker, node.settings)
    try:
        while not stop.is_set():
            started = time.monotonic()
            worker.tick()
            stop.wait(max(0.0, interval - (time.monotonic() - started)))
    finally:
        worker.close()


def start_in_thread(node: Node) -> threading.Event:
    """Start the worker loop in a daemon thread; set the returned event to stop it."""
    stop = threading.Event()
    thread = threading.Thread(target=run_forever, args=(node, stop), name="tongban-worker",
                              daemon=True)
    thread.start()
    return stop
