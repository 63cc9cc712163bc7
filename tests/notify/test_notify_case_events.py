"""Applicants are told about their cases: supplement, acceptance, decision, licences."""

from __future__ import annotations

from sqlalchemy import select

from tests.cases.conftest import authorise_agent
from tongban.cases.models import Case
from tongban.cases.schemas import ApplicantIn
from tongban.identity import service as identity
from tongban.licences.models import Licence
from tongban.notify import service

from .conftest import World, at


def _inbox(w: World, who: str = "applicant") -> list[service.InboxEntry]:
    return list(reversed(service.inbox(db_session=w.db, settings=w.settings, actor=w[who])))


def _kinds(w: World, who: str = "applicant") -> list[str]:
    return [e.kind for e in _inbox(w, who)]


def test_supplement_acceptance_and_decision_each_tell_the_applicant_once(world: World) -> None:
    w = world
    case = w.submit(channel="online", when=at(2026, 9, 21, 9))
    w.upload(case, "ID")
    w.upload(case, "FORM")
    w.act("clerk", case, "request_supplement", when=at(2026, 9, 22),
          reason="请补交经营场所使用证明",
          items=[{"material_code": "PREMISES", "problem": "未提交"}])
    w.db.commit()
    supplement = _inbox(w)[-1]
    assert supplement.kind == "case.supplement_requested"
    assert supplement.title["zh"] == f"办件 {case.number} 需要补正材料"
    assert "请补交经营场所使用证明" in supplement.body["zh"]
    assert supplement.link == f"/my/cases/{case.number}"

    w.upload(case, "PREMISES", when=at(2026, 9, 23, 9))
    w.act("applicant", case, "supply", when=at(2026, 9, 23))
    w.act("clerk", case, "accept", when=at(2026, 9, 28))
    w.act("reviewer", case, "start_special_procedure", when=at(2026, 10, 12),
          reason="组织专家评审", kind="expert_review")
    w.act("reviewer", case, "end_special_procedure", when=at(2026, 10, 15))  # not re-accepted
    w.act("reviewer", case, "approve", when=at(2026, 10, 16))
    w.db.commit()
    assert _kinds(w) == ["case.supplement_requested", "case.accepted", "case.decided"]
    accepted, decided = _inbox(w)[1:]
    assert "承诺办结日期：2026-10-16" in accepted.body["zh"]
    assert decided.title == {"zh": f"办件 {case.number} 已办结：准予",
                             "en": f"Case {case.number} decided: approved"}
    assert _kinds(w, "principal") == []  # nobody else hears of it


def test_a_refusal_says_so_with_its_reason(world: World) -> None:
    w = world
    case = w.submit()
    w.act("clerk", case, "refuse", reason="不属于本机关职权范围")
    w.db.commit()
    (entry,) = _inbox(w)
    assert entry.kind == "case.decided" and "不予受理" in entry.title["zh"]
    assert "不属于本机关职权范围" in entry.body["zh"]


def test_a_confirmed_commitment_is_not_a_second_decision(world: World) -> None:
    w = world
    case = w.submit()
    w.act("clerk", case, "accept_on_commitment", when=at(2026, 9, 22),
          commitment="本人承诺经营场所合法有效", verify_by="2026-11-30")
    w.act("reviewer", case, "confirm_commitment", when=at(2026, 10, 20))
    w.db.commit()
    assert _kinds(w) == ["case.decided"]


def test_an_issued_licence_and_its_annulment_are_told(world: World) -> None:
    from tests.cases.test_cases_licensing import RESIDENCE_FIELDS, _residence_implementation

    w = world
    case = w.submit(code=_residence_implementation(w), when=at(2026, 9, 21))
    w.complete(case)
    w.act("clerk", case, "accept", when=at(2026, 9, 22))
    w.act("reviewer", case, "approve_on_commitment", when=at(2026, 9, 24),
          commitment="承诺居住信息属实", licence_fields=RESIDENCE_FIELDS)
    w.db.commit()
    licence = w.db.scalar(select(Licence).where(Licence.case_id == case.id))
    assert licence is not None
    assert _kinds(w) == ["case.accepted", "case.decided", "licence.issued"]
    issued = _inbox(w)[-1]
    assert licence.identifier in issued.body["zh"] and "居住证" in issued.title["zh"]

    w.act("reviewer", case, "revoke_commitment", when=at(2026, 10, 9), reason="居住信息不实")
    w.db.commit()
    assert _kinds(w)[-2:] == ["case.decided", "licence.revoked"]
    revoked = _inbox(w)[-1]
    assert "撤销" in revoked.body["zh"] and "居住信息不实" in revoked.body["zh"]


def test_a_task_of_a_bundle_is_not_told_to_the_applicant(world: World) -> None:
    w = world
    case = w.submit()
    task = w.db.get(Case, case.id)
    assert task is not None
    task.parent_case_id = case.id  # as a 一件事 task would be (its bundle is told)
    w.act("clerk", case, "refuse", reason="材料不全")
    w.db.commit()
    assert _kinds(w) == []


def test_the_agent_who_filed_is_told_too_until_the_authorisation_ends(world: World) -> None:
    w = world
    auth_id = authorise_agent(w)
    case = w.submit("agent", applicant=ApplicantIn(person_id=w.people["principal"]),
                    when=at(2026, 9, 21, 9))
    for code in ("ID", "FORM", "PREMISES"):
        w.upload(case, code, who="agent", when=at(2026, 9, 21, 9))
    w.act("clerk", case, "accept", when=at(2026, 9, 22))
    w.db.commit()
    assert _kinds(w, "principal") == ["case.accepted"]
    assert _kinds(w, "agent") == ["case.accepted"]
    assert _inbox(w, "agent")[0].title == _inbox(w, "principal")[0].title

    identity.revoke_agent_authorisation(db_session=w.db, actor=w["principal"],
                                        authorisation_id=auth_id, reason="不再委托",
                                        now=at(2026, 9, 23))
    w.act("reviewer", case, "approve", when=at(2026, 9, 24))
    w.db.commit()
    assert _kinds(w, "principal") == ["case.accepted", "case.decided"]
    assert _kinds(w, "agent") == ["case.accepted"]  # the authorisation ended on the 23rd
