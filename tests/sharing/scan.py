"""What an attacker with the database's files reads: the raw SQLite file (and its WAL),
or a whole `pg_dump` of the PostgreSQL database; and a node whose files hold only one
test's writes, to scan."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tests.pii_scan import raw_file_bytes
from tests.sharing.conftest import World, seed_world
from tongban.config import Settings
from tongban.db import Base, make_engine, make_sessionmaker
from tongban.node.keyring import keyring


def raw_contents(engine: Engine) -> bytes:
    """Every byte the database holds at rest: the SQLite file and its WAL, or the
    data of every table of the PostgreSQL database as `pg_dump` writes it."""
    if engine.dialect.name == "sqlite":
        path = Path(str(engine.url.database))
        wal = Path(f"{path}-wal")
        return raw_file_bytes(path) + raw_file_bytes(wal)
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        pytest.fail("pg_dump is needed to scan a PostgreSQL database at rest")
    url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    return subprocess.run([pg_dump, "--data-only", "--no-owner", url], check=True,
                          capture_output=True, timeout=120).stdout


def registry_secrets(world: World) -> list[str]:
    """Personal values of the demo records: ID numbers, an account number, a plate, an
    address, a certificate number, a child's name, a disability certificate number."""
    return [*world.ids.values(), "510100123456789", "川A·D12345", "红星路三段1号",
            "R510123456", "张小雨", f"{world.ids['杨帆']}42"]


def assert_nothing_in_plain(stored: bytes, secrets: list[str]) -> None:
    """None of `secrets` appears as UTF-8 or as JSON's escaped form."""
    import json

    for secret in secrets:
        assert secret.encode() not in stored, secret
        assert json.dumps(secret).encode() not in stored, secret  # SQLite JSON escapes


@contextmanager
def scanned_node(engine: Engine, settings: Settings, tmp_path: Path
                 ) -> Iterator[tuple[Engine, Session, World]]:
    """A seeded node whose files hold nothing but this test's writes: on SQLite a fresh
    file (freed pages of the shared test database keep other tests' plain text)."""
    if engine.dialect.name == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'scan.db'}", keys=keyring(settings))
        Base.metadata.create_all(engine)
    session = make_sessionmaker(engine)()
    try:
        if engine.dialect.name == "postgresql":
            session.close()
            for table in reversed(Base.metadata.sorted_tables):
                with engine.begin() as conn:
                    conn.execute(table.delete())
            session = make_sessionmaker(engine)()
        yield engine, session, seed_world(session, settings)
    finally:
        session.close()
