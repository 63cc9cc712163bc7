"""Dependencies shared by every router: the request's session (which owns the
transaction) and the settings."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from tongban.config import Settings
from tongban.node import ratelimit


async def get_db(request: Request) -> AsyncIterator[Session]:
    """One session per request: committed when the handler returns, rolled back on error.

    Async on purpose: creating and closing a session does no I/O, so only the commit
    goes to a worker thread (a sync generator would cost two thread hops per request,
    entering and leaving). Closing a session still in a transaction, after an error,
    rolls it back (the pool resets the connection it returns).
    """
    session: Session = request.app.state.sessionmaker()
    try:
        yield session
        if session.in_transaction():
            await run_in_threadpool(session.commit)
    finally:
        session.close()


# FastAPI (0.165 here) ends a `yield` dependency AFTER the response is sent unless its
# scope is "function": with the default, a client could read (or act on) what the
# request wrote before it was committed, and a failing commit would follow a 2xx.
# Routers say `db: Session = DB_SESSION` (one session per request: every use must
# have the same scope, or FastAPI opens a second one).
DB_SESSION: Any = Depends(get_db, scope="function")


def rate_limit(scope: str) -> Callable[[Request], None]:
    """Rate limiting of a public or costly endpoint, named by what it protects (`login`,
    `licence_verify`): a dependency every such route declares. It counts the request
    against the scope's limit per client address in the node's limiter
    (tongban.node.ratelimit: the `limits` library, shared across API processes through
    Redis) and answers 429 with Retry-After once it is spent."""

    def admit(request: Request) -> None:
        request.state.rate_limit_scope = scope
        ratelimit.limiter_of(request).hit(scope, ratelimit.source_of(request))

    admit.__name__ = f"rate_limit_{scope}"
    return admit


async def get_settings_dep(request: Request) -> Settings:
    """The app's settings (tests build apps with their own). Async: it does no I/O, and
    FastAPI runs a sync dependency in a worker thread, one more thread hop per request."""
    settings: Settings = request.app.state.settings
    return settings


def committed_json(db: Session, body: bytes | str, status_code: int = 200) -> Response:
    """Commit the request's transaction here, in the handler's worker thread, then answer
    with `body` (encoded by the route): get_db would commit it after the handler in one
    more worker-thread hop, and now finds nothing left to do. A commit that fails raises
    here, so the caller gets its error (409/503 on contention), never a 2xx. For the
    write routes that run on every case action."""
    db.commit()
    return json_response(body, status_code)


def json_response(body: bytes | str, status_code: int = 200) -> Response:
    """A JSON body the route has already encoded. FastAPI returns it as is: a sync route
    that returns a model instead has it validated again in one more worker-thread hop
    and encoded after. Routes keep `response_model` for the OpenAPI document."""
    return Response(body, status_code=status_code, media_type="application/json")
