"""A page that waits on a database lock must never freeze the node: no route or dependency
does blocking work on the event loop, and a write blocked by a lock ends as a clear 503
with Retry-After (never a bare 500 "database is locked")."""

from __future__ import annotations

import inspect
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.web.browser import BrowserClient
from tests.web.seed_web import Seeded
from tests.web.test_web_apply import _draft_key
from tongban.app import create_app
from tongban.config import Settings
from tongban.db import make_engine

# The coroutines allowed to run on the event loop, each because it does no blocking work:
# reading the request body or form (awaited I/O), the request's session (only its commit,
# in a worker thread), resolving the caller (a database look-up only in a worker thread),
# the role check and the CSRF check (in memory). A new `async def` route or dependency
# fails this test until it is a plain `def` (the thread pool) or shown to block nothing.
LOOP_SAFE = {
    "tongban.api_deps.get_db",
    "tongban.identity.deps.optional_actor",
    "tongban.identity.deps.current_actor",
    "tongban.identity.deps.require_roles.<locals>.check",
    "tongban.web.render.read_form",
    "tongban.federation.api.raw_body",
    "tongban.catalog.api.import_upload",
}


def _coroutines(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for call in [dependant.call, *(d.call for d in dependant.dependencies)]:
        if inspect.iscoroutinefunction(call) or inspect.isasyncgenfunction(call):
            yield call
    for sub in dependant.dependencies:
        yield from _coroutines(sub)


def test_no_route_or_dependency_blocks_the_event_loop(settings: Settings,
                                                      engine: Engine) -> None:
    app = create_app(settings, engine=engine)
    found = {f"{call.__module__}.{call.__qualname__}"
             for route in app.routes if isinstance(route, APIRoute)
             for call in _coroutines(route.dependant)}
    assert found - LOOP_SAFE == set(), "async code on the event loop: make it a plain def"


@contextmanager
def _locked(engine: Engine, table: str) -> Iterator[None]:
    """Hold the write lock another transaction would need (SQLite: the database's;
    PostgreSQL: `table`'s, readers still welcome)."""
    conn = engine.raw_connection()
    try:
        cur = conn.cursor()
        if engine.dialect.name == "sqlite":
            conn.isolation_level = None  # type: ignore[attr-defined]
            cur.execute("BEGIN IMMEDIATE")
        else:
            cur.execute(f"LOCK TABLE {table} IN EXCLUSIVE MODE")
        yield
    finally:
        conn.rollback()
        conn.close()


def _save_draft_in_background(client: TestClient, code: str, key: str) -> dict[str, Any]:
    outcome: dict[str, Any] = {}

    def post() -> None:
        outcome["response"] = client.post(f"/apply/{code}", data={"_draft": key, "_go": "save",
                                                                  "name": "张三"})
    thread = threading.Thread(target=post)
    thread.start()
    outcome["thread"] = thread
    return outcome


def test_a_page_waiting_on_a_lock_leaves_health_answering(
        login: Callable[[str], TestClient], seeded: Seeded, engine: Engine) -> None:
    client = login("zhangsan")
    key = _draft_key(client.get(f"/apply/{seeded.fund_code}").text)
    with _locked(engine, "web_drafts"):
        waiting = _save_draft_in_background(client, seeded.fund_code, key)
        time.sleep(0.3)  # the save is now waiting for the lock
        started = time.monotonic()
        health = client.get("/api/v1/health")
        took = time.monotonic() - started
        time.sleep(0.5)
    waiting["thread"].join(timeout=30)
    assert health.status_code == 200
    assert took < 1.0, f"health waited {took:.1f} s behind a page blocked on a lock"
    assert waiting["response"].status_code == 200  # saved once the lock was released


@pytest.fixture
def impatient(settings: Settings, engine: Engine, seeded: Seeded) -> Iterator[TestClient]:
    """A browser client of an app whose database gives up on a lock after 0.3 s."""
    short = make_engine(engine.url.render_as_string(hide_password=False),
                        lock_timeout_ms=300, pool_size=2)
    try:
        with BrowserClient(create_app(settings, engine=short)) as client:
            yield client
    finally:
        short.dispose()


def test_a_write_that_waits_too_long_for_a_lock_is_a_503_with_retry_after(
        impatient: TestClient, seeded: Seeded, engine: Engine) -> None:
    impatient.get("/login")
    response = impatient.post("/login", data={"username": "zhangsan",
                                              "password": "correct-horse-42", "next": "/"},
                              follow_redirects=False)
    assert response.status_code == 303
    key = _draft_key(impatient.get(f"/apply/{seeded.fund_code}").text)
    with _locked(engine, "web_drafts"):
        page = impatient.post(f"/apply/{seeded.fund_code}",
                              data={"_draft": key, "_go": "save", "name": "张三"})
    assert page.status_code == 503
    assert page.headers["retry-after"].isdigit()
    assert "系统繁忙" in page.text and "text/html" in page.headers["content-type"]


def test_an_api_write_blocked_by_a_lock_is_a_json_503_with_retry_after(
        impatient: TestClient, seeded: Seeded, engine: Engine) -> None:
    token = impatient.post("/api/v1/auth/login", json={
        "username": "zhangsan", "password": "correct-horse-42"}).json()["token"]
    with _locked(engine, "identity_sessions"):
        response = impatient.post("/api/v1/auth/logout",
                                  headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 503, response.text
    assert response.json()["error"] == "busy"
    assert int(response.headers["retry-after"]) >= 1
