"""Web fixtures: the small seeded node, cheap password hashing, logged-in clients."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tests.web.browser import BrowserClient
from tests.web.seed_web import PASSWORD, Seeded, seed
from tongban.app import create_app
from tongban.config import Settings
from tongban.identity import service as identity


@pytest.fixture(autouse=True)
def cheap_password_hashing() -> Iterator[None]:
    """Argon2id still, with the smallest parameters: tests must stay fast."""
    previous = identity.use_password_hasher(
        PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    yield
    identity.use_password_hasher(previous)


@pytest.fixture
def seeded(db_session: Session, settings: Settings) -> Seeded:
    """The small catalog and accounts, committed so the app's sessions see them."""
    result = seed(db_session=db_session, settings=settings)
    db_session.commit()
    return result


@pytest.fixture
def client(engine: Engine, settings: Settings, db_session: Session) -> Iterator[TestClient]:
    """A browser-like client (tests/web/browser.py) of an app over the test database: its
    forms carry the CSRF token of the page it loaded last."""
    # The page tests sign in dozens of times a minute from one address: login limits are
    # tested in tests/identity/test_identity_rate_limits.py, not here.
    roomy = settings.model_copy(update={"rate_limit_login": "10000/minute",
                                        "rate_limit_login_source": "10000/minute"})
    with BrowserClient(create_app(roomy, engine=engine)) as test_client:
        yield test_client


@pytest.fixture
def login(client: TestClient, seeded: Seeded) -> Callable[[str], TestClient]:
    """Sign the test client in as `username` through the login form, and land on the page
    it leads to (whose token the next form carries)."""

    def sign_in(username: str) -> TestClient:
        client.cookies.clear()
        client.get("/login")  # the form, with its pre-session token (login CSRF)
        response = client.post("/login", data={"username": username, "password": PASSWORD,
                                               "next": "/"}, follow_redirects=False)
        assert response.status_code == 303, response.text
        client.get(response.headers["location"])
        return client

    return sign_in
