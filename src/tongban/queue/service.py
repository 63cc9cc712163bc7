"""Claims: how N workers on N machines share one node's jobs without doing a step twice.

Three kinds of claim, all held by a database transaction, so a worker that dies (even
`kill -9`) mid-batch loses its claims with its connection and nothing it half did commits:

- a *turn* of a leased job: its `worker_jobs` row, taken with FOR UPDATE SKIP LOCKED on
  PostgreSQL (the other workers skip it, never wait) and by the write lock on SQLite;
- *rows* of a shared job: `claim(stmt)` adds FOR UPDATE SKIP LOCKED to a batch query, so
  each worker takes a different batch in one statement (never one row at a time);
- *leadership* of a sequencer (the ledger): a session-level advisory lock that one worker
  process holds while it lives (`Leadership`).

On SQLite these degrade to what one process needs: FOR UPDATE is not emitted and the
single worker always leads.
"""

from __future__ import annotations

import hashlib
import os
import socket
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, Select, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from tongban.queue.models import JobState

S = TypeVar("S", bound=Select[Any])
MAX_BACKOFF = 300.0


def worker_id() -> str:
    """Who holds a claim: host and process id (shown in health and job rows)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def is_postgres(db_session: Session) -> bool:
    return db_session.get_bind().dialect.name == "postgresql"


def claim(stmt: S) -> S:
    """The batch `stmt` selects, locked for this transaction; rows another worker holds
    are skipped, not waited for (PostgreSQL; SQLite has one writer and ignores it)."""
    return stmt.with_for_update(skip_locked=True)


def ensure_jobs(*, db_session: Session, names: list[str], now: datetime) -> None:
    """Give every registered job its row (due now), leaving existing rows alone."""
    names = sorted(set(names) - set(db_session.scalars(select(JobState.name))))
    if not names:  # the usual case: never touch (and so never wait on) a held row
        return
    dialect = db_session.get_bind().dialect.name
    ins = postgresql.insert(JobState) if dialect == "postgresql" else sqlite.insert(JobState)
    rows = [{"name": n, "next_run_at": now, "runs": 0, "failures": 0, "last_done": 0}
            for n in names]
    db_session.execute(ins.values(rows).on_conflict_do_nothing())


def take_turn(*, db_session: Session, name: str, every: float, now: datetime,
              force: bool = False) -> bool:
    """Claim this job's turn for the caller's transaction: False when another worker
    holds it or (unless `force`) its next run is not due yet. The next run is set
    `every` seconds on."""
    due = [JobState.name == name]
    if not force:
        due.append(JobState.next_run_at <= now)
    if is_postgres(db_session):
        won = db_session.execute(select(JobState.name).where(*due)
                                 .with_for_update(skip_locked=True)).first() is not None
        if not won:
            return False
    stmt = (update(JobState).where(*due)
            .values(next_run_at=now + timedelta(seconds=every), last_started_at=now,
                    last_worker=worker_id()))
    # On SQLite the UPDATE itself is the claim: it takes the write lock, and a second
    # process that waited for it then finds the turn taken (rowcount 0).
    return bool(db_session.execute(stmt).rowcount == 1)  # type: ignore[attr-defined]


def finish_turn(*, db_session: Session, name: str, done: int, now: datetime) -> None:
    """Record a successful run in the same transaction as its work."""
    db_session.execute(update(JobState).where(JobState.name == name).values(
        runs=JobState.runs + 1, failures=0, last_finished_at=now, last_done=done,
        last_error=None))


def record_failure(*, db_session: Session, name: str, error: str, now: datetime) -> float:
    """Record a failed run (its work was rolled back) and put the next one off, doubling
    the wait with each consecutive failure up to five minutes; returns the wait."""
    state = db_session.get(JobState, name)
    if state is None:
        return 0.0
    state.failures += 1
    wait = min(MAX_BACKOFF, 2.0 ** min(state.failures, 9))
    state.next_run_at = now + timedelta(seconds=wait)
    state.last_finished_at, state.last_error = now, error[:2000]
    state.last_worker = worker_id()
    return wait


def job_states(*, db_session: Session) -> list[JobState]:
    """Every job row, by name (health, `tongban worker --status`)."""
    return list(db_session.scalars(select(JobState).order_by(JobState.name)))


def advisory_key(name: str) -> int:
    """A stable signed 64-bit advisory-lock key for `name` (the same in every process)."""
    return int.from_bytes(hashlib.sha256(f"tongban:{name}".encode()).digest()[:8], "big",
                          signed=True)


class Leadership:
    """Leadership of named sequencers, held by this process on one dedicated connection.

    `leads(name)` is True while this process holds the session-level advisory lock of
    `name`; the lock goes when the process (or its connection) dies, and the next worker
    to ask takes over. SQLite has one worker: it always leads.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._conn: Connection | None = None
        self._held: set[str] = set()

    def _connection(self) -> Connection:
        if self._conn is not None:
            try:
                self._conn.exec_driver_sql("SELECT 1")
                return self._conn
            except Exception:  # the connection (and with it every lock) is gone
                self._drop()
        self._conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        return self._conn

    def _drop(self) -> None:
        self._held.clear()
        if self._conn is not None:
            try:
                self._conn.invalidate()
                self._conn.close()
            except Exception:
                pass
        self._conn = None

    def leads(self, name: str) -> bool:
        """Whether this process leads `name` now, taking the lead if nobody holds it."""
        if self.engine.dialect.name != "postgresql":
            return True
        conn = self._connection()
        if name in self._held:
            return True
        won = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"),
                                {"k": advisory_key(name)}).scalar())
        if won:
            self._held.add(name)
        return won

    def close(self) -> None:
        """Give up every lead (a clean stop; a crash gives them up as well)."""
        self._drop()
