"""Fixtures: every database test runs on SQLite and on PostgreSQL.

PostgreSQL is the server at TONGBAN_TEST_DATABASE_URL (default: the local one on port
5432). Each xdist worker gets its own database. When the server cannot be reached the
PostgreSQL half is skipped, unless TONGBAN_REQUIRE_POSTGRES=1 (as in CI), where that is
an error.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from tongban.app import create_app
from tongban.calendar.service import forget_cached_calendars
from tongban.config import Settings, get_settings
from tongban.db import Base, import_all_models, make_engine, make_sessionmaker
from tongban.node.keyring import keyring
from tongban.sealed import seal_engine

PG_URL = os.environ.get(
    "TONGBAN_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
BACKENDS = os.environ.get("TONGBAN_TEST_BACKENDS", "sqlite,postgresql").split(",")
TEST_DATA_KEY = base64.urlsafe_b64encode(b"d" * 32).decode()
TEST_INDEX_KEY = base64.urlsafe_b64encode(b"i" * 32).decode()
TEST_CSRF_KEY = base64.urlsafe_b64encode(b"c" * 32).decode()
TEST_NODE_KEY = base64.urlsafe_b64encode(b"n" * 32).decode()


def _worker() -> str:
    """A name unique to this process, so parallel runs never share a database."""
    return f"{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{os.getpid()}"


def pg_database_url(name: str) -> str:
    """Create (afresh) a database called `name` on the test server; return its URL."""
    admin = create_engine(
        make_url(PG_URL).set(database="postgres"), isolation_level="AUTOCOMMIT"
    )
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)


def _pg_reachable() -> bool:
    try:
        eng = create_engine(PG_URL)
        with eng.connect():
            pass
        eng.dispose()
        return True
    except Exception:
        return False


def drop_pg_database(url: str) -> None:
    """Drop a test database made by pg_database_url."""
    name = make_url(url).database
    admin = create_engine(
        make_url(PG_URL).set(database="postgres"), isolation_level="AUTOCOMMIT"
    )
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def _make_backend_engine(backend: str, tmp_root: Path) -> Engine:
    if backend == "sqlite":
        return make_engine(f"sqlite:///{tmp_root / f'test-{_worker()}.db'}")
    if not _pg_reachable():
        if os.environ.get("TONGBAN_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required but unreachable at {PG_URL}")
        pytest.skip(f"PostgreSQL unreachable at {PG_URL}")
    return make_engine(pg_database_url(f"tongban_test_{_worker()}"), pool_size=5)


@pytest.fixture(scope="session", params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[Engine]:
    """A migrated-by-metadata database of one backend, shared by the session's tests."""
    import_all_models()
    eng = _make_backend_engine(request.param, tmp_path_factory.mktemp("db"))
    seal_engine(eng, keyring(Settings(data_key=TEST_DATA_KEY, index_key=TEST_INDEX_KEY,
                                      csrf_key=TEST_CSRF_KEY, node_key=TEST_NODE_KEY)))
    Base.metadata.create_all(eng)
    yield eng
    eng.dispose()
    if eng.dialect.name == "postgresql":
        drop_pg_database(eng.url.render_as_string(hide_password=False))


def _wipe(eng: Engine) -> None:
    """Empty every table, children first. DELETE, not TRUNCATE: on PostgreSQL a TRUNCATE
    of every table costs far more than deleting the few rows a test wrote."""
    with eng.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())
    # A process trusts its calendar for a second; an emptied database must not wait.
    forget_cached_calendars()


@pytest.fixture(autouse=True)
def cheap_password_hashing() -> Iterator[None]:
    """Argon2id still, with the smallest parameters: tests must stay fast."""
    from argon2 import PasswordHasher

    from tongban.identity import service

    previous = service.use_password_hasher(
        PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    )
    yield
    service.use_password_hasher(previous)


@pytest.fixture
def settings(tmp_path: Path, engine: Engine) -> Settings:
    """Settings for one test: its own var dir, fixed test keys."""
    return Settings(
        database_url=engine.url.render_as_string(hide_password=False),
        var_dir=tmp_path / "var",
        data_key=TEST_DATA_KEY,
        index_key=TEST_INDEX_KEY,
        csrf_key=TEST_CSRF_KEY,
        node_key=TEST_NODE_KEY,
        run_worker_in_process=False,
    )


@pytest.fixture
def db_session(engine: Engine, settings: Settings) -> Iterator[Session]:
    """A session on a clean database; the test may flush and commit freely."""
    _wipe(engine)
    seal_engine(engine, keyring(settings))  # an app built by an earlier test may have others
    session = make_sessionmaker(engine)()
    try:
        yield session
    finally:
        session.rollback()
        session.close()


@pytest.fixture
def client(engine: Engine, settings: Settings, db_session: Session) -> Iterator[TestClient]:
    """An HTTP client for an app over the same clean database as `db_session`."""
    app = create_app(settings, engine=engine)
    with TestClient(app) as test_client:
        yield test_client


def use_node(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    """Commands run in this process are the test's node: its database, var dir and keys
    (the keys open its sealed columns)."""
    monkeypatch.setenv("TONGBAN_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("TONGBAN_VAR_DIR", str(settings.var_dir))
    for kind in ("data", "index", "csrf", "node"):
        monkeypatch.setenv(f"TONGBAN_{kind.upper()}_KEY", getattr(settings, f"{kind}_key"))


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> Iterator[None]:
    """`tongban` commands run in-process against this test's database and var dir (a wide
    console, so tables print whole)."""
    from rich.console import Console

    from tongban.cases import cli as cases_cli

    use_node(monkeypatch, settings)
    monkeypatch.setattr(cases_cli, "console", Console(width=250))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


from tests.s3 import s3_server  # noqa: E402,F401  (the SeaweedFS fixture, for any test)
