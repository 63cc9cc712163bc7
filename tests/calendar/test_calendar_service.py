"""The working-day calendar: what the law counts as a working day, and deadlines in them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from tests.calendar.conftest import shipped_calendar
from tongban.audit.models import AuditEntry
from tongban.calendar import service
from tongban.calendar.models import CalendarYear
from tongban.db import make_sessionmaker
from tongban.errors import InvalidInput, NotFound


def due(db_session: Session, start: str, days: int) -> service.DueDate:
    return service.add_working_days(db_session=db_session, start=date.fromisoformat(start),
                                    days=days)


def working(db_session: Session, day: str) -> bool:
    is_working, provisional = service.is_working_day(db_session=db_session,
                                                     day=date.fromisoformat(day))
    assert not provisional
    return is_working


# --- 2026: the notice of 2025-11-04 (国办发明电〔2025〕7号) ----------------------------------


def test_one_working_day_after_30_september_2026_is_8_october(db_session: Session) -> None:
    assert due(db_session, "2026-09-30", 1) == service.DueDate(date(2026, 10, 8), False)


def test_national_day_2026_make_up_days_are_working_days(db_session: Session) -> None:
    assert working(db_session, "2026-09-20")  # Sunday, 调休上班
    assert working(db_session, "2026-10-10")  # Saturday, 调休上班
    assert not working(db_session, "2026-10-11")  # an ordinary Sunday
    assert not any(working(db_session, f"2026-10-0{d}") for d in range(1, 8))


def test_national_day_2026_counts_the_make_up_saturday(db_session: Session) -> None:
    # 10/8 Thu, 10/9 Fri, 10/10 Sat (make-up), 10/12 Mon, 10/13 Tue
    assert due(db_session, "2026-09-30", 5).date == date(2026, 10, 13)


def test_spring_festival_2026(db_session: Session) -> None:
    assert working(db_session, "2026-02-14")  # Saturday, 调休上班
    for offset in range(9):
        assert not working(db_session, (date(2026, 2, 15) + timedelta(offset)).isoformat())
    assert working(db_session, "2026-02-24")
    assert working(db_session, "2026-02-28")  # Saturday, 调休上班
    assert due(db_session, "2026-02-13", 1).date == date(2026, 2, 14)
    assert due(db_session, "2026-02-14", 1).date == date(2026, 2, 24)


# --- 2025: the notice of 2024-11-12 (国办发明电〔2024〕12号) ---------------------------------


NOTICE_2025 = [  # (day, working?) from 国办发明电〔2024〕12号
    ("2025-01-01", False),  # 元旦, no 调休
    ("2025-01-26", True),  # Sunday before 春节, 调休上班
    ("2025-01-28", False), ("2025-02-04", False),  # 春节 from 除夕, 8 days
    ("2025-02-08", True),  # Saturday, 调休上班
    ("2025-04-04", False),  # 清明
    ("2025-04-27", True), ("2025-05-05", False),  # 劳动节 5/1-5/5
    ("2025-06-02", False),  # 端午
    ("2025-09-28", True), ("2025-10-06", False), ("2025-10-08", False),  # 国庆+中秋 8 days
    ("2025-10-11", True),
]


def test_2025_holidays_and_make_up_days(db_session: Session) -> None:
    assert [(day, working(db_session, day)) for day, _ in NOTICE_2025] == NOTICE_2025


def test_deadline_across_golden_week_2025(db_session: Session) -> None:
    # 9/27 Sat off, 9/28 Sun make-up (1), 9/29 (2), 9/30 (3), 10/1-10/8 off, 10/9 (4)
    assert due(db_session, "2025-09-26", 3).date == date(2025, 9, 30)
    assert due(db_session, "2025-09-26", 4).date == date(2025, 10, 9)


# --- beyond the data: provisional ---------------------------------------------------------


def test_a_deadline_in_2027_is_provisional_and_counts_weekdays(db_session: Session) -> None:
    assert due(db_session, "2026-12-25", 4) == service.DueDate(date(2026, 12, 31), False)
    # 12/28-31 (4), 1/1 Fri counted as a weekday (5), 1/4-1/8 (10)
    assert due(db_session, "2026-12-25", 10) == service.DueDate(date(2027, 1, 8), True)
    assert service.is_working_day(db_session=db_session, day=date(2027, 1, 1)) == (True, True)


def test_loading_2027_makes_the_deadline_final_and_can_move_it(
    db_session: Session, doc_2027: dict[str, Any]
) -> None:
    before = due(db_session, "2026-12-25", 10)
    service.load_year(db_session=db_session, document=doc_2027, actor_name="operator")
    after = due(db_session, "2026-12-25", 10)
    assert before == service.DueDate(date(2027, 1, 8), True)
    assert after == service.DueDate(date(2027, 1, 11), False)  # 元旦 2027-01-01 skipped
    assert service.is_working_day(db_session=db_session, day=date(2027, 2, 20)) == (True, False)


def test_a_year_loaded_by_another_process_is_seen_within_the_freshness_bound(
    engine: Engine, db_session: Session, doc_2027: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Another process's load never reaches this process's memory: only the stamp check,
    made at most once per FRESH_SECONDS, reveals it."""
    assert due(db_session, "2026-12-25", 10).provisional
    other = make_sessionmaker(engine)()
    try:  # as another process would: rows committed, this process's memory untouched
        other.add(CalendarYear(
            year=2027, source=doc_2027["source"], loaded_by="ops",
            data={"holidays": doc_2027["holidays"], "workdays": doc_2027["workdays"]}))
        other.commit()
    finally:
        other.close()
    monkeypatch.setattr(service, "FRESH_SECONDS", 3600.0)
    assert due(db_session, "2026-12-25", 10).provisional  # still trusted
    monkeypatch.setattr(service, "FRESH_SECONDS", 0.0)
    assert due(db_session, "2026-12-25", 10) == service.DueDate(date(2027, 1, 11), False)


def test_a_load_not_yet_committed_is_seen_by_its_own_session_only(
    engine: Engine, db_session: Session, doc_2027: dict[str, Any]
) -> None:
    """A calendar built inside a load that may still roll back must not be shared."""
    db_session.commit()
    loading = make_sessionmaker(engine)()
    try:
        service.load_year(db_session=loading, document=doc_2027, actor_name="ops")
        assert due(loading, "2026-12-25", 10) == service.DueDate(date(2027, 1, 11), False)
        assert due(db_session, "2026-12-25", 10).provisional  # another session: not yet
        loading.rollback()
    finally:
        loading.close()
    assert due(db_session, "2026-12-25", 10) == service.DueDate(date(2027, 1, 8), True)


def test_zero_days_is_the_start_itself(db_session: Session) -> None:
    assert due(db_session, "2026-10-01", 0) == service.DueDate(date(2026, 10, 1), False)
    assert due(db_session, "2030-10-01", 0) == service.DueDate(date(2030, 10, 1), False)


@pytest.mark.parametrize("days", [-1, service.MAX_DAYS + 1])
def test_days_out_of_range_are_refused(db_session: Session, days: int) -> None:
    with pytest.raises(InvalidInput) as exc:
        due(db_session, "2026-01-01", days)
    assert exc.value.details["field"] == "days"


def test_a_deadline_past_year_9999_is_refused(db_session: Session) -> None:
    with pytest.raises(InvalidInput):
        due(db_session, "9999-12-30", 5)


# --- time used ----------------------------------------------------------------------------


def test_working_days_between_counts_the_half_open_span(db_session: Session) -> None:
    def between(a: str, b: str) -> service.WorkingDays:
        return service.working_days_between(db_session=db_session,
                                            start=date.fromisoformat(a),
                                            end=date.fromisoformat(b))

    assert between("2026-09-30", "2026-10-08") == service.WorkingDays(1, False)
    assert between("2026-09-30", "2026-09-30") == service.WorkingDays(0, False)
    assert between("2026-02-13", "2026-02-28") == service.WorkingDays(6, False)
    assert between("2026-12-31", "2027-01-04") == service.WorkingDays(2, True)
    with pytest.raises(InvalidInput):
        between("2026-10-08", "2026-09-30")


# --- local dates ---------------------------------------------------------------------------


def test_local_date_is_the_date_in_china() -> None:
    assert service.local_date(datetime(2026, 9, 30, 15, 59, 59, tzinfo=UTC)) == date(2026, 9, 30)
    assert service.local_date(datetime(2026, 9, 30, 16, 0, tzinfo=UTC)) == date(2026, 10, 1)
    with pytest.raises(ValueError):
        service.local_date(datetime(2026, 9, 30, 16, 0))


# --- loading years ---------------------------------------------------------------------------


def count(db_session: Session, model: type[Any]) -> int:
    return db_session.scalar(select(func.count()).select_from(model)) or 0


def test_loading_is_an_idempotent_replace_with_an_audit_entry_each_time(
    db_session: Session, doc_2027: dict[str, Any]
) -> None:
    first = service.load_year(db_session=db_session, document=doc_2027, actor_name="ops")
    db_session.commit()
    second = service.load_year(db_session=db_session, document=doc_2027, actor_name="ops2")
    db_session.commit()
    assert count(db_session, CalendarYear) == 1
    assert second.data == first.data and second.loaded_by == "ops2"
    entries = list(db_session.scalars(
        select(AuditEntry).where(AuditEntry.entity == "calendar_year").order_by(AuditEntry.at)))
    assert [e.details["replaced"] for e in entries] == [False, True]
    assert entries[0].action == "calendar.year_loaded" and entries[0].entity_id == "2027"


def test_a_loaded_year_overrides_the_shipped_one(db_session: Session) -> None:
    doc = service.year_document(db_session=db_session, year=2026)
    assert doc["origin"] == "shipped"
    doc.pop("origin")
    doc["holidays"].append({"name": "测试", "dates": ["2026-12-31"]})
    service.load_year(db_session=db_session, document=doc, actor_name="ops")
    assert service.is_working_day(db_session=db_session, day=date(2026, 12, 31)) == (False, False)
    origins = {y.year: y.origin for y in service.years(db_session=db_session)}
    assert origins[2026] == "loaded" and origins[2025] == "shipped"


def test_a_year_without_data_is_not_found(db_session: Session) -> None:
    with pytest.raises(NotFound):
        service.year_document(db_session=db_session, year=2003)


def _set(doc: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    target: Any = doc
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    if value is DELETE:
        del target[int(last) if last.isdigit() else last]
    elif last.isdigit():
        target[int(last)] = value
    else:
        target[last] = value


DELETE = object()


@pytest.mark.parametrize(("path", "value", "field"), [
    ("year", 0, "year"),
    ("year", 10000, "year"),
    ("year", "twenty", "year"),
    ("holidays.0.dates.0", "2028-01-01", "holidays[0].dates[0]"),  # outside the year
    ("holidays.0.dates.1", "2027-02-30", "holidays[0].dates[1]"),  # not a day
    ("holidays.0.dates.2", "2027-01-01", "holidays[0].dates[2]"),  # duplicate
    ("workdays", ["2027-01-02"], "workdays[0]"),  # both holiday and workday
    ("workdays", ["2027-01-04"], "workdays[0]"),  # a Monday
    ("workdays", ["2026-12-26"], "workdays[0]"),  # outside the year
    ("holidays", [], "holidays"),
    ("source.title", " ", "source.title"),
    ("source.title", DELETE, "source.title"),
    ("source", DELETE, "source"),
    ("unknown", 1, "unknown"),
])
def test_a_bad_document_is_refused_naming_the_field_and_nothing_is_written(
    db_session: Session, doc_2027: dict[str, Any], path: str, value: Any, field: str
) -> None:
    _set(doc_2027, path, value)
    with pytest.raises(InvalidInput) as exc:
        service.load_year(db_session=db_session, document=doc_2027, actor_name="ops")
    assert field in exc.value.message
    assert any(p["field"] == field for p in exc.value.details)
    assert count(db_session, CalendarYear) == 0 and count(db_session, AuditEntry) == 0


def test_a_document_that_is_not_an_object_is_refused(db_session: Session) -> None:
    with pytest.raises(InvalidInput):
        service.load_year(db_session=db_session, document=[2027],  # type: ignore[arg-type]
                          actor_name="ops")


# --- the shipped files ------------------------------------------------------------------------


def test_every_year_from_2004_to_2026_ships_with_its_notice() -> None:
    years = service.shipped_years()
    assert sorted(years) == list(range(2004, 2027))
    for data in years.values():
        source = data.document["source"]
        assert source["title"] == f"国务院办公厅关于{data.year}年部分节假日安排的通知"
        assert source["url"].startswith("https://")
    assert years[2026].document["source"]["number"] == "国办发明电〔2025〕7号"
    assert years[2026].document["source"]["date"] == "2025-11-04"


def test_shipped_calendar_matches_the_2026_notice_table() -> None:
    data = service.shipped_years()[2026]
    assert sorted(data.workdays) == [date(2026, 1, 4), date(2026, 2, 14), date(2026, 2, 28),
                                     date(2026, 5, 9), date(2026, 9, 20), date(2026, 10, 10)]
    assert len(data.holidays) == 3 + 9 + 3 + 5 + 3 + 3 + 7


def test_the_calendar_needs_no_database_for_shipped_years() -> None:
    assert shipped_calendar().add(date(2026, 9, 30), 1) == service.DueDate(date(2026, 10, 8),
                                                                           False)
