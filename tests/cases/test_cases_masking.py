"""Staff read ID numbers, phones and bank accounts masked; a clerk or reviewer handling
the case sees one in full only by an audited reveal with a purpose; every look-up of a
person by ID number at the window is audited, found or not."""

from __future__ import annotations

from datetime import date

from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.cases.conftest import GOOD_FORM, World
from tongban.audit.models import AuditEntry
from tongban.identity.deps import SESSION_COOKIE
from tongban.identity.ids import make_resident_id

API = "/api/v1"
SELF_ID = make_resident_id("510104", date(1990, 1, 1), 11)  # 张三, the applicant
OTHER_ID = make_resident_id("510104", date(1970, 6, 1), 5)  # nobody registered


def _apply(client: TestClient, w: World) -> str:
    body = {"implementation_code": w.impl_code, "channel": "online",
            "form_data": {**GOOD_FORM, "id_number": SELF_ID}}
    response = client.post(f"{API}/cases", json=body, headers=w.token("applicant"))
    assert response.status_code == 201, response.text
    return str(response.json()["number"])


def _audits(w: World, action: str) -> list[AuditEntry]:
    w.db.expire_all()
    return list(w.db.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def test_staff_read_id_numbers_and_phones_masked_and_the_applicant_reads_them_whole(
        client: TestClient, world: World) -> None:
    number = _apply(client, world)
    mine = client.get(f"{API}/cases/{number}", headers=world.token("applicant")).json()
    assert mine["form_data"]["id_number"] == SELF_ID and mine["masked_fields"] == []
    for who in ("clerk", "reviewer", "supervisor"):
        seen = client.get(f"{API}/cases/{number}", headers=world.token(who)).json()
        assert seen["form_data"]["id_number"] == SELF_ID[:3] + "*" * 11 + SELF_ID[-4:], who
        assert seen["form_data"]["phone"] == "138****8000"
        assert seen["form_data"]["shop_name"] == GOOD_FORM["shop_name"]
        assert sorted(seen["masked_fields"]) == ["id_number", "phone"]
        assert SELF_ID not in str(seen) and "13800138000" not in str(seen)
    page = world_page(client, world, number)
    assert SELF_ID not in page and "13800138000" not in page and "138****8000" in page


def world_page(client: TestClient, w: World, number: str) -> str:
    """The workbench case page as the clerk sees it."""
    token = w.token("clerk")["Authorization"].removeprefix("Bearer ")
    client.cookies.set(SESSION_COOKIE, token)
    response = client.get(f"/workbench/cases/{number}")
    client.cookies.clear()
    assert response.status_code == 200 and "表单信息" in response.text, response.text
    return response.text


def test_a_reveal_needs_a_purpose_and_a_handler_and_is_audited(
        client: TestClient, world: World) -> None:
    number = _apply(client, world)
    url = f"{API}/cases/{number}/reveal"
    clerk = world.token("clerk")
    assert client.post(url, json={"field": "phone", "purpose": ""},
                       headers=clerk).status_code == 422
    assert client.post(url, json={"field": "shop_name", "purpose": "核对"},
                       headers=clerk).status_code == 422  # nothing masked there
    assert client.post(url, json={"field": "phone", "purpose": "核对联系方式"},
                       headers=world.token("supervisor")).status_code == 403
    assert client.post(url, json={"field": "phone", "purpose": "核对联系方式"},
                       headers=world.token("clerk_bj")).status_code == 404
    assert _audits(world, "case.reveal_field") == []

    shown = client.post(url, json={"field": "phone", "purpose": "核对联系方式"}, headers=clerk)
    assert shown.status_code == 200 and shown.json()["value"] == "13800138000"
    (entry,) = _audits(world, "case.reveal_field")
    assert entry.details == {"field": "phone", "purpose": "核对联系方式", "basis": "case"}
    own = client.post(url, json={"field": "id_number", "purpose": "核验身份"}, headers=clerk)
    assert own.status_code == 200 and own.json()["value"] == SELF_ID
    (reveal,) = _audits(world, "person.reveal_id_number")  # identity's own audited reveal
    assert reveal.details["purpose"] == "核验身份"


def test_every_window_look_up_by_id_number_is_audited_found_or_not(
        client: TestClient, world: World) -> None:
    clerk = world.token("clerk")
    found = client.get(f"{API}/people", params={"id_number": SELF_ID}, headers=clerk)
    missed = client.get(f"{API}/people", params={"id_number": OTHER_ID}, headers=clerk)
    assert found.status_code == 200 and len(found.json()) == 1
    assert missed.status_code == 200 and missed.json() == []
    entries = _audits(world, "person.lookup")
    assert sorted(e.details["found"] for e in entries) == [False, True]
    assert {e.details["id_number_masked"] for e in entries} == {
        SELF_ID[:3] + "*" * 11 + SELF_ID[-4:], OTHER_ID[:3] + "*" * 11 + OTHER_ID[-4:]}
    assert all(e.actor_id == world["clerk"].account_id for e in entries)
