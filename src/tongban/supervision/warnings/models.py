"""Tables of warnings and supervision orders, and their event log.

A watch is one case's stay at one warning level (yellow or red): when it began as the
supervision job saw it, whom it was escalated to and when, and when it ended. An order is
a supervisor's 督办 (supervise: act by a deadline) or 纠错 (correct: the case was handled
wrongly, with the reason) to the department of a case, answered by that department. An
order's text and answer, and what its steps say, are sealed at rest (tongban.sealed).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tongban.db import Base, IdMixin, utcnow
from tongban.sealed import SealedJson


class WarningWatch(IdMixin, Base):
    """One case's stay at one warning level, and its escalations."""

    __tablename__ = "supervision_warning_watches"

    case_id: Mapped[uuid.UUID] = mapped_column(index=True)
    case_number: Mapped[str] = mapped_column(String(32))
    case_kind: Mapped[str] = mapped_column(String(10))  # single, bundle, task
    parent_case_id: Mapped[uuid.UUID | None]
    item_name: Mapped[str] = mapped_column(String(200), default="")
    department_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    region_code: Mapped[str] = mapped_column(String(12))
    level: Mapped[str] = mapped_column(String(8))
    promised_due_date: Mapped[date | None]
    since: Mapped[datetime] = mapped_column(default=utcnow)
    to_head_at: Mapped[datetime | None]
    to_supervisor_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None] = mapped_column(index=True)


class SupervisionOrder(IdMixin, Base):
    """督办 or 纠错 on one case, to its department, with a deadline and the answer."""

    __tablename__ = "supervision_orders"

    kind: Mapped[str] = mapped_column(String(12))  # supervise (督办), correct (纠错)
    case_id: Mapped[uuid.UUID] = mapped_column(index=True)
    case_number: Mapped[str] = mapped_column(String(32), index=True)
    department_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    region_code: Mapped[str] = mapped_column(String(12))
    text: Mapped[str] = mapped_column(SealedJson("supervision_orders.text"))
    due: Mapped[date]
    due_provisional: Mapped[bool] = mapped_column(default=False)
    issued_by: Mapped[uuid.UUID | None]
    issued_by_name: Mapped[str] = mapped_column(String(100))
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    state: Mapped[str] = mapped_column(String(12), index=True)
    answer: Mapped[str | None] = mapped_column(SealedJson("supervision_orders.answer"))
    answered_by_name: Mapped[str | None] = mapped_column(String(100))
    answered_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(Integer, nullable=False)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class SupervisionEvent(Base):
    """One step of a watch or an order (appended, never updated)."""

    __tablename__ = "supervision_warning_events"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    subject: Mapped[str] = mapped_column(String(8))  # watch, order
    subject_id: Mapped[uuid.UUID] = mapped_column(index=True)
    seq: Mapped[int]
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_id: Mapped[uuid.UUID | None]
    actor_name: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(30))
    case_number: Mapped[str] = mapped_column(String(32))
    data: Mapped[dict[str, Any]] = mapped_column(SealedJson("supervision_warning_events.data"),
                                                 default=dict)

    __table_args__ = (UniqueConstraint("subject_id", "seq", name="uq_supervision_event_seq"),)
