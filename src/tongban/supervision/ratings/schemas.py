"""Pydantic models of the ratings API (strict: an unknown field is an error)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class RatingIn(_Strict):
    case_number: str = Field(min_length=1, max_length=32)
    channel: str = Field(default="online", max_length=12)
    level: int = Field(description="5 非常满意, 4 满意, 3 基本满意, 2 不满意, 1 非常不满意")
    indicators: dict[str, int] = Field(default_factory=dict)
    comment: str = Field(default="", max_length=500)
    visit_seq: int | None = Field(default=None, ge=1,
                                  description="the window visit (case event) rated on site")


class StepIn(_Strict):
    reason: str | None = Field(default=None, max_length=2000)
    outcome: str | None = Field(default=None, max_length=2000)
    days: int | None = Field(default=None, description="working days to rectify")
    evidence: str | None = Field(default=None, max_length=2000)


class EventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    seq: int
    at: datetime
    actor_name: str
    actor_role: str
    action: str
    from_state: str | None
    to_state: str
    reason: str | None
    data: dict[str, Any]
    notes: dict[str, Any]  # the outcome, an appeal's evidence


class RectificationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    state: str
    state_label: str
    visit_due: date
    rectify_due: date | None
    due_provisional: bool
    finding: str | None
    outcome: str | None
    closed_at: datetime | None


class RatingOut(BaseModel):
    id: uuid.UUID
    case_number: str
    occasion: str
    channel: str
    level: int
    level_label: str
    indicators: dict[str, int]
    content_version: str
    comment: str
    department_id: uuid.UUID | None
    item_code: str | None
    item_name: str
    annulled: bool
    created_at: datetime
    rectification: RectificationOut | None
    events: list[EventOut]
    allowed_actions: list[str]


class QueueRowOut(BaseModel):
    rating: RatingOut
    overdue: bool


class PublishedOut(BaseModel):
    department_id: uuid.UUID | None
    department_name: str
    item_code: str | None
    item_name: str
    total: int
    by_level: dict[str, int]
    good_rate: float | None
    bad: int
    bad_rectified: int
    rectified_rate: float | None
    annulled: int


class ContentOut(BaseModel):
    version: str
    levels: dict[str, str]
    channels: dict[str, str]
    indicators: dict[str, dict[str, str]]
