"""Pydantic models of the warnings and orders API (strict: an unknown field is an error)."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class OrderIn(_Strict):
    case_number: str = Field(min_length=1, max_length=32)
    kind: str = Field(description="supervise (督办) or correct (纠错)", max_length=12)
    text: str = Field(max_length=2000)
    days: int | None = Field(default=None, description="working days to answer")


class OrderStepIn(_Strict):
    text: str | None = Field(default=None, max_length=2000)


class WatchOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    case_number: str
    case_kind: str
    item_name: str
    department_id: uuid.UUID | None
    region_code: str
    level: str
    promised_due_date: date | None
    since: datetime
    to_head_at: datetime | None
    to_supervisor_at: datetime | None


class EscalationOut(BaseModel):
    watch: WatchOut
    audience: str


class OrderOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: str
    case_number: str
    department_id: uuid.UUID | None
    text: str
    due: date
    due_provisional: bool
    issued_by_name: str
    issued_at: datetime
    state: str
    answer: str | None
    answered_by_name: str | None
    answered_at: datetime | None
