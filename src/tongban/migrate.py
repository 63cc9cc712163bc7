"""Run Alembic migrations from code (the CLI's `db upgrade`, the demo, the tests)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import Connection

ROOT = Path(__file__).resolve().parents[2]


def alembic_config(database_url: str) -> Config:
    """An Alembic config pointing at this checkout's migrations and `database_url`."""
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    cfg.attributes["database_url"] = database_url
    return cfg


def schema_diff(connection: Connection) -> list[Any]:
    """What the database at `connection` lacks or has beyond the models' schema.

    Indexes declared for one dialect only (`ddl_if`) are not expected elsewhere.
    """
    from tongban.db import Base, import_all_models

    import_all_models()
    dialect = connection.dialect.name

    def include(obj: Any, _name: Any, type_: str, _reflected: bool, _other: Any) -> bool:
        ddl_if = getattr(obj, "_ddl_if", None)
        if type_ == "index" and ddl_if is not None and ddl_if.dialect is not None:
            return bool(ddl_if.dialect == dialect)
        return True

    context = MigrationContext.configure(connection, opts={"include_object": include})
    return list(compare_metadata(context, Base.metadata))


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the database at `database_url` up to `revision`."""
    command.upgrade(alembic_config(database_url), revision)
