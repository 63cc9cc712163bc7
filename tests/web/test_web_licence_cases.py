"""E-licences meet cases in the UI: the approving officer completes the licence a decision
issues (per-field errors when the licence schema says no), the applicant then finds it on
the case; 一证通办 shows the licence that replaces an upload, and staff see it verified."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.web.seed_web import CD_POLICE, Seeded
from tests.web.test_web_apply import GOOD, PDF, _apply
from tongban.cases.models import Case, CaseMaterial
from tongban.catalog.service import get_department_by_credit_code
from tongban.config import Settings
from tongban.errors import InvalidInput
from tongban.identity.actor import SYSTEM_ACTOR
from tongban.identity.service import find_account_by_username
from tongban.licences import service as licences
from tongban.licences.identifiers import make_identifier
from tongban.licences.models import Licence
from tongban.web import issuing

PERMIT_FORM = {"name": "张三", "residence_address": "成都市锦江区春熙路1号"}
ID_CARD = "1110000000000006XJ001"


def _field_errors(html: str) -> dict[str, str]:
    return dict(re.findall(r'data-field-error="(\w+)">([^<]+)<', html))


def _accepted_permit_case(client: TestClient, login: Callable[[str], TestClient],
                          seeded: Seeded) -> str:
    """张三 applies for the 居住证 (approval issues it); the 成都 clerk accepts."""
    login("zhangsan")
    key = _apply(client, seeded.permit_code, PERMIT_FORM)
    client.post(f"/apply/{seeded.permit_code}/materials/P1", data={"draft": key},
                files={"file": ("照片.pdf", PDF, "application/pdf")})
    location = client.post(f"/apply/{seeded.permit_code}/submit", data={"draft": key},
                           follow_redirects=False).headers["location"]
    number = location.split("/")[3].split("?")[0]
    login("clerk-cd")
    for action in ("pre_review_pass", "accept"):
        done = client.post(f"/workbench/cases/{number}/act/{action}", data={},
                           follow_redirects=False)
        assert done.status_code == 303, done.text
    return number


def test_approve_form_asks_only_for_licence_fields_nobody_gave(
        client: TestClient, login: Callable[[str], TestClient], seeded: Seeded) -> None:
    number = _accepted_permit_case(client, login, seeded)
    login("reviewer-cd")
    page = client.get(f"/workbench/cases/{number}").text
    asked = set(re.findall(r'name="lic_approve-(\w+)"', page))
    # name/gender/birth date come from the holder record, the address from the form
    assert asked == {"ethnicity", "household_address"}
    assert 'data-licence-form="approve"' in page and "居住证" in page


def test_approving_without_the_licence_fields_says_which_and_changes_nothing(
        client: TestClient, login: Callable[[str], TestClient], seeded: Seeded,
        db_session: Session) -> None:
    number = _accepted_permit_case(client, login, seeded)
    login("reviewer-cd")
    page = client.post(f"/workbench/cases/{number}/act/approve",
                       data={"lic_approve-ethnicity": "汉"})
    assert page.status_code == 422
    assert _field_errors(page.text) == {"household_address": "此项为必填项"}
    assert 'value="汉"' in page.text  # what was typed stays
    assert re.search(r'data-action="approve"\s+open', page.text)
    db_session.expire_all()
    case = db_session.scalar(select(Case).where(Case.number == number))
    assert case is not None and case.state == "accepted"
    assert db_session.scalar(select(Licence).where(Licence.case_id == case.id)) is None


def test_approval_issues_the_licence_and_the_applicant_finds_it_verified(
        client: TestClient, login: Callable[[str], TestClient], seeded: Seeded,
        db_session: Session) -> None:
    number = _accepted_permit_case(client, login, seeded)
    login("reviewer-cd")
    done = client.post(f"/workbench/cases/{number}/act/approve", data={
        "lic_approve-ethnicity": "汉", "lic_approve-household_address": "四川省成都市锦江区"},
        follow_redirects=False)
    assert done.status_code == 303, done.text
    licence = db_session.scalar(select(Licence).join(Case, Licence.case_id == Case.id)
                                .where(Case.number == number))
    assert licence is not None and licence.fields["ethnicity"] == "汉"
    assert licence.fields["residence_address"] == PERMIT_FORM["residence_address"]
    login("zhangsan")
    mine = client.get(f"/my/cases/{number}").text
    assert 'id="issued-licences"' in mine and licence.identifier in mine
    detail = client.get(f"/my/licences/{licence.identifier}")
    assert detail.status_code == 200
    assert "四川省成都市锦江区" in detail.text and "<svg" in detail.text
    assert client.get(f"/my/licences/{licence.identifier}/pdf").content.startswith(b"%PDF")
    verified = client.get("/verify", params={"identifier": licence.identifier})
    assert "证照有效" in verified.text


def test_someone_elses_licence_page_is_refused(
        client: TestClient, login: Callable[[str], TestClient], seeded: Seeded,
        db_session: Session) -> None:
    number = _accepted_permit_case(client, login, seeded)
    login("reviewer-cd")
    client.post(f"/workbench/cases/{number}/act/approve", data={
        "lic_approve-ethnicity": "汉", "lic_approve-household_address": "四川省成都市锦江区"})
    identifier = db_session.scalar(select(Licence.identifier))
    login("agent-wang")
    assert client.get(f"/my/licences/{identifier}").status_code == 403


def test_licence_schema_complaints_land_on_their_fields() -> None:
    spec = issuing.LicenceForm(type_code="x", type_name="居住证", fields=[], schema={
        "properties": {"ethnicity": {}, "household_address": {}}})
    exc = InvalidInput("证照字段不符合要求", details=[  # as licences._check_fields says
        {"field": "fields.ethnicity", "message": "民族:必填 / 'ethnicity' is a required "
                                                  "property"},
        {"field": "fields.household_address", "message": "户籍地址:太短 / '' is too short"},
        {"field": "fields.other", "message": "其他:格式不正确 / not on this form"}])
    assert issuing.errors_from(exc, spec) == {
        "ethnicity": ("此项为必填项", {}),
        "household_address": ("不符合证照要求：{detail}", {"detail": "太短"})}


def _issue_id_card(db_session: Session, settings: Settings) -> str:
    account = find_account_by_username(db_session=db_session, username="zhangsan")
    police = get_department_by_credit_code(db_session=db_session, credit_code=CD_POLICE)
    assert account is not None
    # An ID card is issued outside tongban: it is imported under the police's signature.
    licence = licences.import_existing(
        db_session=db_session, settings=settings, licence_type_code=ID_CARD,
        identifier=str(make_identifier(type_code=ID_CARD, issuer_code=CD_POLICE,
                                   serial="20200000001")),
        holder_person_id=account.person_id, issuer_department_id=police.id,
        issued_at=datetime(2020, 1, 1, tzinfo=UTC), valid_from=date(2020, 1, 1),
        actor=SYSTEM_ACTOR,
        fields={"name": "张三", "gender": "男", "ethnicity": "汉", "birth_date": "1990-03-07",
                "address": "四川省成都市锦江区春熙路1号", "issuing_authority": "成都市公安局"})
    db_session.commit()
    return licence.identifier


def test_a_held_licence_replaces_the_upload_and_staff_see_it_verified(
        client: TestClient, login: Callable[[str], TestClient], seeded: Seeded,
        db_session: Session, settings: Settings) -> None:
    identifier = _issue_id_card(db_session, settings)
    login("zhangsan")
    key = _apply(client, seeded.fund_code, GOOD)
    materials = client.get(f"/apply/{seeded.fund_code}/materials", params={"draft": key}).text
    assert "将自动关联您的电子证照 居民身份证" in materials and identifier in materials
    assert 'action="/apply/' + seeded.fund_code + '/materials/M3"' not in materials
    review = client.get(f"/apply/{seeded.fund_code}/review", params={"draft": key}).text
    assert "将自动关联您的电子证照 居民身份证" in review
    location = client.post(f"/apply/{seeded.fund_code}/submit", data={"draft": key},
                           follow_redirects=False).headers["location"]
    number = location.split("/")[3].split("?")[0]
    attached = db_session.scalar(select(CaseMaterial).where(CaseMaterial.source == "licence"))
    assert attached is not None and attached.reference == identifier
    assert identifier in client.get(f"/my/cases/{number}").text
    login("clerk-cd")
    page = client.get(f"/workbench/cases/{number}").text
    assert f'data-attached-licence="{identifier}"' in page
    assert 'data-outcome="valid"' in page and "核验通过" in page
    assert f'action="/workbench/cases/{number}/materials/M3"' not in page  # nothing to upload

    licences.change_status(db_session=db_session, actor=SYSTEM_ACTOR, identifier=identifier,
                           status="05", reason="测试失效")
    db_session.commit()
    page = client.get(f"/workbench/cases/{number}").text
    assert 'data-outcome="lapsed"' in page and "核验未通过" in page


def test_without_the_e_licence_the_window_uploads_the_paper_copy(
        client: TestClient, login: Callable[[str], TestClient], seeded: Seeded,
        db_session: Session) -> None:
    """已关联电子证照的免于提交: without one, the clerk scans the original at the window."""
    login("zhangsan")
    key = _apply(client, seeded.fund_code, GOOD)
    location = client.post(f"/apply/{seeded.fund_code}/submit", data={"draft": key},
                           follow_redirects=False).headers["location"]
    number = location.split("/")[3].split("?")[0]
    login("clerk-cd")
    page = client.get(f"/workbench/cases/{number}").text
    assert f'action="/workbench/cases/{number}/materials/M3"' in page
    done = client.post(f"/workbench/cases/{number}/materials/M3",
                       files={"file": ("身份证.pdf", PDF, "application/pdf")},
                       follow_redirects=False)
    assert done.status_code in (200, 303), done.text
    scan = db_session.scalar(select(CaseMaterial).where(CaseMaterial.material_code == "M3"))
    assert scan is not None and scan.source == "upload" and scan.filename == "身份证.pdf"
