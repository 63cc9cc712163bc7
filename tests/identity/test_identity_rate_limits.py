"""Login and public licence verification are rate-limited (the `limits` library): per
source and user name, counted across every API process of the node when the counts live
in Redis; a spent limit is a 429 with Retry-After and writes nothing; a counter store that
does not answer lets people in and says so."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from tests.identity.conftest import PASSWORD, AccountMaker
from tongban.app import create_app
from tongban.config import Settings
from tongban.identity.models import LoginSession

REDIS = os.environ.get("TONGBAN_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
LOGIN = "/api/v1/auth/login"


def _redis_reachable() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS, socket_connect_timeout=1).ping())
    except Exception:
        return False


@pytest.fixture
def redis_url() -> str:
    if not _redis_reachable():
        if os.environ.get("TONGBAN_REQUIRE_REDIS") == "1":
            pytest.fail(f"Redis is required but unreachable at {REDIS}")
        pytest.skip(f"Redis unreachable at {REDIS}")
    return REDIS


def _app(settings: Settings, engine: Engine, **kw: object) -> Iterator[TestClient]:
    with TestClient(create_app(settings.model_copy(update=kw), engine=engine)) as c:
        yield c


def _attempt(client: TestClient, username: str, password: str = "wrong") -> int:
    return client.post(LOGIN, json={"username": username, "password": password}).status_code


def _sessions(db_session: Session) -> int:
    db_session.expire_all()
    return db_session.scalar(select(func.count()).select_from(LoginSession)) or 0


def test_guessing_a_password_is_stopped_with_a_clear_429(
    client: TestClient, make_account: AccountMaker, db_session: Session
) -> None:
    make_account("wang.clerk", ["clerk"], [("510104", None)])
    assert [_attempt(client, "wang.clerk") for _ in range(10)] == [401] * 10
    refused = client.post(LOGIN, json={"username": "wang.clerk", "password": PASSWORD})
    assert refused.status_code == 429
    assert refused.json()["error"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) >= 1
    assert _sessions(db_session) == 0  # not even the right password gets in now
    make_account("li.clerk", ["clerk"], [("510104", None)])
    assert _attempt(client, "li.clerk", PASSWORD) == 200  # another account is not blocked


def test_two_api_processes_share_one_count_in_redis(
    engine: Engine, settings: Settings, make_account: AccountMaker, redis_url: str
) -> None:
    make_account("wang.clerk", ["clerk"], [("510104", None)])
    node = {"rate_limit_storage": redis_url, "node_name": f"t-{uuid.uuid4().hex[:12]}"}
    one, two = _app(settings, engine, **node), _app(settings, engine, **node)
    a, b = next(one), next(two)
    assert [_attempt(a, "wang.clerk") for _ in range(5)] == [401] * 5
    assert [_attempt(b, "wang.clerk") for _ in range(5)] == [401] * 5
    assert _attempt(a, "wang.clerk") == 429
    assert _attempt(b, "wang.clerk") == 429
    for gen in (one, two):
        gen.close()


def test_each_process_counts_alone_in_memory_which_is_why_serve_refuses_it(
    engine: Engine, settings: Settings, make_account: AccountMaker
) -> None:
    make_account("wang.clerk", ["clerk"], [("510104", None)])
    one, two = _app(settings, engine), _app(settings, engine)
    a, b = next(one), next(two)
    assert [_attempt(a, "wang.clerk") for _ in range(10)] == [401] * 10
    assert _attempt(b, "wang.clerk") == 401  # memory:// is per process
    for gen in (one, two):
        gen.close()


def test_public_verification_is_limited_per_source(engine: Engine, settings: Settings,
                                                   db_session: Session) -> None:
    gen = _app(settings, engine, rate_limit_verify="3/minute")
    client = next(gen)
    codes = [client.post("/api/v1/licences/verify", json={"identifier": "1.2.156.x"}
                         ).status_code for _ in range(4)]
    assert codes[:3] != [429] * 3 and codes[3] == 429
    page = client.get("/verify", params={"identifier": "1.2.156.x"})
    assert page.status_code == 429 and "尝试次数过多" in page.text
    gen.close()


def test_an_unreachable_counter_store_lets_people_in(
    engine: Engine, settings: Settings, make_account: AccountMaker
) -> None:
    make_account("wang.clerk", ["clerk"], [("510104", None)])
    gen = _app(settings, engine, rate_limit_storage="redis://127.0.0.1:9/0")
    client = next(gen)
    assert _attempt(client, "wang.clerk", PASSWORD) == 200
    assert client.app.state.node.rate_limiter.last_error is not None  # type: ignore[attr-defined]
    gen.close()
