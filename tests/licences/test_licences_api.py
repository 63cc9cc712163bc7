"""The licences API: public verification, trust and status lists, holder and staff views."""

from __future__ import annotations

import base64
import io
import uuid
from datetime import date
from pathlib import Path

import pytest
from asn1crypto import x509 as asn1_x509
from fastapi.testclient import TestClient
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko_certvalidator import ValidationContext
from sqlalchemy import func, select

from tongban.identity import service as identity
from tongban.identity.actor import SYSTEM_ACTOR
from tongban.identity.ids import make_resident_id, make_uscc
from tongban.licences import keys, signing
from tongban.licences import status_list as sl
from tongban.licences.identifiers import parse_identifier
from tongban.licences.models import Licence, LicenceStatusChange
from tongban.licences.pdf import run_sync

from .conftest import BUSINESS_LICENCE, World

PASSWORD = "correct-horse-42"


def _login(client: TestClient, world: World, username: str, roles: list[str],
           **kwargs: object) -> dict[str, str]:
    identity.create_account(db_session=world.db_session, actor=SYSTEM_ACTOR, username=username,
                            password=PASSWORD, display_name=username, roles=roles,
                            **kwargs)  # type: ignore[arg-type]
    world.db_session.commit()
    token, _ = identity.login(db_session=world.db_session, settings=world.settings,
                              username=username, password=PASSWORD)
    world.db_session.commit()
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def issued(world: World) -> tuple[Licence, Licence]:
    business, residence = world.issue_business(), world.issue_residence()
    world.db_session.commit()
    return business, residence


def test_anyone_can_verify_by_identifier_jws_or_qr(client: TestClient, world: World,
                                                   issued: tuple[Licence, Licence]) -> None:
    business, _ = issued
    for body in ({"identifier": business.identifier}, {"licence_jws": business.jws},
                 {"qr_payload": f"http://127.0.0.1:8000/licences/verify?identifier="
                                f"{business.identifier}"}):
        response = client.post("/api/v1/licences/verify", json=body)
        assert response.status_code == 200, response.text
        data = response.json()
        assert data["outcome"] == "valid" and data["valid"] is True
        assert data["signature_valid"] and data["issuer_trusted"]
        assert data["status"] == "01" and data["status_name"] == "有效"


def test_verify_names_a_tampered_field(client: TestClient, issued: tuple[Licence, Licence]
                                       ) -> None:
    business, _ = issued
    shown = {**business.document, "fields": {**business.document["fields"], "name": "别的公司"}}
    response = client.post("/api/v1/licences/verify",
                           json={"licence_jws": business.jws, "document": shown})
    data = response.json()
    assert data["outcome"] == "tampered" and not data["valid"]
    assert data["changed_fields"] == ["fields.name"]
    assert data["message"].startswith("证照内容已被篡改")


@pytest.mark.parametrize("body", [{}, {"identifier": "x", "licence_jws": "y"},
                                  {"identifier": "x", "extra": 1}])
def test_verify_with_the_wrong_inputs_is_a_clear_422(client: TestClient, world: World,
                                                    body: dict[str, object]) -> None:
    response = client.post("/api/v1/licences/verify", json=body)
    assert response.status_code == 422
    assert set(response.json()) == {"error", "message", "details"}


def test_a_malformed_identifier_is_a_named_outcome(client: TestClient, world: World) -> None:
    response = client.post("/api/v1/licences/verify", json={"identifier": "1.2.156.3005.2.x"})
    assert response.json()["outcome"] == "malformed_identifier"


def test_the_trust_list_is_a_node_signed_jws(client: TestClient, world: World,
                                             issued: tuple[Licence, Licence]) -> None:
    response = client.get("/api/v1/licences/trust-list")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/trustlist+jwt")
    assert "max-age=60" in response.headers["cache-control"]
    parsed = signing.parse(response.text)
    assert parsed.verify(keys.node_key(world.settings).private_key.public_key())
    kids = {k["kid"] for i in parsed.payload["issuers"] for k in i["keys"]}
    assert {lic.kid for lic in issued} <= kids


def test_the_status_list_shows_a_revocation(client: TestClient, world: World,
                                            issued: tuple[Licence, Licence]) -> None:
    business, _ = issued
    uri = business.document["status"]["status_list"]["uri"]
    idx = business.document["status"]["status_list"]["idx"]
    path = uri.removeprefix("http://127.0.0.1:8000")

    def status_value() -> int:
        response = client.get(path)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/statuslist+jwt")
        assert "max-age=60" in response.headers["cache-control"]
        token = signing.parse(response.text)
        assert token.header["typ"] == "statuslist+jwt"
        assert token.payload["sub"] == uri and token.payload["ttl"] == 60
        raw, bits = sl.decode(token.payload["status_list"])
        assert len(raw) * 8 // bits >= 100_000
        return sl.value_at(raw, idx, bits=bits)

    assert status_value() == 0
    supervisor = _login(client, world, "supervisor1", ["supervisor"], scopes=[("510000", None)])
    response = client.post(f"/api/v1/licences/{business.identifier}/status", headers=supervisor,
                           json={"status": "07", "reason": "依法吊销营业执照"})
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "07"
    assert status_value() == sl.STATUS_VALUES["07"]
    verdict = client.post("/api/v1/licences/verify", json={"licence_jws": business.jws}).json()
    assert verdict["outcome"] == "revoked"


def test_an_unknown_status_list_is_a_404(client: TestClient, world: World) -> None:
    response = client.get(f"/api/v1/licences/status-lists/{uuid.uuid4()}")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_holders_see_their_licences_and_others_do_not(client: TestClient, world: World,
                                                      issued: tuple[Licence, Licence]) -> None:
    business, residence = issued
    assert client.get("/api/v1/licences/mine").status_code == 401
    person = _login(client, world, "lichunxi", ["applicant"], person_id=world.person.id)
    company = _login(client, world, "shujin", ["applicant"],
                     enterprise_id=world.enterprise.id)
    mine = client.get("/api/v1/licences/mine", headers=person).json()
    assert [m["identifier"] for m in mine] == [residence.identifier]
    assert [m["type_name"] for m in client.get("/api/v1/licences/mine", headers=company).json()
            ] == ["营业执照"]
    detail = client.get(f"/api/v1/licences/{residence.identifier}", headers=person).json()
    assert detail["holder"]["id_masked"] == world.person.id_number_masked
    assert [h["to_status"] for h in detail["history"]] == ["01"]
    forbidden = client.get(f"/api/v1/licences/{business.identifier}", headers=person)
    assert forbidden.status_code == 403
    assert client.get("/api/v1/licences/1.2.156.3005.2.bad", headers=person).status_code == 422


def test_a_status_change_without_reason_or_by_a_clerk_changes_nothing(
        client: TestClient, world: World, issued: tuple[Licence, Licence]) -> None:
    business, _ = issued
    reviewer = _login(client, world, "reviewer1", ["reviewer"],
                      scopes=[("510104", world.market.id)])
    clerk = _login(client, world, "clerk", ["clerk"], scopes=[("510104", None)])
    url = f"/api/v1/licences/{business.identifier}/status"
    no_reason = client.post(url, headers=reviewer, json={"status": "02", "reason": ""})
    assert no_reason.status_code == 422
    assert no_reason.json()["details"] == {"field": "reason"}
    by_clerk = client.post(url, headers=clerk, json={"status": "02", "reason": "暂扣"})
    assert by_clerk.status_code == 403
    bad_code = client.post(url, headers=reviewer, json={"status": "06", "reason": "x"})
    assert bad_code.status_code == 422
    world.db_session.expire_all()
    assert world.db_session.scalar(select(func.count()).select_from(LicenceStatusChange)) == 2
    ok = client.post(url, headers=reviewer, json={"status": "02", "reason": "涉嫌无照经营"})
    assert ok.status_code == 200 and ok.json()["status_name"] == "暂扣"


def test_import_keeps_the_identifier_and_signs_with_the_department_key(
        client: TestClient, world: World) -> None:
    operator = _login(client, world, "operator1", ["operator"], scopes=[("510000", None)])
    identifier = str(service_identifier(world))
    record = {"licence_type_code": BUSINESS_LICENCE, "identifier": identifier,
              "holder_credit_code": world.enterprise.credit_code,
              "issuer_credit_code": world.market.credit_code,
              "fields": world.business_fields(), "issued_at": "2019-06-01T09:00:00+08:00",
              "valid_from": "2019-06-01"}
    response = client.post("/api/v1/licences/import", headers=operator, json=record)
    assert response.status_code == 201, response.text
    assert response.json()["identifier"] == identifier and response.json()["imported"]
    verdict = client.post("/api/v1/licences/verify", json={"identifier": identifier}).json()
    assert verdict["outcome"] == "valid"
    again = client.post("/api/v1/licences/import", headers=operator, json=record)
    assert again.status_code == 409
    broken = client.post("/api/v1/licences/import", headers=operator,
                         json={**record, "identifier": identifier[:-1] + "Z"
                               if identifier[-1] != "Z" else identifier[:-1] + "Y"})
    assert broken.status_code == 422 and broken.json()["error"] == "malformed_identifier"
    applicant = _login(client, world, "someone", ["applicant"], person_id=world.person.id)
    assert client.post("/api/v1/licences/import", headers=applicant,
                       json=record).status_code == 403


def service_identifier(world: World) -> object:
    from tongban.licences.identifiers import make_identifier

    return make_identifier(type_code=BUSINESS_LICENCE, issuer_code=world.market.credit_code,
                           serial="2019000123")


def test_the_pdf_is_sealed_with_the_certificate_on_the_trust_list(
        client: TestClient, world: World, issued: tuple[Licence, Licence]) -> None:
    _, residence = issued
    person = _login(client, world, "lichunxi", ["applicant"], person_id=world.person.id)
    response = client.get(f"/api/v1/licences/{residence.identifier}/pdf", headers=person)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    trust = signing.parse(client.get("/api/v1/licences/trust-list").text).payload
    police = next(i for i in trust["issuers"] if i["credit_code"] == world.police.credit_code)
    root = asn1_x509.Certificate.load(base64.b64decode(police["seal_certificates"][0]["x5c"][0]))
    signature = PdfFileReader(io.BytesIO(response.content)).embedded_signatures[0]
    status = run_sync(lambda: async_validate_pdf_signature(
        signature, ValidationContext(trust_roots=[root])))
    assert status.bottom_line and status.coverage.name == "ENTIRE_FILE"
    again = client.get(f"/api/v1/licences/{residence.identifier}/pdf", headers=person)
    assert again.content == response.content  # made once, then kept
    assert parse_identifier(residence.identifier).issuer_code == world.police.credit_code


def test_an_identifier_alone_tells_valid_and_status_but_never_the_holder(
        client: TestClient, world: World, issued: tuple[Licence, Licence]) -> None:
    _, residence = issued
    holder = residence.document["holder"]["name"]
    for body in ({"identifier": residence.identifier},
                 {"qr_payload": f"http://127.0.0.1:8000/verify?identifier={residence.identifier}"},
                 {"identifier": residence.identifier,  # guessing a field is no oracle either
                  "document": {**residence.document, "holder": {"name": "猜一个名字"}}}):
        response = client.post("/api/v1/licences/verify", json=body)
        data = response.json()
        assert response.status_code == 200 and data["status"] == "01", data
        assert data["document"] is None and data["changed_fields"] == []
        assert holder not in response.text
        for value in residence.fields.values():
            if isinstance(value, str) and len(value) > 1:
                assert value not in response.text
    presented = client.post("/api/v1/licences/verify", json={"licence_jws": residence.jws})
    assert presented.json()["document"]["holder"]["name"] == holder  # the holder showed it


def test_import_checks_the_role_before_looking_anyone_up_and_has_one_404(
        client: TestClient, world: World) -> None:
    record = {"licence_type_code": BUSINESS_LICENCE, "identifier": str(service_identifier(world)),
              "holder_id_number": make_resident_id("500103", date(1990, 5, 17), 282),
              "issuer_credit_code": world.market.credit_code,
              "fields": world.business_fields(), "issued_at": "2019-06-01T09:00:00+08:00",
              "valid_from": "2019-06-01"}
    nobody = {**record, "holder_id_number": make_resident_id("110101", date(1990, 3, 7), 1)}
    unregistered = make_uscc("9", "1", "510104", "MA6CXK1P")
    applicant = _login(client, world, "curious", ["applicant"], person_id=world.person.id)
    known = client.post("/api/v1/licences/import", headers=applicant, json=record)
    unknown = client.post("/api/v1/licences/import", headers=applicant, json=nobody)
    assert known.status_code == unknown.status_code == 403  # no existence oracle
    assert known.json() == unknown.json()
    operator = _login(client, world, "operator2", ["operator"], scopes=[("510000", None)])
    missing_person = client.post("/api/v1/licences/import", headers=operator, json=nobody)
    missing_enterprise = client.post("/api/v1/licences/import", headers=operator, json={
        **{k: v for k, v in record.items() if k != "holder_id_number"},
        "holder_credit_code": unregistered})
    missing_issuer = client.post("/api/v1/licences/import", headers=operator,
                                 json={**record, "issuer_credit_code": unregistered})
    answers = [r.json() for r in (missing_person, missing_enterprise, missing_issuer)]
    assert all(r.status_code == 404 for r in (missing_person, missing_enterprise,
                                              missing_issuer))
    assert len({(a["error"], a["message"]) for a in answers}) == 1


def test_without_the_cjk_font_the_pdf_is_a_clear_503_and_the_demo_says_what_to_install(
        client: TestClient, world: World, issued: tuple[Licence, Licence],
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from tongban import cli
    from tongban.licences import pdf

    monkeypatch.setattr(pdf, "FONT_PATHS", (Path("/nonexistent/NotoSansCJK-Regular.ttc"),))
    monkeypatch.delenv(pdf.FONT_ENV, raising=False)
    _, residence = issued
    person = _login(client, world, "nofont", ["applicant"], person_id=world.person.id)
    response = client.get(f"/api/v1/licences/{residence.identifier}/pdf", headers=person)
    assert response.status_code == 503, response.text
    assert response.json()["error"] == "font_missing"
    assert "fonts-noto-cjk" in response.json()["message"]
    assert cli.check_fonts() is False
    warning = capsys.readouterr().err.strip().splitlines()
    assert len(warning) == 1 and "apt-get install fonts-noto-cjk" in warning[0]
    assert "TONGBAN_CJK_FONT" in warning[0]
