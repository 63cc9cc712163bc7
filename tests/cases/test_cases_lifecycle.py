"""The case lifecycle, as the law and the guide describe it, through the service."""

from __future__ import annotations

import hashlib
import json
from datetime import date

import pytest
import rfc8785
from sqlalchemy import select

from tests.cases.conftest import IMMEDIATE_ITEM, World, at
from tongban.cases.models import Delivery, Pause, Payment, SupplementNotice
from tongban.errors import Conflict, InvalidInput
from tongban.outbox.models import OutboxMessage


def test_full_lifecycle_from_online_application_to_delivery(world: World) -> None:
    w = world
    case = w.submit(channel="online", when=at(2026, 9, 21, 9))
    assert case.state == "pre_review"
    assert case.number.startswith("51010420260921") and len(case.number) == 20
    w.upload(case, "ID", when=at(2026, 9, 21, 9))
    w.upload(case, "FORM", when=at(2026, 9, 21, 9))

    w.act("clerk", case, "request_supplement", when=at(2026, 9, 22),
          reason="请补交经营场所使用证明", items=[
              {"material_code": "PREMISES", "problem": "未提交"},
              {"field": "capital", "problem": "注册资金与申请书不一致"}])
    assert case.state == "supplement_requested"
    with pytest.raises(Conflict) as missing:
        w.act("applicant", case, "supply", when=at(2026, 9, 23))
    assert missing.value.code == "supplement_incomplete"
    w.upload(case, "PREMISES", when=at(2026, 9, 23, 9))
    w.act("applicant", case, "supply", when=at(2026, 9, 23),
          form_data={"shop_name": "锦江小面馆", "phone": "13800138000", "capital": 80000})
    assert case.state == "submitted" and case.form_data["capital"] == 80000
    notice = w.db.scalar(select(SupplementNotice).where(SupplementNotice.case_id == case.id))
    assert notice is not None and notice.answered_at is not None

    w.act("clerk", case, "accept", when=at(2026, 9, 28))
    assert case.state == "accepted" and case.accepted_at == at(2026, 9, 28)
    # 10 working days from Mon 28 Sep across 国庆 (1-7 Oct) and the 调休 Saturday 10 Oct
    assert case.promised_due_date == date(2026, 10, 16)
    assert case.legal_due_date == date(2026, 10, 30)

    w.act("reviewer", case, "start_special_procedure", when=at(2026, 10, 12),
          reason="组织专家评审", kind="expert_review")
    assert case.state == "paused" and case.paused
    w.act("reviewer", case, "end_special_procedure", when=at(2026, 10, 15))
    assert case.state == "accepted" and case.paused_days_total == 3
    assert case.promised_due_date == date(2026, 10, 21)

    w.act("supervisor", case, "extend", when=at(2026, 10, 16), reason="案情复杂", days=5)
    assert case.extension_days_total == 5
    assert case.promised_due_date == date(2026, 10, 28)
    assert case.legal_due_date == date(2026, 11, 11)

    w.act("clerk", case, "record_payment", when=at(2026, 10, 19), amount="0.01",
          method="cash", reference="SLIP-1")
    w.act("reviewer", case, "approve", when=at(2026, 10, 20))
    assert case.state == "approved" and case.decision == "approved"
    assert case.decided_at == at(2026, 10, 20) and case.warning_level == "none"
    w.act("clerk", case, "deliver", when=at(2026, 10, 21), method="post",
          tracking_number="SF1234567890", carrier="顺丰")
    assert case.state == "delivered" and case.closed_at is not None

    actions = [e.action for e in w.events(case)]
    assert actions == ["submit", "request_supplement", "supply", "accept",
                       "start_special_procedure", "end_special_procedure", "extend",
                       "record_payment", "approve", "deliver"]
    assert [e.seq for e in w.events(case)] == list(range(1, 11))
    # every step is logged (the state it leaves is bound by the log), the legal acts too
    assert w.ledger_kinds(case) == [f"case.{action}" for action in actions]
    pause = w.db.scalar(select(Pause).where(Pause.case_id == case.id))
    assert pause is not None and pause.kind == "expert_review" and pause.working_days == 3
    assert w.db.scalar(select(Payment).where(Payment.case_id == case.id)) is not None
    delivery = w.db.scalar(select(Delivery).where(Delivery.case_id == case.id))
    assert delivery is not None and delivery.tracking_number == "SF1234567890"


def test_supplement_after_acceptance_pauses_the_clock(world: World) -> None:
    w = world
    case = w.submit(when=at(2026, 9, 21))
    w.complete(case)
    w.act("clerk", case, "accept", when=at(2026, 9, 28))
    assert case.promised_due_date == date(2026, 10, 16)
    w.act("reviewer", case, "request_supplement", when=at(2026, 10, 8),
          reason="场所证明模糊", items=[{"material_code": "PREMISES", "problem": "模糊不清"}])
    assert case.state == "supplement_in_process" and case.paused
    w.upload(case, "PREMISES", when=at(2026, 10, 13))
    w.act("applicant", case, "supply", when=at(2026, 10, 13))
    # paused Thu 8 Oct -> Tue 13 Oct: 9, 10 (调休 Saturday), 12, 13 = 4 working days
    assert case.state == "accepted" and not case.paused and case.paused_days_total == 4
    assert case.promised_due_date == date(2026, 10, 22)


def test_accept_requires_every_required_material(world: World) -> None:
    """Whatever its source: the ID card (an e-licence source, none held) counts too."""
    case = world.submit()
    world.upload(case, "FORM")
    with pytest.raises(Conflict) as exc:
        world.act("clerk", case, "accept")
    assert exc.value.code == "materials_missing"
    assert exc.value.details == {"missing": ["ID", "PREMISES"]}


def test_accept_with_deficiency_only_on_materials_the_guide_allows(world: World) -> None:
    w = world
    case = w.submit()
    with pytest.raises(InvalidInput) as exc:
        w.act("clerk", case, "accept_with_deficiency", deficient_materials=["FORM"],
              promise_date="2026-10-09")
    assert exc.value.code == "deficiency_not_allowed"
    assert exc.value.details[0]["field"] == "data.deficient_materials.0"
    with pytest.raises(Conflict):  # FORM is missing too and may not be deficient
        w.act("clerk", case, "accept_with_deficiency", deficient_materials=["PREMISES"],
              promise_date="2026-10-09")
    w.upload(case, "ID")
    w.upload(case, "FORM")
    w.act("clerk", case, "accept_with_deficiency", deficient_materials=["PREMISES"],
          promise_date="2026-10-09")
    assert case.state == "accepted" and case.deficient_materials == ["PREMISES"]
    assert case.deficiency_promise_date == date(2026, 10, 9)
    with pytest.raises(Conflict) as owed:
        w.act("reviewer", case, "approve")
    assert owed.value.code == "deficiency_outstanding"
    w.upload(case, "PREMISES", when=at(2026, 9, 29))
    w.act("applicant", case, "supply", when=at(2026, 9, 29))
    assert case.deficient_materials == [] and case.state == "accepted"
    w.act("reviewer", case, "approve", when=at(2026, 9, 30))
    assert case.state == "approved"


def test_approval_on_commitment_is_confirmed_by_verification(world: World) -> None:
    w = world
    case = w.submit()
    w.act("clerk", case, "accept_on_commitment", when=at(2026, 9, 22),
          commitment="本人承诺经营场所合法有效", verify_by="2026-11-30")
    assert case.state == "approved_on_commitment" and case.decision == "approved_on_commitment"
    assert case.accepted_at == case.decided_at == at(2026, 9, 22)
    w.act("clerk", case, "deliver", method="licence", licence_reference="L-1")
    assert case.state == "approved_on_commitment" and case.delivered_at is not None
    w.act("reviewer", case, "confirm_commitment", when=at(2026, 10, 20))
    assert case.state == "approved" and case.decision == "approved"
    assert w.ledger_kinds(case) == ["case.submit", "case.accept_on_commitment",
                                    "case.deliver", "case.confirm_commitment"]


def test_approval_on_commitment_is_revoked_when_the_commitment_was_false(world: World
                                                                          ) -> None:
    w = world
    case = w.submit()
    w.complete(case)
    w.act("clerk", case, "accept")
    w.act("reviewer", case, "approve_on_commitment", commitment="承诺场所符合消防要求")
    with pytest.raises(InvalidInput):
        w.act("reviewer", case, "revoke_commitment")  # a reason is required
    w.act("reviewer", case, "revoke_commitment", reason="现场核查:场所不符合消防要求")
    assert case.state == "revoked" and case.decision == "revoked"
    assert case.decision_reason == "现场核查:场所不符合消防要求"
    w.act("clerk", case, "deliver", method="pickup", pickup_window="3号窗口 工作日9-17时")
    assert case.state == "delivered"


def test_an_immediate_item_is_decided_at_acceptance(world: World) -> None:
    w = world
    case = w.submit(code=w.immediate_code, when=at(2026, 9, 22, 9))
    assert case.workflow == "immediate" and case.item_code == IMMEDIATE_ITEM
    w.upload(case, "FORM", when=at(2026, 9, 22, 9))
    w.act("clerk", case, "accept", when=at(2026, 9, 22, 9))
    assert case.state == "approved" and case.decision == "approved"
    assert case.accepted_at == case.decided_at
    assert case.promised_due_date == date(2026, 9, 22)
    assert w.ledger_kinds(case) == ["case.submit", "case.accept"]


def test_a_second_decision_is_refused_with_the_allowed_actions(world: World) -> None:
    w = world
    case = w.submit()
    w.complete(case)
    w.act("clerk", case, "accept")
    w.act("reviewer", case, "deny", reason="不符合条件")
    with pytest.raises(Conflict) as exc:
        w.act("reviewer", case, "approve")
    assert exc.value.code == "action_not_allowed"
    assert exc.value.details["state"] == "denied"
    assert exc.value.details["allowed_actions"] == []
    clerk_view = w.act
    with pytest.raises(Conflict) as again:
        clerk_view("clerk", case, "approve")
    assert again.value.details["allowed_actions"] == ["deliver"]


def test_withdrawal_by_the_applicant_closes_an_undecided_case(world: World) -> None:
    w = world
    case = w.submit()
    w.complete(case)
    w.act("clerk", case, "accept")
    w.act("reviewer", case, "start_special_procedure", reason="听证", kind="hearing")
    w.act("applicant", case, "withdraw", when=at(2026, 9, 25), reason="不再经营")
    assert case.state == "withdrawn" and not case.paused
    assert w.db.scalar(select(Pause).where(Pause.case_id == case.id)).ended_at is not None


def test_termination_needs_staff_and_a_reason(world: World) -> None:
    w = world
    case = w.submit()
    with pytest.raises(InvalidInput):
        w.act("clerk", case, "terminate")
    w.act("clerk", case, "terminate", reason="申请人死亡")
    assert case.state == "terminated"
    assert w.ledger_kinds(case) == ["case.submit", "case.terminate"]


def test_refusal_records_reasons_and_a_ledger_entry_without_personal_text(world: World
                                                                          ) -> None:
    w = world
    case = w.submit()
    reason = "不属于本机关职权范围"
    w.act("clerk", case, "refuse", reason=reason)
    assert case.state == "refused" and case.decision == "refused"
    assert w.ledger_kinds(case) == ["case.submit", "case.refuse"]
    entry = w.db.scalar(select(OutboxMessage).where(OutboxMessage.kind == "case.refuse"))
    assert entry is not None and reason not in json.dumps(entry.payload, ensure_ascii=False)
    assert entry.payload["reason_sha256"] == hashlib.sha256(rfc8785.dumps(reason)).hexdigest()
    assert entry.payload["case_number"] == case.number and entry.payload["seq"] == 2


def test_extensions_are_limited_to_ten_working_days(world: World) -> None:
    w = world
    case = w.submit()
    w.complete(case)
    w.act("clerk", case, "accept")
    w.act("supervisor", case, "extend", reason="复杂", days=6)
    with pytest.raises(InvalidInput) as exc:
        w.act("supervisor", case, "extend", reason="还要", days=5)
    assert exc.value.code == "extension_too_long"
    assert case.extension_days_total == 6
