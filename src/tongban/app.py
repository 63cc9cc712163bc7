"""FastAPI factory: mounts each domain's router, the error handlers and the UI."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import Engine, text
from starlette.exceptions import HTTPException as StarletteHTTPException

from tongban import __version__
from tongban.config import Settings, get_settings
from tongban.db import import_all_models, make_engine, make_sessionmaker
from tongban.errors import DomainError

API = "/api/v1"


def _routers() -> list[Any]:
    """Each domain's router; a domain that adds one lists it here."""
    from tongban.bundles.api import router as bundles_router
    from tongban.calendar.api import router as calendar_router
    from tongban.cases.api import router as cases_router
    from tongban.catalog.api import router as catalog_router
    from tongban.federation.api import router as federation_router
    from tongban.identity.api import router as identity_router
    from tongban.ledger.api import router as ledger_router
    from tongban.licences.api import router as licences_router

    return [identity_router, catalog_router, cases_router, calendar_router, ledger_router,
            licences_router, federation_router, bundles_router]


def _error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": code, "message": message, "details": details}


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(_request: Request, exc: DomainError) -> JSONResponse:
        return JSONResponse(exc.as_dict(), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        fields = [
            {"field": ".".join(str(p) for p in err.get("loc", ())), "message": err.get("msg")}
            for err in exc.errors()
        ]
        body = _error_body("invalid", "请求参数有误 / invalid request", fields)
        return JSONResponse(body, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(
            _error_body(code, str(exc.detail)), status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    """Build the node's app over `engine` (default: from settings)."""
    settings = settings or get_settings()
    import_all_models()
    engine = engine or make_engine(settings.database_url)
    app = FastAPI(
        title="tongban 通办",
        version=__version__,
        openapi_url="/api/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
        lifespan=_lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = make_sessionmaker(engine)
    _install_error_handlers(app)

    @app.get(f"{API}/health", tags=["node"])
    def health() -> dict[str, Any]:
        """Liveness and database reachability."""
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return {"status": "ok", "version": __version__, "database": engine.dialect.name,
                "region": settings.node_region}

    for router in _routers():
        app.include_router(router, prefix=API)
    from tongban.web.routes import install as install_web

    install_web(app)  # the UI: portal, workbench, static files
    return app


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Single-machine default: the worker runs in a thread of the serving process.

    Everything alive once the app has started (modules, routes, models, schemas) stays
    alive while it serves, so it is frozen out of the cyclic garbage collector: a full
    collection scanned ~370,000 such objects in ~140 ms, and those pauses were the
    slowest percent of requests (bench/http_cases.py). Unfrozen when the app stops.
    """
    from tongban.worker import start_in_thread

    stop = None
    if app.state.settings.run_worker_in_process:
        stop = start_in_thread(app.state.sessionmaker, app.state.settings)
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
        if stop is not None:
            stop.set()
