"""Metrics are computed from the case events, by the written definitions, per scope."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from tests.cases.conftest import World, at
from tongban.cases.schemas import ApplicantIn
from tongban.cases.service import WORKER_ACTOR as SYSTEM_ACTOR
from tongban.errors import Forbidden, InvalidInput, NotFound
from tongban.identity.actor import Actor
from tongban.supervision.metrics import service
from tongban.supervision.metrics.definitions import by_id, definitions
from tongban.supervision.metrics.models import MetricFact

SEPT_OCT = {"from_month": "2026-09", "to_month": "2026-10"}


def values(w: World, actor: Actor = SYSTEM_ACTOR, **query: Any) -> dict[str, Any]:
    q = service.MetricQuery(**{**SEPT_OCT, **query})
    report = service.report(db_session=w.db, actor=actor, query=q)
    return {v.definition.id: v for v in report.total.values}


def refresh(w: World, **kw: Any) -> service.RefreshResult:
    result = service.refresh(db_session=w.db, now=at(2026, 10, 30), **kw)
    w.db.commit()
    return result


def approved_across_national_day(w: World, *, pause_and_extend: bool) -> Any:
    """Accepted Mon 28 Sep (due 16 Oct), approved 20 Oct (paused 3 days, extended 5) or
    19 Oct (neither: late)."""
    case = w.submit(when=at(2026, 9, 21))
    w.complete(case)
    w.act("clerk", case, "accept", when=at(2026, 9, 28))
    if pause_and_extend:
        w.act("reviewer", case, "start_special_procedure", when=at(2026, 10, 12),
              reason="组织专家评审", kind="expert_review")
        w.act("reviewer", case, "end_special_procedure", when=at(2026, 10, 15))
        w.act("supervisor", case, "extend", when=at(2026, 10, 16), reason="案情复杂", days=5)
        w.act("reviewer", case, "approve", when=at(2026, 10, 20))
    else:
        w.act("reviewer", case, "approve", when=at(2026, 10, 19))
    w.db.commit()
    return case


def test_every_definition_is_written_and_versioned() -> None:
    defs = definitions()
    assert [m.name for m in defs.metrics] == [
        "网上可办率", "全程网办率", "跑零次可办率", "平均办理时长", "按时办结率", "即办件比例",
        "好评率", "差评整改率", "投诉按时办结率", "跨省通办办件量"]
    assert all(m.version >= 1 and len(m.definition) > 20 for m in defs.metrics)


def test_handling_time_and_on_time_follow_the_legal_calendar(world: World) -> None:
    w = world
    approved_across_national_day(w, pause_and_extend=True)
    approved_across_national_day(w, pause_and_extend=False)
    refresh(w)
    v = values(w)
    # (28 Sep, 20 Oct]: 29, 30 Sep, 8, 9, 10 (调休), 12-16, 19, 20 Oct = 12, less 3 paused = 9;
    # (28 Sep, 19 Oct] = 11. National Day (1-7 Oct) is not counted.
    assert (v["average_handling_days"].numerator, v["average_handling_days"].denominator) \
        == (9 + 11, 2)
    assert v["average_handling_days"].value == 10.0
    # Due 28 Oct with the pause and extension: on time. Due 16 Oct without: late.
    assert (v["on_time_rate"].numerator, v["on_time_rate"].denominator) == (1, 2)


def test_submission_metrics_count_channels_items_and_regions(world: World) -> None:
    w = world
    w.submit(channel="window", when=at(2026, 9, 21))
    online = w.submit(channel="online", when=at(2026, 9, 22))
    w.submit(channel="mobile", when=at(2026, 10, 9))
    # Received at a Beijing window for 锦江区 (跨省通办).
    w.submit("clerk_bj", when=at(2026, 10, 9),
             applicant=ApplicantIn(person_id=w.people["walkin"]))
    immediate = w.submit(code=w.immediate_code, when=at(2026, 10, 12))
    w.upload(immediate, "FORM", when=at(2026, 10, 12))
    w.act("clerk", immediate, "accept", when=at(2026, 10, 12))
    w.complete(online, when=at(2026, 9, 22))
    w.act("clerk", online, "pre_review_pass", when=at(2026, 9, 22))
    w.act("clerk", online, "accept", when=at(2026, 9, 23))
    w.act("reviewer", online, "approve", when=at(2026, 9, 24))
    w.act("clerk", online, "deliver", when=at(2026, 9, 25), method="pickup",
          pickup_window="3号窗口")
    w.db.commit()
    refresh(w)
    v = values(w)
    assert v["immediate_share"].numerator == 1 and v["immediate_share"].denominator == 5
    # Online (or mobile) twice, but the first was fetched at a window: fully online once.
    assert v["fully_online_rate"].numerator == 1
    # Both items have online depth 4 and no visit in their guides.
    assert v["online_available_rate"].value == 1.0
    assert v["cross_province_cases"].value == 1.0
    assert v["on_time_rate"].value == 1.0 and v["on_time_rate"].denominator == 2
    by_month = service.report(db_session=w.db, actor=SYSTEM_ACTOR, query=service.MetricQuery(
        **SEPT_OCT, by="month", metrics=("immediate_share",)))
    assert [(r.key, r.values[0].numerator, r.values[0].denominator)
            for r in by_month.rows] == [("2026-09", 0, 2), ("2026-10", 1, 3)]


def test_refresh_rereads_only_cases_whose_events_moved(world: World) -> None:
    w = world
    case = approved_across_national_day(w, pause_and_extend=False)
    w.submit(when=at(2026, 10, 9))
    w.db.commit()
    assert refresh(w).rebuilt  # the first refresh builds everything
    again = refresh(w)
    assert not again.rebuilt and again.cases == 0
    w.act("clerk", case, "deliver", when=at(2026, 10, 21), method="post",
          tracking_number="SF1", carrier="顺丰")
    w.db.commit()
    moved = refresh(w)
    assert (moved.cases, moved.series, moved.facts) == (1, 1, 2)
    fact = w.db.scalar(select(MetricFact).where(MetricFact.case_id == case.id))
    assert fact is not None and fact.event_seq == case.last_event_seq


def test_a_department_scope_sees_only_its_department(world: World) -> None:
    w = world
    approved_across_national_day(w, pause_and_extend=False)
    refresh(w)
    assert values(w, w["supervisor"])["on_time_rate"].denominator == 1
    assert values(w, w["reviewer"])["on_time_rate"].denominator == 1
    assert values(w, w["reviewer_health"])["on_time_rate"].denominator == 0
    assert values(w, w["reviewer_bj"])["on_time_rate"].value is None
    with pytest.raises(Forbidden):
        values(w, w["applicant"])


def test_a_metric_with_nothing_to_count_has_no_figure_not_zero(world: World) -> None:
    refresh(world)
    v = values(world)
    assert v["good_rating_rate"].available and v["good_rating_rate"].value is None
    assert v["good_rating_rate"].denominator == 0 and v["good_rating_rate"].note


@pytest.mark.parametrize(("query", "field"), [
    ({"from_month": "2026-13"}, "from"), ({"to_month": "26-10"}, "to"),
    ({"from_month": "2026-11"}, "from"), ({"from_month": "2010-01"}, "to"),
    ({"by": "colour"}, "by"), ({"metrics": ("speed",)}, "metrics"),
])
def test_a_bad_query_names_its_field(world: World, query: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        values(world, **query)
    details = err.value.details
    assert details["field"] == field


def test_an_unknown_region_or_item_is_not_found(world: World) -> None:
    with pytest.raises(NotFound):
        values(world, region_code="999999")
    with pytest.raises(NotFound):
        values(world, item_code="999999999999")


def test_a_calendar_change_rebuilds_who_was_on_time(world: World) -> None:
    """A late notice makes Fri 16 Oct a rest day: the case approved Mon 19 Oct is on time."""
    from tongban.calendar import service as calendar

    w = world
    approved_across_national_day(w, pause_and_extend=False)
    refresh(w)
    assert values(w)["on_time_rate"].value == 0.0
    doc = calendar.year_document(db_session=w.db, year=2026)
    doc.pop("origin", None)
    doc["holidays"].append({"name": "临时调整", "dates": ["2026-10-16"]})
    calendar.load_year(db_session=w.db, document=doc, actor_name="test")
    w.db.commit()
    assert refresh(w).rebuilt
    assert values(w)["on_time_rate"].value == 1.0
    assert by_id()["on_time_rate"].version == 1


def test_the_cells_answer_what_plain_sql_over_the_events_answers(world: World) -> None:
    """The benchmark's peer query (nothing materialised) agrees with the cells."""
    from tongban.supervision.metrics import facts
    from tongban.supervision.metrics.definitions import CASE_COUNTERS, fact_rules

    w = world
    approved_across_national_day(w, pause_and_extend=True)
    approved_across_national_day(w, pause_and_extend=False)
    w.submit(channel="online", when=at(2026, 10, 9))
    w.db.commit()
    refresh(w)
    raw = {row.month: [getattr(row, n) for n in CASE_COUNTERS]
           for row in w.db.execute(facts.raw_by_month(fact_rules(), "2026-09", "2026-10"))}
    cells = {month: [sums[n] for n in CASE_COUNTERS] for month, sums in service.counters(
        db_session=w.db, actor=SYSTEM_ACTOR, query=service.MetricQuery(**SEPT_OCT, by="month"))}
    assert raw == cells and set(raw) == {"2026-09", "2026-10"}
    assert raw["2026-10"][CASE_COUNTERS.index("decided")] == 2
    assert raw["2026-10"][CASE_COUNTERS.index("handling_days")] == 20
    assert raw["2026-09"][CASE_COUNTERS.index("submitted")] == 2
