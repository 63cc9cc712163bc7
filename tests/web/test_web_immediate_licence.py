"""At the window, an immediate item (即办件) that issues an e-licence is decided at
acceptance: the accept panel asks for the licence fields nobody gave, says in Chinese which
are missing (nothing is written), and accepting issues the licence."""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.web.seed_web import CD_POLICE, RESIDENCE_FORM, Seeded, _guide
from tests.web.test_web_apply import PDF, _apply
from tests.web.test_web_licence_cases import PERMIT_FORM, _field_errors
from tongban.cases.models import Case
from tongban.catalog import service as catalog
from tongban.catalog.schemas import ImplementationIn, ItemIn
from tongban.identity.actor import SYSTEM_ACTOR
from tongban.licences.models import Licence


def _immediate_permit(db: Session) -> str:
    catalog.create_item(db_session=db, actor=SYSTEM_ACTOR, data=ItemIn(
        basic_code="000105022000", name="居住证即时签发", item_type="行政确认",
        use_levels=[3]))
    draft = catalog.create_draft(db_session=db, actor=SYSTEM_ACTOR, data=ImplementationIn(
        basic_code="000105022000", department_credit_code=CD_POLICE, region_code="510100",
        level=3, name="居住证即时签发(成都)", form_schema=RESIDENCE_FORM, guide=_guide(
            item_kind="immediate", legal_days=1, promised_days=0,
            materials=[{"code": "P1", "name": "照片", "required": True}],
            result={"name": "居住证", "kind": "licence", "licence_type": "居住证"})))
    catalog.publish(db_session=db, actor=SYSTEM_ACTOR,
                    implementation_code=draft.implementation_code)
    db.commit()
    return draft.implementation_code


def _submitted(client: TestClient, login: Callable[[str], TestClient], code: str) -> str:
    login("zhangsan")
    key = _apply(client, code, PERMIT_FORM)
    client.post(f"/apply/{code}/materials/P1", data={"draft": key},
                files={"file": ("照片.pdf", PDF, "application/pdf")})
    location = client.post(f"/apply/{code}/submit", data={"draft": key},
                           follow_redirects=False).headers["location"]
    number = location.split("/")[3].split("?")[0]
    login("clerk-cd")
    client.post(f"/workbench/cases/{number}/act/pre_review_pass", data={})
    return number


def test_the_window_accepts_an_immediate_item_with_its_licence_fields(
        client: TestClient, login: Callable[[str], TestClient], seeded: Seeded,
        db_session: Session) -> None:
    number = _submitted(client, login, _immediate_permit(db_session))
    page = client.get(f"/workbench/cases/{number}").text
    assert 'data-licence-form="accept"' in page
    asked = set(re.findall(r'name="lic_accept-(\w+)"', page))
    assert asked == {"ethnicity", "household_address"}

    refused = client.post(f"/workbench/cases/{number}/act/accept",
                          data={"lic_accept-ethnicity": "汉"})
    assert refused.status_code == 422
    assert _field_errors(refused.text) == {"household_address": "此项为必填项"}
    assert "is a required property" not in refused.text
    db_session.expire_all()
    case = db_session.scalar(select(Case).where(Case.number == number))
    assert case is not None and case.state == "submitted"

    done = client.post(f"/workbench/cases/{number}/act/accept", data={
        "lic_accept-ethnicity": "汉", "lic_accept-household_address": "重庆市渝中区"},
        follow_redirects=False)
    assert done.status_code == 303, done.text
    db_session.expire_all()
    case = db_session.scalar(select(Case).where(Case.number == number))
    assert case is not None and case.state == "approved"
    licence = db_session.scalar(select(Licence).where(Licence.case_id == case.id))
    assert licence is not None and licence.fields["household_address"] == "重庆市渝中区"


def test_a_promised_items_accept_panel_asks_for_no_licence(
        client: TestClient, login: Callable[[str], TestClient], seeded: Seeded) -> None:
    number = _submitted(client, login, seeded.permit_code)
    page = client.get(f"/workbench/cases/{number}").text
    assert 'data-action="accept"' in page and 'data-licence-form="accept"' not in page
