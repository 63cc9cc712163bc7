"""Message content and addresses are personal data: nothing readable in the database
files (the SQLite file and its WAL; a pg_dump of PostgreSQL)."""

from __future__ import annotations

from sqlalchemy import Engine

from tests.pii_scan import database_bytes
from tongban.notify import service
from tongban.notify.service import Recipient

from .conftest import World

SECRET_PARAM = "机密事由甲乙丙丁戊"
SECRET_PHONE = "13912345678"
SECRET_KEY = "policy:低保:张三:510104199001011234"


def test_bodies_addresses_and_keys_are_sealed_at_rest(engine: Engine, world: World) -> None:
    from tongban.notify import preferences

    w = world
    preferences.update(db_session=w.db, settings=w.settings, actor=w["applicant"],
                       email="zhang.san.secret@example.cn", phone=SECRET_PHONE, channels={})
    service.notify(db_session=w.db, settings=w.settings, kind="case.decided",
                   to=Recipient.person(w.people["self"]), key=SECRET_KEY,
                   params={"case_number": "N-1", "item_name": "最低生活保障",
                           "outcome": "准予", "outcome_en": "approved", "reason": SECRET_PARAM})
    w.db.commit()
    entry = service.inbox(db_session=w.db, settings=w.settings, actor=w["applicant"])[0]
    assert SECRET_PARAM in entry.body["zh"]  # it is there, readable through the service
    raw = database_bytes(engine)
    assert b"case.decided" in raw  # the scan reads the rows (their plain kind)
    for secret in (SECRET_PARAM, "zhang.san.secret@example.cn", SECRET_PHONE, SECRET_KEY,
                   "办理结果"):
        assert secret.encode() not in raw, secret
