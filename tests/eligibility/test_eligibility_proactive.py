"""免申即享 and 政策推送: a run finds who newly qualifies, opens the benefit case where
no confirmation is needed, waits for the department's 二次确认 where it is, tells the
subject, and finds no one twice."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.eligibility.conftest import publish_benefit
from tests.sharing.conftest import World, account, bearer
from tongban.cases.models import Case
from tongban.eligibility import proactive
from tongban.eligibility.models import Qualification
from tongban.notify.models import Notification


def _told(db: Session) -> list[Notification]:
    return list(db.scalars(select(Notification).where(
        Notification.kind == proactive.QUALIFIED_KIND)))


def test_a_benefit_without_confirmation_opens_its_case_without_an_application(
        db_session: Session, elig: World) -> None:
    publish_benefit(db_session, elig, "000204090000", "失业保险稳岗返还", "hrss", "enterprise")
    report = proactive.run_rule_set(db_session=db_session, settings=elig.settings,
                                    code="job_retention_refund")
    assert (report.eligible, report.new) == (2, 2)
    found = list(db_session.scalars(select(Qualification)))
    assert {q.state for q in found} == {"opened"} and all(q.case_number for q in found)
    cases = list(db_session.scalars(select(Case)))
    assert {c.applicant_enterprise_id for c in cases} == {q.enterprise_id for q in found}
    assert {c.channel for c in cases} == {"proactive"}
    assert cases[0].form_data["免申即享"]["rule_set"] == "job_retention_refund"
    told = _told(db_session)
    assert len(told) == 2 and {m.recipient_kind for m in told} == {"enterprise"}
    assert {m.recipient_id for m in told} == {q.enterprise_id for q in found}


def test_a_second_run_finds_no_one_twice(db_session: Session, elig: World) -> None:
    publish_benefit(db_session, elig, "000204090000", "失业保险稳岗返还", "hrss", "enterprise")
    for _ in range(2):
        reports = proactive.run_all(db_session=db_session, settings=elig.settings)
        db_session.commit()
    assert all(r.new == 0 for r in reports) and sum(r.eligible for r in reports) == 6
    assert db_session.scalar(select(func.count()).select_from(Qualification)) == 6
    assert db_session.scalar(select(func.count()).select_from(Case)) == 2
    assert len(_told(db_session)) == 3  # two enterprises and 王芳 (住房保障 notice)


def test_a_policy_needing_confirmation_waits_for_the_department(
        client: TestClient, db_session: Session, elig: World) -> None:
    publish_benefit(db_session, elig, "000704006000", "临时救助", "civil")
    proactive.run_rule_set(db_session=db_session, settings=elig.settings,
                           code="temporary_assistance")
    db_session.commit()
    q = db_session.scalars(select(Qualification)).one()
    assert (q.state, q.name, q.case_number) == ("candidate", "刘洋", None)
    assert _told(db_session) == [] and db_session.scalar(select(func.count()).select_from(
        Case)) == 0
    account(db_session, "rev.civil", ["reviewer"], [("510100", elig.departments["civil"].id)])
    account(db_session, "rev.gjj", ["reviewer"], [("510100", elig.departments["gjj"].id)])
    url = f"/api/v1/eligibility/qualifications/{q.id}/decision"
    other = client.post(url, json={"confirm": True}, headers=bearer(client, "rev.gjj"))
    assert other.status_code == 403
    listed = client.get("/api/v1/eligibility/qualifications?state=candidate",
                        headers=bearer(client, "rev.civil"))
    assert [x["id"] for x in listed.json()] == [str(q.id)]
    done = client.post(url, json={"confirm": True, "reason": "入户核实属实"},
                       headers=bearer(client, "rev.civil"))
    assert done.status_code == 200, done.text
    assert done.json()["state"] == "opened" and done.json()["case_number"]
    assert done.json()["decided_by_name"] == "rev.civil"
    db_session.expire_all()
    told = _told(db_session)
    assert len(told) == 1 and told[0].recipient_id == elig.people["刘洋"]
    again = client.post(url, json={"confirm": False}, headers=bearer(client, "rev.civil"))
    assert again.status_code == 409


def test_the_applicant_sees_the_policies_they_qualify_for(
        client: TestClient, db_session: Session, elig: World) -> None:
    proactive.run_rule_set(db_session=db_session, settings=elig.settings,
                           code="housing_security")
    db_session.commit()
    account(db_session, "wangfang", ["applicant"], person_id=elig.people["王芳"])
    account(db_session, "zhangwei", ["applicant"], person_id=elig.people["张伟"])
    mine = client.get("/api/v1/eligibility/mine", headers=bearer(client, "wangfang")).json()
    assert [(m["rule_set_code"], m["state"]) for m in mine] == [("housing_security",
                                                                  "notified")]
    assert client.get("/api/v1/eligibility/mine",
                      headers=bearer(client, "zhangwei")).json() == []


def test_without_a_published_implementation_a_confirmed_case_waits_for_a_person(
        db_session: Session, elig: World) -> None:
    proactive.run_rule_set(db_session=db_session, settings=elig.settings,
                           code="job_retention_refund")
    found = list(db_session.scalars(select(Qualification)))
    assert {q.state for q in found} == {"confirmed"}
    assert all(proactive.NO_CASE in q.reason for q in found)
