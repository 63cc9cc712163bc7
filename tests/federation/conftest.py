"""Federation fixtures: three nodes (四川, 上海, 重庆) in one process, each with its own
database (SQLite files, or PostgreSQL databases), seeded and federated once per session.

Tests share the federation and so only assert on what they themselves created (their
own envelopes, cases and counts before/after)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from argon2 import PasswordHasher
from sqlalchemy import Engine

from tests.conftest import (
    BACKENDS,
    TEST_DATA_KEY,
    TEST_INDEX_KEY,
    _pg_reachable,
    _worker,
    drop_pg_database,
    pg_database_url,
)
from tests.federation.harness import (
    NODES,
    Federation,
    Router,
    federate,
    make_node,
    seed,
    small_catalog,
)
from tongban.db import Base, import_all_models, make_engine
from tongban.identity import service as identity


@pytest.fixture(autouse=True)
def cheap_password_hashing() -> Iterator[None]:
    previous = identity.use_password_hasher(
        PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    yield
    identity.use_password_hasher(previous)


def _engines(backend: str, root: os.PathLike[str]) -> list[Engine]:
    if backend == "sqlite":
        return [make_engine(f"sqlite:///{root}/fed-{region}-{_worker()}.db")
                for region, _ in NODES]
    if not _pg_reachable():
        if os.environ.get("TONGBAN_REQUIRE_POSTGRES") == "1":
            pytest.fail("PostgreSQL is required but unreachable")
        pytest.skip("PostgreSQL unreachable")
    return [make_engine(pg_database_url(f"tongban_fed_{region}_{_worker()}"), pool_size=5)
            for region, _ in NODES]


@pytest.fixture(scope="session", params=BACKENDS)
def fed(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[Federation]:
    """Three federated nodes on one backend, shared by the session's tests."""
    import_all_models()
    root = tmp_path_factory.mktemp("federation")
    engines = _engines(request.param, root)
    for engine in engines:
        Base.metadata.drop_all(engine)
        Base.metadata.create_all(engine)
    router = Router()
    nodes = [make_node(region, name, engine, root, (TEST_DATA_KEY, TEST_INDEX_KEY))
             for (region, name), engine in zip(NODES, engines, strict=True)]
    for node in nodes:
        router.clients[node.host] = node.client
    federation = Federation(nodes, router)
    previous = identity.use_password_hasher(
        PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    catalog_doc = small_catalog()
    for node in nodes:
        seed(node, catalog_doc)
    federate(federation)
    identity.use_password_hasher(previous)
    yield federation
    federation.http.close()
    for engine in engines:
        url = engine.url.render_as_string(hide_password=False)
        engine.dispose()
        if engine.dialect.name == "postgresql":
            drop_pg_database(url)
