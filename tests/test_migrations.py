"""The Alembic migrations build exactly the schema the models declare, on both backends."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from tongban.db import import_all_models, make_engine
from tongban.migrate import schema_diff, upgrade


def _fresh_url(engine: Engine, tmp_path: Path) -> str:
    if engine.dialect.name == "sqlite":
        return f"sqlite:///{tmp_path / 'migrated.db'}"
    from tests.conftest import pg_database_url

    return pg_database_url(f"{engine.url.database}_mig")


def test_upgrade_head_matches_models(engine: Engine, tmp_path: Path) -> None:
    import_all_models()
    url = _fresh_url(engine, tmp_path)
    upgrade(url)
    migrated = make_engine(url)
    try:
        with migrated.connect() as conn:
            diff = schema_diff(conn)
    finally:
        migrated.dispose()
        if engine.dialect.name == "postgresql":
            from tests.conftest import drop_pg_database

            drop_pg_database(url)
    assert diff == [], f"models and migrations differ: {diff}"


def test_upgrade_twice_is_harmless(engine: Engine, tmp_path: Path) -> None:
    url = _fresh_url(engine, tmp_path)
    upgrade(url)
    upgrade(url)  # a second run finds nothing to do
    if engine.dialect.name == "postgresql":
        from tests.conftest import drop_pg_database

        drop_pg_database(url)
