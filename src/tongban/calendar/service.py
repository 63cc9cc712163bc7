"""Legal time: working days under China's public-holiday notices (行政许可法 Art. 82).

A day is a working day when it is a make-up working day (调休上班) of its year, or a
Monday-Friday that is not an official rest day. Each year's days come from the State
Council notice: the project ships one file per year (data/YYYY.json) and an operator can
load more (CalendarYear rows), which override the shipped file of the same year.

A year with no data is counted on weekdays only, and every answer that relied on such a
year says so (`provisional`), so a deadline is never silently wrong: it is visibly
provisional until that year's notice is loaded.

The case engine calls is_working_day, add_working_days, working_days_between and
local_date; keep their names and keyword-only signatures.
"""

from __future__ import annotations

import copy
import json
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from importlib import resources
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tongban.audit.service import record
from tongban.calendar.models import CalendarYear
from tongban.calendar.schemas import YearDocument
from tongban.db import database_key, utcnow
from tongban.errors import Conflict, InvalidInput, NotFound

ZONE = ZoneInfo("Asia/Shanghai")
# Longest span add_working_days accepts: about forty years, far beyond any legal limit.
MAX_DAYS = 10_000
Origin = Literal["shipped", "loaded"]


@dataclass(frozen=True)
class DueDate:
    """A deadline; provisional when a day counted falls in a year without data."""

    date: date
    provisional: bool


@dataclass(frozen=True)
class WorkingDays:
    """A count of working days; provisional when a year in the span has no data."""

    days: int
    provisional: bool


@dataclass(frozen=True)
class YearInfo:
    year: int
    source: dict[str, Any]
    origin: Origin


@dataclass(frozen=True)
class YearData:
    """One year's rest days and make-up working days, checked."""

    year: int
    holidays: frozenset[date]
    workdays: frozenset[date]
    document: dict[str, Any]
    origin: Origin


def _weekdays_through(day: date) -> int:
    """Mondays-Fridays from 0001-01-01 (a Monday) through `day`: O(1) counting."""
    weeks, rest = divmod(day.toordinal(), 7)
    return weeks * 5 + min(rest, 5)


class WorkingCalendar:
    """The working-day rules of every year with data; immutable, shared between threads."""

    def __init__(self, years: Mapping[int, YearData], *, version: str = "") -> None:
        self._years = dict(years)
        # Which data this calendar was built from: a date computed with it is stale once
        # the database's calendar has another version (a year loaded or replaced).
        self.version = version

    def year(self, year: int) -> YearData | None:
        return self._years.get(year)

    @property
    def years(self) -> list[YearData]:
        return [self._years[y] for y in sorted(self._years)]

    def is_working(self, day: date) -> tuple[bool, bool]:
        """(working?, provisional?) for one day."""
        data = self._years.get(day.year)
        if data is None:
            return day.weekday() < 5, True
        if day in data.workdays:
            return True, False
        return day.weekday() < 5 and day not in data.holidays, False

    def add(self, start: date, days: int) -> DueDate:
        """The day `days` working days after `start` (start not counted)."""
        _check_days(days)
        day, left, provisional = start, days, False
        while left > 0:
            day = _next_day(day)
            working, unsure = self.is_working(day)
            provisional = provisional or unsure
            left -= working
        return DueDate(day, provisional)

    def between(self, start: date, end: date) -> WorkingDays:
        """Working days in (start, end], by weekday arithmetic plus each year's exceptions."""
        if end < start:
            raise InvalidInput(
                "结束日期早于开始日期 / end is before start",
                details={"field": "end", "start": start.isoformat(), "end": end.isoformat()},
            )
        if end == start:
            return WorkingDays(0, False)
        count = _weekdays_through(end) - _weekdays_through(start)
        provisional = False
        for year in range((start + timedelta(days=1)).year, end.year + 1):
            data = self._years.get(year)
            if data is None:
                provisional = True
                continue
            count += sum(1 for d in data.workdays if start < d <= end and d.weekday() >= 5)
            count -= sum(1 for d in data.holidays if start < d <= end and d.weekday() < 5)
        return WorkingDays(count, provisional)


def _check_days(days: int) -> None:
    if not 0 <= days <= MAX_DAYS:
        raise InvalidInput(
            f"工作日数须在 0 到 {MAX_DAYS} 之间 / days must be between 0 and {MAX_DAYS}",
            details={"field": "days", "value": days},
        )


def _next_day(day: date) -> date:
    try:
        return day + timedelta(days=1)
    except OverflowError:
        raise InvalidInput("日期超出范围 / date out of range",
                           details={"field": "start"}) from None


# --- checking a year's document ----------------------------------------------------------


def _field_problem(field: str, message: str, value: Any = None) -> dict[str, Any]:
    return {"field": field, "message": message, "value": value}


def _parse(document: Any) -> YearDocument:
    """Shape check (types, year range, non-empty title and holidays) by the schema."""
    if not isinstance(document, dict):
        raise InvalidInput("日历数据须为 JSON 对象 / the calendar document must be a JSON object",
                           details=[_field_problem("", "not an object")])
    try:
        return YearDocument.model_validate(document)
    except ValidationError as exc:
        problems = [
            _field_problem(_loc(err["loc"]), err["msg"], err.get("input"))
            for err in exc.errors(include_url=False)
        ]
        raise InvalidInput(
            f"日历数据有误 / invalid calendar document: {problems[0]['field']}: "
            f"{problems[0]['message']}",
            details=problems,
        ) from None


def _loc(loc: Iterable[Any]) -> str:
    """('holidays', 0, 'dates', 2) -> holidays[0].dates[2]"""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _rule_problems(doc: YearDocument) -> list[dict[str, Any]]:
    """Rules the schema cannot see: dates in the year, no duplicates, 调休 on weekends."""
    problems: list[dict[str, Any]] = []
    holidays: dict[str, str] = {}
    for i, holiday in enumerate(doc.holidays):
        for j, text in enumerate(holiday.dates):
            field = f"holidays[{i}].dates[{j}]"
            if date.fromisoformat(text).year != doc.year:
                problems.append(_field_problem(field, f"不在 {doc.year} 年内 / not in {doc.year}",
                                               text))
            elif text in holidays:
                problems.append(_field_problem(field, f"与 {holidays[text]} 重复 / duplicate",
                                               text))
            holidays.setdefault(text, field)
    seen: set[str] = set()
    for j, text in enumerate(doc.workdays):
        field, day = f"workdays[{j}]", date.fromisoformat(text)
        if day.year != doc.year:
            problems.append(_field_problem(field, f"不在 {doc.year} 年内 / not in {doc.year}",
                                           text))
        elif day.weekday() < 5:
            problems.append(_field_problem(
                field, "调休上班日须为周六或周日 / a make-up working day must be a Saturday "
                       "or Sunday", text))
        elif text in holidays:
            problems.append(_field_problem(
                field, f"同时是放假日 {holidays[text]} / also listed as a holiday", text))
        elif text in seen:
            problems.append(_field_problem(field, "重复 / duplicate", text))
        seen.add(text)
    return problems


def check_document(document: Any, *, origin: Origin = "loaded") -> YearData:
    """A year's document, checked; InvalidInput names every field that is wrong."""
    doc = _parse(document)
    problems = _rule_problems(doc)
    if problems:
        first = problems[0]
        raise InvalidInput(
            f"日历数据有误 / invalid calendar document: {first['field']} = {first['value']}: "
            f"{first['message']}",
            details=problems,
        )
    canonical = doc.model_dump(mode="json")
    canonical["workdays"] = sorted(canonical["workdays"])
    return YearData(
        year=doc.year,
        holidays=frozenset(date.fromisoformat(d) for h in doc.holidays for d in h.dates),
        workdays=frozenset(date.fromisoformat(d) for d in doc.workdays),
        document=canonical,
        origin=origin,
    )


# --- the calendar of a database, cached per process -----------------------------------------


@lru_cache(maxsize=1)
def shipped_years() -> dict[int, YearData]:
    """The data files shipped with tongban, checked once per process (fail closed)."""
    folder = resources.files("tongban.calendar") / "data"
    years: dict[int, YearData] = {}
    for entry in folder.iterdir():
        if entry.name.endswith(".json"):
            data = check_document(json.loads(entry.read_text(encoding="utf-8")),
                                  origin="shipped")
            if entry.name != f"{data.year}.json":
                raise RuntimeError(f"calendar data file {entry.name} holds year {data.year}")
            years[data.year] = data
    return years


@dataclass(frozen=True)
class _Cached:
    stamp: tuple[Any, ...]  # (count, newest loaded_at) of calendar_years when built
    calendar: WorkingCalendar
    checked: float  # time.monotonic() of the last stamp check


_cache: dict[str, _Cached] = {}
_cache_lock = threading.Lock()
# How long a process trusts its calendar before asking the database again whether a year
# was loaded (by another process); a load in this process is seen at once.
FRESH_SECONDS = 1.0


def _loaded_row(row: CalendarYear) -> YearData:
    return check_document({"year": row.year, "source": row.source, **row.data})


# Set in a session's info by load_year: its calendar is not shared until it commits.
_UNCOMMITTED_LOAD = "tongban.calendar.uncommitted_load"
# Built once (its compiled form is then reused).
_STAMP = select(func.count(CalendarYear.year), func.max(CalendarYear.loaded_at))


def calendar(*, db_session: Session) -> WorkingCalendar:
    """The calendar of this database: shipped years, overridden and extended by loaded ones.

    Rebuilt only when calendar_years changes, which is checked (one small aggregate
    query) at most once per FRESH_SECONDS: a year loaded by another process or node
    worker is seen within that time, without a restart.
    """
    if db_session.info.get(_UNCOMMITTED_LOAD):
        return _build(db_session)
    key = database_key(db_session)
    now = time.monotonic()
    with _cache_lock:
        cached = _cache.get(key)
    if cached is not None and now - cached.checked < FRESH_SECONDS:
        return cached.calendar
    stamp = tuple(db_session.execute(_STAMP).one())
    built = cached.calendar if cached is not None and cached.stamp == stamp \
        else _build(db_session)
    with _cache_lock:
        _cache[key] = _Cached(stamp, built, now)
    return built


def _build(db_session: Session) -> WorkingCalendar:
    years = dict(shipped_years())
    rows = list(db_session.scalars(select(CalendarYear)))
    for row in rows:
        years[row.year] = _loaded_row(row)
    newest = max((row.loaded_at for row in rows), default=None)
    return WorkingCalendar(years, version=_version(len(rows), newest))


def _version(loaded: int, newest: datetime | None) -> str:
    """The shipped years plus the loaded rows' count and newest load: any change moves it."""
    shipped = ",".join(str(y) for y in sorted(shipped_years()))
    return f"{shipped}|{loaded}|{newest.isoformat() if newest else '-'}"


def _invalidate(db_session: Session) -> None:
    with _cache_lock:
        _cache.pop(database_key(db_session), None)


def forget_cached_calendars() -> None:
    """Drop every process-cached calendar (tests that empty a database call it)."""
    with _cache_lock:
        _cache.clear()


# --- the public API ---------------------------------------------------------------------


def is_working_day(*, db_session: Session, day: date) -> tuple[bool, bool]:
    """(working?, provisional?): whether the law counts `day`, and whether that is a guess."""
    return calendar(db_session=db_session).is_working(day)


def add_working_days(*, db_session: Session, start: date, days: int) -> DueDate:
    """The date `days` working days after `start` (start itself not counted; 0 -> start)."""
    return calendar(db_session=db_session).add(start, days)


def working_days_between(*, db_session: Session, start: date, end: date) -> WorkingDays:
    """Working days in (start, end]: the time used between two legal dates."""
    return calendar(db_session=db_session).between(start, end)


def local_date(ts: datetime) -> date:
    """The calendar date of a UTC timestamp in China (Asia/Shanghai): what the law counts."""
    if ts.tzinfo is None:
        raise ValueError("naive datetime: pass an aware (UTC) timestamp")
    return ts.astimezone(ZONE).date()


def load_year(
    *, db_session: Session, document: dict[str, Any], actor_name: str,
    actor_id: uuid.UUID | None = None,
) -> CalendarYear:
    """Store (or replace) a year from its notice: deadlines reaching it stop being provisional."""
    data = check_document(document)
    row = db_session.get(CalendarYear, data.year)
    replaced = row is not None
    if row is None:
        row = CalendarYear(year=data.year)
        db_session.add(row)
    row.data = {"holidays": data.document["holidays"], "workdays": data.document["workdays"]}
    row.source = data.document["source"]
    row.loaded_at = utcnow()
    row.loaded_by = actor_name
    try:
        db_session.flush()
    except IntegrityError:
        raise Conflict(f"{data.year} 年数据正被同时载入,请重试 / {data.year} is being loaded "
                       "concurrently, retry", details={"year": data.year}) from None
    record(
        db_session=db_session, actor_id=actor_id, actor_name=actor_name,
        action="calendar.year_loaded", entity="calendar_year", entity_id=str(data.year),
        details={
            "replaced": replaced, "overrides_shipped": data.year in shipped_years(),
            "source_title": row.source.get("title"), "source_number": row.source.get("number"),
            "holidays": len(data.holidays), "workdays": len(data.workdays),
        },
    )
    _invalidate(db_session)
    # Until this transaction commits, what this session sees is not what others see: a
    # calendar it builds is for itself only (see calendar()).
    db_session.info[_UNCOMMITTED_LOAD] = True
    return row


def years(*, db_session: Session) -> list[YearInfo]:
    """Every year with data, oldest first, and whether it is shipped or loaded."""
    return [YearInfo(d.year, copy.deepcopy(d.document["source"]), d.origin)
            for d in calendar(db_session=db_session).years]


def year_document(*, db_session: Session, year: int) -> dict[str, Any]:
    """One year's document as the calendar uses it, with its origin (a copy: cache is shared)."""
    data = calendar(db_session=db_session).year(year)
    if data is None:
        raise NotFound(f"没有 {year} 年的节假日数据 / no holiday data for {year}",
                       details={"year": year})
    return {**copy.deepcopy(data.document), "origin": data.origin}


def now_local_date() -> date:
    """Today in China: the day a deadline computed now starts from."""
    return local_date(datetime.now(UTC))
