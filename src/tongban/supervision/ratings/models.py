"""Tables of 好差评: ratings, the handling of bad ones, and its event log.

A rating copies the case's department, region and item when it is given, so published
results per department and item never depend on a later change of the case. Events are
appended, never updated: they are the record a supervisor and the ledger rely on. What
people write (the comment, the return visit's notes and outcome, an appeal's evidence)
is sealed at rest (tongban.sealed).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from tongban.db import Base, CreatedMixin, IdMixin, JsonType, utcnow
from tongban.sealed import SealedJson


class Rating(IdMixin, CreatedMixin, Base):
    """好差评: one rating of one service (一次一评 at a window visit, 一事一评 online)."""

    __tablename__ = "supervision_ratings"

    case_number: Mapped[str] = mapped_column(String(32), index=True)
    # "case" for 一事一评; "visit:<event seq>" for 一次一评 of one window visit
    occasion: Mapped[str] = mapped_column(String(40))
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("identity_accounts.id"))
    channel: Mapped[str] = mapped_column(String(12))
    level: Mapped[int]
    indicators: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    content_version: Mapped[str] = mapped_column(String(30))
    comment: Mapped[str] = mapped_column(SealedJson("supervision_ratings.comment"), default="")
    department_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    region_code: Mapped[str] = mapped_column(String(12))
    item_code: Mapped[str | None] = mapped_column(String(12))
    item_name: Mapped[str] = mapped_column(String(200), default="")
    # an upheld appeal found the rating malicious: kept, but out of the published figures
    annulled: Mapped[bool] = mapped_column(default=False)

    __table_args__ = (
        UniqueConstraint("case_number", "occasion", name="one_rating_per_service"),
        CheckConstraint("level BETWEEN 1 AND 5", name="level_range"),
    )


class Rectification(IdMixin, CreatedMixin, Base):
    """The handling of one bad rating: return visit, rectification, the rater's verdict."""

    __tablename__ = "supervision_rectifications"

    rating_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("supervision_ratings.id"), unique=True)
    case_number: Mapped[str] = mapped_column(String(32))
    department_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    region_code: Mapped[str] = mapped_column(String(12))
    state: Mapped[str] = mapped_column(String(20), index=True)
    visit_due: Mapped[date]
    rectify_due: Mapped[date | None]
    due_provisional: Mapped[bool] = mapped_column(default=False)
    finding: Mapped[str | None] = mapped_column(String(30))
    outcome: Mapped[str | None] = mapped_column(SealedJson("supervision_rectifications.outcome"))
    appealed_from: Mapped[str | None] = mapped_column(String(20))
    closed_at: Mapped[datetime | None]
    last_event_seq: Mapped[int] = mapped_column(default=0)
    version: Mapped[int] = mapped_column(Integer, nullable=False)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class RectificationEvent(Base):
    """One step of a bad rating's handling (who, when, from, to, why)."""

    __tablename__ = "supervision_rectification_events"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    rectification_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("supervision_rectifications.id"), index=True)
    seq: Mapped[int]
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_id: Mapped[uuid.UUID | None]
    actor_name: Mapped[str] = mapped_column(String(100))
    actor_role: Mapped[str] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(30))
    from_state: Mapped[str | None] = mapped_column(String(20))
    to_state: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(
        SealedJson("supervision_rectification_events.reason"))
    # Plain facts only (deadlines, days, the level): the metrics read them in SQL.
    data: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    # What people wrote at this step (the outcome, an appeal's evidence): sealed.
    notes: Mapped[dict[str, Any]] = mapped_column(
        SealedJson("supervision_rectification_events.notes"), default=dict)

    __table_args__ = (UniqueConstraint("rectification_id", "seq", name="uq_rating_event_seq"),)
