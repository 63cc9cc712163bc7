"""消息中心 pages: my inbox with its unread badge and mark read, my preferences."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.web.seed_web import Seeded
from tongban.config import Settings
from tongban.identity import service as identity
from tongban.identity.actor import Actor
from tongban.notify import service
from tongban.notify.service import Recipient


def _actor(db: Session, username: str) -> Actor:
    account = identity.find_account_by_username(db_session=db, username=username)
    assert account is not None
    return identity.actor_from_account(account)


def _tell(db: Session, settings: Settings, username: str, key: str, number: str) -> None:
    account = identity.find_account_by_username(db_session=db, username=username)
    assert account is not None and account.person_id is not None
    service.notify(db_session=db, settings=settings, kind="case.accepted",
                   to=Recipient.person(account.person_id), key=key,
                   params={"case_number": number, "item_name": "居住证签发"})
    db.commit()


def test_the_inbox_lists_my_messages_and_marks_them_read(
        login: Callable[[str], TestClient], seeded: Seeded, db_session: Session,
        settings: Settings) -> None:
    _tell(db_session, settings, "zhangsan", "a", "51010020260921000001")
    _tell(db_session, settings, "zhangsan", "b", "51010020260921000002")
    client = login("zhangsan")
    assert client.get("/my/notifications/badge").text.count(">2<") == 1
    page = client.get("/my/notifications")
    assert page.status_code == 200
    assert "未读消息 2 条" in page.text and "办件 51010020260921000002 已受理" in page.text
    assert 'href="/my/cases/51010020260921000001"' in page.text
    first = service.inbox(db_session=db_session, settings=settings,
                          actor=_actor(db_session, "zhangsan"))[0]
    fragment = client.post(f"/my/notifications/{first.id}/read", headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and fragment.headers["HX-Trigger"] == "notify-read"
    assert 'class="notification read"' in fragment.text and "标为已读" not in fragment.text
    assert "未读消息 1 条" in client.get("/my/notifications").text
    done = client.post("/my/notifications/read", follow_redirects=False)
    assert done.status_code == 303
    page = client.get("/my/notifications")
    assert "未读消息 0 条" in page.text and "全部标为已读" not in page.text
    assert client.get("/my/notifications/badge").text.strip().endswith("></span>")
    english = client.get("/my/notifications?lang=en").text
    assert "Case 51010020260921000001 accepted" in english and "0 unread" in english


def test_someone_elses_message_cannot_be_marked(
        login: Callable[[str], TestClient], seeded: Seeded, db_session: Session,
        settings: Settings) -> None:
    _tell(db_session, settings, "zhangsan", "a", "51010020260921000001")
    mine = service.inbox(db_session=db_session, settings=settings,
                         actor=_actor(db_session, "zhangsan"))
    client = login("clerk-cd")
    assert client.post(f"/my/notifications/{mine[0].id}/read").status_code == 404
    assert "暂无消息" in client.get("/my/notifications").text


def test_preferences_save_and_a_bad_address_keeps_what_was_typed(
        login: Callable[[str], TestClient], seeded: Seeded) -> None:
    client = login("zhangsan")
    page = client.get("/my/notifications/preferences")
    assert page.status_code == 200 and "通知设置" in page.text and "补正通知" in page.text
    saved = client.post("/my/notifications/preferences", data={
        "email": "zhangsan@example.cn", "phone": "139 1234 5678",
        "case.decided:email": "on", "case.decided:sms": "on",
        "case.accepted:sms": "on"}, follow_redirects=False)
    assert saved.status_code == 303
    api = client.get("/api/v1/notify/preferences").json()
    assert api["email"] == "zhangsan@example.cn" and api["phone"] == "13912345678"
    assert api["channels"]["case.decided"] == ["email", "sms"]
    assert api["channels"]["case.accepted"] == ["sms"]
    assert api["channels"]["licence.issued"] == []
    bad = client.post("/my/notifications/preferences", data={
        "email": "not an address", "phone": "13912345678"})
    assert bad.status_code == 422
    assert "电子邮箱格式不正确" in bad.text and 'value="not an address"' in bad.text
    assert client.get("/api/v1/notify/preferences").json()["email"] == "zhangsan@example.cn"
