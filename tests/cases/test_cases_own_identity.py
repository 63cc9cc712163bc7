"""The form's 公民身份号码 is the applicant's own (an agent: the principal's): the page
fills it in from the account, and another person's number is refused, on the API with a
422 naming the field and on the page with a Chinese error beside it."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.cases.conftest import FORM, GOOD_FORM, HEALTH, World, authorise_agent, guide
from tongban.catalog import service as catalog
from tongban.catalog.schemas import ImplementationIn
from tongban.identity.actor import SYSTEM_ACTOR
from tongban.identity.deps import SESSION_COOKIE
from tongban.identity.ids import make_resident_id

API = "/api/v1"
SELF_ID = make_resident_id("510104", date(1990, 1, 1), 11)  # 张三, the applicant
PRINCIPAL_ID = make_resident_id("510104", date(1990, 1, 2), 12)  # 李四
OWN_FORM = {**FORM, "properties": {
    **FORM["properties"],
    "id_number": {"type": "string", "title": "公民身份号码", "minLength": 18, "maxLength": 18,
                  "x-personal": "id_number", "x-applicant": "id_number"}}}


@pytest.fixture
def code(world: World) -> str:
    """食品经营许可 whose form asks for the applicant's own ID number (x-applicant)."""
    v = catalog.create_draft(db_session=world.db, actor=SYSTEM_ACTOR, data=ImplementationIn(
        basic_code="000106006000", department_credit_code=HEALTH, region_code="510104",
        level=4, name="食品经营许可", guide=guide(), form_schema=OWN_FORM))
    catalog.publish(db_session=world.db, actor=SYSTEM_ACTOR,
                    implementation_code=v.implementation_code)
    world.db.commit()
    return v.implementation_code


def _apply(client: TestClient, w: World, code: str, who: str, id_number: str,
           **extra: Any) -> Any:
    body = {"implementation_code": code, "channel": "online",
            "form_data": {**GOOD_FORM, "id_number": id_number}, **extra}
    return client.post(f"{API}/cases", json=body, headers=w.token(who))


def test_an_applicant_applies_with_their_own_id_number_and_not_anothers(
        client: TestClient, world: World, code: str) -> None:
    refused = _apply(client, world, code, "applicant", PRINCIPAL_ID)
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"] == "not_own_identity"
    (problem,) = refused.json()["details"]
    assert problem["field"] == "form_data.id_number"
    assert problem["message"].startswith("与申请人本人的公民身份号码不一致")
    assert _apply(client, world, code, "applicant", SELF_ID).status_code == 201


def test_an_agent_gives_the_principals_id_number(client: TestClient, world: World,
                                                   code: str) -> None:
    authorise_agent(world, items=["000106006000"])
    principal = {"applicant": {"person_id": str(world.people["principal"])}}
    assert _apply(client, world, code, "agent", SELF_ID, **principal).status_code == 422
    assert _apply(client, world, code, "agent", PRINCIPAL_ID, **principal).status_code == 201


def test_the_page_fills_in_the_own_id_number_and_refuses_another_in_chinese(
        client: TestClient, world: World, code: str) -> None:
    token = world.token("applicant")["Authorization"].removeprefix("Bearer ")
    client.cookies.set(SESSION_COOKIE, token)
    form = client.get(f"/apply/{code}")
    assert form.status_code == 200
    assert re.search(rf'name="id_number"[^>]*value="{SELF_ID}"', form.text) or \
        re.search(rf'value="{SELF_ID}"[^>]*name="id_number"', form.text), "prefilled"
    draft = re.search(r'name="_draft" value="([^"]+)"', form.text)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert draft and csrf
    posted = client.post(f"/apply/{code}", data={
        "_draft": draft.group(1), "csrf_token": csrf.group(1), "shop_name": "锦江小面馆",
        "phone": "13800138000", "capital": "5", "id_number": PRINCIPAL_ID},
        follow_redirects=False)
    client.cookies.clear()
    assert posted.status_code == 422, posted.text[:2000]
    errors = dict(re.findall(r'data-field-error="(\w+)">([^<]+)<', posted.text))
    assert errors == {"id_number": "与申请人本人的公民身份号码不一致(代办:须为被代办人的)"}
