"""预警纠错, 督查督办: a case held at a warning escalates to its department's head and then
to the region's supervisors; a supervisor's 督办 or 纠错 is answered by the department and
closed (or sent back) by the supervisor, on the case's timeline and in the ledger."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from tests.cases.conftest import PASSWORD, World, at
from tongban.cases import worker
from tongban.cases.models import Case
from tongban.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound
from tongban.identity import service as identity
from tongban.identity.actor import SYSTEM_ACTOR, Actor
from tongban.outbox.models import OutboxMessage
from tongban.supervision.warnings import service as warnings
from tongban.supervision.warnings.models import SupervisionOrder, WarningWatch


def _head(w: World) -> Actor:
    """钱科长: a supervisor scoped to the market department itself (its head)."""
    account = identity.create_account(
        db_session=w.db, actor=SYSTEM_ACTOR, username="head.market", password=PASSWORD,
        display_name="钱科长", roles=["supervisor"], scopes=[("510104", w.market_id)])
    return identity.actor_from_account(account)


def _accepted(w: World) -> Case:
    case = w.submit(when=at(2026, 9, 21, 9))
    w.complete(case, when=at(2026, 9, 21, 9))
    w.act("clerk", case, "accept", when=at(2026, 9, 21))
    return case


def _warn(w: World, when: datetime) -> None:
    worker.refresh_warnings(db_session=w.db, settings=w.settings, now=when)


def _escalate(w: World, when: datetime) -> int:
    return warnings.escalate(db_session=w.db, now=when)


def test_a_red_case_goes_to_its_head_at_once_and_to_the_supervisors_a_day_later(
        world: World) -> None:
    head = _head(world)
    case = _accepted(world)  # ten working days promised: due 12 Oct 2026 (国庆 between)
    late = datetime(2026, 10, 20, 2, tzinfo=at(2026, 1, 1).tzinfo)
    _warn(world, late)
    assert case.warning_level == "red"
    assert _escalate(world, late) == 2  # the watch begins, and goes to the head
    (row,) = warnings.escalated_to(db_session=world.db, actor=head)
    assert (row.watch.case_number, row.audience) == (case.number, "department_head")
    assert warnings.escalated_to(db_session=world.db, actor=world["supervisor"]) == []
    assert _escalate(world, late) == 0  # idempotent
    assert _escalate(world, late + timedelta(hours=24)) == 1
    (row,) = warnings.escalated_to(db_session=world.db, actor=world["supervisor"])
    assert row.audience == "supervisor"
    facts = [e.action for e in world.events(case) if e.action.startswith("supervision")]
    assert facts == ["supervision_escalated", "supervision_escalated"]


def test_a_yellow_case_waits_a_day_before_its_head_hears_of_it(world: World) -> None:
    head = _head(world)
    case = _accepted(world)
    eve = datetime(2026, 10, 10, 2, tzinfo=at(2026, 1, 1).tzinfo)  # Saturday, worked: one day left
    _warn(world, eve)
    assert case.warning_level == "yellow"
    assert _escalate(world, eve) == 1  # watched, not escalated yet
    assert warnings.escalated_to(db_session=world.db, actor=head) == []
    _escalate(world, eve + timedelta(hours=23))
    assert warnings.escalated_to(db_session=world.db, actor=head) == []
    _escalate(world, eve + timedelta(hours=24))
    assert len(warnings.escalated_to(db_session=world.db, actor=head)) == 1


def test_a_watch_ends_when_the_case_leaves_its_level(world: World) -> None:
    case = _accepted(world)
    late = datetime(2026, 10, 20, 2, tzinfo=at(2026, 1, 1).tzinfo)
    _warn(world, late)
    _escalate(world, late)
    world.act("reviewer", case, "approve", when=late)
    _warn(world, late + timedelta(minutes=1))
    _escalate(world, late + timedelta(minutes=1))
    (watch,) = world.db.scalars(select(WarningWatch))
    assert watch.ended_at is not None and watch.level == "red"


def test_a_bundle_task_is_watched_on_its_own(world: World) -> None:
    """Each task of a 一件事 is a case of its department: its warning is its own."""
    case = _accepted(world)
    case.kind, case.parent_case_id = "task", None  # as a bundle's task row looks
    late = datetime(2026, 10, 20, 2, tzinfo=at(2026, 1, 1).tzinfo)
    _warn(world, late)
    _escalate(world, late)
    (watch,) = world.db.scalars(select(WarningWatch))
    assert (watch.case_kind, watch.department_id) == ("task", world.market_id)


def _order(w: World, case: Case, kind: str = "supervise", who: str = "supervisor",
           **kw: Any) -> Any:
    return warnings.issue(db_session=w.db, actor=w[who], case_number=case.number, kind=kind,
                          text=kw.pop("text", "请于期限内办结"), now=at(2026, 9, 29), **kw)


def test_an_order_is_answered_by_the_department_and_closed_by_the_supervisor(
        world: World) -> None:
    case = _accepted(world)
    order = _order(world, case, days=3)
    assert order.due == date(2026, 10, 9)  # three working days across 国庆
    with pytest.raises(Forbidden, match="承办部门"):
        warnings.act_on_order(db_session=world.db, actor=world["supervisor"],
                              order_id=order.id, action="answer", text="自己答")
    with pytest.raises(InvalidInput, match="答复内容"):
        warnings.act_on_order(db_session=world.db, actor=world["reviewer"],
                              order_id=order.id, action="answer", text=" ")
    warnings.act_on_order(db_session=world.db, actor=world["reviewer"], order_id=order.id,
                          action="answer", text="已加急审查")
    warnings.act_on_order(db_session=world.db, actor=world["supervisor"], order_id=order.id,
                          action="reopen", text="仍未办结")
    assert order.state == "open"
    warnings.act_on_order(db_session=world.db, actor=world["reviewer"], order_id=order.id,
                          action="answer", text="已准予")
    warnings.act_on_order(db_session=world.db, actor=world["supervisor"], order_id=order.id,
                          action="close")
    assert order.state == "closed" and order.answer == "已准予"
    with pytest.raises(Conflict):
        warnings.act_on_order(db_session=world.db, actor=world["reviewer"],
                              order_id=order.id, action="answer", text="再答")
    steps = [e.action for e in warnings.events_of(db_session=world.db, subject_id=order.id)]
    assert steps == ["issued", "answer", "reopen", "answer", "close"]
    timeline = [e.action for e in world.events(case) if e.action.startswith("supervision")]
    assert timeline[0] == "supervision_supervise" and timeline[-1] == "supervision_order_close"
    kinds = [m.kind for m in world.db.scalars(select(OutboxMessage).where(
        OutboxMessage.topic == "ledger").order_by(OutboxMessage.seq))
        if m.kind.startswith("supervision.")]
    assert kinds == ["supervision.supervise", "supervision.order_answer",
                     "supervision.order_reopen", "supervision.order_answer",
                     "supervision.order_close"]


def test_a_correction_is_on_the_case_and_its_reason_sealed_on_the_order(world: World) -> None:
    case = _accepted(world)
    order = _order(world, case, kind="correct", text="受理时未核验营业场所证明,请重新审查")
    event = next(e for e in world.events(case) if e.action == "supervision_correct")
    assert event.data["order_id"] == str(order.id)
    # the reason stays on the order; the case's timeline names it
    assert "营业场所" not in (event.reason or "") and "纠错" in (event.reason or "")
    world.db.expire_all()
    stored = world.db.get(SupervisionOrder, order.id)
    assert stored is not None and stored.text == "受理时未核验营业场所证明,请重新审查"
    assert warnings.orders(db_session=world.db, actor=world["reviewer"]) == [order]
    assert warnings.orders(db_session=world.db, actor=world["reviewer_health"]) == []


@pytest.mark.parametrize(("kwargs", "who", "error"), [
    ({"kind": "scold"}, "supervisor", InvalidInput),
    ({"text": ""}, "supervisor", InvalidInput),
    ({"days": 0}, "supervisor", InvalidInput),
    ({"days": 31}, "supervisor", InvalidInput),
    ({}, "reviewer", Forbidden),  # staff of the department cannot order themselves
    ({}, "clerk_bj", NotFound),  # another region does not even see the case
])
def test_bad_orders_are_refused_with_a_clear_error(world: World, kwargs: dict[str, Any],
                                                   who: str, error: type[DomainError]) -> None:
    case = _accepted(world)
    with pytest.raises(error):
        _order(world, case, who=who, **kwargs)
    assert warnings.orders(db_session=world.db, actor=world["supervisor"]) == []
