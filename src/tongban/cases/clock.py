"""The legal clock of a case, as functions over the working-day calendar.

行政许可法 Art. 42 and 82: limits are working days counted from acceptance; Art. 45: time
spent in special procedures is not counted; extensions add working days. A date in a year
without calendar data is computed on weekdays and marked provisional; that flag travels
with every result here. Nothing in this module writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy.orm import Session

from tongban.calendar import service as calendar
from tongban.cases.models import WarningLevel

_MEMO = "tongban.cases.clock.calendar"


@dataclass(frozen=True)
class Deadlines:
    legal_due_date: date
    promised_due_date: date
    provisional: bool
    calendar_version: str  # the calendar they were counted with


@dataclass(frozen=True)
class Usage:
    """Working days used of the limit, and left before the promised due date."""

    used: int
    left: int
    provisional: bool


def _calendar(db_session: Session) -> calendar.WorkingCalendar:
    """The working calendar, fetched once per transaction: one action computes several
    dates, and the calendar's freshness check is a query (a year loaded by another process
    is seen from the next transaction on)."""
    txn = db_session.get_transaction()
    memo = db_session.info.get(_MEMO)
    if txn is not None and memo is not None and memo[0] is txn:
        cal: calendar.WorkingCalendar = memo[1]
        return cal
    cal = calendar.calendar(db_session=db_session)
    db_session.info[_MEMO] = (txn, cal)
    return cal


def calendar_version(*, db_session: Session) -> str:
    """The version of the calendar this transaction counts with."""
    return _calendar(db_session).version


def local_date(ts: datetime) -> date:
    """The date in Asia/Shanghai of a UTC timestamp (the legal day)."""
    return calendar.local_date(ts)


def due_dates(
    *, db_session: Session, accepted_on: date, legal_days: int, promised_days: int,
    paused_days: int, extension_days: int,
) -> Deadlines:
    """The legal and promised due dates, shifted by pauses and extensions."""
    shift = paused_days + extension_days
    cal = _calendar(db_session)
    legal = cal.add(accepted_on, legal_days + shift)
    promised = cal.add(accepted_on, promised_days + shift)
    return Deadlines(legal.date, promised.date, legal.provisional or promised.provisional,
                     cal.version)


def pause_days(*, db_session: Session, started: datetime, ended: datetime) -> tuple[int, bool]:
    """Working days a pause took (from its local start day to its local end day)."""
    span = _calendar(db_session).between(local_date(started), local_date(ended))
    return max(span.days, 0), span.provisional


def usage(
    *, db_session: Session, accepted_on: date, today: date, paused_days: int,
    promised_due: date,
) -> Usage:
    """Working days used since acceptance (pauses excluded) and left until the due date."""
    cal = _calendar(db_session)
    used = cal.between(accepted_on, today)
    if today <= promised_due:
        left = cal.between(today, promised_due)
        left_days, left_prov = left.days, left.provisional
    else:
        over = cal.between(promised_due, today)
        left_days, left_prov = -over.days, over.provisional
    return Usage(max(used.days - paused_days, 0), left_days, used.provisional or left_prov)


def warning_level(
    *, db_session: Session, today: date, promised_due: date | None, yellow_days_left: int
) -> WarningLevel:
    """Red when overdue, yellow when at most `yellow_days_left` working days are left."""
    if promised_due is None:
        return WarningLevel.none
    if today > promised_due:
        return WarningLevel.red
    left = _calendar(db_session).between(today, promised_due)
    return WarningLevel.yellow if left.days <= yellow_days_left else WarningLevel.none


def next_warning_check(
    *, db_session: Session, today: date, promised_due: date | None, level: WarningLevel,
    yellow_days_left: int,
) -> date | None:
    """The first day the warning of a running case may change by the passing of time alone:
    the day it turns yellow, or the day after its due date (red); None once red or undated.

    The worker looks only at cases whose day has come, so the daily refresh touches the
    few cases that change instead of rescanning every running one.
    """
    if promised_due is None or level == WarningLevel.red:
        return None
    if level == WarningLevel.yellow or today > promised_due:
        return max(promised_due + timedelta(days=1), today)
    cal = _calendar(db_session)
    # Working days left only fall as the day moves on: bisect for the first yellow day.
    low, high = today, promised_due
    while low < high:
        middle = low + (high - low) // 2
        if cal.between(middle, promised_due).days <= yellow_days_left:
            high = middle
        else:
            low = middle + timedelta(days=1)
    return low


def supplement_notice_deadline(*, db_session: Session, received_on: date) -> tuple[date, bool]:
    """Art. 32: the last day a supplement notice may be given (5 working days)."""
    due = _calendar(db_session).add(received_on, 5)
    return due.date, due.provisional
