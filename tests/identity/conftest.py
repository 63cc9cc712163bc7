"""Identity fixtures: a few regions and a department, cheap Argon2id, accounts and logins."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tongban.catalog.models import Department, Region
from tongban.identity import service
from tongban.identity.actor import SYSTEM_ACTOR
from tongban.identity.ids import make_uscc
from tongban.identity.models import Account

PASSWORD = "correct-horse-42"
REGIONS = [
    ("100000", "中华人民共和国", 1, None),
    ("510000", "四川省", 2, "100000"),
    ("510100", "成都市", 3, "510000"),
    ("510104", "锦江区", 4, "510100"),
    ("510107", "武侯区", 4, "510100"),
    ("110000", "北京市", 2, "100000"),
    ("110101", "东城区", 4, "110000"),
]


@pytest.fixture
def regions(db_session: Session) -> list[str]:
    """A little GB/T 2260 table: Sichuan down to two Chengdu districts, and Beijing."""
    for code, name, level, parent in REGIONS:
        db_session.add(Region(code=code, name=name, level=level, parent_code=parent))
        db_session.flush()
    db_session.commit()
    return [code for code, *_ in REGIONS]


@pytest.fixture
def department(db_session: Session, regions: list[str]) -> Department:
    """锦江区市场监督管理局, a department in 510104."""
    dept = Department(name="成都市锦江区市场监督管理局", region_code="510104",
                      credit_code=make_uscc("1", "1", "510104", "MB123456"),
                      kind="market_regulation", level=4)
    db_session.add(dept)
    db_session.commit()
    return dept


@dataclass
class AccountMaker:
    db_session: Session

    def __call__(self, username: str, roles: list[str],
                 scopes: list[tuple[str, uuid.UUID | None]] | None = None,
                 person_id: uuid.UUID | None = None,
                 enterprise_id: uuid.UUID | None = None) -> Account:
        account = service.create_account(
            db_session=self.db_session, actor=SYSTEM_ACTOR, username=username,
            password=PASSWORD, display_name=username.title(), roles=roles,
            scopes=scopes or [], person_id=person_id, enterprise_id=enterprise_id,
        )
        self.db_session.commit()
        return account


@pytest.fixture
def make_account(db_session: Session, regions: list[str]) -> AccountMaker:
    """Create and commit an account with the test password."""
    return AccountMaker(db_session)


@pytest.fixture
def auth(client: TestClient) -> Callable[[str], dict[str, str]]:
    """Log in through the API; returns bearer headers (and drops the cookie)."""

    def login(username: str) -> dict[str, str]:
        resp = client.post("/api/v1/auth/login",
                           json={"username": username, "password": PASSWORD})
        assert resp.status_code == 200, resp.text
        client.cookies.clear()
        return {"Authorization": f"Bearer {resp.json()['token']}"}

    return login
