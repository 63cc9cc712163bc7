"""The notify interface: one row per key in the caller's transaction, the inbox, refusals."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from tongban.config import Settings
from tongban.db import make_sessionmaker
from tongban.errors import InvalidInput, NotFound
from tongban.notify import service
from tongban.notify.models import Delivery, Notification
from tongban.notify.service import Recipient

from .conftest import World


def _count(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(Notification)) or 0


def _tell(w: World, who: str = "self", key: str = "k1", **params: str) -> Notification:
    return service.notify(db_session=w.db, settings=w.settings, kind="notify.test",
                          to=Recipient.person(w.people[who]), params=params, key=key)


def test_a_notification_commits_with_its_cause_and_never_by_itself(world: World) -> None:
    _tell(world)
    world.db.rollback()  # the caller's transaction failed: no message either
    assert _count(world.db) == 0
    _tell(world)
    world.db.commit()
    assert _count(world.db) == 1


def test_the_same_key_tells_once(world: World) -> None:
    first = _tell(world, key="case-event:1")
    again = _tell(world, key="case-event:1", node_name="other")
    world.db.commit()
    assert again.id == first.id
    assert _count(world.db) == 1
    _tell(world, key="case-event:2")
    world.db.commit()
    assert _count(world.db) == 2


def test_unknown_kinds_missing_parameters_and_bad_keys_are_refused(world: World) -> None:
    to = Recipient.person(world.people["self"])
    with pytest.raises(InvalidInput) as unknown:
        service.notify(db_session=world.db, settings=world.settings, kind="case.nonsense",
                       to=to, params={}, key="x")
    assert unknown.value.code == "unknown_kind"
    with pytest.raises(InvalidInput) as missing:
        service.notify(db_session=world.db, settings=world.settings, kind="case.accepted",
                       to=to, params={"case_number": "N1"}, key="x")
    assert missing.value.details["missing"] == ["item_name"]
    for key in ("", "   ", "k" * 501):
        with pytest.raises(InvalidInput):
            service.notify(db_session=world.db, settings=world.settings, kind="notify.test",
                           to=to, params={}, key=key)
    assert _count(world.db) == 0


def test_the_inbox_counts_unread_and_marks_read_for_its_owner_only(world: World) -> None:
    w = world
    _tell(w, key="a")
    _tell(w, key="b")
    _tell(w, "principal", key="c")
    w.db.commit()
    me, other = w["applicant"], w["principal"]
    assert service.unread_count(db_session=w.db, actor=me) == 2
    entries = service.inbox(db_session=w.db, settings=w.settings, actor=me)
    assert [e.title["zh"] for e in entries] == ["测试消息", "测试消息"]
    assert "测试消息" in entries[0].body["zh"] and "test message" in entries[0].body["en"]
    with pytest.raises(NotFound):  # someone else's message does not exist for me
        service.mark_read(db_session=w.db, actor=other, notification_id=entries[0].id)
    service.mark_read(db_session=w.db, actor=me, notification_id=entries[0].id)
    assert service.unread_count(db_session=w.db, actor=me) == 1
    assert service.mark_all_read(db_session=w.db, actor=me) == 1
    assert service.unread_count(db_session=w.db, actor=me) == 0
    assert service.unread_count(db_session=w.db, actor=other) == 1
    assert service.inbox(db_session=w.db, settings=w.settings, actor=me, unread_only=True) == []


def test_a_staff_account_without_a_person_reads_its_own_messages(world: World) -> None:
    clerk = world["clerk"]
    assert clerk.account_id is not None
    service.notify(db_session=world.db, settings=world.settings, kind="notify.test",
                   to=Recipient.account(clerk.account_id), params={}, key="staff")
    world.db.commit()
    assert service.unread_count(db_session=world.db, actor=clerk) == 1
    assert service.unread_count(db_session=world.db, actor=world["applicant"]) == 0


def test_a_known_phone_gets_a_pending_sms_delivery(world: World) -> None:
    from tongban.identity import service as identity
    from tongban.identity.actor import SYSTEM_ACTOR
    from tongban.identity.ids import make_resident_id

    person = identity.create_person(
        db_session=world.db, settings=world.settings, actor=SYSTEM_ACTOR, name="钱七",
        id_number=make_resident_id("510104", __import__("datetime").date(1991, 2, 3), 21),
        phone="13700001111")
    n = service.notify(db_session=world.db, settings=world.settings, kind="notify.test",
                       to=Recipient.person(person.id), params={}, key="sms")
    world.db.commit()
    rows = world.db.scalars(select(Delivery).where(Delivery.notification_id == n.id)).all()
    assert [(d.channel, d.state) for d in rows] == [("sms", "pending")]
    assert b"13700001111" not in rows[0].address_enc


def test_two_transactions_racing_on_one_key_write_one_message(
        engine: Engine, settings: Settings, world: World) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("real concurrent writers need PostgreSQL")
    factory = make_sessionmaker(engine)
    barrier = threading.Barrier(2, timeout=10)
    ids: list[object] = []
    person = world.people["self"]

    def writer() -> None:
        with factory() as db:
            db.execute(select(func.count()).select_from(Notification))  # transaction open
            barrier.wait()  # both open, neither has written: the INSERTs race
            n = service.notify(db_session=db, settings=settings, kind="notify.test",
                               to=Recipient.person(person), params={}, key="race")
            db.commit()
            ids.append(n.id)

    threads = [threading.Thread(target=writer) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert len(ids) == 2 and ids[0] == ids[1]  # both callers got the one message
    world.db.expire_all()
    assert _count(world.db) == 1


def test_telling_someone_reads_their_addresses_in_the_insert_itself(world: World) -> None:
    """Each case transition tells its applicant: the message, its recipient's preferences
    and identity's phone are one round trip."""
    from sqlalchemy import event

    seen: list[str] = []
    bind = world.db.connection().engine

    def on_execute(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    world.db.flush()
    event.listen(bind, "before_cursor_execute", on_execute)
    try:
        _tell(world, key="one-trip")
    finally:
        event.remove(bind, "before_cursor_execute", on_execute)
    assert len(seen) == 1 and "notify_preferences" in seen[0], seen
