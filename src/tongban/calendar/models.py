"""Years of the working-day calendar loaded at run time.

The project ships one data file per year (tongban/calendar/data/YYYY.json). A year loaded
with `tongban calendar load FILE` or POST /calendar/years is stored here and overrides the
shipped file of the same year, so a node can add next year's notice (or a mid-year change,
like the 2020 extension of the Spring Festival) without a release.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from tongban.db import Base, JsonType, utcnow


class CalendarYear(Base):
    """One year's holidays and make-up working days, with the notice they come from."""

    __tablename__ = "calendar_years"

    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    # {"holidays": [{"name", "dates": [...]}], "workdays": [...]}, dates as YYYY-MM-DD.
    data: Mapped[dict[str, Any]] = mapped_column(JsonType)
    # {"title", "number", "date", "url", ...}: the notice the data is transcribed from.
    source: Mapped[dict[str, Any]] = mapped_column(JsonType)
    loaded_at: Mapped[datetime] = mapped_column(default=utcnow)
    loaded_by: Mapped[str] = mapped_column(String(100))
