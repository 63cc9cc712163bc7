"""Alembic environment: the URL comes from the caller or TONGBAN_DATABASE_URL."""

from __future__ import annotations

from alembic import context

from tongban.config import get_settings
from tongban.db import Base, import_all_models, make_engine
from tongban.sealed import SealedJson

import_all_models()
target_metadata = Base.metadata


def run_migrations_online() -> None:
    url = context.config.attributes.get("database_url") or get_settings().database_url
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(url)
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


def _render_item(type_: str, obj: object, autogen_context: object) -> str | bool:
    """A sealed column is bytes in the database: the key is the running node's affair."""
    if type_ == "type" and isinstance(obj, SealedJson):
        return "sa.LargeBinary()"
    return False


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
        render_item=_render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
