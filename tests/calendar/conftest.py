"""Calendar fixtures: a hypothetical 2027 document, and bearer headers for staff roles."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy.orm import Session

from tongban.calendar import service as calendar_service
from tongban.catalog.models import Region
from tongban.config import Settings
from tongban.identity import service as identity_service
from tongban.identity.actor import SYSTEM_ACTOR

PASSWORD = "calendar-Pass-42"

# Not the real 2027 notice (unpublished when this was written): a test document in the same
# shape, with 元旦 on Fri 1/1-Sun 1/3 and one make-up Saturday.
DOC_2027: dict[str, Any] = {
    "year": 2027,
    "source": {"title": "测试用 2027 年节假日安排 (test data, not a real notice)",
               "number": None, "date": "2026-11-01", "url": None},
    "holidays": [
        {"name": "元旦", "dates": ["2027-01-01", "2027-01-02", "2027-01-03"]},
        {"name": "春节", "dates": ["2027-02-06", "2027-02-07", "2027-02-08", "2027-02-09",
                                 "2027-02-10", "2027-02-11", "2027-02-12", "2027-02-13"]},
    ],
    "workdays": ["2027-02-20"],
}


@pytest.fixture
def doc_2027() -> dict[str, Any]:
    """A fresh copy of the test 2027 document (tests may break it)."""
    return copy.deepcopy(DOC_2027)


@pytest.fixture
def staff_headers(db_session: Session, settings: Settings
                  ) -> Iterator[Callable[[str], dict[str, str]]]:
    """Bearer headers for a new account holding `role` (cheap Argon2id, real login)."""
    previous = identity_service.use_password_hasher(
        PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    db_session.add(Region(code="510000", name="四川省", level=2, parent_code=None))
    db_session.commit()

    def headers(role: str) -> dict[str, str]:
        username = f"{role}.calendar"
        identity_service.create_account(
            db_session=db_session, actor=SYSTEM_ACTOR, username=username, password=PASSWORD,
            display_name=f"Calendar {role}", roles=[role], scopes=[("510000", None)])
        token, _ = identity_service.login(db_session=db_session, settings=settings,
                                          username=username, password=PASSWORD)
        db_session.commit()
        return {"Authorization": f"Bearer {token}"}

    yield headers
    identity_service.use_password_hasher(previous)


def shipped_calendar() -> calendar_service.WorkingCalendar:
    """The calendar of the shipped files alone (no database)."""
    return calendar_service.WorkingCalendar(calendar_service.shipped_years())
