"""Tables of 12345 complaints: categories, routing rules, tickets and their event log.

What people write (a ticket's subject and body, the reply, the reasons of its steps) is
personal data: sealed at rest (tongban.sealed), the column bound into each ciphertext.
Nothing is searched inside them in SQL; duplicates are scored in Python (service).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tongban.db import Base, CreatedMixin, IdMixin, JsonType, utcnow
from tongban.sealed import SealedJson


class ComplaintCategory(Base):
    """A kind of request and its time limit in working days."""

    __tablename__ = "supervision_complaint_categories"

    code: Mapped[str] = mapped_column(String(30), primary_key=True)
    name: Mapped[str] = mapped_column(String(60))
    days: Mapped[int]


class RoutingRule(IdMixin, CreatedMixin, Base):
    """派单目录: tickets of a category (and region, and keyword) go to one department."""

    __tablename__ = "supervision_complaint_routes"

    category_code: Mapped[str] = mapped_column(
        ForeignKey("supervision_complaint_categories.code"), index=True)
    region_code: Mapped[str] = mapped_column(String(12))
    keyword: Mapped[str] = mapped_column(String(40), default="")
    department_id: Mapped[uuid.UUID]


class Complaint(IdMixin, CreatedMixin, Base):
    """One 12345 ticket."""

    __tablename__ = "supervision_complaints"

    number: Mapped[str] = mapped_column(String(32), unique=True)
    category_code: Mapped[str] = mapped_column(
        ForeignKey("supervision_complaint_categories.code"))
    subject: Mapped[str] = mapped_column(SealedJson("supervision_complaints.subject"))
    body: Mapped[str] = mapped_column(SealedJson("supervision_complaints.body"))
    region_code: Mapped[str] = mapped_column(String(12), index=True)
    case_number: Mapped[str | None] = mapped_column(String(32))
    complainant_account_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("identity_accounts.id"), index=True)
    channel: Mapped[str] = mapped_column(String(12))
    department_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    state: Mapped[str] = mapped_column(String(20), index=True)
    received_on: Mapped[date]
    due_date: Mapped[date]
    due_provisional: Mapped[bool] = mapped_column(default=False)
    due_computed_at: Mapped[datetime] = mapped_column(default=utcnow)
    merged_into_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("supervision_complaints.id"))
    reply: Mapped[str | None] = mapped_column(SealedJson("supervision_complaints.reply"))
    replied_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    satisfied: Mapped[bool | None]
    returns: Mapped[int] = mapped_column(default=0)
    last_event_seq: Mapped[int] = mapped_column(default=0)
    version: Mapped[int] = mapped_column(Integer, nullable=False)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class ComplaintNumberSequence(Base):
    """The last ticket number given per region and day."""

    __tablename__ = "supervision_complaint_numbers"

    region_code: Mapped[str] = mapped_column(String(12), primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    last: Mapped[int] = mapped_column(default=0)


class ComplaintEvent(Base):
    """One step of a ticket (who, when, from, to, why); appended, never updated."""

    __tablename__ = "supervision_complaint_events"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    complaint_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("supervision_complaints.id"), index=True)
    seq: Mapped[int]
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_id: Mapped[uuid.UUID | None]
    actor_name: Mapped[str] = mapped_column(String(100))
    actor_role: Mapped[str] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(20))
    from_state: Mapped[str | None] = mapped_column(String(20))
    to_state: Mapped[str] = mapped_column(String(20))
    # the department it left and the one it went to: 退单/改派 counted per department
    from_department_id: Mapped[uuid.UUID | None]
    to_department_id: Mapped[uuid.UUID | None]
    reason_code: Mapped[str | None] = mapped_column(String(30))
    reason: Mapped[str | None] = mapped_column(SealedJson("supervision_complaint_events.reason"))
    data: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)

    __table_args__ = (UniqueConstraint("complaint_id", "seq", name="uq_complaint_event_seq"),)
