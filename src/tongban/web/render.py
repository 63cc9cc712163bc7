"""Rendering: templates, the per-request context, and HTML errors for web routes.

Web routes call the domain services directly, with the request's session from
`api_deps.get_db`. A DomainError raised by a service becomes an HTML page here (the
API's handler would answer JSON), after the session is rolled back so nothing is
half-written; an unauthenticated caller is sent to the login page and back. A
state-changing request without the page's CSRF token (web/csrf.py) is refused first.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import Depends, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException as StarletteHTTPException

from tongban.api_deps import DB_SESSION
from tongban.body_limits import body_too_large
from tongban.db import CONTENTION_ERRORS, contention
from tongban.errors import DomainError, Unauthenticated
from tongban.identity import csrf as csrf_tokens
from tongban.identity.actor import Actor
from tongban.identity.deps import SESSION_COOKIE
from tongban.web import csrf
from tongban.web.i18n import LANG_COOKIE, LANGS, pick_lang, translator

HERE = Path(__file__).parent
TEMPLATES = Jinja2Templates(directory=str(HERE / "templates"))
SHANGHAI = ZoneInfo("Asia/Shanghai")
REGION_COOKIE = "region"
ONE_YEAR = 365 * 24 * 3600


def _instant(value: datetime | str) -> datetime | None:
    """A stored moment (aware, naive UTC, or its ISO text as envelopes carry it)."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def local_time(value: datetime | str | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored UTC time shown in Asia/Shanghai (legal time is Beijing time)."""
    if value is None or value == "":
        return ""
    moment = _instant(value)
    return str(value) if moment is None else moment.astimezone(SHANGHAI).strftime(fmt)


def show_date(value: date | datetime | str | None) -> str:
    """A date as YYYY-MM-DD: a moment (or its ISO text) by its Beijing day, never its UTC
    day; a plain date as it is."""
    if value is None or value == "":
        return ""
    if isinstance(value, datetime) or (isinstance(value, str) and len(value) > 10):
        return local_time(value, "%Y-%m-%d")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


TEMPLATES.env.filters["local_time"] = local_time
TEMPLATES.env.filters["show_date"] = show_date
TEMPLATES.env.globals["csrf_input"] = csrf.csrf_input


async def read_form(request: Request) -> FormData:
    """The posted form, read on the event loop: page handlers that take it are plain
    `def`s, run in the thread pool, so their database and signing work (which may wait on
    a lock) never blocks the loop that serves every other request."""
    return await request.form()


POSTED: Any = Depends(read_form)


def web_db(request: Request, db: Session = DB_SESSION) -> Session:
    """The request's session, remembered so an error page can roll it back first."""
    request.state.web_db = db
    return db


def page(request: Request, name: str, context: dict[str, Any] | None = None, *,
         status: int = 200) -> HTMLResponse:
    """Render one template with the common context (language, actor, region)."""
    lang = pick_lang(request)
    ctx: dict[str, Any] = {
        "request": request,
        "_": translator(lang),
        "lang": lang,
        "other_lang": "en" if lang == "zh" else "zh",
        "actor": getattr(request.state, "actor", None),
        "acting": getattr(request.state, "acting", None),
        "region": getattr(request.state, "region", None),
        "region_path": getattr(request.state, "region_path", []),
        "region_children": getattr(request.state, "region_children", []),
        "max_upload_bytes": request.app.state.settings.max_upload_bytes,
        "csrf_token": csrf.token_for(request),
    }
    ctx.update(context or {})
    response = TEMPLATES.TemplateResponse(request, name, ctx, status_code=status)
    remember_lang(request, response)
    csrf.remember(request, response)
    return response


def remember_lang(request: Request, response: Response) -> None:
    """A `?lang=` switch sticks: it is stored in the `lang` cookie."""
    asked = request.query_params.get("lang")
    if asked in LANGS and request.cookies.get(LANG_COOKIE) != asked:
        response.set_cookie(LANG_COOKIE, asked, max_age=ONE_YEAR, samesite="lax")


def login_redirect(request: Request, next_url: str | None = None, *,
                   saved: bool = False) -> RedirectResponse:
    """Send the caller to the login page, and back to `next_url` (default: here) after.
    The page says the session expired only when the request carried a session cookie
    (a first visit is simply asked to sign in), and that the draft was kept only when
    `saved`."""
    if next_url is None:
        next_url = request.url.path
        if request.method == "GET" and request.url.query:
            next_url += "?" + request.url.query
    why = "&expired=1" if request.cookies.get(SESSION_COOKIE) else ""
    return RedirectResponse(f"/login?next={quote(next_url)}{why}{'&saved=1' if saved else ''}",
                            status_code=303)


def require_actor(request: Request) -> Actor:
    """The signed-in actor of a web request, or Unauthenticated (→ the login page)."""
    actor: Actor | None = getattr(request.state, "actor", None)
    if actor is None:
        raise Unauthenticated("请先登录 / please sign in")
    return actor


def _rollback(request: Request) -> None:
    session: Session | None = getattr(request.state, "web_db", None)
    if session is not None:
        session.rollback()


def error_page(request: Request, exc: DomainError) -> Response:
    """The HTML answer to a domain error: login for 401, else a readable page."""
    _rollback(request)
    if isinstance(exc, Unauthenticated):
        return login_redirect(request)
    response = page(request, "error.html", {"error": exc}, status=exc.status)
    response.headers.update(exc.headers or {})
    return response


def refused(request: Request, exc: DomainError) -> Response:
    """A refusal before the route ran: JSON for a script's XMLHttpRequest (the upload
    widget shows its message), else the error page."""
    if request.headers.get("x-requested-with") == "XMLHttpRequest":
        return JSONResponse(exc.as_dict(), status_code=exc.status)
    return error_page(request, exc)


def csrf_refused(request: Request) -> Response:
    """403 for a state-changing request without a valid CSRF token: the error page (its
    own fresh token included), or the JSON error for a script's XMLHttpRequest upload."""
    exc = csrf_tokens.refusal()
    if request.headers.get("x-requested-with") == "XMLHttpRequest":
        return refused(request, exc)
    # No session was opened: the page names the signed-in caller if this process
    # remembers them (no database read), rather than offering a login they do not need.
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        from tongban.identity import service as identity

        request.state.actor = identity.remembered_actor(token=token)
    return error_page(request, exc)


class WebRoute(APIRoute):
    """A page route: POST/PUT/PATCH/DELETE must pass the CSRF check before anything runs,
    and domain errors render as HTML pages instead of JSON."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                if request.method in csrf_tokens.UNSAFE_METHODS and \
                        not await csrf.passes(request):
                    return csrf_refused(request)
                return await original(request)
            except DomainError as exc:
                return error_page(request, exc)
            except CONTENTION_ERRORS as exc:
                clear = contention(exc)
                if clear is None:
                    raise
                return error_page(request, clear)
            except StarletteHTTPException as exc:
                if exc.status_code != 413:
                    raise
                return refused(request, body_too_large(request))

        return handler
