"""The guide tells the truth about materials from shared data: they may be fetched at
application (and previewed) or uploaded, never "免于提交" outright; when the dataset is not
in this node's sharing catalog the online application says so and takes a file, and the
workbench never accepts a case without the material."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.web.seed_web import CD_FUND, FORM_SCHEMA, Seeded, _guide
from tests.web.test_web_apply import GOOD, PDF, _apply
from tongban.catalog import service as catalog
from tongban.catalog.schemas import ImplementationIn, ItemIn
from tongban.identity.actor import SYSTEM_ACTOR

INSURED = {"code": "INSURED", "name": "社会保险参保缴费信息", "source": "shared_data",
           "dataset": "社保参保信息", "note": "系统自动核验,免于提交"}


def _shared_item(db: Session) -> str:
    catalog.create_item(db_session=db, actor=SYSTEM_ACTOR, data=ItemIn(
        basic_code="000101009000", name="住房公积金贷款", item_type="公共服务",
        use_levels=[3]))
    draft = catalog.create_draft(db_session=db, actor=SYSTEM_ACTOR, data=ImplementationIn(
        basic_code="000101009000", department_credit_code=CD_FUND, region_code="510100",
        level=3, name="住房公积金贷款(成都)", form_schema=FORM_SCHEMA,
        guide=_guide(materials=[{"code": "M1", "name": "购房合同"}, INSURED])))
    catalog.publish(db_session=db, actor=SYSTEM_ACTOR,
                    implementation_code=draft.implementation_code)
    db.commit()
    return draft.implementation_code


def test_the_guide_says_a_shared_data_material_is_fetched_or_uploaded(
        client: TestClient, seeded: Seeded, db_session: Session) -> None:
    code = _shared_item(db_session)
    page = client.get(f"/guide/{code}").text
    row = page[page.index("社会保险参保缴费信息"):]
    row = row[:row.index("</tr>")]
    assert "免于提交" not in row  # the guide's own note is not repeated as a promise
    assert 'data-shared-source="INSURED"' in row and "也可上传本材料" in row


def test_online_the_shared_material_is_uploaded_and_the_window_never_accepts_without_it(
        login: Callable[[str], TestClient], seeded: Seeded, db_session: Session) -> None:
    code = _shared_item(db_session)
    client = login("zhangsan")
    key = _apply(client, code, GOOD)
    materials = client.get(f"/apply/{code}/materials", params={"draft": key}).text
    assert f'action="/apply/{code}/materials/INSURED"' in materials
    assert 'data-shared-material="INSURED"' in materials
    fetched = client.post(f"/apply/{code}/fetch/INSURED", data={"draft": key})
    assert fetched.status_code == 200 and "尚未纳入共享目录" in fetched.text
    assert f'action="/apply/{code}/materials/INSURED"' in fetched.text  # upload instead
    up = client.post(f"/apply/{code}/materials/M1", data={"draft": key},
                     files={"file": ("合同.pdf", PDF, "application/pdf")})
    assert up.status_code in (200, 303), up.text
    review = client.get(f"/apply/{code}/review", params={"draft": key}).text
    assert "社会保险参保缴费信息" in review and "未上传" in review
    number = client.post(f"/apply/{code}/submit", data={"draft": key}, follow_redirects=False
                         ).headers["location"].split("/")[3].split("?")[0]
    login("clerk-cd")
    client.post(f"/workbench/cases/{number}/act/pre_review_pass", data={})
    refused = client.post(f"/workbench/cases/{number}/act/accept", data={})
    assert refused.status_code == 409 and "社会保险参保缴费信息" in refused.text
    login("zhangsan")
    client.post(f"/my/cases/{number}/materials/INSURED",
                files={"file": ("参保.pdf", PDF, "application/pdf")})
    login("clerk-cd")
    accepted = client.post(f"/workbench/cases/{number}/act/accept", data={})
    assert accepted.status_code == 200 and "已受理" in accepted.text
