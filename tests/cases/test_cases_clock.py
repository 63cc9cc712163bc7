"""The legal clock: working days across holidays and 调休, pauses, extensions, warnings,
and deadlines in a year without calendar data (provisional)."""

from __future__ import annotations

from datetime import date

import pytest

from tests.cases.conftest import World, at
from tongban.cases import clock, service
from tongban.cases.models import Case


def _accepted(w: World, when_day: tuple[int, int, int]) -> Case:
    case = w.submit(when=at(*when_day, 9))
    w.complete(case, when=at(*when_day, 9))
    w.act("clerk", case, "accept", when=at(*when_day))
    return case


@pytest.mark.parametrize(("accepted", "promised_due", "legal_due"), [
    # 国庆 2026: 1-7 Oct off, Sat 10 Oct worked
    ((2026, 9, 28), date(2026, 10, 16), date(2026, 10, 30)),
    # 春节 2026: 15-23 Feb off, Sat 14 Feb and Sat 28 Feb worked
    ((2026, 2, 12), date(2026, 3, 4), date(2026, 3, 18)),
    # an ordinary fortnight
    ((2026, 3, 9), date(2026, 3, 23), date(2026, 4, 7)),  # 清明 4-6 Apr
])
def test_due_dates_count_working_days_across_holidays_and_make_up_days(
    world: World, accepted: tuple[int, int, int], promised_due: date, legal_due: date
) -> None:
    case = _accepted(world, accepted)
    assert (case.promised_due_date, case.legal_due_date) == (promised_due, legal_due)
    assert case.due_provisional is False


def test_a_deadline_in_a_year_without_data_is_provisional(world: World) -> None:
    case = _accepted(world, (2026, 12, 23))
    # weekdays only from 1 Jan 2027: 24, 25, 28-31 Dec, then 1, 4, 5, 6 Jan
    assert case.promised_due_date == date(2027, 1, 6)
    assert case.due_provisional is True
    detail = service.get(db_session=world.db, actor=world["clerk"], case_number=case.number,
                         now=at(2026, 12, 24))
    assert detail.deadlines.provisional is True


def test_a_deadline_inside_a_year_with_data_is_not_provisional(world: World) -> None:
    case = _accepted(world, (2026, 12, 1))
    assert case.promised_due_date == date(2026, 12, 15) and case.due_provisional is False


def test_acceptance_in_the_evening_counts_the_beijing_day(world: World) -> None:
    case = world.submit(when=at(2026, 9, 28, 9))
    world.complete(case, when=at(2026, 9, 28, 9))
    # 00:30 on 29 Sep in Beijing is still 28 Sep in UTC: the law counts Beijing's day
    late = at(2026, 9, 29, 0).replace(minute=30)
    assert late.date() == date(2026, 9, 28)
    world.act("clerk", case, "accept", when=late)
    assert clock.local_date(case.accepted_at) == date(2026, 9, 29)
    assert case.promised_due_date == date(2026, 10, 19)


def test_time_used_excludes_pauses(world: World) -> None:
    w = world
    case = _accepted(w, (2026, 3, 2))
    w.act("reviewer", case, "start_special_procedure", when=at(2026, 3, 4),
          reason="检验", kind="testing")
    w.act("reviewer", case, "end_special_procedure", when=at(2026, 3, 6))
    detail = service.get(db_session=w.db, actor=w["reviewer"], case_number=case.number,
                         now=at(2026, 3, 9))
    # 3..9 Mar is 5 working days, 2 of them paused
    assert detail.deadlines.used_days == 3
    assert case.promised_due_date == date(2026, 3, 18)
    assert detail.deadlines.days_left == 7


def test_warning_is_yellow_with_one_working_day_left_and_red_when_overdue(world: World
                                                                          ) -> None:
    s = world.db
    due = date(2026, 10, 16)  # a Friday
    level = clock.warning_level
    y = world.settings.yellow_days_left
    assert level(db_session=s, today=date(2026, 10, 14), promised_due=due,
                 yellow_days_left=y) == "none"
    assert level(db_session=s, today=date(2026, 10, 15), promised_due=due,
                 yellow_days_left=y) == "yellow"
    assert level(db_session=s, today=due, promised_due=due, yellow_days_left=y) == "yellow"
    assert level(db_session=s, today=date(2026, 10, 17), promised_due=due,
                 yellow_days_left=y) == "red"
    # across 国庆: on 30 Sep one working day (8 Oct) is left before a due date of 8 Oct
    assert level(db_session=s, today=date(2026, 9, 30), promised_due=date(2026, 10, 8),
                 yellow_days_left=y) == "yellow"


def test_the_supplement_notice_is_due_five_working_days_after_receipt(world: World) -> None:
    case = world.submit(when=at(2026, 9, 28))
    detail = service.get(db_session=world.db, actor=world["clerk"], case_number=case.number,
                         now=at(2026, 9, 28))
    # 29, 30 Sep, 8, 9, 10 (调休 Saturday) Oct
    assert detail.deadlines.supplement_notice_due == date(2026, 10, 10)
