"""Pydantic models of the calendar API and of a year's data file."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

IsoDateText = Annotated[
    str, StringConstraints(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"),
]


def _real_date(text: str) -> str:
    """A YYYY-MM-DD that names a real day (2026-02-30 does not)."""
    date.fromisoformat(text)
    return text


IsoDate = Annotated[IsoDateText, AfterValidator(_real_date)]
NonEmpty = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class Source(BaseModel):
    """The notice a year is transcribed from; extra keys (also, corrections…) are kept."""

    model_config = ConfigDict(extra="allow")

    title: NonEmpty
    number: str | None = None
    date: IsoDate | None = None
    url: str | None = None


class Holiday(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: NonEmpty
    dates: list[IsoDate] = Field(min_length=1)


class YearDocument(BaseModel):
    """A year's data file: official rest days grouped by holiday, and 调休 working days."""

    model_config = ConfigDict(extra="forbid")

    year: int = Field(ge=1, le=9999)
    source: Source
    holidays: list[Holiday] = Field(min_length=1)
    workdays: list[IsoDate] = Field(default_factory=list)


class YearOut(YearDocument):
    """A year as served: its document and where it comes from."""

    model_config = ConfigDict(extra="forbid")

    origin: Literal["shipped", "loaded"]


class YearSummary(BaseModel):
    year: int
    origin: Literal["shipped", "loaded"]
    source: dict[str, Any]


class DueOut(BaseModel):
    """The date `days` working days after `start`; provisional when a year had no data."""

    start: date
    days: int
    due: date
    provisional: bool
