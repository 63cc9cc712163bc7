"""FastAPI dependencies that resolve the caller: bearer token or session cookie."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from tongban.api_deps import DB_SESSION
from tongban.errors import Forbidden, Unauthenticated
from tongban.identity import csrf
from tongban.identity.actor import Actor

SESSION_COOKIE = "tongban_session"


def request_token(request: Request) -> str | None:
    """The bearer token of the request, else its session cookie. A browser sends the
    cookie to any request, so a state-changing one the cookie authenticates must carry
    the session's CSRF token in the X-CSRF-Token header (403 otherwise)."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    token = request.cookies.get(SESSION_COOKIE)
    if token and request.method in csrf.UNSAFE_METHODS and not csrf.valid(
            settings=request.app.state.settings, token=request.headers.get(csrf.HEADER),
            session=token, presession=None):
        raise csrf.refusal()
    return token


async def optional_actor(request: Request, db: Session = DB_SESSION) -> Actor | None:
    """The signed-in caller, or None for an anonymous one (async: a remembered token costs
    no worker-thread hop; only a database look-up goes to one)."""
    from tongban.identity import service

    token = request_token(request)
    if token is None:
        return None
    actor = service.remembered_actor(token=token)
    if actor is not None:
        return actor
    return await run_in_threadpool(service.cached_actor_for_token, db_session=db, token=token)


async def current_actor(actor: Actor | None = Depends(optional_actor)) -> Actor:
    """The signed-in caller; 401 when there is none (async: no I/O, so FastAPI runs it
    on the event loop instead of handing it to a worker thread)."""
    if actor is None:
        raise Unauthenticated("请先登录 / please sign in")
    return actor


def require_roles(*roles: str) -> Callable[[Actor], Awaitable[Actor]]:
    """A dependency that admits only callers holding one of `roles`."""

    async def check(actor: Actor = Depends(current_actor)) -> Actor:
        if not actor.has(*roles):
            raise Forbidden(
                "您的角色无权执行此操作 / your role may not do this",
                details={"required_roles": list(roles)},
            )
        return actor

    return check
