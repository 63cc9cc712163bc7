"""Pydantic models of the notify API."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class NotificationOut(BaseModel):
    """One inbox message, Chinese first."""

    id: uuid.UUID
    kind: str
    title: dict[str, str]
    body: dict[str, str]
    link: str | None
    created_at: datetime
    read_at: datetime | None


class InboxOut(BaseModel):
    unread: int
    items: list[NotificationOut]


class UnreadOut(BaseModel):
    unread: int


class MarkedOut(BaseModel):
    marked: int


class PreferencesIn(BaseModel):
    """The caller's addresses and, per kind, the external channels it also goes to."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    email: str | None = Field(None, max_length=254)
    phone: str | None = Field(None, max_length=20)
    channels: dict[str, list[str]] = Field(default_factory=dict, max_length=50)


class PreferencesOut(BaseModel):
    email: str | None
    phone: str | None
    channels: dict[str, list[str]]
