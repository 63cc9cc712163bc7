"""The case worker: deemed acceptance (Art. 32), warning levels, missed 容缺 promises."""

from __future__ import annotations

from datetime import date

from tests.cases.conftest import World, at
from tongban.cases import worker
from tongban.config import Settings


def _run(w: World, when_day: tuple[int, int, int], **kw: str) -> worker.Report:
    return worker.run_once(db_session=w.db, settings=w.settings, now=at(*when_day, 2))


def test_no_supplement_notice_within_five_working_days_means_accepted_from_receipt(
    world: World
) -> None:
    w = world
    case = w.submit(channel="online", when=at(2026, 9, 21, 9))
    # the fifth working day after Mon 21 Sep is Tue 29 Sep (中秋 25-27 off)
    assert _run(w, (2026, 9, 29)).deemed_accepted == 0
    assert case.state == "pre_review"
    report = _run(w, (2026, 9, 30))
    assert report.deemed_accepted == 1
    assert case.state == "accepted" and case.deemed_accepted
    assert case.accepted_at == case.submitted_at == at(2026, 9, 21, 9)
    assert "第三十二条" in (case.deemed_accepted_reason or "")
    last = w.events(case)[-1]
    assert (last.action, last.actor_role, last.actor_name) == ("deem_accept", "system", "system")
    assert "2026-09-29" in (last.reason or "")
    assert w.ledger_kinds(case) == ["case.submit", "case.deem_accept"]
    # accepted from receipt: 10 working days from 21 Sep
    assert case.promised_due_date == date(2026, 10, 12)
    assert _run(w, (2026, 10, 1)).deemed_accepted == 0  # idempotent


def test_a_timely_supplement_notice_prevents_deemed_acceptance(world: World) -> None:
    w = world
    case = w.submit(when=at(2026, 9, 21, 9))
    w.act("clerk", case, "request_supplement", when=at(2026, 9, 29), reason="补正",
          items=[{"material_code": "PREMISES", "problem": "缺"}])
    w.upload(case, "FORM", when=at(2026, 10, 9))
    w.upload(case, "PREMISES", when=at(2026, 10, 9))
    w.act("applicant", case, "supply", when=at(2026, 10, 9))
    assert case.state == "submitted"
    assert _run(w, (2026, 10, 30)).deemed_accepted == 0
    assert case.state == "submitted" and not case.deemed_accepted


def test_warnings_turn_yellow_then_red_and_are_recorded(world: World) -> None:
    w = world
    case = w.submit(when=at(2026, 9, 28, 9))
    w.complete(case, when=at(2026, 9, 28, 9))
    w.act("clerk", case, "accept", when=at(2026, 9, 28))
    assert case.promised_due_date == date(2026, 10, 16)
    assert _run(w, (2026, 10, 14)).warnings_changed == 0
    assert _run(w, (2026, 10, 15)).warnings_changed == 1 and case.warning_level == "yellow"
    assert _run(w, (2026, 10, 16)).warnings_changed == 0
    assert _run(w, (2026, 10, 17)).warnings_changed == 1 and case.warning_level == "red"
    changes = [e.data for e in w.events(case) if e.action == "warning_changed"]
    assert changes == [
        {"from": "none", "to": "yellow", "promised_due_date": "2026-10-16"},
        {"from": "yellow", "to": "red", "promised_due_date": "2026-10-16"},
    ]
    # an extension takes the red warning back
    w.act("supervisor", case, "extend", when=at(2026, 10, 19), reason="复杂", days=10)
    assert case.warning_level == "none"


def test_the_yellow_threshold_is_a_setting(world: World, settings: Settings) -> None:
    w = world
    w.settings = settings.model_copy(update={"yellow_days_left": 3})
    case = w.submit(when=at(2026, 9, 28, 9))
    w.complete(case, when=at(2026, 9, 28, 9))
    w.act("clerk", case, "accept", when=at(2026, 9, 28))
    assert _run(w, (2026, 10, 13)).warnings_changed == 1 and case.warning_level == "yellow"


def test_a_missed_deficiency_promise_raises_a_warning(world: World) -> None:
    w = world
    case = w.submit(when=at(2026, 9, 21, 9))
    w.upload(case, "ID")
    w.upload(case, "FORM")
    w.act("clerk", case, "accept_with_deficiency", when=at(2026, 9, 22),
          deficient_materials=["PREMISES"], promise_date="2026-09-30")
    assert _run(w, (2026, 9, 30)).promises_missed == 0
    assert _run(w, (2026, 10, 8)).promises_missed == 1
    assert case.warning_level == "red" and case.state == "accepted"
    missed = [e for e in w.events(case) if e.action == "deficiency_promise_missed"]
    assert len(missed) == 1 and missed[0].data["missing"] == ["PREMISES"]
    assert _run(w, (2026, 10, 9)).promises_missed == 0


def test_a_missed_deficiency_promise_can_terminate_the_case(world: World) -> None:
    w = world
    case = w.submit(when=at(2026, 9, 21, 9))
    w.upload(case, "ID")
    w.upload(case, "FORM")
    w.act("clerk", case, "accept_with_deficiency", when=at(2026, 9, 22),
          deficient_materials=["PREMISES"], promise_date="2026-09-30")
    worker.check_deficiency_promises(db_session=w.db, settings=w.settings,
                                     now=at(2026, 10, 8), action="terminate")
    assert case.state == "terminated" and w.events(case)[-1].actor_role == "system"


def test_the_node_worker_runs_the_cases_job(world: World) -> None:
    from tongban import worker as node_worker

    assert "cases" in [j.name for j in node_worker.jobs()]
