"""The demo records' secrets, and a node whose files hold only one test's writes, to scan
with tests.pii_scan.database_bytes (what an attacker with the database's files reads)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tests.sharing.conftest import World, seed_world
from tongban.config import Settings
from tongban.db import Base, make_engine, make_sessionmaker
from tongban.node.keyring import keyring


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
