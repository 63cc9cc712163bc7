"""Case numbers: region + YYYYMMDD + a 6-digit sequence per region and day.

Kept apart from the service because allocating a number has its own concurrency story:
on PostgreSQL it runs on a small pool of its own, outside the caller's transaction, so
applications of one region and day never queue behind each other's counter row lock.
"""

from __future__ import annotations

import threading
from datetime import date
from typing import Any

from sqlalchemy import Engine, bindparam, create_engine, event
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from tongban.cases.models import CaseNumberSequence
from tongban.db import ping_when_idle


def _next_number_upsert(insert: Any) -> Any:
    seq = CaseNumberSequence
    upsert = insert(seq).values(
        region_code=bindparam("region_code", type_=seq.region_code.type),
        day=bindparam("day", type_=seq.day.type), last=1)
    return upsert.on_conflict_do_update(
        index_elements=[seq.region_code, seq.day], set_={"last": seq.last + 1}
    ).returning(seq.last)


_NEXT_NUMBER = {"postgresql": _next_number_upsert(pg_insert),
                "sqlite": _next_number_upsert(sqlite_insert)}


def next_number(*, db_session: Session, region_code: str, day: date) -> str:
    """The next case number of a region and day: region + YYYYMMDD + 6-digit sequence.

    One atomic upsert. On PostgreSQL it runs in its own short transaction (see
    _number_engine): in the caller's transaction the counter row would stay locked until
    that commits, and every application of a region and day would queue behind it. A
    case whose transaction then fails leaves a gap; numbers stay unique. SQLite has one
    writer at a time anyway, so there the upsert joins the caller's transaction.
    """
    bind = db_session.get_bind()
    postgres = bind.dialect.name == "postgresql"
    stmt = _NEXT_NUMBER[bind.dialect.name]
    params = {"region_code": region_code, "day": day}
    if postgres:
        with _number_engine(bind if isinstance(bind, Engine) else bind.engine).begin() as conn:
            seq = conn.execute(stmt, params).scalar_one()
    else:
        seq = db_session.execute(stmt, params).scalar_one()
    return f"{region_code}{day:%Y%m%d}{seq:06d}"


_NUMBER_ENGINES: dict[int, Engine] = {}
_NUMBER_ENGINES_LOCK = threading.Lock()


def _number_engine(engine: Engine) -> Engine:
    """A small pool of its own for number allocation, disposed with `engine`: a request that
    holds a connection of the main pool never waits for a second one from it (with every
    connection held that way, the pool would deadlock)."""
    with _NUMBER_ENGINES_LOCK:
        found = _NUMBER_ENGINES.get(id(engine))
        if found is None:
            # Its commits need not wait for the WAL flush: the case that uses a number
            # commits later, synchronously, which flushes all WAL before it; a crash can
            # lose only counter steps whose cases never committed (a gap, no duplicate).
            # Enough idle connections for the applications in flight at once: one beyond
            # the pool is opened and closed again per number (a new server process).
            # Autocommit: the upsert is one atomic statement, so it needs no BEGIN and
            # COMMIT round trips of its own.
            found = create_engine(engine.url, pool_size=6, max_overflow=4,
                                  isolation_level="AUTOCOMMIT",
                                  connect_args={"options": "-c synchronous_commit=off"})
            ping_when_idle(found)
            _NUMBER_ENGINES[id(engine)] = found
            event.listen(engine, "engine_disposed", _dispose_number_engine)
    return found


def _dispose_number_engine(engine: Engine) -> None:
    with _NUMBER_ENGINES_LOCK:
        found = _NUMBER_ENGINES.pop(id(engine), None)
    if found is not None:
        found.dispose()
