"""My inbox over HTTP: list, unread count, mark read; only ever my own."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tongban.notify import service
from tongban.notify.service import Recipient

from .conftest import World


def _tell(w: World, who: str, key: str) -> None:
    service.notify(db_session=w.db, settings=w.settings, kind="case.accepted",
                   to=Recipient.person(w.people[who]),
                   params={"case_number": "51010420260921000001",
                           "item_name": "个体工商户设立登记"},
                   key=key)


def test_my_inbox_lists_counts_and_marks_read(client: TestClient, world: World) -> None:
    w = world
    _tell(w, "self", "a")
    _tell(w, "self", "b")
    _tell(w, "principal", "c")
    w.db.commit()
    me, other = w.token("applicant"), w.token("principal")

    inbox = client.get("/api/v1/notify/inbox", headers=me).json()
    assert inbox["unread"] == 2 and len(inbox["items"]) == 2
    first = inbox["items"][0]
    assert first["title"]["zh"] == "办件 51010420260921000001 已受理"
    assert first["read_at"] is None

    assert client.post(f"/api/v1/notify/inbox/{first['id']}/read",
                       headers=other).status_code == 404
    marked = client.post(f"/api/v1/notify/inbox/{first['id']}/read", headers=me)
    assert marked.status_code == 200 and marked.json() == {"unread": 1}
    assert client.get("/api/v1/notify/inbox/unread", headers=me).json() == {"unread": 1}
    unread = client.get("/api/v1/notify/inbox?unread_only=true", headers=me).json()
    assert [i["id"] for i in unread["items"]] != [first["id"]] and len(unread["items"]) == 1
    assert client.post("/api/v1/notify/inbox/read", headers=me).json() == {"marked": 1}
    assert client.get("/api/v1/notify/inbox/unread", headers=other).json() == {"unread": 1}


def test_the_inbox_needs_a_signed_in_caller(client: TestClient, world: World) -> None:
    assert client.get("/api/v1/notify/inbox").status_code == 401
    assert client.get("/api/v1/notify/inbox?limit=0",
                      headers=world.token("applicant")).status_code == 422
    assert client.post("/api/v1/notify/inbox/not-a-uuid/read",
                       headers=world.token("applicant")).status_code == 422


def test_my_preferences_over_http_all_or_nothing(client: TestClient, world: World) -> None:
    me = world.token("applicant")
    put = client.put("/api/v1/notify/preferences", headers=me, json={
        "email": "zhang.san@example.cn", "phone": "13912345678",
        "channels": {"case.decided": ["email"]}})
    assert put.status_code == 200, put.text
    assert put.json()["channels"]["case.decided"] == ["email"]
    assert put.json()["channels"]["case.accepted"] == ["email", "sms"]  # the default
    for bad in ({"email": "zhang@"}, {"phone": "12345"},
                {"channels": {"case.decided": ["fax"]}}, {"channels": {"nonsense": []}},
                {"unknown_field": 1}):
        refused = client.put("/api/v1/notify/preferences", headers=me, json=bad)
        assert refused.status_code == 422, bad
    kept = client.get("/api/v1/notify/preferences", headers=me).json()
    assert kept["email"] == "zhang.san@example.cn" and kept["phone"] == "13912345678"
    assert client.get("/api/v1/notify/preferences").status_code == 401
