"""Tables of 双随机一公开: the lists (检查对象名录库, 执法检查人员名录库), draws and recusals.

A list is edited while open and immutable once frozen (its hash is then fixed). A draw's
commitment is written before any randomness exists; its reveal, seed and result follow.
Recusals are appended, never changed: the result is the draw re-run with all of them.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tongban.db import Base, CreatedMixin, IdMixin, JsonType


class DrawList(IdMixin, CreatedMixin, Base):
    """Inspection targets or inspectors; frozen before any draw may use it."""

    __tablename__ = "supervision_draw_lists"

    kind: Mapped[str] = mapped_column(String(12))  # targets | inspectors
    name: Mapped[str] = mapped_column(String(200))
    region_code: Mapped[str] = mapped_column(String(12), index=True)
    entries: Mapped[list[dict[str, Any]]] = mapped_column(JsonType, default=list)
    state: Mapped[str] = mapped_column(String(10), default="open")
    sha256: Mapped[str | None] = mapped_column(String(64))
    frozen_at: Mapped[datetime | None]
    created_by: Mapped[str] = mapped_column(String(100))


class Draw(IdMixin, CreatedMixin, Base):
    """One random inspection task: committed first, drawn once the randomness exists."""

    __tablename__ = "supervision_draws"

    task: Mapped[str] = mapped_column(String(200))
    region_code: Mapped[str] = mapped_column(String(12), index=True)
    state: Mapped[str] = mapped_column(String(10))  # committed | drawn
    targets_list_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("supervision_draw_lists.id"))
    inspectors_list_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("supervision_draw_lists.id"))
    rules: Mapped[dict[str, Any]] = mapped_column(JsonType)
    commitment: Mapped[dict[str, Any]] = mapped_column(JsonType)
    commitment_hash: Mapped[str] = mapped_column(String(64))
    committed_at: Mapped[datetime]
    committed_by: Mapped[str] = mapped_column(String(100))
    reveal: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    randomness: Mapped[str | None] = mapped_column(String(128))
    seed: Mapped[str | None] = mapped_column(String(64))
    result: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    drawn_at: Mapped[datetime | None]


class DrawRecusal(IdMixin, Base):
    """回避: an assigned inspector steps aside for one target, with the reason."""

    __tablename__ = "supervision_draw_recusals"

    draw_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("supervision_draws.id"), index=True)
    seq: Mapped[int]
    target_id: Mapped[str] = mapped_column(String(40))
    inspector_id: Mapped[str] = mapped_column(String(40))
    reason: Mapped[str] = mapped_column(Text)
    recorded_by: Mapped[str] = mapped_column(String(100))
    recorded_at: Mapped[datetime]

    __table_args__ = (UniqueConstraint("draw_id", "seq", name="uq_draw_recusal_seq"),
                      UniqueConstraint("draw_id", "target_id", "inspector_id",
                                       name="uq_draw_recusal_pair"))
