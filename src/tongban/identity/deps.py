"""FastAPI dependencies that resolve the caller: bearer token or session cookie."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from tongban.api_deps import get_db
from tongban.errors import Forbidden, Unauthenticated
from tongban.identity.actor import Actor

SESSION_COOKIE = "tongban_session"


def request_token(request: Request) -> str | None:
    """The bearer token of the request, else its session cookie."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return request.cookies.get(SESSION_COOKIE)


def optional_actor(request: Request, db: Session = Depends(get_db)) -> Actor | None:
    """The signed-in caller, or None for an anonymous one."""
    from tongban.identity import service

    token = request_token(request)
    if token is None:
        return None
    return service.cached_actor_for_token(db_session=db, token=token)


def current_actor(actor: Actor | None = Depends(optional_actor)) -> Actor:
    """The signed-in caller; 401 when there is none."""
    if actor is None:
        raise Unauthenticated("请先登录 / please sign in")
    return actor


def require_roles(*roles: str) -> Callable[[Actor], Actor]:
    """A dependency that admits only callers holding one of `roles`."""

    def check(actor: Actor = Depends(current_actor)) -> Actor:
        if not actor.has(*roles):
            raise Forbidden(
                "您的角色无权执行此操作 / your role may not do this",
                details={"required_roles": list(roles)},
            )
        return actor

    return check
