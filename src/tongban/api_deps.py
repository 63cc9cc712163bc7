"""Dependencies shared by every router: the request's session (which owns the
transaction) and the settings."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from tongban.config import Settings


def get_db(request: Request) -> Iterator[Session]:
    """One session per request: committed when the handler returns, rolled back on error."""
    session: Session = request.app.state.sessionmaker()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


# FastAPI (0.165 here) ends a `yield` dependency AFTER the response is sent unless its
# scope is "function": with the default, a client could read (or act on) what the
# request wrote before it was committed, and a failing commit would follow a 2xx.
# Routers say `db: Session = DB_SESSION` (one session per request: every use must
# have the same scope, or FastAPI opens a second one).
DB_SESSION: Any = Depends(get_db, scope="function")


def get_settings_dep(request: Request) -> Settings:
    """The app's settings (tests build apps with their own)."""
    settings: Settings = request.app.state.settings
    return settings
