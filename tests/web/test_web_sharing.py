"""数据共享 pages: a data steward works the 需求清单 into a signed grant, pauses and resumes
it; a staff member queries under it (answer masked as granted, a refusal shown with its
reason and logged); the steward's audit page shows both; the pages speak English too and
refuse the roles they are not for."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.sharing.conftest import PASSWORD, WITHDRAWAL_ITEM, World, account, seed_world
from tongban.config import Settings
from tongban.db import utcnow
from tongban.sharing import grants
from tongban.sharing.models import Access, Grant

FUND = "housing_fund.deposit"


@pytest.fixture
def world(db_session: Session, settings: Settings) -> World:
    made = seed_world(db_session, settings)
    gjj = made.departments["gjj"]
    account(db_session, "steward.sc", ["data_steward"], [("510000", None)])
    account(db_session, "rev.gjj", ["reviewer"], [("510100", gjj.id)])
    account(db_session, "zhangwei", ["applicant"], person_id=made.people["张伟"])
    return made


def _sign_in(client: TestClient, username: str) -> TestClient:
    client.cookies.clear()
    client.get("/login")
    done = client.post("/login", data={"username": username, "password": PASSWORD,
                                       "next": "/"}, follow_redirects=False)
    assert done.status_code == 303, done.text
    client.get(done.headers["location"])
    return client


def _file_request(db: Session, world: World) -> Any:
    made = grants.file_request(db_session=db, actor=world.staff("gjj", "reviewer"),
                               data=grants.RequestIn(
                                   dataset=FUND, fields=["name", "status", "balance"],
                                   purpose_code=WITHDRAWAL_ITEM,
                                   purpose_text="租赁住房提取住房公积金",
                                   legal_ref="《住房公积金管理条例》第二十四条",
                                   wanted_days=180))
    db.commit()
    return made


def test_a_steward_grants_a_request_pauses_and_resumes_it_and_audits_its_use(
        client: TestClient, db_session: Session, world: World) -> None:
    req = _file_request(db_session, world)
    steward = _sign_in(client, "steward.sc")
    catalog = steward.get("/workbench/sharing")
    assert catalog.status_code == 200 and "住房公积金缴存信息" in catalog.text
    assert 'id="open-requests"' in catalog.text and "有条件共享" in catalog.text
    listed = steward.get("/workbench/sharing/requests").text
    assert f'data-request="{req.id}"' in listed and "租赁住房提取住房公积金" in listed
    granted = steward.post(f"/workbench/sharing/requests/{req.id}", data={
        "decision": "grant", "mask.name": "partial", "mask.status": "none",
        "mask.balance": "presence", "basis": "statute", "requires": "none",
        "valid_days": "180", "use_limit": "", "legal_ref": "《住房公积金管理条例》第二十四条"})
    assert granted.status_code == 200, granted.text
    grant = db_session.scalars(select(Grant).where(Grant.current.is_(True))).one()
    assert grant.detail["scope"]["fields"] == {"name": "partial", "status": "none",
                                               "balance": "presence"}
    assert 'data-status="active"' in granted.text and 'data-signature="ok"' in granted.text
    assert "部分遮蔽" in granted.text and "仅示有无" in granted.text

    paused = steward.post(f"/workbench/sharing/grants/{grant.grant_id}/pause",
                          data={"reason": "核查异常调用"})
    assert 'data-status="paused"' in paused.text and "核查异常调用" in paused.text

    staff = _sign_in(client, "rev.gjj")
    form = staff.get(f"/workbench/query?grant={grant.grant_id}")
    assert form.status_code == 200 and 'id="query-form"' in form.text
    ask = {"grant": str(grant.grant_id), "subject": world.ids["张伟"],
           "purpose_text": "租赁提取核验", "fields": ["name", "status", "balance"]}
    refused = staff.post("/workbench/query", data=ask)
    assert refused.status_code == 403
    assert 'data-reason="grant_paused"' in refused.text and "授权已暂停" in refused.text

    steward = _sign_in(client, "steward.sc")
    steward.post(f"/workbench/sharing/grants/{grant.grant_id}/resume",
                 data={"reason": "核查完毕"})
    staff = _sign_in(client, "rev.gjj")
    answered = staff.post("/workbench/query", data=ask)
    assert answered.status_code == 200, answered.text
    assert re.search(r'data-field="name">张\*<', answered.text)
    assert re.search(r'data-field="balance">有<', answered.text)  # presence only
    assert "86400" not in answered.text and "成都住房公积金管理中心" in answered.text
    outside = staff.post("/workbench/query", data={**ask, "fields": ["account_number"]})
    assert outside.status_code == 403 and 'data-reason="field_not_granted"' in outside.text

    steward = _sign_in(client, "steward.sc")
    audit = steward.get("/workbench/sharing/audit").text
    assert audit.count('data-outcome="denied"') == 2 and audit.count(
        'data-outcome="allowed"') == 1
    assert "租赁提取核验" in audit and world.ids["张伟"] not in audit  # masked subject
    only_refused = steward.get("/workbench/sharing/audit?outcome=denied").text
    assert 'data-outcome="allowed"' not in only_refused
    db_session.expire_all()
    assert {a.reason for a in db_session.scalars(select(Access))} == {
        None, "grant_paused", "field_not_granted"}
    versions = steward.get(f"/workbench/sharing/grants/{grant.grant_id}").text
    assert versions.count('data-signature="ok"') == 3  # granted, paused, resumed


def test_a_steward_refuses_a_request_with_a_reason(
        client: TestClient, db_session: Session, world: World) -> None:
    req = _file_request(db_session, world)
    steward = _sign_in(client, "steward.sc")
    empty = steward.post(f"/workbench/sharing/requests/{req.id}",
                         data={"decision": "refuse", "reason": " "})
    assert empty.status_code == 422
    done = steward.post(f"/workbench/sharing/requests/{req.id}",
                        data={"decision": "refuse", "reason": "超出最小必要范围"})
    assert done.status_code == 200 and "超出最小必要范围" in done.text
    assert 'data-state="refused"' in done.text


def test_the_sharing_pages_speak_english_and_refuse_other_roles(
        client: TestClient, db_session: Session, world: World) -> None:
    steward = _sign_in(client, "steward.sc")
    english = steward.get("/workbench/sharing?lang=en").text
    assert "Sharing catalog" in english and "Shared on conditions" in english
    applicant = _sign_in(client, "zhangwei")
    for path in ("/workbench/sharing", "/workbench/sharing/requests",
                 "/workbench/sharing/grants", "/workbench/sharing/audit", "/workbench/query"):
        assert applicant.get(path).status_code == 403, path
    reviewer = _sign_in(client, "rev.gjj")
    assert reviewer.get("/workbench/sharing/grants").status_code == 403
    assert reviewer.get("/workbench/query").status_code == 200


def test_the_subject_sees_who_read_their_data_and_what_is_delayed_and_withdraws_consent(
        client: TestClient, db_session: Session, world: World) -> None:
    from tests.sharing.conftest import grant
    from tongban.identity.models import Person
    from tongban.sharing import consents, queries

    person = db_session.get(Person, world.people["张伟"])
    assert person is not None
    grant(db_session, world, FUND, requires="consent")
    grant(db_session, world, FUND, consumer="police", purpose_code="GA-XC-001",
          purpose_text="经济犯罪案件侦查协查", requires="none", hidden_days=180,
          hidden_reason="《中华人民共和国刑事诉讼法》第一百五十二条")
    consent = consents.give(db_session=db_session, settings=world.settings,
                            actor=world.staff("gjj", "clerk"), subject_key=person.id_number_hash,
                            person_id=person.id, enterprise_id=None,
                            consumer_credit_code=world.owners["gjj"],
                            consumer_name="成都住房公积金管理中心", dataset=FUND,
                            purpose_code=WITHDRAWAL_ITEM, purpose_text="租赁提取",
                            valid_days=30, via="window")
    for staff, purpose, text in ((world.staff("gjj", "reviewer", name="王审核"),
                                  WITHDRAWAL_ITEM, "租赁提取核验"),
                                 (world.staff("police", "reviewer", name="经侦民警"),
                                  "GA-XC-001", "协查")):
        assert isinstance(queries.query(
            db_session=db_session, settings=world.settings, actor=staff, dataset=FUND,
            identifier=world.ids["张伟"], purpose_code=purpose, purpose_text=text),
            queries.Allowed)
    db_session.commit()
    me = _sign_in(client, "zhangwei")
    mine = me.get("/my/data")
    assert mine.status_code == 200
    [read] = re.findall(r'<tr class="read".*?</tr>', mine.text, re.S)
    assert "成都住房公积金管理中心" in read and "王审核" in read and "租赁提取核验" in read
    assert "住房公积金缴存信息" in read and "工作人员查询" in read
    assert "经侦民警" not in mine.text and "协查" not in mine.text  # delayed: no details
    [hidden] = re.findall(r'<li class="hidden-read">(.*?)</li>', mine.text, re.S)
    assert "第一百五十二条" in hidden and "公开" in hidden
    withdrawn = me.post(f"/my/data/consents/{consent.id}/revoke", data={})
    assert withdrawn.status_code == 200 and "已撤回" in withdrawn.text
    assert "Who used my data" in me.get("/my/data?lang=en").text
    db_session.expire_all()
    assert consents.usable(db_session=db_session, consent_id=consent.id,
                           subject_key=person.id_number_hash,
                           consumer_credit_code=world.owners["gjj"], dataset=FUND,
                           purpose_code=WITHDRAWAL_ITEM, now=utcnow())[1] == \
        "consent_revoked"
    # staff have no such page of their own data
    assert _sign_in(client, "rev.gjj").get("/my/data").status_code == 403


def test_an_applicant_fetches_previews_and_keeps_shared_data_and_the_reviewer_sees_its_source(
        client: TestClient, db_session: Session, world: World) -> None:
    from tests.sharing.conftest import grant, publish_withdrawal
    from tests.web.test_web_apply import PDF, _apply

    code = publish_withdrawal(db_session, world)
    grant(db_session, world, FUND, fields={"name": "partial", "status": "none",
                                           "balance": "none"})
    account(db_session, "clerk.cd", ["clerk"], [("510100", None)])
    me = _sign_in(client, "zhangwei")
    key = _apply(me, code, {"rent_monthly": "2800"})
    materials = me.get(f"/apply/{code}/materials", params={"draft": key}).text
    assert 'data-shared-material="gjj_info"' in materials and 'data-state="none"' in materials
    shown = me.post(f"/apply/{code}/fetch/gjj_info", data={"draft": key})
    assert shown.status_code == 200
    block = re.search(r'data-shared-material="gjj_info".*?</div>', shown.text, re.S)
    assert block is not None and 'data-state="previewed"' in block.group(0)
    assert re.search(r'data-field="balance">86400.00<', block.group(0))
    assert "成都住房公积金管理中心" in block.group(0)
    assert "2026-12-01" in block.group(0)  # as of 2026-11-30T16:00Z, a Beijing day
    refused = me.post(f"/apply/{code}/fetch/property_info", data={"draft": key})
    assert "没有该数据集用于此用途的授权" in refused.text  # no grant: upload it
    assert f'action="/apply/{code}/materials/property_info"' in refused.text
    # not kept yet: the review says it is to confirm, and nothing is attached
    assert "共享数据待确认" in me.get(f"/apply/{code}/review", params={"draft": key}).text
    kept = me.post(f"/apply/{code}/fetch/gjj_info/keep", data={"draft": key})
    assert 'id="kept-gjj_info"' in kept.text
    me.post(f"/apply/{code}/materials/lease", data={"draft": key},
            files={"file": ("租赁合同.pdf", PDF, "application/pdf")})
    review = me.get(f"/apply/{code}/review", params={"draft": key}).text
    assert 'data-kept="gjj_info"' in review
    done = me.post(f"/apply/{code}/submit", data={"draft": key}, follow_redirects=False)
    number = done.headers["location"].split("/")[3].split("?")[0]
    assert 'data-fetched="gjj_info"' in me.get(f"/my/cases/{number}").text
    clerk = _sign_in(client, "clerk.cd")
    clerk.post(f"/workbench/cases/{number}/act/pre_review_pass", data={})
    accepted = clerk.post(f"/workbench/cases/{number}/act/accept", data={})
    assert accepted.status_code == 200, accepted.text  # the fetched data counts
    reviewer = _sign_in(client, "rev.gjj")
    case = reviewer.get(f"/workbench/cases/{number}").text
    fetched = re.search(r'data-fetched-material="gjj_info".*?</div>', case, re.S)
    assert fetched is not None and "成都住房公积金管理中心" in fetched.group(0)
    assert "data-fetched-at" in fetched.group(0) and re.search(
        r'data-field="name">张\*<', fetched.group(0))


def test_declined_shared_data_is_purged_and_the_case_waits_for_the_upload(
        client: TestClient, db_session: Session, world: World) -> None:
    from tests.sharing.conftest import grant, publish_withdrawal
    from tests.web.test_web_apply import PDF, _apply
    from tongban.sharing.models import Fetch

    code = publish_withdrawal(db_session, world)
    grant(db_session, world, FUND)
    account(db_session, "clerk.cd", ["clerk"], [("510100", None)])
    me = _sign_in(client, "zhangwei")
    key = _apply(me, code, {"rent_monthly": "2800"})
    me.post(f"/apply/{code}/fetch/gjj_info", data={"draft": key})
    declined = me.post(f"/apply/{code}/fetch/gjj_info/decline", data={"draft": key})
    assert 'data-state="none"' in declined.text
    db_session.expire_all()
    [fetch] = db_session.scalars(select(Fetch)).all()
    access = db_session.get(Access, fetch.access_id)
    assert fetch.state == "declined" and access is not None and access.result_enc is None
    me.post(f"/apply/{code}/materials/lease", data={"draft": key},
            files={"file": ("租赁合同.pdf", PDF, "application/pdf")})
    done = me.post(f"/apply/{code}/submit", data={"draft": key}, follow_redirects=False)
    number = done.headers["location"].split("/")[3].split("?")[0]
    clerk = _sign_in(client, "clerk.cd")
    clerk.post(f"/workbench/cases/{number}/act/pre_review_pass", data={})
    refused = clerk.post(f"/workbench/cases/{number}/act/accept", data={})
    assert refused.status_code == 409 and "住房公积金缴存信息" in refused.text
