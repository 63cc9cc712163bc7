"""The per-process actor memory: one query per token per few seconds, logout at once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from tongban.config import Settings
from tongban.identity import actor_cache, service
from tongban.identity.actor import Scope
from tongban.identity.models import LoginSession

from .conftest import PASSWORD, AccountMaker

NOW = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _empty_memory() -> None:
    actor_cache.clear()


def _login(make_account: AccountMaker, db_session: Session, settings: Settings) -> str:
    make_account("li.reviewer", ["reviewer", "clerk"],
                 [("510104", None), ("510107", None)])
    token, _ = service.login(db_session=db_session, settings=settings,
                             username="li.reviewer", password=PASSWORD, now=NOW)
    db_session.commit()
    return token


def test_one_query_resolves_roles_and_every_scope(make_account: AccountMaker,
                                                  db_session: Session,
                                                  settings: Settings) -> None:
    token = _login(make_account, db_session, settings)
    actor = service.actor_for_token(db_session=db_session, token=token, now=NOW)
    assert actor is not None
    assert actor.roles == {"reviewer", "clerk"}
    assert set(actor.scopes) == {Scope("510104"), Scope("510107")}
    assert len(actor.scopes) == 2


def test_a_remembered_actor_is_served_until_its_few_seconds_are_up(
    make_account: AccountMaker, db_session: Session, settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    token = _login(make_account, db_session, settings)
    first = service.cached_actor_for_token(db_session=db_session, token=token, now=NOW)
    assert first is not None
    # Revoked behind this process's back (another worker): still served within the bound…
    db_session.execute(update(LoginSession).values(revoked_at=NOW))
    db_session.commit()
    assert service.cached_actor_for_token(db_session=db_session, token=token, now=NOW) == first
    # …and refused once the memory is older than TTL_SECONDS.
    later = actor_cache.time.monotonic() + actor_cache.TTL_SECONDS + 1
    monkeypatch.setattr(actor_cache.time, "monotonic", lambda: later)
    assert service.cached_actor_for_token(db_session=db_session, token=token, now=NOW) is None


def test_logout_and_expiry_end_a_remembered_session_at_once(
    make_account: AccountMaker, db_session: Session, settings: Settings
) -> None:
    token = _login(make_account, db_session, settings)
    assert service.cached_actor_for_token(db_session=db_session, token=token, now=NOW)
    expiry = NOW + timedelta(days=settings.session_days)
    assert service.cached_actor_for_token(db_session=db_session, token=token,
                                          now=expiry) is None
    assert service.cached_actor_for_token(db_session=db_session, token=token, now=NOW)
    service.logout(db_session=db_session, token=token, now=NOW)
    assert service.cached_actor_for_token(db_session=db_session, token=token, now=NOW) is None
