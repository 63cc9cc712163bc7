"""Engine, sessions and the declarative Base; SQLite (WAL) or PostgreSQL, same code."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

import uuid6
from sqlalchemy import (
    JSON,
    DateTime,
    Engine,
    MetaData,
    bindparam,
    create_engine,
    event,
    insert,
    select,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import DBAPIError, InvalidatePoolError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.types import TypeDecorator

from tongban.errors import Busy, DomainError, RetryConflict

if TYPE_CHECKING:
    from tongban.node.keyring import KeyRing

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# JSON that is JSONB on PostgreSQL (indexable) and JSON text on SQLite.
JsonType = JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC, always returns an aware UTC datetime (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: tongban stores aware UTC datetimes only")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def database_key(db_session: Session) -> str:
    """Which database a session talks to (its URL, password hidden): the key of the
    per-process caches that must not mix two databases."""
    bind = db_session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    return engine.url.render_as_string(hide_password=True)


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


def new_id() -> uuid.UUID:
    """A UUIDv7: time-ordered, so it indexes well and can travel between nodes."""
    return uuid.UUID(bytes=uuid6.uuid7().bytes)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime()}


@event.listens_for(Base.metadata, "before_create")
def _pg_extensions(_target: Any, connection: Any, **_kw: Any) -> None:
    """Trigram search needs pg_trgm on PostgreSQL (a migration creates it too)."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")


class IdMixin:
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)


class CreatedMixin:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


def _sqlite_pragmas(busy_timeout_ms: int) -> Any:
    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()
    return on_connect


# How long a statement waits for a lock before it gives up: PostgreSQL's lock_timeout
# (SQLSTATE 55P03), SQLite's busy timeout (one writer at a time, so it waits longer). A
# request blocked behind a long transaction then answers 503 with Retry-After instead of
# hanging (and holding a pooled connection) until the other one ends.
PG_LOCK_TIMEOUT_MS = 5000
SQLITE_BUSY_TIMEOUT_MS = 10000


def make_engine(url: str, *, lock_timeout_ms: int | None = None, keys: KeyRing | None = None,
                **kwargs: Any) -> Engine:
    """An engine for `url`; SQLite gets WAL, foreign keys and a busy timeout, PostgreSQL
    a lock timeout (`lock_timeout_ms` sets either). With the node's `keys`, its sealed
    columns open (tongban.sealed); build_node gives every node's engine its keys."""
    engine = _make_engine(url, lock_timeout_ms=lock_timeout_ms, **kwargs)
    if keys is not None:
        from tongban.sealed import seal_engine

        seal_engine(engine, keys)
    return engine


def _make_engine(url: str, *, lock_timeout_ms: int | None, **kwargs: Any) -> Engine:
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"check_same_thread": False, "timeout": 30})
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect",
                     _sqlite_pragmas(lock_timeout_ms or SQLITE_BUSY_TIMEOUT_MS))
        return engine
    kwargs.setdefault("pool_size", 20)
    kwargs.setdefault("max_overflow", 20)
    timeout = lock_timeout_ms or PG_LOCK_TIMEOUT_MS
    kwargs.setdefault("connect_args", {"options": f"-c lock_timeout={int(timeout)}"})
    engine = create_engine(url, **kwargs)
    if not kwargs.get("pool_pre_ping"):
        ping_when_idle(engine)
    return engine


# A pooled connection idle this long is pinged before use (see ping_when_idle).
PING_AFTER_IDLE_SECONDS = 10.0


def ping_when_idle(engine: Engine) -> None:
    """pool_pre_ping for the connections that sat idle in the pool PING_AFTER_IDLE_SECONDS
    (a server restart or a dropped idle link is what leaves one stale): pre_ping pays a
    round trip on every checkout, so a busy pool, whose connections come straight back,
    pinged several times per request. A stale one is found as pre_ping finds it, and the
    pool is invalidated the same way; one that breaks while in use is a disconnect error
    like any, which invalidates the pool too."""
    @event.listens_for(engine, "checkin")
    def _idle_from(_dbapi_conn: Any, record: Any) -> None:
        if record is not None:
            record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.pop("idle_since", None)
        if since is None or time.monotonic() - since < PING_AFTER_IDLE_SECONDS:
            return  # fresh from connect(), or back in the pool only a moment ago
        if not engine.dialect._do_ping_w_event(dbapi_conn):  # a disconnect: as pre_ping
            raise InvalidatePoolError()


# SQLSTATEs of a transaction that lost a race (rolled back, worth retrying at once) and
# of one that waited too long for a lock or was cancelled by a timeout.
_PG_COLLISION = {"40001": "serialization_failure", "40P01": "deadlock_detected"}
_PG_BUSY = {"55P03": "lock_not_available", "57014": "query_canceled"}
# What a transaction that lost a race to another may raise (contention() tells which).
CONTENTION_ERRORS = (DBAPIError, StaleDataError)
_SQLITE_BUSY = ("database is locked", "database table is locked", "database is busy")


def contention(exc: BaseException) -> DomainError | None:
    """The clear, retryable error a lock or deadlock failure of the database stands for
    (503 busy or 409 retry, with Retry-After), or None when `exc` is no such failure."""
    if isinstance(exc, StaleDataError):  # an optimistic version check lost to another write
        return RetryConflict("记录已被同时进行的操作修改,未作任何更改,请刷新后重试 / the record "
                             "changed under a concurrent update and nothing was written: "
                             "reload and send it again", details={"reason": "stale_version"},
                             retry_after=1)
    if not isinstance(exc, DBAPIError):
        return None
    orig = exc.orig
    state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if state in _PG_COLLISION:
        return RetryConflict("与另一项同时进行的操作冲突,未作任何更改,请重试 / this collided "
                             "with a concurrent change and nothing was written: send it again",
                             details={"reason": _PG_COLLISION[state]}, retry_after=1)
    text = str(orig).lower()
    if state in _PG_BUSY or any(mark in text for mark in _SQLITE_BUSY):
        return Busy("系统繁忙(数据被占用),未作任何更改,请稍后重试 / the database is busy "
                    "(a record is locked) and nothing was written: try again shortly",
                    details={"reason": _PG_BUSY.get(str(state), "database_locked")})
    return None


def copy_rows(db_session: Session, table: Any, columns: Sequence[str],
              rows: Iterable[Sequence[Any]]) -> int:
    """Append many rows (values in the order of `columns`) to one table in the caller's
    transaction: PostgreSQL's COPY FROM STDIN, elsewhere executemany INSERTs. The values
    must be plain (str, int, UUID, aware datetime, JSON-able for JSON columns, None): no
    TypeDecorator runs, so no sealed column may be written this way. Returns how many."""
    connection = db_session.connection()
    json_at = [i for i, c in enumerate(columns) if isinstance(table.c[c].type, JSON)]
    count = 0
    if connection.dialect.name != "postgresql":
        batch: list[dict[str, Any]] = []
        for row in rows:
            batch.append(dict(zip(columns, row, strict=True)))
            if len(batch) == 10_000:
                connection.execute(table.insert(), batch)
                count, batch = count + len(batch), []
        if batch:
            connection.execute(table.insert(), batch)
        return count + len(batch)
    import json

    raw: Any = connection.connection.dbapi_connection
    names = ", ".join(f'"{c}"' for c in columns)
    with raw.cursor() as cursor, cursor.copy(
            f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
        for row in rows:
            values = list(row)
            for i in json_at:
                if values[i] is not None:
                    values[i] = json.dumps(values[i], ensure_ascii=False)
            copy.write_row(values)
            count += 1
    return count


# The statements insert_together built, by (returned column, each table with its row's
# keys): a handful, one per call site, each built once (building one costs more than
# running it).
_TOGETHER: dict[tuple[Any, ...], Any] = {}


def insert_together(db_session: Session, returning: Any, first: dict[str, Any],
                    *more: tuple[Any, dict[str, Any]]) -> Any:
    """Insert `first` into the table of the column `returning`, and each (table, row) of
    `more`, in the caller's transaction; `returning`'s value in `first`. PostgreSQL runs
    them as one statement (data-modifying WITH queries): one round trip and one parse
    where a case's step writes its event, audit entry and ledger message; elsewhere one
    INSERT each. Each row must be whole: on PostgreSQL no Python-side column default
    fills in what it leaves out."""
    connection = db_session.connection()
    table = returning.table
    if connection.dialect.name != "postgresql":
        value = connection.execute(insert(table).returning(returning), first).scalar_one()
        for other, row in more:
            connection.execute(insert(other), row)
        return value
    rows = [(table, first), *more]
    key = (returning, *((t.name, *row) for t, row in rows))
    statement = _TOGETHER.get(key)
    if statement is None:
        statement = _TOGETHER[key] = _together(returning, rows)
    return connection.execute(statement, {
        f"r{i}_{name}": value for i, (_, row) in enumerate(rows)
        for name, value in row.items()}).scalar_one()


def _together(returning: Any, rows: list[tuple[Any, dict[str, Any]]]) -> Any:
    """SELECT <returning> FROM (INSERT first) with the other INSERTs as WITH queries."""
    ctes = [insert(table).values({
        table.c[name]: bindparam(f"r{i}_{name}", type_=table.c[name].type) for name in row})
        for i, (table, row) in enumerate(rows)]
    head = ctes[0].returning(returning).cte("r0")
    return select(head.c[returning.key]).add_cte(
        *(cte.cte(f"r{i}") for i, cte in enumerate(ctes[1:], start=1)))


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions that never expire on commit (objects stay readable after the request)."""
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def import_all_models() -> None:
    """Import every domain's models so Base.metadata knows all tables."""
    from tongban import models_registry  # noqa: F401
