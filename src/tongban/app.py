"""FastAPI factory: mounts each domain's router, the error handlers and the UI."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException

from tongban import __version__
from tongban.body_limits import BodyLimits, body_too_large
from tongban.config import Settings, get_settings
from tongban.db import CONTENTION_ERRORS, contention
from tongban.errors import DomainError
from tongban.node.observe import RequestIds
from tongban.node.root import Node, build_node

API = "/api/v1"


def _routers() -> list[Any]:
    """Each domain's router; a domain that adds one lists it here."""
    from tongban.bundles.api import router as bundles_router
    from tongban.calendar.api import router as calendar_router
    from tongban.cases.api import router as cases_router
    from tongban.catalog.api import router as catalog_router
    from tongban.eligibility.api import router as eligibility_router
    from tongban.federation.api import router as federation_router
    from tongban.identity.api import router as identity_router
    from tongban.ledger.api import router as ledger_router
    from tongban.licences.api import router as licences_router
    from tongban.notify.api import router as notify_router
    from tongban.sharing.api import router as sharing_router
    from tongban.supervision.complaints.api import router as complaints_router
    from tongban.supervision.draws.api import router as draws_router
    from tongban.supervision.metrics.api import router as metrics_router
    from tongban.supervision.ratings.api import router as ratings_router
    from tongban.supervision.warnings.api import router as warnings_router

    return [identity_router, catalog_router, cases_router, calendar_router, ledger_router,
            licences_router, federation_router, bundles_router, sharing_router,
            eligibility_router, notify_router, metrics_router, draws_router, ratings_router,
            complaints_router, warnings_router]


def _error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": code, "message": message, "details": details}


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(_request: Request, exc: DomainError) -> JSONResponse:
        return JSONResponse(exc.as_dict(), status_code=exc.status, headers=exc.headers)

    async def database_error(request: Request, exc: Exception) -> JSONResponse:
        """A lock or deadlock is a clear, retryable 503/409, never a bare 500."""
        clear = contention(exc)
        if clear is None:
            raise exc
        return await domain_error(request, clear)

    for kind in CONTENTION_ERRORS:
        app.add_exception_handler(kind, database_error)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        fields = [
            {"field": ".".join(str(p) for p in err.get("loc", ())), "message": err.get("msg")}
            for err in exc.errors()
        ]
        body = _error_body("invalid", "请求参数有误 / invalid request", fields)
        return JSONResponse(body, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 413:
            return JSONResponse(body_too_large(request).as_dict(), status_code=413)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(
            _error_body(code, str(exc.detail)), status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    """Build the node's app over `engine` (default: from settings)."""
    node = build_node(settings or get_settings(), engine=engine)
    settings, engine = node.settings, node.engine
    app = FastAPI(
        title="tongban 通办",
        version=__version__,
        openapi_url="/api/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
        lifespan=_lifespan,
    )
    app.state.node = node
    app.state.settings = settings
    app.add_middleware(BodyLimits, settings=settings)
    app.state.engine = engine
    app.state.sessionmaker = node.sessionmaker
    _install_error_handlers(app)
    app.add_middleware(RequestIds)

    @app.get(f"{API}/health", tags=["node"])
    def health() -> JSONResponse:
        """The database, the queue backlog, the ledger's lag, the worker jobs and the
        rate-limit store; 503 when the database does not answer."""
        from tongban.node.health import report

        status, body = report(node, worker_in_process=worker_in_process(node))
        return JSONResponse(jsonable_encoder(body), status_code=status)

    for router in _routers():
        app.include_router(router, prefix=API)
    from tongban.web.routes import install as install_web

    install_web(app)  # the UI: portal, workbench, static files
    return app


def from_environment() -> FastAPI:
    """The app of the node the environment describes, logging as it says: what each
    process of `tongban serve --workers N` (or uvicorn/gunicorn --factory) builds."""
    from tongban.node import observe

    settings = get_settings()
    observe.configure(settings.log_format, settings.log_level)
    return create_app(settings)


def worker_in_process(node: Node) -> bool:
    """Whether this serving process also runs the worker: as set, else on SQLite only (one
    machine, one writer); a PostgreSQL node runs `tongban worker` processes instead."""
    setting = node.settings.run_worker_in_process
    return node.engine.dialect.name == "sqlite" if setting is None else setting


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Single-machine default: the worker runs in a thread of the serving process.

    Everything alive once the app has started (modules, routes, models, schemas) stays
    alive while it serves, so it is frozen out of the cyclic garbage collector: a full
    collection scanned ~370,000 such objects in ~140 ms, and those pauses were the
    slowest percent of requests (bench/http_cases.py). Unfrozen when the app stops.
    """
    from anyio import to_thread

    from tongban.worker import start_in_thread

    to_thread.current_default_thread_limiter().total_tokens = app.state.settings.api_threads
    stop = None
    if worker_in_process(app.state.node):
        stop = start_in_thread(app.state.node)
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
        if stop is not None:
            stop.set()
