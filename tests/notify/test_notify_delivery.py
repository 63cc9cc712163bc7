"""Delivery: e-mail over real SMTP, SMS to the log, failures classified and bounded,
two workers never send one message twice, and a crash between send and mark loses
nothing."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from tongban.config import Settings
from tongban.db import make_sessionmaker, transaction, utcnow
from tongban.notify import delivery, preferences, service
from tongban.notify.models import Delivery
from tongban.notify.service import Recipient

from .conftest import World
from .smtp_server import SmtpServer

EMAIL = "zhang.san@example.cn"


def _smtp(settings: Settings, server: SmtpServer, **extra: Any) -> Settings:
    return settings.model_copy(update={"smtp_host": server.host, "smtp_port": server.port,
                                       "smtp_sender": "tongban@sc.gov.example", **extra})


def _subscribe(w: World, who: str = "applicant", **kw: Any) -> None:
    preferences.update(db_session=w.db, settings=w.settings, actor=w[who],
                       email=kw.get("email", EMAIL), phone=kw.get("phone"),
                       channels=kw.get("channels", {}))


def _decided(w: World, settings: Settings, key: str = "d1") -> Delivery:
    n = service.notify(db_session=w.db, settings=settings, kind="case.decided",
                       to=Recipient.person(w.people["self"]), key=key,
                       params={"case_number": "51010420260921000001",
                               "item_name": "个体工商户设立登记", "outcome": "准予",
                               "outcome_en": "approved"})
    w.db.commit()
    rows = service.deliveries_of(db_session=w.db, notification_id=n.id)
    return next(d for d in rows if d.channel == "email")


def test_an_email_goes_over_smtp_chinese_first_with_a_stable_message_id(
        world: World, smtp_server: SmtpServer) -> None:
    w = world
    _subscribe(w)
    settings = _smtp(w.settings, smtp_server)
    d = _decided(w, settings)
    report = delivery.deliver_due(db_session=w.db, settings=settings)
    w.db.commit()
    assert (report.sent, report.failed) == (1, 0)
    (mail,) = smtp_server.handler.transactions
    assert mail["To"] == EMAIL and mail["From"] == "tongban@sc.gov.example"
    assert str(mail["Subject"]).startswith("办件 51010420260921000001 已办结：准予 / Case")
    assert mail["Message-ID"] == f"<{d.id}@127.0.0.1>"
    text = mail.get_content()
    assert text.index("办理结果：准予") < text.index("was decided: approved")
    assert "http://127.0.0.1:8000/my/cases/51010420260921000001" in text
    w.db.refresh(d)
    assert (d.state, d.attempts, d.adapter) == ("sent", 1, "smtp")
    assert delivery.deliver_due(db_session=w.db, settings=settings).done == 0  # once


def test_an_sms_goes_to_the_log_with_the_number_masked(
        world: World, caplog: pytest.LogCaptureFixture) -> None:
    w = world
    _subscribe(w, email=None, phone="13912345678")
    n = service.notify(db_session=w.db, settings=w.settings, kind="notify.test",
                       to=Recipient.person(w.people["self"]), params={}, key="t")
    w.db.commit()
    with caplog.at_level(logging.INFO, logger="tongban.notify.sms"):
        assert delivery.deliver_due(db_session=w.db, settings=w.settings).sent == 1
    w.db.commit()
    (record,) = [r for r in caplog.records if r.name == "tongban.notify.sms"]
    line = record.getMessage()
    assert "139****5678" in line and "13912345678" not in line
    assert f"ref=<{service.deliveries_of(db_session=w.db, notification_id=n.id)[0].id}@" in line
    assert "测试消息" not in line  # the text is personal data: only its length is logged


def test_preferences_choose_the_channels_of_each_kind(world: World) -> None:
    w = world
    _subscribe(w, phone="13912345678", channels={"notify.test": ["sms"],
                                                 "case.accepted": []})
    tested = service.notify(db_session=w.db, settings=w.settings, kind="notify.test",
                            to=Recipient.person(w.people["self"]), params={}, key="a")
    accepted = service.notify(db_session=w.db, settings=w.settings, kind="case.accepted",
                              to=Recipient.person(w.people["self"]), key="b",
                              params={"case_number": "N", "item_name": "I"})
    other = service.notify(db_session=w.db, settings=w.settings, kind="case.decided",
                           to=Recipient.person(w.people["self"]), key="c",
                           params={"case_number": "N", "item_name": "I", "outcome": "准予",
                                   "outcome_en": "approved"})

    def channels(n: Any) -> list[str]:
        return [d.channel for d in service.deliveries_of(db_session=w.db,
                                                         notification_id=n.id)]

    assert channels(tested) == ["sms"]
    assert channels(accepted) == []  # inbox only
    assert channels(other) == ["email", "sms"]  # not named: every address known


def test_the_sms_number_is_the_preferences_own_else_identitys(world: World) -> None:
    from datetime import date

    from tongban.identity import crypto
    from tongban.identity import service as identity
    from tongban.identity.actor import SYSTEM_ACTOR
    from tongban.identity.ids import make_resident_id

    w = world
    person = identity.create_person(
        db_session=w.db, settings=w.settings, actor=SYSTEM_ACTOR, name="钱七",
        id_number=make_resident_id("510104", date(1991, 2, 3), 21), phone="13700001111")
    account = identity.create_account(
        db_session=w.db, actor=SYSTEM_ACTOR, username="qian.qi", password="Qian-Qi-Pass-42",
        display_name="钱七", roles=["applicant"], person_id=person.id)

    told = iter(range(100))

    def sms_to(to: Recipient) -> list[str]:
        """The SMS numbers a new notification to `to` is delivered to."""
        n = service.notify(db_session=w.db, settings=w.settings, kind="notify.test", to=to,
                           params={}, key=f"sms-{next(told)}")
        w.db.flush()
        return [crypto.decrypt(settings=w.settings, blob=d.address_enc,
                               column=service.ADDRESS_COLUMN) for d in w.db.scalars(
            select(Delivery).where(Delivery.notification_id == n.id,
                                   Delivery.channel == "sms"))]

    # Identity's phone, found through the person or through the person's account.
    assert sms_to(Recipient.person(person.id)) == ["13700001111"]
    assert sms_to(Recipient.account(account.id)) == ["13700001111"]
    # An enterprise has no identity phone; nobody known has no address at all.
    assert sms_to(Recipient.enterprise(__import__("uuid").uuid4())) == []
    # The preferences' own number wins over identity's; opting out of SMS is heard.
    _subscribe(w, email=None, phone="13912345678")
    assert sms_to(Recipient.person(w.people["self"])) == ["13912345678"]
    _subscribe(w, email=None, phone="13912345678", channels={"notify.test": []})
    assert sms_to(Recipient.person(w.people["self"])) == []


def test_a_refused_address_fails_at_once_and_is_shown_to_an_operator(
        world: World, smtp_server: SmtpServer) -> None:
    w = world
    smtp_server.handler.rcpt_reply = f"550 5.1.1 <{EMAIL}>: Recipient address rejected"
    _subscribe(w)
    settings = _smtp(w.settings, smtp_server)
    d = _decided(w, settings)
    report = delivery.deliver_due(db_session=w.db, settings=settings)
    w.db.commit()
    assert report.failed == 1
    w.db.refresh(d)
    assert (d.state, d.failure, d.attempts) == ("failed", "permanent", 1)
    assert "550" in (d.last_error or "") and EMAIL not in (d.last_error or "")
    assert "zh***@example.cn" in (d.last_error or "")
    assert [f.id for f in delivery.failures(db_session=w.db)] == [d.id]
    # the operator fixes it and retries: sent once, on the next run
    smtp_server.handler.rcpt_reply = None
    assert delivery.retry(db_session=w.db, delivery_ids=[d.id]) == 1
    w.db.commit()
    assert delivery.deliver_due(db_session=w.db, settings=settings).sent == 1
    assert len(smtp_server.handler.transactions) == 1


def test_a_busy_server_is_retried_with_backoff_then_given_up(
        world: World, smtp_server: SmtpServer) -> None:
    w = world
    smtp_server.handler.data_reply = "451 4.3.0 try again later"
    _subscribe(w)
    settings = _smtp(w.settings, smtp_server, notify_max_attempts=3)
    d = _decided(w, settings)
    now = utcnow()
    assert delivery.deliver_due(db_session=w.db, settings=settings, now=now).retried == 1
    w.db.commit()
    w.db.refresh(d)
    assert (d.state, d.failure, d.attempts) == ("pending", "temporary", 1)
    assert d.next_attempt_at == now + timedelta(seconds=30)
    assert delivery.deliver_due(db_session=w.db, settings=settings,
                                now=now + timedelta(seconds=29)).done == 0  # not yet due
    later = now + timedelta(seconds=30)
    assert delivery.deliver_due(db_session=w.db, settings=settings, now=later).retried == 1
    w.db.commit()
    w.db.refresh(d)
    assert d.next_attempt_at == later + timedelta(seconds=60)  # doubled
    assert delivery.deliver_due(db_session=w.db, settings=settings,
                                now=later + timedelta(seconds=60)).failed == 1
    w.db.commit()
    w.db.refresh(d)
    assert (d.state, d.failure, d.attempts) == ("failed", "temporary", 3)
    assert (d.last_error or "").startswith("gave up after 3 attempts: SMTP 451")


def test_an_unreachable_server_is_temporary_and_a_node_without_one_permanent(
        world: World) -> None:
    from .smtp_server import free_port

    w = world
    _subscribe(w)
    down = w.settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": free_port()})
    d = _decided(w, down)
    assert delivery.deliver_due(db_session=w.db, settings=down).retried == 1
    w.db.commit()
    w.db.refresh(d)
    assert d.failure == "temporary" and "ConnectionRefusedError" in (d.last_error or "")
    d.next_attempt_at = utcnow()
    w.db.commit()
    assert delivery.deliver_due(db_session=w.db, settings=w.settings).failed == 1  # no host
    w.db.commit()
    w.db.refresh(d)
    assert d.failure == "permanent" and "TONGBAN_SMTP_HOST" in (d.last_error or "")


def test_two_workers_on_postgresql_never_send_one_message_twice(
        engine: Engine, world: World, smtp_server: SmtpServer,
        monkeypatch: pytest.MonkeyPatch) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("concurrent claims need PostgreSQL (SQLite has one worker)")
    w = world
    _subscribe(w)
    settings = _smtp(w.settings, smtp_server)
    for n in range(6):
        _decided(w, settings, key=f"k{n}")
    barrier = threading.Barrier(2, timeout=15)
    real_send = delivery._send
    waited: set[int] = set()

    def send_at_the_barrier(s: Settings, message: Any) -> Any:
        me = threading.get_ident()
        if me not in waited:  # each worker holds its claimed batch until both do
            waited.add(me)
            barrier.wait()
        return real_send(s, message)

    monkeypatch.setattr(delivery, "_send", send_at_the_barrier)
    factory = make_sessionmaker(engine)
    reports: list[delivery.DeliveryReport] = []

    def worker() -> None:
        with transaction(factory) as db:
            reports.append(delivery.deliver_due(db_session=db, settings=settings, limit=3))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(r.sent for r in reports) == [3, 3]  # each its own batch, at once
    ids = [str(m["Message-ID"]) for m in smtp_server.handler.transactions]
    assert len(ids) == 6 and len(set(ids)) == 6
    w.db.expire_all()
    assert {d.state for d in w.db.scalars(select(Delivery))} == {"sent"}


CRASH = """
import os, sys
from tongban.config import Settings
from tongban.db import make_engine, make_sessionmaker, transaction
from tongban.notify import delivery
settings = Settings()
real = delivery._record
def crash(*a, **k):
    os._exit(9)  # the process dies: sent, not yet recorded
delivery._record = crash
factory = make_sessionmaker(make_engine(settings.database_url))
with transaction(factory) as db:
    delivery.deliver_due(db_session=db, settings=settings)
"""


def test_a_crash_between_send_and_mark_loses_nothing_and_resends_the_same_message(
        engine: Engine, world: World, smtp_server: SmtpServer, tmp_path: Path) -> None:
    w = world
    _subscribe(w)
    settings = _smtp(w.settings, smtp_server)
    d = _decided(w, settings)
    w.db.close()
    env = {**os.environ, "TONGBAN_DATABASE_URL": settings.database_url,
           "TONGBAN_VAR_DIR": str(tmp_path / "var"), "TONGBAN_SMTP_HOST": smtp_server.host,
           "TONGBAN_SMTP_PORT": str(smtp_server.port),
           "TONGBAN_DATA_KEY": settings.data_key or "",
           "TONGBAN_INDEX_KEY": settings.index_key or "",
           "TONGBAN_CSRF_KEY": settings.csrf_key or "",
           "TONGBAN_NODE_KEY": settings.node_key or ""}
    crashed = subprocess.run([sys.executable, "-c", CRASH], env=env, timeout=120,
                             capture_output=True, text=True)
    assert crashed.returncode == 9, crashed.stderr
    assert len(smtp_server.handler.transactions) == 1  # it was sent
    db = Session(engine)
    try:
        row = db.get(Delivery, d.id)
        assert row is not None and (row.state, row.attempts) == ("pending", 0)  # not lost
        db.commit()
        # The dead worker's claim goes with its connection, once PostgreSQL has noticed
        # the connection is gone (at once, or a moment later on a busy machine).
        for _ in range(60):
            sent = delivery.deliver_due(db_session=db, settings=settings).sent
            db.commit()
            if sent:
                break
            time.sleep(0.5)
        assert sent == 1
        db.refresh(row)
        assert (row.state, row.attempts) == ("sent", 1)
        assert delivery.deliver_due(db_session=db, settings=settings).done == 0
    finally:
        db.close()
    first, again = smtp_server.handler.transactions
    assert first["Message-ID"] == again["Message-ID"] == f"<{d.id}@127.0.0.1>"
    assert len(smtp_server.handler.mailbox) == 1  # the mailbox holds one message
