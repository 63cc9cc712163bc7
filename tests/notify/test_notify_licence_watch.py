"""A licence suspended, cancelled or revoked outside a case is told to its holder, once."""

from __future__ import annotations

from datetime import date

from tongban.licences import service as licences
from tongban.notify import licence_watch, service

from .conftest import World


def _licence(w: World) -> str:
    from tests.cases.test_cases_licensing import RESIDENCE_FIELDS

    licences.load_licence_types(db_session=w.db)
    issued = licences.issue(
        db_session=w.db, settings=w.settings, licence_type_code="居住证",
        holder_person_id=w.people["self"], issuer_department_id=w.market_id,
        fields={"name": "张三", "gender": "男", "birth_date": "1990-01-01", **RESIDENCE_FIELDS},
        valid_from=date(2026, 1, 1))
    w.db.commit()
    return issued.identifier


def _inbox(w: World) -> list[service.InboxEntry]:
    return service.inbox(db_session=w.db, settings=w.settings, actor=w["applicant"])


def test_a_suspension_and_a_revocation_by_the_department_are_told_once(world: World) -> None:
    w = world
    identifier = _licence(w)
    assert licence_watch.run_once(db_session=w.db, settings=w.settings) == 0  # the cursor
    w.db.commit()
    licences.change_status(db_session=w.db, actor=w["reviewer"], identifier=identifier,
                           status="02", reason="经营场所核查中")
    w.db.commit()
    assert licence_watch.run_once(db_session=w.db, settings=w.settings) == 1
    w.db.commit()
    assert licence_watch.run_once(db_session=w.db, settings=w.settings) == 0  # once
    (suspended,) = _inbox(w)
    assert suspended.kind == "licence.revoked" and "暂扣" in suspended.body["zh"]
    assert "经营场所核查中" in suspended.body["zh"] and "suspended" in suspended.body["en"]

    licences.change_status(db_session=w.db, actor=w["reviewer"], identifier=identifier,
                           status="01", reason="核查完毕")  # lifted: not news
    licences.change_status(db_session=w.db, actor=w["supervisor"], identifier=identifier,
                           status="07", reason="以欺骗手段取得")
    w.db.commit()
    assert licence_watch.run_once(db_session=w.db, settings=w.settings) == 1
    w.db.commit()
    latest = _inbox(w)[0]
    assert "吊销" in latest.body["zh"] and "以欺骗手段取得" in latest.body["zh"]
    assert len(_inbox(w)) == 2


def test_an_annulment_the_case_hook_told_is_not_told_again(world: World) -> None:
    from tests.cases.conftest import at
    from tests.cases.test_cases_licensing import RESIDENCE_FIELDS, _residence_implementation

    w = world
    assert licence_watch.run_once(db_session=w.db, settings=w.settings) == 0
    w.db.commit()
    case = w.submit(code=_residence_implementation(w), when=at(2026, 9, 21))
    w.complete(case)
    w.act("clerk", case, "accept", when=at(2026, 9, 22))
    w.act("reviewer", case, "approve_on_commitment", when=at(2026, 9, 24),
          commitment="承诺居住信息属实", licence_fields=RESIDENCE_FIELDS)
    w.act("reviewer", case, "revoke_commitment", when=at(2026, 10, 9), reason="居住信息不实")
    w.db.commit()
    kinds = [e.kind for e in _inbox(w)]
    assert kinds.count("licence.revoked") == 1
    assert licence_watch.run_once(db_session=w.db, settings=w.settings) == 0
    w.db.commit()
    assert [e.kind for e in _inbox(w)].count("licence.revoked") == 1
