"""Lock and deadlock failures of the real databases are told apart from bugs: a statement
that waited too long for a lock is 503 busy, a transaction that lost a deadlock is 409
retry, both with Retry-After; anything else stays an error (and a 500)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from tongban import db
from tongban.db import contention, make_engine
from tongban.errors import Busy, RetryConflict


@pytest.fixture
def scratch(engine: Engine) -> Iterator[Engine]:
    """An engine that waits 200 ms for a lock, over a two-row scratch table."""
    short = make_engine(engine.url.render_as_string(hide_password=False), lock_timeout_ms=200,
                        pool_size=3)
    with short.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS scratch_rows"))
        conn.execute(text("CREATE TABLE scratch_rows (id INTEGER PRIMARY KEY, n INTEGER)"))
        conn.execute(text("INSERT INTO scratch_rows VALUES (1, 0), (2, 0)"))
    yield short
    with short.begin() as conn:
        conn.execute(text("DROP TABLE scratch_rows"))
    short.dispose()


def _error_of(engine: Engine, statement: str) -> DBAPIError:
    with pytest.raises(DBAPIError) as caught, engine.begin() as conn:
        conn.execute(text(statement))
    return caught.value


def test_a_write_that_waits_too_long_for_a_lock_is_busy(scratch: Engine) -> None:
    holder = scratch.connect()
    try:
        if scratch.dialect.name == "sqlite":
            holder.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            holder.begin()
            holder.execute(text("UPDATE scratch_rows SET n = 1 WHERE id = 1"))
        error = _error_of(scratch, "UPDATE scratch_rows SET n = 2 WHERE id = 1")
    finally:
        holder.rollback()
        holder.close()
    clear = contention(error)
    assert isinstance(clear, Busy) and not isinstance(clear, RetryConflict)
    assert clear.status == 503 and clear.code == "busy"
    assert clear.headers is not None and clear.headers["Retry-After"].isdigit()


def test_a_transaction_that_loses_a_deadlock_is_retry(scratch: Engine) -> None:
    if scratch.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time: it never deadlocks")
    slow = make_engine(scratch.url.render_as_string(hide_password=False), pool_size=2,
                       lock_timeout_ms=10_000)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def cross(first: int, second: int) -> None:
        try:
            with slow.begin() as conn:
                conn.execute(text(f"UPDATE scratch_rows SET n = n + 1 WHERE id = {first}"))
                barrier.wait(timeout=10)
                conn.execute(text(f"UPDATE scratch_rows SET n = n + 1 WHERE id = {second}"))
        except DBAPIError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=cross, args=(1, 2)),
               threading.Thread(target=cross, args=(2, 1))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    slow.dispose()
    assert len(errors) == 1  # PostgreSQL chose one victim; the other committed
    clear = contention(errors[0])
    assert isinstance(clear, RetryConflict)
    assert clear.status == 409 and clear.code == "retry" and clear.headers


def test_other_database_errors_are_not_taken_for_contention(scratch: Engine) -> None:
    error = _error_of(scratch, "INSERT INTO scratch_rows VALUES (1, 0)")
    assert isinstance(error, IntegrityError)
    assert contention(error) is None
    assert contention(ValueError("database is locked")) is None


def test_a_lost_optimistic_version_check_is_retry() -> None:
    clear = contention(StaleDataError("UPDATE statement on table 'cases' expected to update 1 "
                                      "row(s); 0 were matched."))
    assert isinstance(clear, RetryConflict) and clear.status == 409



def _kill(engine: Engine, pid: int) -> None:
    """End the server process of one connection (and wait until it has gone)."""
    with engine.connect() as other:
        assert other.execute(text("SELECT pg_terminate_backend(:p, 5000)"),
                             {"p": pid}).scalar_one()


def test_a_pooled_connection_killed_while_idle_is_replaced_before_use(
        engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """A connection that sat idle in the pool is pinged before it is handed out: one the
    server ended meanwhile (a restart, a dropped link) is replaced and the caller's
    statement runs. One that came straight back is used as it is, with no ping: if the
    server ended it, that statement fails as a disconnect, which renews the whole pool."""
    if engine.dialect.name != "postgresql":
        pytest.skip("a PostgreSQL server ends connections; SQLite has none")
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.3)
    pool = make_engine(engine.url.render_as_string(hide_password=False), pool_size=1)
    try:
        with pool.connect() as conn:
            victim = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        _kill(engine, victim)
        with pytest.raises(DBAPIError) as caught, pool.connect() as conn:  # not pinged
            conn.execute(text("SELECT 1"))
        assert caught.value.connection_invalidated
        with pool.connect() as conn:  # a new connection, the dead one dropped
            victim = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        _kill(engine, victim)
        time.sleep(0.4)  # idle long enough to be pinged
        with pool.connect() as conn:
            fresh = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        assert fresh != victim
    finally:
        pool.dispose()
