"""好评率, 差评整改率 and 投诉按时办结率 are counted from the ratings' and tickets' own
events into the same cells as the case metrics, by the written definitions."""

from __future__ import annotations

from datetime import date
from typing import Any

from tests.cases.conftest import World, at
from tests.supervision.conftest import approved_case
from tongban.cases.service import WORKER_ACTOR as SYSTEM_ACTOR
from tongban.supervision.complaints import service as complaints
from tongban.supervision.metrics import service
from tongban.supervision.metrics.definitions import CELL_COUNTERS, by_id
from tongban.supervision.ratings import service as ratings

SEPT_OCT = {"from_month": "2026-09", "to_month": "2026-10"}
FEEDBACK = ("good_rating_rate", "bad_rating_rectified_rate", "complaint_on_time_rate")


def refresh(w: World, **kw: Any) -> service.RefreshResult:
    result = service.refresh(db_session=w.db, now=at(2026, 10, 30), **kw)
    w.db.commit()
    return result


def by_month(w: World, actor: Any = SYSTEM_ACTOR, **query: Any
             ) -> dict[str, dict[str, tuple[int | None, int | None]]]:
    """{month: {metric: (numerator, denominator)}} of the three feedback metrics."""
    q = service.MetricQuery(**{**SEPT_OCT, "by": "month", "metrics": FEEDBACK, **query})
    report = service.report(db_session=w.db, actor=actor, query=q)
    return {r.key: {v.definition.id: (v.numerator, v.denominator) for v in r.values}
            for r in report.rows}


def totals(w: World, **query: Any) -> dict[str, service.MetricValue]:
    q = service.MetricQuery(**{**SEPT_OCT, "metrics": FEEDBACK, **query})
    return {v.definition.id: v
            for v in service.report(db_session=w.db, actor=SYSTEM_ACTOR, query=q).total.values}


def rate(w: World, level: int, when: Any) -> ratings.RatingView:
    return ratings.rate(db_session=w.db, actor=w["applicant"],
                        case_number=approved_case(w).number, channel="online", level=level,
                        now=when)


def step(w: World, view: ratings.RatingView, who: str, action: str, when: Any,
         **kw: Any) -> ratings.RatingView:
    return ratings.act(db_session=w.db, actor=w[who], rating_id=view.rating.id,
                       action=action, now=when, **kw)


def ratings_by_hand(w: World) -> None:
    """September: 5, 4, 3 and four bad ones; October: two bad ones (counted below)."""
    for level in (5, 4, 3):
        rate(w, level, at(2026, 9, 29))
    # visit due Mon 12 Oct (国庆); fixed at once, the rater satisfied: on time
    fixed = rate(w, 2, at(2026, 9, 29))
    assert fixed.rectification is not None
    assert fixed.rectification.visit_due == date(2026, 10, 12)
    fixed = step(w, fixed, "reviewer", "fix_now", at(2026, 9, 30), reason="回访",
                 outcome="已补办")
    step(w, fixed, "applicant", "accept", at(2026, 9, 30))
    # three working days to rectify (due Sat 10 Oct, a 调休 working day); the rater is
    # satisfied only on 12 Oct: closed, but late
    late = step(w, rate(w, 1, at(2026, 9, 29)), "reviewer", "plan_rectification",
                at(2026, 9, 30), reason="回访", days=3)
    assert late.rectification is not None
    assert late.rectification.rectify_due == date(2026, 10, 10)
    late = step(w, late, "reviewer", "report_outcome", at(2026, 10, 9), outcome="已整改")
    step(w, late, "applicant", "accept", at(2026, 10, 12))
    # found malicious on appeal: counts nowhere
    malicious = step(w, rate(w, 1, at(2026, 9, 29)), "reviewer", "appeal", at(2026, 9, 30),
                     reason="评价人未办理过该事项", evidence="窗口录像")
    step(w, malicious, "supervisor", "uphold_appeal", at(2026, 10, 8), reason="属实")
    # under appeal, then the appeal dismissed: still a bad rating, not rectified
    dismissed = step(w, rate(w, 2, at(2026, 9, 29)), "reviewer", "appeal", at(2026, 9, 30),
                     reason="恶意", evidence="无")
    step(w, dismissed, "supervisor", "dismiss_appeal", at(2026, 10, 8), reason="证据不足")
    # October: one still waiting for its return visit; one visited after its visit
    # deadline (Thu 15 Oct) with a long plan, closed within the plan: not on time
    rate(w, 2, at(2026, 10, 9))
    slow = rate(w, 1, at(2026, 10, 9))
    assert slow.rectification is not None
    assert slow.rectification.visit_due == date(2026, 10, 15)
    slow = step(w, slow, "reviewer", "plan_rectification", at(2026, 10, 19), reason="回访",
                days=10)
    slow = step(w, slow, "reviewer", "report_outcome", at(2026, 10, 20), outcome="已整改")
    step(w, slow, "applicant", "accept", at(2026, 10, 21))
    w.db.commit()


def test_good_and_rectified_ratings_equal_the_hand_count(world: World) -> None:
    w = world
    ratings_by_hand(w)
    refresh(w)
    months = by_month(w)
    # September: 6 ratings count (the malicious one does not), 5 and 4 are good;
    # 3 bad ones, one rectified on time. October: 2 bad, none on time.
    assert months["2026-09"] == {"good_rating_rate": (2, 6),
                                 "bad_rating_rectified_rate": (1, 3),
                                 "complaint_on_time_rate": (0, 0)}
    assert months["2026-10"]["good_rating_rate"] == (0, 2)
    assert months["2026-10"]["bad_rating_rectified_rate"] == (0, 2)
    v = totals(w)
    assert v["good_rating_rate"].value == 2 / 8
    assert v["bad_rating_rectified_rate"].value == 1 / 5
    assert v["complaint_on_time_rate"].value is None  # no ticket closed: no figure, not 0
    assert v["complaint_on_time_rate"].available and v["complaint_on_time_rate"].note
    # a rating counts under its case's item, department and region
    case_item = approved_case(w).item_code
    (item_row,) = service.report(db_session=w.db, actor=SYSTEM_ACTOR, query=service.MetricQuery(
        **SEPT_OCT, by="item", metrics=("good_rating_rate",))).rows
    assert item_row.key == case_item and item_row.values[0].denominator == 8
    assert totals(w, department_id=w.health_id)["good_rating_rate"].denominator == 0


def test_the_public_results_count_rectified_ratings_as_the_metric_does(world: World) -> None:
    """好差评结果公开 and the metric agree: a rating closed late is not rectified."""
    w = world
    ratings_by_hand(w)
    rows = ratings.published(db_session=w.db, region_code="510000")
    assert sum(r.bad for r in rows) == 5 and sum(r.bad_rectified for r in rows) == 1
    assert sum(r.total for r in rows) == 8 and sum(r.annulled for r in rows) == 1


def test_the_department_sees_its_own_ratings_only(world: World) -> None:
    w = world
    rate(w, 5, at(2026, 9, 29))
    refresh(w)
    assert by_month(w, w["reviewer"])["2026-09"]["good_rating_rate"] == (1, 1)
    assert by_month(w, w["reviewer_health"]) == {}


def tickets_by_hand(w: World) -> None:
    """Filed Mon 21 Sep (一般诉求: due Tue 29 Sep), unless said otherwise."""
    case = approved_case(w)

    def ticket(**kw: Any) -> str:
        args: dict[str, Any] = {"category": "general", "subject": "油烟扰民",
                                "body": "晚上十点后油烟很大", "region_code": "510104",
                                "now": at(2026, 9, 21), **kw}
        return complaints.file(db_session=w.db, actor=w["applicant"], **args).complaint.number

    def act(number: str, who: str, action: str, when: Any, **kw: Any) -> None:
        complaints.act(db_session=w.db, actor=w[who], number=number, action=action,
                       now=when, **kw)

    # about the case: goes to its department; answered and closed on 24 Sep: on time
    quick = ticket(category="service", case_number=case.number, region_code=None)
    act(quick, "reviewer", "reply", at(2026, 9, 22), reply="已处理")
    act(quick, "applicant", "satisfied", at(2026, 9, 24))
    # answered in time, found wanting, answered again and closed on 9 Oct: late
    again = ticket()
    act(again, "supervisor", "dispatch", at(2026, 9, 21), department_id=w.market_id)
    act(again, "reviewer", "reply", at(2026, 9, 28), reply="已约谈")
    act(again, "applicant", "unsatisfied", at(2026, 9, 29), reason="仍有油烟")
    act(again, "reviewer", "reply", at(2026, 10, 8), reply="已停业整改")
    act(again, "applicant", "satisfied", at(2026, 10, 9))
    # a duplicate merged into the first: not counted on its own; one still open
    act(ticket(category="service"), "supervisor", "merge", at(2026, 9, 22), into=quick)
    act(ticket(), "supervisor", "dispatch", at(2026, 9, 21), department_id=w.market_id)
    # 复杂诉求 (15 days, due 20 Oct), then the limit cut to 2 days (due 23 Sep): closed
    # on 25 Sep, late by the deadline in force
    cut = ticket(category="complex")
    act(cut, "supervisor", "dispatch", at(2026, 9, 21), department_id=w.market_id)
    complaints.set_category(db_session=w.db, actor=w["supervisor"], code="complex",
                            name="复杂诉求", days=2, now=at(2026, 9, 22))
    act(cut, "reviewer", "reply", at(2026, 9, 23), reply="已处理")
    act(cut, "applicant", "satisfied", at(2026, 9, 25))
    w.db.commit()


def test_tickets_closed_on_time_equal_the_hand_count(world: World) -> None:
    w = world
    tickets_by_hand(w)
    refresh(w)
    months = by_month(w)
    assert months["2026-09"]["complaint_on_time_rate"] == (1, 2)
    assert months["2026-10"]["complaint_on_time_rate"] == (0, 1)
    assert totals(w)["complaint_on_time_rate"].value == 1 / 3
    # the ticket about a case counts under the case's item; the others have none
    items = service.report(db_session=w.db, actor=SYSTEM_ACTOR, query=service.MetricQuery(
        **SEPT_OCT, by="item", metrics=("complaint_on_time_rate",))).rows
    assert sorted((r.key, r.values[0].numerator, r.values[0].denominator) for r in items) \
        == sorted([(approved_case(w).item_code, 1, 1), ("—", 0, 2)])


def counters(w: World) -> dict[str, dict[str, int]]:
    return {str(k): sums for k, sums in service.counters(
        db_session=w.db, actor=SYSTEM_ACTOR, query=service.MetricQuery(**SEPT_OCT, by="month"))}


def test_a_refresh_picks_up_new_ratings_and_tickets_and_a_rebuild_agrees(
        world: World) -> None:
    w = world
    ratings_by_hand(w)
    tickets_by_hand(w)
    first = refresh(w)
    assert first.rebuilt and (first.ratings, first.complaints) == (9, 5)
    assert (refresh(w).ratings, refresh(w).complaints) == (0, 0)
    # a new bad rating, then its handling closed on time: each re-read once
    view = rate(w, 2, at(2026, 10, 12))
    w.db.commit()
    moved = refresh(w)
    assert (moved.ratings, moved.complaints) == (1, 0) and moved.cases > 0  # its case
    assert by_month(w)["2026-10"]["bad_rating_rectified_rate"] == (0, 3)
    view = step(w, view, "reviewer", "fix_now", at(2026, 10, 13), reason="回访",
                outcome="已改")
    step(w, view, "applicant", "accept", at(2026, 10, 14))
    w.db.commit()
    moved = refresh(w)
    assert (moved.cases, moved.ratings, moved.complaints) == (0, 1, 0)
    assert by_month(w)["2026-10"]["bad_rating_rectified_rate"] == (1, 3)
    # a new ticket closed in October on time
    number = complaints.file(db_session=w.db, actor=w["applicant"], category="general",
                             subject="路灯不亮", body="小区门口路灯坏了", region_code="510104",
                             now=at(2026, 10, 12)).complaint.number
    complaints.act(db_session=w.db, actor=w["supervisor"], number=number, action="dispatch",
                   department_id=w.market_id, now=at(2026, 10, 12))
    complaints.act(db_session=w.db, actor=w["reviewer"], number=number, action="reply",
                   reply="已修复", now=at(2026, 10, 13))
    complaints.act(db_session=w.db, actor=w["applicant"], number=number, action="satisfied",
                   now=at(2026, 10, 14))
    w.db.commit()
    moved = refresh(w)
    assert (moved.cases, moved.ratings, moved.complaints) == (0, 0, 1)
    assert by_month(w)["2026-10"]["complaint_on_time_rate"] == (1, 2)
    incremental = counters(w)
    assert refresh(w, rebuild=True).rebuilt
    assert counters(w) == incremental
    assert set(incremental["2026-10"]) == set(CELL_COUNTERS)


def test_the_feedback_definitions_are_versioned_and_say_what_they_count() -> None:
    defs = by_id()
    rectified = defs["bad_rating_rectified_rate"]
    assert rectified.version == 2 and (rectified.numerator, rectified.denominator) == (
        "bad_rectified", "bad")
    assert "评价人" in rectified.definition and "期限" in rectified.definition
    assert "申诉成立" in defs["good_rating_rate"].definition
    complaint = defs["complaint_on_time_rate"]
    assert (complaint.source, complaint.basis, complaint.denominator) == (
        "complaints", "closed", "complaints_closed")
