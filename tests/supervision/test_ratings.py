"""好差评 (国办发〔2019〕51号): five labelled levels, one rating per service by channel,
and a bad rating handled from the return visit to the rater's own verdict."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.cases.conftest import World, at
from tests.supervision.conftest import approved_case
from tongban.audit.models import AuditEntry
from tongban.cases.models import Case
from tongban.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound
from tongban.outbox.models import OutboxMessage
from tongban.supervision.ratings import service as ratings
from tongban.supervision.ratings.models import Rating, Rectification, RectificationEvent


def _rate(w: World, case: Case, level: Any, who: str = "applicant", **kw: Any
          ) -> ratings.RatingView:
    return ratings.rate(db_session=w.db, actor=w[who], case_number=case.number,
                        channel=kw.pop("channel", "online"), level=level,
                        now=kw.pop("now", at(2026, 9, 29)), **kw)


def _step(w: World, view: ratings.RatingView, who: str, action: str,
          **kw: Any) -> ratings.RatingView:
    return ratings.act(db_session=w.db, actor=w[who], rating_id=view.rating.id,
                       action=action, now=kw.pop("now", at(2026, 9, 30)), **kw)


def _written(w: World) -> tuple[int, int, int, int]:
    """(ratings, handling events, ledger rows, audit entries)."""
    count = lambda model, *where: w.db.scalar(  # noqa: E731
        select(func.count()).select_from(model).where(*where)) or 0
    return (count(Rating), count(RectificationEvent),
            count(OutboxMessage, OutboxMessage.topic == "ledger"), count(AuditEntry))


def _ledger(w: World, prefix: str = "rating.") -> list[dict[str, Any]]:
    rows = w.db.scalars(select(OutboxMessage).where(OutboxMessage.topic == "ledger")
                        .order_by(OutboxMessage.seq))
    return [{"kind": r.kind, **r.payload} for r in rows if r.kind.startswith(prefix)]


def test_the_applicant_rates_a_finished_case_once_online(world: World) -> None:
    case = approved_case(world)
    view = _rate(world, case, 5, indicators={"efficiency": 4}, comment="很快")
    assert view.rating.indicators == {"efficiency": 4, "overall": 5}
    assert view.rating.content_version == "gbt39734-2020/1"
    assert view.rectification is None  # a good rating needs no handling
    with pytest.raises(Conflict, match="已评价"):
        _rate(world, case, 1)  # 一事一评: the matter is rated once
    given = _ledger(world)
    assert [g["kind"] for g in given] == ["rating.given"]
    assert given[0]["level"] == 5 and given[0]["comment_sha256"]
    assert "很快" not in str(given) and "applicant" not in str(given)  # no rater, no text


def test_a_case_without_a_result_cannot_be_rated_online(world: World) -> None:
    case = world.submit()
    with pytest.raises(Conflict, match="办结后才能评价"):
        _rate(world, case, 5)


def test_each_window_visit_is_rated_on_its_own(world: World) -> None:
    case = approved_case(world)
    visits = [e.seq for e in world.events(case) if e.actor_role == "clerk"]
    own = next(e.seq for e in world.events(case) if e.actor_role != "clerk")
    first = _rate(world, case, 4, channel="window", visit_seq=visits[0],
                  indicators={"attitude": 5})
    assert first.rating.occasion == f"visit:{visits[0]}"
    online = _rate(world, case, 3)  # the matter itself is rated apart from the visit
    assert online.rating.occasion == "case"
    with pytest.raises(Conflict):
        _rate(world, case, 4, channel="window", visit_seq=visits[0])
    with pytest.raises(InvalidInput, match="窗口服务"):
        _rate(world, case, 4, channel="window", visit_seq=own)  # not a window visit
    with pytest.raises(InvalidInput, match="指标"):
        _rate(world, case, 4, channel="window", visit_seq=visits[-1],
              indicators={"usability": 3})  # an online indicator, asked at a window


@pytest.mark.parametrize(("kwargs", "error", "field"), [
    ({"level": 0}, InvalidInput, "level"),
    ({"level": 6}, InvalidInput, "level"),
    ({"level": "5"}, InvalidInput, "level"),
    ({"level": True}, InvalidInput, "level"),
    ({"level": 4, "channel": "fax"}, InvalidInput, "channel"),
    ({"level": 4, "indicators": {"speed": 4}}, InvalidInput, "indicators"),
    ({"level": 4, "indicators": {"efficiency": 9}}, InvalidInput, "indicators.efficiency"),
    ({"level": 4, "indicators": {"overall": 2}}, InvalidInput, "indicators.overall"),
    ({"level": 4, "comment": "长" * 501}, InvalidInput, "comment"),
    ({"level": 4, "visit_seq": 1}, InvalidInput, "visit_seq"),
])
def test_bad_input_is_a_clear_error_and_writes_nothing(
        world: World, kwargs: dict[str, Any], error: type[DomainError], field: str) -> None:
    case = approved_case(world)
    before = _written(world)
    with pytest.raises(error) as caught:
        _rate(world, case, **kwargs)
    assert caught.value.details["field"] == field and "/" in caught.value.message
    assert _written(world) == before


@pytest.mark.parametrize(("who", "error"), [
    ("principal", NotFound), ("clerk", Forbidden), ("supervisor", Forbidden),
])
def test_only_the_applicant_rates(world: World, who: str, error: type[DomainError]) -> None:
    case = approved_case(world)
    with pytest.raises(error):
        _rate(world, case, 5, who=who)


def test_a_bad_rating_opens_a_return_visit_due_in_working_days(world: World) -> None:
    case = approved_case(world)
    view = _rate(world, case, 2, comment="窗口让我跑了三次")  # 29 Sep 2026
    handling = view.rectification
    assert handling is not None and handling.state == "visit_pending"
    # five working days, skipping 国庆 (1-7 Oct) and counting Saturday 10 Oct
    assert handling.visit_due == date(2026, 10, 12)
    assert [e.action for e in view.events] == ["open"]
    seen = ratings.get(db_session=world.db, actor=world["reviewer"], rating_id=view.rating.id)
    assert set(seen.allowed_actions) == {"fix_now", "explain", "plan_rectification", "appeal"}


def test_local_limits_override_the_defaults_by_region(world: World) -> None:
    case = approved_case(world)
    limits = ratings.RatingSettings(region_limits={"510000": {"visit_days": 3},
                                                   "510104": {"visit_days": 1}})
    assert limits.limits_for("510104") == (1, 15)
    assert limits.limits_for("510105") == (3, 15)
    view = ratings.rate(db_session=world.db, limits=limits, actor=world["applicant"],
                        case_number=case.number, channel="online", level=1,
                        now=at(2026, 9, 29))
    assert view.rectification is not None
    assert view.rectification.visit_due == date(2026, 9, 30)


def test_only_the_raters_verdict_closes_a_bad_rating(world: World) -> None:
    case = approved_case(world)
    view = _rate(world, case, 1)
    view = _step(world, view, "reviewer", "plan_rectification", reason="已电话回访,情况属实",
                 days=3)
    assert view.rectification is not None
    assert view.rectification.state == "rectifying"
    assert view.rectification.rectify_due == date(2026, 10, 10)  # Saturday 10 Oct is worked
    view = _step(world, view, "reviewer", "report_outcome", outcome="已增设导办岗")
    for outsider in ("reviewer", "supervisor"):
        with pytest.raises(Forbidden, match="评价人"):
            _step(world, view, outsider, "accept")
    view = _step(world, view, "applicant", "reject", reason="仍需跑两次")
    assert view.rectification is not None and view.rectification.state == "rectifying"
    view = _step(world, view, "reviewer", "report_outcome", outcome="改为一次办结")
    view = _step(world, view, "applicant", "accept")
    handling = view.rectification
    assert handling is not None and handling.state == "closed" and handling.closed_at
    assert [e.action for e in view.events] == [
        "open", "plan_rectification", "report_outcome", "reject", "report_outcome", "accept"]
    assert [g["kind"] for g in _ledger(world)] == ["rating.given", "rating.accept"]
    with pytest.raises(Conflict, match="当前状态"):
        _step(world, view, "reviewer", "report_outcome", outcome="再次")


# Authorisation as data: (state reached by, action, who) -> outcome.
PATHS: dict[str, list[tuple[str, str, dict[str, Any]]]] = {
    "visit_pending": [],
    "rectifying": [("reviewer", "plan_rectification", {"reason": "回访", "days": 2})],
    "awaiting_verdict": [("reviewer", "fix_now", {"reason": "回访", "outcome": "已改"})],
    "appealed": [("reviewer", "appeal", {"reason": "恶意", "evidence": "录音"})],
}


@pytest.mark.parametrize(("state", "action", "who", "outcome"), [
    ("visit_pending", "fix_now", "reviewer", "ok"),
    ("visit_pending", "fix_now", "clerk", "ok"),
    ("visit_pending", "fix_now", "applicant", "forbidden"),
    ("visit_pending", "fix_now", "reviewer_health", "not_found"),  # another department
    ("visit_pending", "fix_now", "reviewer_bj", "not_found"),
    ("visit_pending", "accept", "applicant", "conflict"),
    ("visit_pending", "uphold_appeal", "supervisor", "conflict"),
    ("rectifying", "report_outcome", "reviewer", "ok"),
    ("rectifying", "report_outcome", "supervisor", "forbidden"),
    ("awaiting_verdict", "accept", "applicant", "ok"),
    ("awaiting_verdict", "reject", "applicant", "ok"),
    ("awaiting_verdict", "accept", "reviewer", "forbidden"),
    ("awaiting_verdict", "appeal", "reviewer", "ok"),
    ("appealed", "uphold_appeal", "supervisor", "ok"),
    ("appealed", "dismiss_appeal", "supervisor", "ok"),
    ("appealed", "uphold_appeal", "reviewer", "forbidden"),
    ("appealed", "accept", "applicant", "conflict"),
])
def test_who_may_take_each_step(world: World, state: str, action: str, who: str,
                                outcome: str) -> None:
    view = _rate(world, approved_case(world), 2)
    for actor, step, kw in PATHS[state]:
        view = _step(world, view, actor, step, **kw)
    payload = {"reason": "说明", "outcome": "结果", "days": 2, "evidence": "证据"}
    if outcome == "ok":
        _step(world, view, who, action, **payload)
        return
    before = _written(world)
    with pytest.raises(DomainError) as caught:
        _step(world, view, who, action, **payload)
    assert caught.value.code == outcome
    assert _written(world) == before


@pytest.mark.parametrize(("action", "given", "missing"), [
    ("fix_now", {"reason": "回访"}, ["outcome"]),
    ("plan_rectification", {"reason": "回访"}, ["days"]),
    ("appeal", {"reason": "恶意差评"}, ["evidence"]),
    ("explain", {"outcome": "无法定依据", "reason": "  "}, ["reason"]),
])
def test_a_step_without_what_it_needs_is_refused(world: World, action: str,
                                                 given: dict[str, Any],
                                                 missing: list[str]) -> None:
    view = _rate(world, approved_case(world), 2)
    with pytest.raises(InvalidInput, match="请填写") as caught:
        _step(world, view, "reviewer", action, **given)
    assert [d["field"] for d in caught.value.details] == missing


@pytest.mark.parametrize("days", [0, 16, -1])
def test_a_rectification_deadline_stays_within_the_local_limit(world: World,
                                                                days: int) -> None:
    view = _rate(world, approved_case(world), 2)
    with pytest.raises(InvalidInput, match="1到15个工作日"):
        _step(world, view, "reviewer", "plan_rectification", reason="回访", days=days)


def test_an_upheld_appeal_annuls_the_rating_and_a_dismissed_one_resumes(world: World) -> None:
    first = _rate(world, approved_case(world), 1, comment="恶意")
    first = _step(world, first, "reviewer", "appeal", reason="评价人未办理过该事项",
                  evidence="窗口录像 2026-09-22 10:00")
    assert first.rectification is not None and first.rectification.state == "appealed"
    first = _step(world, first, "supervisor", "uphold_appeal", reason="录像属实")
    assert first.rating.annulled and first.rectification is not None
    assert first.rectification.state == "annulled"

    second = _rate(world, approved_case(world), 2)
    second = _step(world, second, "reviewer", "plan_rectification", reason="回访", days=5)
    second = _step(world, second, "reviewer", "appeal", reason="恶意", evidence="无")
    second = _step(world, second, "supervisor", "dismiss_appeal", reason="证据不足")
    assert second.rectification is not None and second.rectification.state == "rectifying"
    kinds = [g["kind"] for g in _ledger(world)]
    assert kinds.count("rating.uphold_appeal") == 1 and kinds.count("rating.dismiss_appeal") == 1


def test_results_are_published_per_department_and_item(world: World) -> None:
    for level in (5, 4, 2, 1):
        view = _rate(world, approved_case(world), level)
        if level == 2:
            view = _step(world, view, "reviewer", "fix_now", reason="回访", outcome="已改")
            _step(world, view, "applicant", "accept")
        if level == 1:
            view = _step(world, view, "reviewer", "appeal", reason="恶意", evidence="录像")
            _step(world, view, "supervisor", "uphold_appeal", reason="属实")
    world.db.flush()
    (row,) = ratings.published(db_session=world.db, region_code="510000")
    assert (row.total, row.bad, row.bad_rectified, row.annulled) == (3, 1, 1, 1)
    assert row.by_level == {5: 1, 4: 1, 3: 0, 2: 1, 1: 0}
    assert row.good_rate == pytest.approx(2 / 3) and row.rectified_rate == 1.0
    assert ratings.published(db_session=world.db, region_code="320000") == []
    assert ratings.published(db_session=world.db, since=date(2026, 12, 1)) == []


def test_the_queue_shows_open_bad_ratings_in_scope_with_overdue_ones_marked(
        world: World) -> None:
    view = _rate(world, approved_case(world), 2, now=at(2026, 9, 29))
    rows = ratings.queue(db_session=world.db, actor=world["reviewer"], today=date(2026, 10, 13))
    assert [(r.rating.id, r.overdue) for r in rows] == [(view.rating.id, True)]
    assert ratings.queue(db_session=world.db, actor=world["reviewer_bj"]) == []
    assert ratings.queue(db_session=world.db, actor=world["reviewer"],
                         state="closed") == []
    with pytest.raises(Forbidden):
        ratings.queue(db_session=world.db, actor=world["applicant"])
    with pytest.raises(InvalidInput):
        ratings.queue(db_session=world.db, actor=world["reviewer"], state="bogus")
    assert world.db.scalar(select(func.count()).select_from(Rectification)) == 1
