"""12345 complaints (国办发〔2020〕53号, 国办函〔2025〕66号): a ticket is routed to a
department, returned and reassigned with reasons as data, merged when it repeats
another, answered within its category's working days, and closed by the complainant."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.calendar.conftest import DOC_2027
from tests.cases.conftest import World, at
from tests.supervision.conftest import approved_case
from tongban.calendar import service as calendar
from tongban.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound
from tongban.supervision.complaints import service as complaints
from tongban.supervision.complaints.models import Complaint, ComplaintEvent

SUBJECT, BODY = "锦江区某餐馆油烟扰民", "每天晚上十点后油烟很大,影响休息,请处理"


def _file(w: World, who: str = "applicant", **kw: Any) -> complaints.ComplaintView:
    args: dict[str, Any] = {"category": "general", "subject": SUBJECT, "body": BODY,
                            "region_code": "510104", "now": at(2026, 9, 21)}
    args.update(kw)
    return complaints.file(db_session=w.db, actor=w[who], **args)


def _step(w: World, number: str, who: str, action: str, **kw: Any
          ) -> complaints.ComplaintView:
    return complaints.act(db_session=w.db, actor=w[who], number=number, action=action,
                          now=kw.pop("now", at(2026, 9, 22)), **kw)


def _written(w: World) -> tuple[int, int]:
    count = lambda m: w.db.scalar(select(func.count()).select_from(m)) or 0  # noqa: E731
    return count(Complaint), count(ComplaintEvent)


def test_a_ticket_without_a_rule_waits_for_the_agency_and_is_due_in_working_days(
        world: World) -> None:
    view = _file(world)  # Monday 21 Sep 2026, 一般诉求: five working days
    t = view.complaint
    assert t.number.startswith("TS51010420260921") and t.state == "received"
    assert t.due_date == date(2026, 9, 29) and not t.due_provisional  # 中秋 is 25 Sep
    assert [e.action for e in view.events] == ["file"]
    agency = complaints.get(db_session=world.db, actor=world["supervisor"], number=t.number)
    assert agency.allowed_actions == ["dispatch", "merge"]
    urgent = _file(world, category="utilities", now=at(2026, 9, 30))  # 国庆 follows
    assert urgent.complaint.due_date == date(2026, 10, 8)


def test_the_routing_rules_dispatch_the_most_specific_first(world: World) -> None:
    complaints.add_rule(db_session=world.db, actor=world["supervisor"],
                        category_code="general", region_code="510100",
                        department_id=world.health_id)
    complaints.add_rule(db_session=world.db, actor=world["supervisor"],
                        category_code="general", region_code="510104",
                        department_id=world.market_id, keyword="餐馆")
    routed = _file(world).complaint
    assert routed.state == "dispatched" and routed.department_id == world.market_id
    other = _file(world, subject="噪音", body="工地夜间施工").complaint
    assert other.department_id == world.health_id  # no keyword: the city's rule


def test_a_ticket_about_a_case_goes_to_the_department_that_handled_it(world: World) -> None:
    case = approved_case(world)
    view = _file(world, category="service", case_number=case.number, region_code=None)
    assert view.complaint.department_id == case.department_id
    assert view.complaint.region_code == case.region_code
    with pytest.raises(InvalidInput, match="关联办件"):
        _file(world, who="principal", category="service", case_number=case.number)


def test_return_and_reassign_keep_their_reasons_as_data(world: World) -> None:
    number = _file(world).complaint.number
    _step(world, number, "supervisor", "dispatch", department_id=world.health_id)
    with pytest.raises(InvalidInput, match="退单原因无效"):
        _step(world, number, "reviewer_health", "return", reason_code="busy", reason="忙")
    view = _step(world, number, "reviewer_health", "return", reason_code="not_our_duty",
                 reason="油烟属市场监管")
    # it waits for the agency's review of the objection (派单异议审核)
    assert (view.complaint.state, view.allowed_actions) == ("returned", [])
    with pytest.raises(InvalidInput, match="请填写"):
        _step(world, number, "supervisor", "reassign", department_id=world.market_id)
    view = _step(world, number, "supervisor", "reassign", department_id=world.market_id,
                 reason="按职责改派市场监管")
    assert view.complaint.department_id == world.market_id and view.complaint.returns == 1
    returned = next(e for e in view.events if e.action == "return")
    assert (returned.reason_code, returned.from_department_id) == ("not_our_duty",
                                                                   world.health_id)
    assert complaints.return_counts(db_session=world.db, region_code="510100") == {
        world.health_id: 1}
    with pytest.raises(InvalidInput, match="另一个部门"):
        _step(world, number, "supervisor", "reassign", department_id=world.market_id,
              reason="再派")


def test_the_agency_may_uphold_the_first_dispatch_after_a_return(world: World) -> None:
    number = _file(world).complaint.number
    _step(world, number, "supervisor", "dispatch", department_id=world.market_id)
    _step(world, number, "reviewer", "return", reason_code="other", reason="不归我们")
    view = _step(world, number, "supervisor", "reassign", department_id=world.market_id,
                 reason="异议不成立:油烟属市场监管职责")
    assert view.complaint.state == "dispatched" and "reply" in complaints.get(
        db_session=world.db, actor=world["reviewer"], number=number).allowed_actions


def test_only_the_complainants_verdict_closes_a_ticket(world: World) -> None:
    number = _file(world).complaint.number
    _step(world, number, "supervisor", "dispatch", department_id=world.market_id)
    with pytest.raises(Forbidden, match="承办部门"):
        _step(world, number, "supervisor", "reply", reply="已处理")
    _step(world, number, "reviewer", "reply", reply="已约谈商户,加装净化器")
    with pytest.raises(Forbidden, match="诉求人"):
        _step(world, number, "reviewer", "satisfied")
    view = _step(world, number, "applicant", "unsatisfied", reason="仍有油烟")
    assert view.complaint.state == "dispatched"
    assert view.complaint.department_id == world.market_id  # back to the same department
    _step(world, number, "reviewer", "reply", reply="已责令停业整改")
    view = _step(world, number, "applicant", "satisfied")
    assert view.complaint.state == "closed" and view.complaint.satisfied is True
    assert [e.action for e in view.events] == [
        "file", "dispatch", "reply", "unsatisfied", "reply", "satisfied"]


def test_the_agency_records_a_hotline_callers_verdict_and_only_theirs(world: World) -> None:
    number = _file(world, who="supervisor", channel="hotline").complaint.number
    _step(world, number, "supervisor", "dispatch", department_id=world.market_id)
    _step(world, number, "reviewer", "reply", reply="已约谈商户")
    with pytest.raises(Forbidden, match="诉求人"):
        _step(world, number, "reviewer", "satisfied")  # the department never judges itself
    view = _step(world, number, "supervisor", "unsatisfied", reason="来电人回访:仍有油烟")
    assert view.complaint.state == "dispatched"
    _step(world, number, "reviewer", "reply", reply="已责令整改")
    view = _step(world, number, "supervisor", "satisfied")
    assert view.complaint.state == "closed" and view.complaint.satisfied is True
    assert [(e.action, e.actor_role) for e in view.events][-2:] == [
        ("reply", "department"), ("satisfied", "agency")]
    portal = _file(world).complaint.number  # a complainant with an account speaks for
    _step(world, portal, "supervisor", "dispatch", department_id=world.market_id)
    _step(world, portal, "reviewer", "reply", reply="已处理")
    with pytest.raises(Forbidden, match="诉求人"):  # themselves: the agency cannot
        _step(world, portal, "supervisor", "satisfied")


def test_a_duplicate_is_proposed_and_merged_into_the_ticket_that_carries_it(
        world: World) -> None:
    first = _file(world).complaint.number
    again = _file(world, who="principal", body="每天晚上十点以后油烟很大,影响休息").complaint
    unrelated = _file(world, subject="路灯不亮", body="小区门口路灯坏了一个月").complaint
    found = complaints.duplicates(db_session=world.db, actor=world["supervisor"],
                                  number=again.number)
    assert [t.number for t, _ in found] == [first]
    with pytest.raises(InvalidInput, match="并入"):
        _step(world, again.number, "supervisor", "merge", into=again.number)
    view = _step(world, again.number, "supervisor", "merge", into=first)
    assert view.complaint.state == "merged" and view.merged_into == first
    mine = complaints.get(db_session=world.db, actor=world["principal"], number=again.number)
    assert mine.merged_into == first  # the complainant follows the ticket carrying theirs
    assert unrelated.state == "received"


def test_deadlines_are_recomputed_when_a_calendar_year_is_loaded(world: World) -> None:
    view = _file(world, now=at(2026, 12, 28))  # five working days reach into 2027
    assert (view.complaint.due_date, view.complaint.due_provisional) == (date(2027, 1, 4), True)
    assert complaints.recompute_deadlines(db_session=world.db) == 0  # nothing changed yet
    calendar.load_year(db_session=world.db, document=DOC_2027, actor_name="test")
    world.db.commit()
    assert complaints.recompute_deadlines(db_session=world.db, now=at(2026, 12, 29)) == 1
    again = complaints.get(db_session=world.db, actor=world["applicant"],
                           number=view.complaint.number)
    assert (again.complaint.due_date, again.complaint.due_provisional) == (
        date(2027, 1, 5), False)  # 1 January 2027 is 元旦
    assert again.events[-1].action == "deadline"
    assert again.events[-1].data == {"from": "2027-01-04", "to": "2027-01-05",
                                     "provisional": False}


def test_changing_a_categorys_limit_moves_open_tickets(world: World) -> None:
    number = _file(world).complaint.number
    complaints.set_category(db_session=world.db, actor=world["supervisor"], code="general",
                            name="一般诉求", days=3)
    again = complaints.get(db_session=world.db, actor=world["applicant"], number=number)
    assert again.complaint.due_date == date(2026, 9, 24)
    with pytest.raises(InvalidInput, match="1到60"):
        complaints.set_category(db_session=world.db, actor=world["supervisor"],
                                code="general", name="一般诉求", days=0)
    with pytest.raises(Forbidden):
        complaints.set_category(db_session=world.db, actor=world["applicant"],
                                code="general", name="x", days=3)


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"category": "nope"}, "category"),
    ({"subject": "  "}, "subject"),
    ({"body": ""}, "body"),
    ({"body": "长" * 5001}, "body"),
    ({"region_code": "5101"}, "region_code"),
    ({"channel": "fax"}, "channel"),
    ({"case_number": "510104202609210009"}, "case_number"),
])
def test_bad_input_is_a_clear_error_and_writes_nothing(world: World, kwargs: dict[str, Any],
                                                       field: str) -> None:
    before = _written(world)
    with pytest.raises(InvalidInput) as caught:
        _file(world, **kwargs)
    assert caught.value.details["field"] == field and "/" in caught.value.message
    assert _written(world) == before


@pytest.mark.parametrize(("who", "error"), [
    ("clerk", Forbidden),  # staff file hotline calls as the agency, not as complainants
    ("reviewer", Forbidden),
])
def test_staff_do_not_file_as_complainants(world: World, who: str,
                                           error: type[DomainError]) -> None:
    with pytest.raises(error):
        _file(world, who=who)


def test_the_agency_files_a_hotline_call_and_strangers_see_nothing(world: World) -> None:
    view = _file(world, who="supervisor", channel="hotline")
    assert view.complaint.complainant_account_id is None
    number = view.complaint.number
    for stranger in ("principal", "reviewer_bj", "clerk_bj"):
        with pytest.raises(NotFound):
            complaints.get(db_session=world.db, actor=world[stranger], number=number)
    with pytest.raises(Conflict):
        _step(world, number, "supervisor", "reply", reply="x")
    assert [t.number for t in complaints.list_for(
        db_session=world.db, actor=world["supervisor"])] == [number]
    assert complaints.list_for(db_session=world.db, actor=world["principal"]) == []
