"""The worker's warning and deadline refresh is incremental: a pass reads the cases whose
warning may change that day, and after a calendar load the cases counted with the old
calendar; never every running case."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from tests.calendar.conftest import DOC_2027
from tests.cases.conftest import World, at
from tongban.calendar import service as calendar
from tongban.cases import clock, service, worker
from tongban.cases.models import Case


def _run(w: World, day: tuple[int, int, int]) -> worker.Report:
    return worker.run_once(db_session=w.db, settings=w.settings, now=at(*day, 2))


def _accepted(w: World, day: tuple[int, int, int]) -> Case:
    case = w.submit(when=at(*day, 9))
    w.complete(case, when=at(*day, 9))
    return w.act("clerk", case, "accept", when=at(*day))


def _counting_looks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The numbers of the cases whose warning the worker evaluates."""
    looked: list[str] = []
    real = service.warning_for

    def counting(**kw: Any) -> Any:
        looked.append(kw["case"].number)
        return real(**kw)

    monkeypatch.setattr(service, "warning_for", counting)
    return looked


def test_every_act_notes_the_day_the_warning_may_next_change(world: World) -> None:
    case = _accepted(world, (2026, 9, 28))
    # due Fri 16 Oct; two working days left (the default yellow threshold) from Thu 15 Oct
    assert case.promised_due_date == date(2026, 10, 16)
    assert case.warning_recheck_on == date(2026, 10, 15)
    _run(world, (2026, 10, 15))
    assert (case.warning_level, case.warning_recheck_on) == ("yellow", date(2026, 10, 17))
    _run(world, (2026, 10, 17))
    assert (case.warning_level, case.warning_recheck_on) == ("red", None)
    world.act("reviewer", case, "start_special_procedure", when=at(2026, 10, 19),
              reason="检验", kind="testing")
    assert case.warning_recheck_on is None  # paused: the warning is frozen


def test_a_pass_looks_only_at_cases_whose_warning_may_change_today(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    soon = _accepted(world, (2026, 9, 28))  # turns yellow on 15 Oct
    later = [_accepted(world, (2026, 10, 12)) for _ in range(5)]  # yellow from late Oct
    looked = _counting_looks(monkeypatch)
    _run(world, (2026, 10, 14))
    assert looked == []
    _run(world, (2026, 10, 15))
    assert looked == [soon.number] and soon.warning_level == "yellow"
    assert {c.warning_level for c in later} == {"none"}


def test_a_case_missed_by_a_pass_is_caught_up_on_a_later_day(world: World) -> None:
    case = _accepted(world, (2026, 9, 28))
    # the worker did not run on 15 or 16 Oct: on the 19th the case is red at once
    assert _run(world, (2026, 10, 19)).warnings_changed == 1
    assert case.warning_level == "red"


def test_loading_a_years_notice_recounts_the_provisional_deadlines_once(
    world: World
) -> None:
    case = _accepted(world, (2026, 12, 21))
    assert case.due_provisional  # counted into 2027 on weekdays only
    weekdays_only = case.promised_due_date
    untouched = _accepted(world, (2026, 11, 2))  # due within 2026: not provisional
    before = untouched.promised_due_date
    assert _run(world, (2026, 12, 22)).deadlines_recounted == 0
    calendar.load_year(db_session=world.db, document=DOC_2027, actor_name="operator")
    world.db.commit()

    report = _run(world, (2026, 12, 22))

    assert report.deadlines_recounted == 1
    assert not case.due_provisional
    assert case.promised_due_date is not None and weekdays_only is not None
    assert case.promised_due_date > weekdays_only  # 元旦 is not a working day
    assert untouched.promised_due_date == before
    recount = [e for e in world.events(case) if e.action == "deadlines_recounted"]
    assert len(recount) == 1
    assert recount[0].data["promised_due_date"] == [weekdays_only.isoformat(),
                                                    case.promised_due_date.isoformat()]
    assert recount[0].data["provisional"] == [True, False]
    assert _run(world, (2026, 12, 22)).deadlines_recounted == 0  # once


def test_cases_counted_before_the_incremental_refresh_are_dated_by_the_first_pass(
    world: World
) -> None:
    case = _accepted(world, (2026, 9, 28))
    # as a case stored by an older release: no check day, no calendar version
    case.warning_recheck_on, case.deadlines_calendar = None, None
    world.db.flush()
    worker._swept.clear()
    _run(world, (2026, 10, 1))
    assert case.deadlines_calendar == clock.calendar_version(db_session=world.db)
    assert case.warning_recheck_on == date(2026, 10, 15)
