"""Pydantic models of the complaints API (strict: an unknown field is an error)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ComplaintIn(_Strict):
    category: str = Field(max_length=30)
    subject: str = Field(max_length=200)
    body: str = Field(max_length=5000)
    region_code: str | None = Field(default=None, max_length=12)
    case_number: str | None = Field(default=None, max_length=32)
    channel: str = Field(default="portal", max_length=12)


class StepIn(_Strict):
    department_id: uuid.UUID | None = None
    reason_code: str | None = Field(default=None, max_length=30)
    reason: str | None = Field(default=None, max_length=2000)
    reply: str | None = Field(default=None, max_length=5000)
    into: str | None = Field(default=None, max_length=32)


class CategoryIn(_Strict):
    name: str = Field(max_length=60)
    days: int


class RuleIn(_Strict):
    category: str = Field(max_length=30)
    region_code: str = Field(pattern=r"^[0-9]{6}$")
    department_id: uuid.UUID
    keyword: str = Field(default="", max_length=40)


class CategoryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    name: str
    days: int


class RuleOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    category_code: str
    region_code: str
    keyword: str
    department_id: uuid.UUID


class EventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    seq: int
    at: datetime
    actor_name: str
    actor_role: str
    action: str
    from_state: str | None
    to_state: str
    from_department_id: uuid.UUID | None
    to_department_id: uuid.UUID | None
    reason_code: str | None
    reason: str | None
    data: dict[str, Any]


class ComplaintOut(BaseModel):
    number: str
    category_code: str
    subject: str
    body: str
    region_code: str
    case_number: str | None
    channel: str
    department_id: uuid.UUID | None
    state: str
    state_label: str
    received_on: date
    due_date: date
    due_provisional: bool
    merged_into: str | None
    reply: str | None
    replied_at: datetime | None
    closed_at: datetime | None
    satisfied: bool | None
    returns: int
    events: list[EventOut]
    allowed_actions: list[str]


class DuplicateOut(BaseModel):
    number: str
    subject: str
    similarity: int
