"""Tables of the metrics: per-case, per-rating and per-ticket facts derived from events,
monthly cells, a working-day index and the refresh state. All are derived data: `tongban
supervision metrics refresh --rebuild` recomputes them from the events at any time.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from tongban.db import Base


def _counter(big: bool = False) -> Any:
    """A non-null counter starting at 0 (BIGINT in cells: national sums are large)."""
    return mapped_column(BigInteger, default=0) if big else mapped_column(default=0)


class MetricFact(Base):
    """One case, as its events describe it (refreshed when its last event seq moves)."""

    __tablename__ = "supervision_metric_facts"

    case_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    series: Mapped[str] = mapped_column(String(120), index=True)  # region/department/item
    kind: Mapped[str] = mapped_column(String(10))
    region_code: Mapped[str] = mapped_column(String(12))
    department_id: Mapped[uuid.UUID | None]
    item_code: Mapped[str | None] = mapped_column(String(12))
    event_seq: Mapped[int]
    submitted_on: Mapped[date]
    accepted_on: Mapped[date | None]
    decided_on: Mapped[date | None]
    promised_days: Mapped[int] = _counter()
    paused_days: Mapped[int] = _counter()
    extension_days: Mapped[int] = _counter()
    online_capable: Mapped[int] = _counter()
    fully_online: Mapped[int] = _counter()
    zero_visit: Mapped[int] = _counter()
    immediate: Mapped[int] = _counter()
    cross_province: Mapped[int] = _counter()


class MetricRatingFact(Base):
    """One 好差评 rating, as it and its handling's events describe it (refreshed when its
    handling's last event seq moves). Counters are 0/1; an annulled rating counts nowhere."""

    __tablename__ = "supervision_metric_rating_facts"

    rating_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    series: Mapped[str] = mapped_column(String(120), index=True)
    region_code: Mapped[str] = mapped_column(String(12))
    department_id: Mapped[uuid.UUID | None]
    item_code: Mapped[str | None] = mapped_column(String(12))
    event_seq: Mapped[int]  # the handling's last event (0: a rating without handling)
    rated_on: Mapped[date]
    rated: Mapped[int] = _counter()
    good: Mapped[int] = _counter()
    bad: Mapped[int] = _counter()
    bad_rectified: Mapped[int] = _counter()


class MetricComplaintFact(Base):
    """One 12345 ticket, as its events describe it (refreshed when its last event seq
    moves); closed_on is null while it is open."""

    __tablename__ = "supervision_metric_complaint_facts"

    complaint_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    series: Mapped[str] = mapped_column(String(120), index=True)
    region_code: Mapped[str] = mapped_column(String(12))
    department_id: Mapped[uuid.UUID | None]
    item_code: Mapped[str | None] = mapped_column(String(12))
    event_seq: Mapped[int]
    closed_on: Mapped[date | None]
    on_time: Mapped[int] = _counter()


class MetricCell(Base):
    """The counters of one region, department and item in one month: what queries read.
    Submission counters count cases submitted that month; decision counters, decided;
    rating counters, ratings given; complaint counters, tickets closed."""

    __tablename__ = "supervision_metric_cells"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    series: Mapped[str] = mapped_column(String(120), index=True)
    month: Mapped[str] = mapped_column(String(7))
    region_code: Mapped[str] = mapped_column(String(12))
    department_id: Mapped[uuid.UUID | None]
    item_code: Mapped[str | None] = mapped_column(String(12))
    submitted: Mapped[int] = _counter(big=True)
    online_capable: Mapped[int] = _counter(big=True)
    fully_online: Mapped[int] = _counter(big=True)
    zero_visit: Mapped[int] = _counter(big=True)
    immediate: Mapped[int] = _counter(big=True)
    cross_province: Mapped[int] = _counter(big=True)
    decided: Mapped[int] = _counter(big=True)
    on_time: Mapped[int] = _counter(big=True)
    handling_days: Mapped[int] = _counter(big=True)
    # 好差评, in the month of the rating
    rated: Mapped[int] = _counter(big=True)
    good: Mapped[int] = _counter(big=True)
    bad: Mapped[int] = _counter(big=True)
    bad_rectified: Mapped[int] = _counter(big=True)
    # 12345 tickets, in the month they closed
    complaints_closed: Mapped[int] = _counter(big=True)
    complaints_on_time: Mapped[int] = _counter(big=True)

    __table_args__ = (Index("ix_supervision_metric_cells_month_region", "month",
                            "region_code"),)


class MetricWorkday(Base):
    """Every day of the calendar's span: whether it is a working day, and how many working
    days there are from the span's start through it (so a span is a subtraction in SQL)."""

    __tablename__ = "supervision_metric_workdays"

    day: Mapped[date] = mapped_column(primary_key=True)
    working: Mapped[bool]
    ordinal: Mapped[int]


class MetricState(Base):
    """The one row saying what the derived tables were built from, and when."""

    __tablename__ = "supervision_metric_state"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    calendar_hash: Mapped[str] = mapped_column(String(64))
    definitions_hash: Mapped[str] = mapped_column(String(64))
    refreshed_at: Mapped[datetime]
    facts: Mapped[int] = mapped_column(BigInteger, default=0)
