"""Properties of the calendar: agreement with chinese-calendar, and counting that inverts.

chinese-calendar (and, independently, python-holidays) transcribe the same notices. Where
they differ from ours, the notice decides; the one known case is written down here.
"""

from __future__ import annotations

import importlib.util
import json
from datetime import date, timedelta
from pathlib import Path
from types import ModuleType

import chinese_calendar
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from tests.calendar.conftest import shipped_calendar
from tongban.calendar import service

FIRST, LAST = date(2004, 1, 1), date(2026, 12, 31)
ROOT = Path(__file__).resolve().parents[2]

# 国办发明电〔2005〕35号 (the 2006 notice), 元旦: "将12月31日(星期六)、1月1日(星期日)两个公休日
# 调至1月2日(星期一)、3日(星期二), 12月31日(星期六)上班". chinese-calendar 1.11.0 leaves
# 2005-12-31 an ordinary Saturday; python-holidays follows the notice, and so do we.
KNOWN_DISAGREEMENTS = {date(2005, 12, 31): True}


def every_day(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def test_every_day_2004_to_2026_agrees_with_chinese_calendar_but_the_known_one() -> None:
    cal = shipped_calendar()
    disagreements = {}
    for day in every_day(FIRST, LAST):
        ours, provisional = cal.is_working(day)
        assert not provisional
        if ours != chinese_calendar.is_workday(day):
            disagreements[day] = ours
    assert disagreements == KNOWN_DISAGREEMENTS


def test_the_known_disagreement_cites_the_notice_that_settles_it() -> None:
    source = service.shipped_years()[2005].document["source"]
    [also] = source["also"]
    assert also["number"] == "国办发明电〔2005〕35号" and also["dates"] == ["2005-12-31"]
    assert source["corrections"][0]["date"] == "2005-12-31"


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture],
          deadline=None)
@given(day=st.dates(min_value=FIRST, max_value=LAST))
def test_is_working_day_through_the_database_agrees_too(db_session: Session, day: date) -> None:
    expected = KNOWN_DISAGREEMENTS.get(day, chinese_calendar.is_workday(day))
    assert service.is_working_day(db_session=db_session, day=day) == (expected, False)


starts = st.dates(min_value=date(2003, 6, 1), max_value=date(2028, 6, 1))


@settings(max_examples=300, deadline=None)
@given(start=starts, days=st.integers(min_value=0, max_value=400))
def test_counting_back_the_working_days_gives_the_same_number(start: date, days: int) -> None:
    cal = shipped_calendar()
    due = cal.add(start, days)
    assert cal.between(start, due.date) == service.WorkingDays(days, due.provisional)
    if days:
        assert cal.is_working(due.date)[0]


@settings(max_examples=300, deadline=None)
@given(start=starts, length=st.integers(min_value=0, max_value=500))
def test_adding_the_count_of_a_span_lands_on_its_last_working_day(start: date, length: int
                                                                  ) -> None:
    cal = shipped_calendar()
    end = start + timedelta(days=length)
    counted = cal.between(start, end).days
    assert cal.add(start, counted).date <= end < cal.add(start, counted + 1).date


@settings(max_examples=200, deadline=None)
@given(start=starts, length=st.integers(min_value=0, max_value=120))
def test_between_equals_counting_day_by_day(start: date, length: int) -> None:
    cal = shipped_calendar()
    end = start + timedelta(days=length)
    days = every_day(start + timedelta(days=1), end) if length else []
    flags = [cal.is_working(d) for d in days]
    expected = service.WorkingDays(sum(w for w, _ in flags), any(p for _, p in flags))
    assert cal.between(start, end) == expected


def _build_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_calendar",
                                                  ROOT / "scripts" / "build_calendar.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_data_files_are_what_the_build_script_writes() -> None:
    build = _build_script()
    for year in range(2004, 2027):
        path = ROOT / "src" / "tongban" / "calendar" / "data" / f"{year}.json"
        assert json.loads(path.read_text(encoding="utf-8")) == build.document(year), year
