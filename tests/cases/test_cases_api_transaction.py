"""The request's transaction ends before its response starts, in one session."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlalchemy.orm import Session

from tests.cases.conftest import GOOD_FORM, World

API = "/api/v1"


@pytest.fixture
def timeline(client: TestClient) -> Iterator[list[str]]:
    """What happens during a request, in order: sessions opened, commits, response start."""
    seen: list[str] = []
    app: Any = client.app
    inner, factory = app.router, app.state.sessionmaker

    def on_commit(_session: Session) -> None:
        seen.append("commit")

    def opened() -> Session:
        seen.append("session")
        session: Session = factory()
        event.listen(session, "after_commit", on_commit)
        return session

    async def recording(scope: Any, receive: Any, send: Any) -> None:
        async def spy(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                seen.append("response")
            await send(message)

        await inner(scope, receive, spy)

    app.state.sessionmaker = opened
    app.router = recording
    app.middleware_stack = None  # rebuilt around the recording router
    yield seen
    app.state.sessionmaker, app.router, app.middleware_stack = factory, inner, None


def test_an_application_is_committed_before_its_201_is_sent(
    client: TestClient, world: World, timeline: list[str]
) -> None:
    resp = client.post(f"{API}/cases", headers=world.token("applicant"),
                       json={"implementation_code": world.impl_code, "form_data": GOOD_FORM,
                             "channel": "window"})
    assert resp.status_code == 201, resp.text
    assert timeline == ["session", "commit", "response"]


def test_reading_the_list_uses_one_session_closed_before_the_response(
    client: TestClient, world: World, timeline: list[str]
) -> None:
    resp = client.get(f"{API}/cases", headers=world.token("clerk"))
    assert resp.status_code == 200, resp.text
    assert timeline == ["session", "commit", "response"]
