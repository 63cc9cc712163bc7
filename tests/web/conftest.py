"""Web fixtures: the small seeded node, cheap password hashing, logged-in clients."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.web.seed_web import PASSWORD, Seeded, seed
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
def login(client: TestClient, seeded: Seeded) -> Callable[[str], TestClient]:
    """Sign the test client in as `username` through the login form."""

    def sign_in(username: str) -> TestClient:
        client.cookies.clear()
        response = client.post("/login", data={"username": username, "password": PASSWORD,
                                               "next": "/"}, follow_redirects=False)
        assert response.status_code == 303, response.text
        return client

    return sign_in
