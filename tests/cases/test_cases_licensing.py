"""Cases meet e-licences: approval issues the promised licence in the same transaction,
and an application is satisfied by a licence the applicant already holds (一证通办)."""

from __future__ import annotations

from datetime import date

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tongban.cases.models import CaseMaterial
from tongban.catalog import service as catalog
from tongban.catalog.schemas import ImplementationIn, ItemIn
from tongban.errors import Conflict, InvalidInput
from tongban.identity.actor import SYSTEM_ACTOR
from tongban.licences import service as licences
from tongban.licences import verify as licence_verify
from tongban.licences.models import Licence

from .conftest import FORM, GOOD_FORM, MARKET, World, at, guide

RESIDENCE_ITEM = "000107007000"
RESIDENCE = {"name": "居住证", "kind": "licence", "licence_type": "居住证"}
RESIDENCE_FIELDS = {"ethnicity": "汉", "residence_address": "四川省成都市锦江区红星路三段1号",
                    "household_address": "重庆市渝中区解放碑街道民族路100号"}


def _implementation(w: World, basic_code: str, name: str, **guide_overrides: object) -> str:
    licences.load_licence_types(db_session=w.db)
    catalog.create_item(db_session=w.db, actor=SYSTEM_ACTOR, data=ItemIn(
        basic_code=basic_code, name=name, item_type="公共服务", use_levels=[4]))
    draft = catalog.create_draft(db_session=w.db, actor=SYSTEM_ACTOR, data=ImplementationIn(
        basic_code=basic_code, department_credit_code=MARKET, region_code="510104",
        level=4, name=name, guide=guide(**guide_overrides), form_schema=FORM))
    catalog.publish(db_session=w.db, actor=SYSTEM_ACTOR,
                    implementation_code=draft.implementation_code)
    w.db.commit()
    return draft.implementation_code


def _residence_implementation(w: World) -> str:
    return _implementation(w, RESIDENCE_ITEM, "居住证申领", result=RESIDENCE)


def _accepted(w: World, code: str):  # type: ignore[no-untyped-def]
    case = w.submit(code=code, when=at(2026, 9, 21))
    w.complete(case)
    w.act("clerk", case, "accept", when=at(2026, 9, 22))
    return case


def _licence_count(w: World) -> int:
    return w.db.scalar(select(func.count()).select_from(Licence)) or 0


def _hold_residence_permit(w: World, valid_until: date | None = None) -> None:
    """The applicant holds a valid 居住证 e-licence."""
    licences.issue(
        db_session=w.db, settings=w.settings, licence_type_code="居住证",
        holder_person_id=w.people["self"], issuer_department_id=w.market_id,
        fields={"name": "张三", "gender": "男", "birth_date": "1990-01-01", **RESIDENCE_FIELDS},
        valid_from=date(2026, 1, 1), valid_until=valid_until)


def test_approval_issues_the_licence_the_guide_promises(world: World) -> None:
    w = world
    case = _accepted(w, _residence_implementation(w))
    w.act("reviewer", case, "approve", when=at(2026, 9, 24), licence_fields=RESIDENCE_FIELDS)

    issued = w.db.scalars(select(Licence).where(Licence.case_id == case.id)).all()
    assert len(issued) == 1
    licence = issued[0]
    assert licence.holder_person_id == w.people["self"]
    assert licence.status == "01"
    assert licence.valid_from == date(2026, 9, 24)  # the day of the decision
    result = licence_verify.verify(db_session=w.db, settings=w.settings,
                                   identifier=licence.identifier)
    assert result.valid, result


def test_approval_missing_licence_fields_is_refused_and_writes_nothing(world: World) -> None:
    w = world
    case = _accepted(w, _residence_implementation(w))
    w.db.commit()
    events_before = w.counts()
    with pytest.raises(InvalidInput):
        w.act("reviewer", case, "approve", when=at(2026, 9, 24))
    w.db.rollback()
    assert w.counts() == events_before
    assert _licence_count(w) == 0


def test_a_document_result_issues_no_licence(world: World) -> None:
    w = world
    case = w.submit(when=at(2026, 9, 21))
    w.complete(case)
    w.act("clerk", case, "accept", when=at(2026, 9, 22))
    w.act("reviewer", case, "approve", when=at(2026, 9, 24))
    assert case.state == "approved"
    assert _licence_count(w) == 0


def test_a_held_licence_satisfies_the_material_without_upload(world: World) -> None:
    w = world
    code = _endorsement(w)
    _hold_residence_permit(w)
    w.db.commit()

    case = w.submit(code=code, when=at(2026, 9, 21), form=dict(GOOD_FORM))
    attached = w.db.scalars(select(CaseMaterial).where(CaseMaterial.case_id == case.id)).all()
    assert [(m.material_code, m.source) for m in attached] == [("RESIDENCE", "licence")]
    assert attached[0].reference and attached[0].reference.startswith("1.2.156.3005.2.")


def test_no_held_licence_means_nothing_is_attached(world: World) -> None:
    w = world
    case = w.submit(code=_residence_implementation(w), when=at(2026, 9, 21))
    assert w.db.scalars(select(CaseMaterial).where(CaseMaterial.case_id == case.id)).all() == []


def _endorsement(w: World) -> str:
    """An item whose licence material is 已关联电子证照的免于提交: a scan without one."""
    return _implementation(w, "000108008000", "居住证签注", materials=[
        {"code": "RESIDENCE", "name": "居住证", "source": "licence", "licence_type": "居住证"},
        {"code": "FORM", "name": "签注申请表"}])


def test_without_a_held_licence_its_paper_copy_is_uploaded_and_counts(world: World) -> None:
    w = world
    case = w.submit(code=_endorsement(w), when=at(2026, 9, 21), form=dict(GOOD_FORM))
    scan = w.upload(case, "RESIDENCE")
    assert (scan.material_code, scan.source) == ("RESIDENCE", "upload")
    w.upload(case, "FORM")
    w.act("clerk", case, "accept", when=at(2026, 9, 22))
    assert case.state == "accepted"


def test_a_material_an_e_licence_already_satisfies_takes_no_upload(world: World) -> None:
    w = world
    code = _endorsement(w)
    _hold_residence_permit(w)
    case = w.submit(code=code, when=at(2026, 9, 21), form=dict(GOOD_FORM))
    w.db.commit()
    before = w.db.scalar(select(func.count()).select_from(CaseMaterial))
    with pytest.raises(Conflict) as refused:
        w.upload(case, "RESIDENCE")
    assert refused.value.code == "licence_attached"
    w.db.rollback()
    assert w.db.scalar(select(func.count()).select_from(CaseMaterial)) == before


def test_a_held_licence_is_judged_on_the_day_of_the_application(world: World) -> None:
    """Valid when the application is made (21 Sep 2026) though it lapses a day later: the
    application's day counts, not the day the code happens to run."""
    w = world
    code = _endorsement(w)
    _hold_residence_permit(w, valid_until=date(2026, 9, 22))
    case = w.submit(code=code, when=at(2026, 9, 21), form=dict(GOOD_FORM))
    attached = w.db.scalars(select(CaseMaterial).where(CaseMaterial.case_id == case.id)).all()
    assert [(m.material_code, m.source) for m in attached] == [("RESIDENCE", "licence")]
    later = w.submit(code=code, when=at(2026, 9, 23), form=dict(GOOD_FORM))
    assert w.db.scalars(select(CaseMaterial).where(CaseMaterial.case_id == later.id)).all() == []


def test_the_application_answers_with_the_case_as_it_reads_back(
    client: TestClient, world: World
) -> None:
    """The response to an application is built from what submit wrote (its first event,
    the e-licence it attached), not read back: it is exactly what a read returns."""
    w = world
    code = _endorsement(w)
    _hold_residence_permit(w)
    w.db.commit()
    headers = w.token("applicant")
    resp = client.post("/api/v1/cases", headers=headers, json={
        "implementation_code": code, "form_data": GOOD_FORM, "channel": "window"})
    assert resp.status_code == 201, resp.text
    applied = resp.json()
    assert [m["source"] for m in applied["materials"]] == ["licence"]
    assert [e["action"] for e in applied["events"]] == ["submit"]
    read = client.get(f"/api/v1/cases/{applied['number']}", headers=headers)
    assert read.status_code == 200 and read.json() == applied
