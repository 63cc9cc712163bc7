"""Supervision tells staff through notify: the department of a bad rating, of a ticket
routed to it and of an order; the head and the supervisors of an escalated warning; the
issuer of an answered order; the complainant of a reply. Each message is written in the
caller's transaction, once per event, to the accounts the audience names."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from tests.cases.conftest import PASSWORD, World, at
from tests.supervision.conftest import approved_case
from tongban.cases import worker
from tongban.identity import service as identity
from tongban.identity.actor import SYSTEM_ACTOR, Actor
from tongban.notify import service as notify
from tongban.notify.models import Notification
from tongban.supervision import notices
from tongban.supervision.complaints import service as complaints
from tongban.supervision.ratings import service as ratings
from tongban.supervision.warnings import service as warnings


def _inbox(w: World, who: str | Actor) -> list[notify.InboxEntry]:
    actor = w[who] if isinstance(who, str) else who
    return notify.inbox(db_session=w.db, settings=w.settings, actor=actor)


def _kinds(w: World, who: str | Actor) -> list[str]:
    return [e.kind for e in _inbox(w, who)]


def _count(w: World) -> int:
    """Supervision's messages (a case's own news to its applicant is notify's hooks')."""
    return w.db.scalar(select(func.count()).select_from(Notification).where(
        Notification.kind.startswith("supervision.") | (Notification.kind
                                                        == "complaint.answered"))) or 0


def test_a_bad_rating_tells_the_departments_own_staff_once(world: World) -> None:
    case = approved_case(world)
    view = ratings.rate(db_session=world.db, actor=world["applicant"], case_number=case.number,
                        channel="online", level=2, comment="等太久", now=at(2026, 9, 29))
    (entry,) = _inbox(world, "reviewer")  # scoped to the market department
    assert entry.kind == "supervision.rating_visit_due"
    assert entry.link == f"/workbench/ratings/{view.rating.id}"
    assert case.number in entry.title["zh"] and "不满意" in entry.body["zh"]
    assert "dissatisfied" in entry.body["en"] and "2026-10-" in entry.body["zh"]
    # the department has staff of its own: the district's window clerk and the other
    # department are not told, nor is the rater
    for other in ("clerk", "reviewer_health", "applicant", "supervisor"):
        assert [k for k in _kinds(world, other) if k.startswith("supervision.")] == [], other
    h = view.rectification
    assert h is not None
    before = _count(world)
    notices.rating_visit_due(db_session=world.db, rating_id=view.rating.id,
                             case_number=case.number, item_name="", level=("不满意", "x"),
                             region_code=h.region_code, department_id=h.department_id,
                             visit_due=h.visit_due, now=at(2026, 9, 29))
    assert _count(world) == before  # once per key


def test_a_message_is_written_in_the_callers_transaction(world: World) -> None:
    case = approved_case(world)
    world.db.commit()
    ratings.rate(db_session=world.db, actor=world["applicant"], case_number=case.number,
                 channel="online", level=1, now=at(2026, 9, 29))
    assert _count(world) == 1
    world.db.rollback()  # the rating is undone: so is the news of it
    assert _count(world) == 0


def test_a_ticket_tells_each_department_it_is_routed_to_and_the_complainant_of_the_reply(
        world: World) -> None:
    filed = complaints.file(db_session=world.db, actor=world["applicant"], category="general",
                            subject="油烟扰民", body="晚上油烟很大", region_code="510104",
                            now=at(2026, 9, 21))
    number = filed.complaint.number
    assert _count(world) == 0  # no rule: it waits for the agency, nobody is told yet

    def step(who: str, action: str, **kw: Any) -> None:
        complaints.act(db_session=world.db, actor=world[who], number=number, action=action,
                       now=at(2026, 9, 22), **kw)

    step("supervisor", "dispatch", department_id=world.health_id)
    (routed,) = _inbox(world, "reviewer_health")
    assert routed.kind == "supervision.complaint_routed"
    assert number in routed.title["zh"] and "一般诉求" in routed.body["zh"]
    assert routed.link == f"/workbench/complaints/{number}"
    step("reviewer_health", "return", reason_code="not_our_duty", reason="非本部门")
    step("supervisor", "reassign", department_id=world.market_id, reason="改派市场监管")
    assert _kinds(world, "reviewer") == ["supervision.complaint_routed"]
    step("reviewer", "reply", reply="已责令整改")
    (answered,) = _inbox(world, "applicant")
    assert answered.kind == "complaint.answered" and answered.link == f"/my/complaints/{number}"
    step("applicant", "unsatisfied", reason="没有改")
    step("reviewer", "reply", reply="已复查")  # a second reply is news again
    assert _kinds(world, "applicant") == ["complaint.answered"] * 2
    assert _kinds(world, "reviewer_health") == ["supervision.complaint_routed"]


def _head(w: World) -> Actor:
    account = identity.create_account(
        db_session=w.db, actor=SYSTEM_ACTOR, username="head.notices", password=PASSWORD,
        display_name="钱科长", roles=["supervisor"], scopes=[("510104", w.market_id)])
    return identity.actor_from_account(account)


def test_an_escalated_red_warning_tells_the_head_then_the_supervisors_once_each(
        world: World) -> None:
    head = _head(world)
    case = world.submit(when=at(2026, 9, 21, 9))
    world.complete(case, when=at(2026, 9, 21, 9))
    world.act("clerk", case, "accept", when=at(2026, 9, 21))
    late = datetime(2026, 10, 20, 2, tzinfo=at(2026, 1, 1).tzinfo)
    worker.refresh_warnings(db_session=world.db, settings=world.settings, now=late)
    warnings.escalate(db_session=world.db, now=late)
    warnings.escalate(db_session=world.db, now=late)  # idempotent, and so is the news
    (to_head,) = _inbox(world, head)
    assert to_head.kind == "supervision.warning_escalated"
    assert "红牌" in to_head.title["zh"] and "red" in to_head.title["en"]
    assert "部门负责人" in to_head.body["zh"]
    assert _kinds(world, "supervisor") == []  # not yet: a day later
    warnings.escalate(db_session=world.db, now=late + timedelta(hours=24))
    (to_region,) = _inbox(world, "supervisor")
    assert "监督人员" in to_region.body["zh"] and to_region.link == "/supervision/queue"
    assert len(_inbox(world, head)) == 1


def test_an_order_tells_the_department_and_its_answer_tells_the_issuer(world: World) -> None:
    case = world.submit(when=at(2026, 9, 21, 9))
    order = warnings.issue(db_session=world.db, actor=world["supervisor"],
                           case_number=case.number, kind="correct", text="材料未核验",
                           now=at(2026, 9, 22))
    (issued,) = _inbox(world, "reviewer")
    assert issued.kind == "supervision.order_issued" and "纠错" in issued.title["zh"]
    assert "correction" in issued.title["en"] and order.due.isoformat() in issued.body["zh"]
    assert "材料未核验" not in issued.body["zh"]  # the text stays on the order
    warnings.act_on_order(db_session=world.db, actor=world["reviewer"], order_id=order.id,
                          action="answer", text="已重新审查", now=at(2026, 9, 23))
    (answered,) = _inbox(world, "supervisor")
    assert answered.kind == "supervision.order_answered"
    assert answered.link == f"/supervision/cases/{case.number}/orders"


def test_staff_resolve_to_the_departments_accounts_or_the_regions(world: World) -> None:
    market = notify.Staff(region_code="510104", roles=("reviewer",),
                          department_id=world.market_id)
    assert notify.staff_accounts(db_session=world.db, to=market) == [
        world["reviewer"].account_id]
    region = notify.Staff(region_code="510104", roles=("supervisor",))
    assert notify.staff_accounts(db_session=world.db, to=region) == [
        world["supervisor"].account_id]  # scoped to 成都市, above 锦江区
    beijing = notify.Staff(region_code="110101", roles=("reviewer", "clerk"))
    assert set(notify.staff_accounts(db_session=world.db, to=beijing)) == {
        world["clerk_bj"].account_id, world["reviewer_bj"].account_id}
    headless = notify.Staff(region_code="510104", roles=("supervisor",),
                            department_id=world.health_id, or_region=False)
    assert notify.staff_accounts(db_session=world.db, to=headless) == []
