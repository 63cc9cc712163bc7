"""The cases HTTP API: apply, upload, act, read, list; errors as JSON; nothing half-written;
optimistic concurrency between two sessions."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tests.cases.conftest import GOOD_FORM, PDF, PNG, World, at, ooxml
from tongban.cases import service
from tongban.cases.schemas import CaseSummary
from tongban.cases.workflow import STATE_LABELS
from tongban.db import make_sessionmaker
from tongban.errors import Conflict

API = "/api/v1"


def _apply(client: TestClient, w: World, headers: dict[str, str], **extra: Any) -> Any:
    body = {"implementation_code": w.impl_code, "form_data": GOOD_FORM, "channel": "window",
            **extra}
    return client.post(f"{API}/cases", json=body, headers=headers)


def _upload(client: TestClient, number: str, code: str, headers: dict[str, str],
            data: bytes = PDF, name: str = "x.pdf", ctype: str = "application/pdf") -> Any:
    return client.post(f"{API}/cases/{number}/materials", data={"material_code": code},
                       files={"file": (name, data, ctype)}, headers=headers)


def _act(client: TestClient, number: str, action: str, headers: dict[str, str],
         **body: Any) -> Any:
    return client.post(f"{API}/cases/{number}/actions/{action}", json=body, headers=headers)


@pytest.fixture
def tokens(world: World) -> dict[str, dict[str, str]]:
    return {who: world.token(who) for who in ("applicant", "clerk", "reviewer", "clerk_bj",
                                              "principal")}


def test_apply_upload_accept_and_decide_over_http(
    client: TestClient, world: World, tokens: dict[str, dict[str, str]]
) -> None:
    resp = _apply(client, world, tokens["applicant"], idempotency_key="http-1")
    assert resp.status_code == 201, resp.text
    case = resp.json()
    number = case["number"]
    assert case["state"] == "submitted" and case["state_label"] == "已提交"
    assert case["allowed_actions"] == ["withdraw"]
    assert _apply(client, world, tokens["applicant"],
                  idempotency_key="http-1").json()["id"] == case["id"]

    for code in ("ID", "FORM", "PREMISES"):
        up = _upload(client, number, code, tokens["applicant"])
        assert up.status_code == 201, up.text
    material = up.json()
    assert material["content_type"] == "application/pdf" and material["size"] == len(PDF)
    got = client.get(f"{API}/cases/{number}/materials/{material['id']}/content",
                     headers=tokens["reviewer"])
    assert got.status_code == 200 and got.content == PDF
    assert got.headers["x-content-sha256"] == material["sha256"]

    accepted = _act(client, number, "accept", tokens["clerk"], expected_version=1)
    assert accepted.status_code == 200, accepted.text
    body = accepted.json()
    assert body["state"] == "accepted" and body["version"] == 2
    assert body["deadlines"]["promised_due_date"] is not None
    decided = _act(client, number, "deny", tokens["reviewer"], reason="经营场所不符合要求",
                   expected_version=2)
    assert decided.json()["decision"] == "denied"
    assert [e["action"] for e in decided.json()["events"]] == ["submit", "accept", "deny"]
    assert decided.json()["events"][2]["action_label"] == "不予"


def test_an_action_not_allowed_now_is_409_listing_the_allowed_ones(
    client: TestClient, world: World, tokens: dict[str, dict[str, str]]
) -> None:
    number = _apply(client, world, tokens["applicant"]).json()["number"]
    resp = _act(client, number, "approve", tokens["clerk"])
    assert resp.status_code == 409
    body = resp.json()
    assert body["error"] == "action_not_allowed"
    assert body["details"]["allowed_actions"] == [
        "request_supplement", "accept", "accept_with_deficiency", "accept_on_commitment",
        "refuse", "record_payment", "terminate"]


def test_wrong_role_and_out_of_scope_are_403(
    client: TestClient, world: World, tokens: dict[str, dict[str, str]]
) -> None:
    number = _apply(client, world, tokens["applicant"]).json()["number"]
    wrong = _act(client, number, "accept", tokens["reviewer"])
    assert wrong.status_code == 403 and wrong.json()["error"] == "wrong_role"
    scope = _act(client, number, "accept", tokens["clerk_bj"])
    assert scope.status_code == 403 and scope.json()["error"] == "out_of_scope"
    hidden = client.get(f"{API}/cases/{number}", headers=tokens["principal"])
    assert hidden.status_code == 404


def test_a_failed_action_writes_nothing(
    client: TestClient, world: World, tokens: dict[str, dict[str, str]]
) -> None:
    number = _apply(client, world, tokens["applicant"]).json()["number"]
    before = world.counts()
    bad = [
        _act(client, number, "accept", tokens["clerk"]),  # materials missing
        _act(client, number, "refuse", tokens["clerk"]),  # reason missing
        _act(client, number, "request_supplement", tokens["clerk"], reason="补",
             data={"items": [{"material_code": "NOPE", "problem": "x"}]}),
        _act(client, number, "accept_with_deficiency", tokens["clerk"],
             data={"deficient_materials": ["FORM"], "promise_date": "2030-01-01"}),
        _act(client, number, "record_payment", tokens["clerk"], data={"amount": 1.5}),
        _act(client, number, "accept", tokens["clerk"], expected_version=7),
    ]
    assert [r.status_code for r in bad] == [409, 422, 422, 422, 422, 409]
    assert all(set(r.json()) == {"error", "message", "details"} for r in bad)
    world.db.expire_all()
    assert world.counts() == before
    case = client.get(f"{API}/cases/{number}", headers=tokens["clerk"]).json()
    assert case["state"] == "submitted" and case["version"] == 1


def test_invalid_form_data_is_422_with_fields(
    client: TestClient, world: World, tokens: dict[str, dict[str, str]]
) -> None:
    resp = client.post(f"{API}/cases", headers=tokens["applicant"], json={
        "implementation_code": world.impl_code, "form_data": {"shop_name": "锦"},
        "channel": "online"})
    assert resp.status_code == 422
    assert {d["field"] for d in resp.json()["details"]} == {"form_data.shop_name",
                                                             "form_data.phone"}


@pytest.mark.parametrize(("data", "name", "status", "code"), [
    (b"MZ\x90\x00not a document", "evil.pdf", 422, "forbidden_type"),
    (b"<html>hi</html>", "page.png", 422, "forbidden_type"),
    (b"", "empty.pdf", 422, "invalid"),
])
def test_uploads_are_checked_by_content(
    client: TestClient, world: World, tokens: dict[str, dict[str, str]], data: bytes,
    name: str, status: int, code: str
) -> None:
    number = _apply(client, world, tokens["applicant"]).json()["number"]
    resp = _upload(client, number, "FORM", tokens["applicant"], data=data, name=name)
    assert resp.status_code == status and resp.json()["error"] == code


def test_an_upload_over_the_limit_is_413(
    client: TestClient, world: World, tokens: dict[str, dict[str, str]]
) -> None:
    number = _apply(client, world, tokens["applicant"]).json()["number"]
    big = PDF + b"0" * world.settings.max_upload_bytes
    resp = _upload(client, number, "FORM", tokens["applicant"], data=big)
    assert resp.status_code == 413 and resp.json()["error"] == "too_large"


def test_png_docx_and_a_replacement_upload(
    client: TestClient, world: World, tokens: dict[str, dict[str, str]]
) -> None:
    number = _apply(client, world, tokens["applicant"]).json()["number"]
    first = _upload(client, number, "PHOTO", tokens["applicant"], data=PNG, name="a.png",
                    ctype="application/pdf").json()
    assert first["content_type"] == "image/png"  # the bytes decide, not the declared type
    second = _upload(client, number, "PHOTO", tokens["applicant"],
                     data=ooxml("word/document.xml"), name="b.docx").json()
    assert second["content_type"].endswith("wordprocessingml.document")
    materials = client.get(f"{API}/cases/{number}", headers=tokens["applicant"]
                           ).json()["materials"]
    assert [m["superseded_by"] for m in materials] == [second["id"], None]
    unknown = _upload(client, number, "NOPE", tokens["applicant"])
    assert unknown.status_code == 422


def test_lists_are_filtered_by_visibility_and_paged_by_cursor(
    client: TestClient, world: World, tokens: dict[str, dict[str, str]]
) -> None:
    numbers = [_apply(client, world, tokens["applicant"]).json()["number"] for _ in range(5)]
    page1 = client.get(f"{API}/cases?limit=2", headers=tokens["clerk"]).json()
    assert [c["number"] for c in page1["items"]] == numbers[::-1][:2]
    page2 = client.get(f"{API}/cases?limit=2&cursor={page1['next_cursor']}",
                       headers=tokens["clerk"]).json()
    page3 = client.get(f"{API}/cases?limit=2&cursor={page2['next_cursor']}",
                       headers=tokens["clerk"]).json()
    assert [c["number"] for c in page2["items"] + page3["items"]] == numbers[::-1][2:]
    assert page3["next_cursor"] is None
    assert client.get(f"{API}/cases", headers=tokens["clerk_bj"]).json()["items"] == []
    assert client.get(f"{API}/cases", headers=tokens["principal"]).json()["items"] == []
    mine = client.get(f"{API}/cases?state=submitted&region=510100&warning_level=none",
                      headers=tokens["applicant"]).json()
    assert len(mine["items"]) == 5
    assert client.get(f"{API}/cases?state=accepted", headers=tokens["clerk"]
                      ).json()["items"] == []
    bad = client.get(f"{API}/cases?cursor=!!", headers=tokens["clerk"])
    assert bad.status_code == 422


def test_list_rows_encode_exactly_as_the_case_summary_schema(
    client: TestClient, world: World, tokens: dict[str, dict[str, str]],
    db_session: Session,
) -> None:
    """The list is encoded straight from the rows; it must equal CaseSummary's JSON (UUIDs,
    aware datetimes, dates, nulls, labels) for cases with and without due dates."""
    numbers = [_apply(client, world, tokens["applicant"]).json()["number"] for _ in range(3)]
    for number in numbers[:2]:
        for code in ("ID", "FORM", "PREMISES"):
            assert _upload(client, number, code, tokens["applicant"]).status_code == 201
    assert _act(client, numbers[0], "accept", tokens["clerk"]).status_code == 200
    assert _act(client, numbers[1], "accept", tokens["clerk"]).status_code == 200
    assert _act(client, numbers[1], "deny", tokens["reviewer"], reason="不符合").status_code == 200
    listed = client.get(f"{API}/cases", headers=tokens["clerk"])
    assert listed.headers["content-type"] == "application/json"
    items = {c["number"]: c for c in listed.json()["items"]}
    db_session.expire_all()
    for number in numbers:
        case = service.get_case(db_session=db_session, case_number=number)
        expected = CaseSummary.model_validate(case)
        expected.state_label = STATE_LABELS[case.state]
        assert items[number] == expected.model_dump(mode="json")
        assert CaseSummary.model_validate(items[number]) == expected
    assert items[numbers[1]]["decided_at"] is not None
    assert items[numbers[2]]["legal_due_date"] is None


def test_anonymous_callers_are_401(client: TestClient, world: World) -> None:
    assert client.get(f"{API}/cases").status_code == 401


def test_concurrent_actions_on_one_case_one_wins_the_other_gets_409(
    engine: Engine, world: World
) -> None:
    w = world
    case = w.submit()
    w.complete(case)
    w.db.commit()
    factory = make_sessionmaker(engine)
    first: Session = factory()
    second: Session = factory()
    try:
        a = service.get_case(db_session=first, case_number=case.number)
        b = service.get_case(db_session=second, case_number=case.number)
        assert a.version == b.version == 1
        service.act(db_session=first, settings=w.settings, actor=w["clerk"],
                    case_number=case.number, action="accept", expected_version=1,
                    now=at(2026, 9, 22))
        first.commit()
        with pytest.raises(Conflict) as exc:
            service.act(db_session=second, settings=w.settings, actor=w["clerk"],
                        case_number=case.number, action="refuse", reason="重复",
                        expected_version=1, now=at(2026, 9, 22))
        assert exc.value.code == "stale_version"
        second.rollback()
    finally:
        first.close()
        second.close()
    w.db.expire_all()
    fresh = service.get_case(db_session=w.db, case_number=case.number)
    assert fresh.state == "accepted" and fresh.version == 2
    assert [e.action for e in w.events(fresh)] == ["submit", "accept"]
