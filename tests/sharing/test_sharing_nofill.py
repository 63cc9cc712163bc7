"""免提交 made real: a material that names a dataset is fetched at application, previewed
by the applicant (who may decline and upload), seen by the reviewer with its source and
time; a case is never accepted with it neither fetched nor uploaded."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.sharing.conftest import (
    PASSWORD,
    World,
    account,
    bearer,
    grant,
    publish_withdrawal,
)
from tongban.sharing.models import Access, Fetch

FUND = "housing_fund.deposit"
PDF = b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture
def app(client: TestClient, db_session: Session, world: World) -> dict[str, Any]:
    code = publish_withdrawal(db_session, world)
    grant(db_session, world, FUND)
    account(db_session, "zhangwei", ["applicant"], person_id=world.people["张伟"])
    account(db_session, "lina", ["applicant"], person_id=world.people["李娜"])
    account(db_session, "clerk.cd", ["clerk"], [("510100", None)])
    account(db_session, "rev.gjj", ["reviewer"], [("510100", world.departments["gjj"].id)])
    return {"code": code, **{u: bearer(client, u) for u in ("zhangwei", "lina", "clerk.cd",
                                                            "rev.gjj")}}


def _apply(client: TestClient, who: dict[str, str], code: str) -> str:
    resp = client.post("/api/v1/cases", headers=who, json={
        "implementation_code": code, "form_data": {"rent_monthly": 2800}})
    assert resp.status_code == 201, resp.text
    return str(resp.json()["number"])


def _upload(client: TestClient, who: dict[str, str], number: str, material: str) -> None:
    resp = client.post(f"/api/v1/cases/{number}/materials", headers=who,
                       data={"material_code": material},
                       files={"file": (f"{material}.pdf", PDF, "application/pdf")})
    assert resp.status_code == 201, resp.text


def _accept(client: TestClient, clerk: dict[str, str], number: str) -> Any:
    client.post(f"/api/v1/cases/{number}/actions/pre_review_pass", headers=clerk, json={})
    return client.post(f"/api/v1/cases/{number}/actions/accept", headers=clerk, json={})


def test_fetched_previewed_kept_then_the_case_is_accepted_and_the_reviewer_sees_the_source(
        client: TestClient, app: dict[str, Any], world: World) -> None:
    preview = client.post("/api/v1/sharing/fetches", headers=app["zhangwei"], json={
        "implementation_code": app["code"], "material_code": "gjj_info"})
    assert preview.status_code == 201, preview.text
    shown = preview.json()
    assert shown["owner_name"] == "成都住房公积金管理中心"
    assert shown["dataset_name"] == "住房公积金缴存信息" and shown["labels"]["balance"]
    assert shown["records"][0]["values"]["balance"] == "86400.00"
    assert shown["records"][0]["as_of"].startswith("2026-11-30")
    number = _apply(client, app["zhangwei"], app["code"])
    _upload(client, app["zhangwei"], number, "lease")
    refused = _accept(client, app["clerk.cd"], number)
    assert refused.status_code == 409 and refused.json()["details"]["missing"] == ["gjj_info"]
    kept = client.post(f"/api/v1/sharing/fetches/{shown['fetch_id']}/attach",
                       headers=app["zhangwei"], json={"case_number": number})
    assert kept.status_code == 200 and kept.json()["state"] == "attached"
    assert client.post(f"/api/v1/cases/{number}/actions/accept", headers=app["clerk.cd"],
                       json={}).status_code == 200
    case = client.get(f"/api/v1/cases/{number}", headers=app["rev.gjj"]).json()
    [fetched] = [m for m in case["materials"] if m["material_code"] == "gjj_info"]
    assert fetched["source"] == "shared_data"
    seen = client.get(f"/api/v1/sharing/cases/{number}/fetched",
                      headers=app["rev.gjj"]).json()
    assert seen[0]["owner_name"] == "成都住房公积金管理中心" and seen[0]["fetched_at"]
    assert seen[0]["records"][0]["source"] == "成都住房公积金管理中心"
    assert seen[0]["records"][0]["values"]["status"] == "正常"
    usage = client.get("/api/v1/sharing/my-usage", headers=app["zhangwei"]).json()
    assert usage["reads"][0]["kind"] == "no_submit"
    assert usage["reads"][0]["who"] == "成都住房公积金管理中心"


def test_declined_data_is_purged_and_the_document_must_be_uploaded(
        client: TestClient, app: dict[str, Any], db_session: Session) -> None:
    shown = client.post("/api/v1/sharing/fetches", headers=app["zhangwei"], json={
        "implementation_code": app["code"], "material_code": "gjj_info"}).json()
    declined = client.post(f"/api/v1/sharing/fetches/{shown['fetch_id']}/decline",
                           headers=app["zhangwei"])
    assert declined.json()["state"] == "declined" and declined.json()["records"] == []
    db_session.expire_all()
    fetch = db_session.get(Fetch, uuid.UUID(shown["fetch_id"]))
    assert fetch is not None
    access = db_session.get(Access, fetch.access_id)
    assert access is not None and access.result_enc is None and access.outcome == "allowed"
    number = _apply(client, app["zhangwei"], app["code"])
    _upload(client, app["zhangwei"], number, "lease")
    assert client.post(f"/api/v1/sharing/fetches/{shown['fetch_id']}/attach",
                       headers=app["zhangwei"], json={"case_number": number}
                       ).json()["error"] == "fetch_closed"
    assert _accept(client, app["clerk.cd"], number).status_code == 409
    _upload(client, app["zhangwei"], number, "gjj_info")
    assert client.post(f"/api/v1/cases/{number}/actions/accept", headers=app["clerk.cd"],
                       json={}).status_code == 200


def test_without_catalog_entry_or_grant_the_applicant_is_told_to_upload(
        client: TestClient, app: dict[str, Any]) -> None:
    missing = client.post("/api/v1/sharing/fetches", headers=app["zhangwei"], json={
        "implementation_code": app["code"], "material_code": "exam"})
    assert missing.status_code == 409 and missing.json()["error"] == "not_in_catalog"
    ungranted = client.post("/api/v1/sharing/fetches", headers=app["zhangwei"], json={
        "implementation_code": app["code"], "material_code": "property_info"})
    assert ungranted.status_code == 403 and ungranted.json()["error"] == "no_grant"
    wrong = client.post("/api/v1/sharing/fetches", headers=app["zhangwei"], json={
        "implementation_code": app["code"], "material_code": "lease"})
    assert wrong.status_code == 422


def test_a_fetch_goes_only_to_its_own_application(
        client: TestClient, app: dict[str, Any], db_session: Session, world: World) -> None:
    grant(db_session, world, "real_estate.property")
    mine = client.post("/api/v1/sharing/fetches", headers=app["zhangwei"], json={
        "implementation_code": app["code"], "material_code": "gjj_info"}).json()
    hers = _apply(client, app["lina"], app["code"])
    stolen = client.post(f"/api/v1/sharing/fetches/{mine['fetch_id']}/attach",
                         headers=app["lina"], json={"case_number": hers})
    assert stolen.status_code == 404  # not her fetch
    own = _apply(client, app["zhangwei"], app["code"])
    assert client.post(f"/api/v1/sharing/fetches/{mine['fetch_id']}/attach",
                       headers=app["zhangwei"], json={"case_number": hers}
                       ).json()["error"] in ("fetch_mismatch", "not_found")
    nothing = client.post("/api/v1/sharing/fetches", headers=app["lina"], json={
        "implementation_code": app["code"], "material_code": "property_info"}).json()
    assert nothing["records"] == []  # 李娜 owns no property here
    assert client.post(f"/api/v1/sharing/fetches/{nothing['fetch_id']}/attach",
                       headers=app["lina"], json={"case_number": hers}
                       ).json()["error"] == "nothing_found"
    assert client.post(f"/api/v1/sharing/fetches/{mine['fetch_id']}/attach",
                       headers=app["zhangwei"], json={"case_number": own}
                       ).status_code == 200


def _window_case(client: TestClient, clerk: dict[str, str], code: str, person: uuid.UUID
                 ) -> str:
    resp = client.post("/api/v1/cases", headers=clerk, json={
        "implementation_code": code, "form_data": {"rent_monthly": 2800},
        "channel": "window", "applicant": {"person_id": str(person)}})
    assert resp.status_code == 201, resp.text
    return str(resp.json()["number"])


def test_a_window_clerk_fetches_for_the_walk_in_applicant_under_the_department_grant(
        client: TestClient, app: dict[str, Any], db_session: Session, world: World) -> None:
    """一窗受理 免提交: the clerk of the handling department fetches the applicant's
    registry data for the case (the applicant present and agreeing), shows the preview,
    keeps it as the case's material; the read is logged as the clerk's, under the
    department's grant, and the applicant sees it in 我的数据."""
    from sqlalchemy import select

    from tongban.audit.models import AuditEntry
    from tongban.sharing.models import Consent

    account(db_session, "clerk.gjj", ["clerk"], [("510100", world.departments["gjj"].id)])
    clerk = bearer(client, "clerk.gjj")
    number = _window_case(client, clerk, app["code"], world.people["张伟"])
    path = f"/api/v1/sharing/cases/{number}/fetches"
    unagreed = client.post(path, headers=clerk, json={"material_code": "gjj_info",
                                                      "applicant_agrees": False})
    assert unagreed.status_code == 422
    assert unagreed.json()["details"][0]["field"] == "applicant_agrees"
    online = _apply(client, app["zhangwei"], app["code"])
    assert client.post(f"/api/v1/sharing/cases/{online}/fetches", headers=clerk, json={
        "material_code": "gjj_info", "applicant_agrees": True}).json()["error"] == \
        "not_window_case"  # online, the applicant fetches themself
    assert client.post(path, headers=app["zhangwei"], json={
        "material_code": "gjj_info", "applicant_agrees": True}).status_code == 404
    shown = client.post(path, headers=clerk, json={"material_code": "gjj_info",
                                                   "applicant_agrees": True})
    assert shown.status_code == 201, shown.text
    preview = shown.json()
    assert preview["records"][0]["values"]["balance"] == "86400.00"
    assert preview["owner_name"] == "成都住房公积金管理中心"
    db_session.expire_all()
    fetch = db_session.get(Fetch, uuid.UUID(preview["fetch_id"]))
    assert fetch is not None and fetch.case_number == number
    access = db_session.get(Access, fetch.access_id)
    assert access is not None
    assert (access.kind, access.outcome, access.case_number) == ("window_fetch", "allowed",
                                                                 number)
    assert access.actor_name == "clerk.gjj" and access.grant_id is not None
    consent = db_session.get(Consent, access.consent_id)
    assert consent is not None and consent.given_via == "window"
    assert db_session.scalars(select(AuditEntry).where(
        AuditEntry.entity_id == str(access.id))).one().action == "sharing.window_fetch"
    kept = client.post(f"/api/v1/sharing/fetches/{preview['fetch_id']}/attach",
                       headers=clerk, json={"case_number": number})
    assert kept.status_code == 200 and kept.json()["state"] == "attached"
    _upload(client, clerk, number, "lease")
    assert _accept(client, clerk, number).status_code == 200  # the fetched data counts
    usage = client.get("/api/v1/sharing/my-usage", headers=app["zhangwei"]).json()
    assert [r["kind"] for r in usage["reads"]] == ["window_fetch"]


def test_at_the_window_a_refused_fetch_is_logged_and_the_clerk_scans_the_paper(
        client: TestClient, app: dict[str, Any], db_session: Session, world: World) -> None:
    """No grant of the clerk's department covers the dataset: 403 with the reason,
    logged; the page says so and offers the upload; the clerk's page flow (fetch, show,
    keep) works in the browser's way (forms with the page's CSRF token)."""
    from tests.web.browser import BrowserClient
    from tongban.sharing.models import AccessOutcome

    account(db_session, "clerk.gjj", ["clerk"], [("510100", world.departments["gjj"].id)])
    clerk = bearer(client, "clerk.gjj")
    number = _window_case(client, clerk, app["code"], world.people["张伟"])
    refused = client.post(f"/api/v1/sharing/cases/{number}/fetches", headers=clerk, json={
        "material_code": "property_info", "applicant_agrees": True})
    assert refused.status_code == 403 and refused.json()["error"] == "no_grant"
    db_session.expire_all()
    from sqlalchemy import select

    denied = db_session.scalars(select(Access).where(
        Access.outcome == AccessOutcome.denied)).one()
    assert (denied.kind, denied.reason, denied.case_number) == ("window_fetch", "no_grant",
                                                                number)
    with BrowserClient(client.app) as web:
        web.get("/login")
        assert web.post("/login", data={"username": "clerk.gjj", "password": PASSWORD,
                                        "next": "/"}, follow_redirects=False
                        ).status_code == 303
        case_page = web.get(f"/workbench/cases/{number}")
        assert 'id="fetch-gjj_info"' in case_page.text and "申请人在场" in case_page.text
        page = web.post(f"/workbench/cases/{number}/fetch/property_info",
                        data={"applicant_agrees": "yes"})
        assert page.status_code == 403 and 'id="fetch-error-property_info"' in page.text
        done = web.post(f"/workbench/cases/{number}/fetch/gjj_info",
                        data={"applicant_agrees": "yes"}, follow_redirects=True)
        assert done.status_code == 200 and 'id="keep-gjj_info"' in done.text
        assert "86400.00" in done.text  # the preview the clerk shows the applicant
        fetch = db_session.scalars(select(Fetch).where(Fetch.case_number == number)).one()
        kept = web.post(f"/workbench/cases/{number}/fetch/gjj_info/keep",
                        data={"fetch_id": str(fetch.id)}, follow_redirects=True)
        assert kept.status_code == 200
        assert 'data-fetched-material="gjj_info"' in kept.text
        assert 'id="keep-gjj_info"' not in kept.text
