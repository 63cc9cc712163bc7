"""一件事 bundles: their versions and members (catalog side), and the running side: which
bundle a bundle case was applied under, the task of each member, and the materials
uploaded once for the whole bundle.

A bundle is edited as a draft version and published as an immutable one, like an
implementation. Members name implementations by their 实施编码; the published version
each task runs under is the member's current one when the task starts.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, String, Text, UniqueConstraint, event
from sqlalchemy.orm import Mapped, Mapper, mapped_column, relationship
from sqlalchemy.orm.attributes import get_history

from tongban.db import Base, CreatedMixin, IdMixin, JsonType, utcnow
from tongban.sealed import SealedJson


class DenyRule(StrEnum):
    """What happens to a bundle when one of its tasks is denied (or refused, withdrawn,
    terminated, revoked)."""

    deny_bundle = "deny_bundle"  # the bundle is denied at once; started tasks go on
    continue_others = "continue_others"  # the others go on; decided when all are
    terminate_others = "terminate_others"  # the bundle is denied; open tasks terminated


class TaskStatus(StrEnum):
    pending = "pending"  # waits for the members it depends on
    started = "started"  # its task case exists and runs
    skipped = "skipped"  # never started: a member it depends on failed, or the bundle ended


class Bundle(IdMixin, CreatedMixin, Base):
    """A bundle (一件事) of one region, with a stable code across versions."""

    __tablename__ = "bundles"

    code: Mapped[str] = mapped_column(String(40), unique=True)
    region_code: Mapped[str] = mapped_column(ForeignKey("catalog_regions.code"), index=True)
    # The published version applicants see now; no foreign key (versions point back).
    current_version_id: Mapped[uuid.UUID | None] = mapped_column(index=True)


class BundleVersion(IdMixin, CreatedMixin, Base):
    """The terms of a bundle; immutable once published (only its state moves on)."""

    __tablename__ = "bundle_versions"

    bundle_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("bundles.id"), index=True)
    version: Mapped[int]
    state: Mapped[str] = mapped_column(String(12))
    name: Mapped[str] = mapped_column(String(200))
    topic: Mapped[str] = mapped_column(String(60), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    legal_days: Mapped[int]  # overall, working days from the first acceptance
    promised_days: Mapped[int]
    deny_rule: Mapped[str] = mapped_column(String(20))
    created_by: Mapped[uuid.UUID | None]
    published_at: Mapped[datetime | None]
    published_by: Mapped[uuid.UUID | None]

    members: Mapped[list[BundleMember]] = relationship(
        order_by="BundleMember.position", lazy="selectin", cascade="all, delete-orphan")

    __table_args__ = (UniqueConstraint("bundle_id", "version"),)


class BundleMember(IdMixin, Base):
    """One implementation in a bundle version: its serial dependencies and its limit."""

    __tablename__ = "bundle_members"

    version_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("bundle_versions.id"),
                                                  index=True)
    position: Mapped[int]
    implementation_code: Mapped[str] = mapped_column(String(31))
    department_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("catalog_departments.id"))
    # 实施编码 of members that must be approved before this one starts (串联).
    depends_on: Mapped[list[str]] = mapped_column(JsonType, default=list)
    # The task's promised limit; None = the implementation's own promised days.
    promised_days: Mapped[int | None]

    __table_args__ = (UniqueConstraint("version_id", "implementation_code"),)


class BundleCase(Base):
    """A bundle case (Case.kind == "bundle") and the bundle version it was applied under."""

    __tablename__ = "bundle_cases"

    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    bundle_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("bundles.id"), index=True)
    version_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("bundle_versions.id"))


class BundleTask(IdMixin, Base):
    """One member's part of a bundle case: pending, started (with its task case) or
    skipped."""

    __tablename__ = "bundle_tasks"

    bundle_case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"), index=True)
    member_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("bundle_members.id"))
    position: Mapped[int]
    implementation_code: Mapped[str] = mapped_column(String(31))
    status: Mapped[str] = mapped_column(String(10))
    task_case_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("cases.id"),
                                                           unique=True)
    # An agent's authorisation for this member's item, checked when the bundle was filed.
    authorisation_id: Mapped[uuid.UUID | None]
    note: Mapped[str | None] = mapped_column(SealedJson("bundle_tasks.note"))


class BundleMaterial(IdMixin, Base):
    """A material uploaded once for a bundle case; every task that needs it gets it."""

    __tablename__ = "bundle_case_materials"

    bundle_case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"), index=True)
    material_code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    content_type: Mapped[str] = mapped_column(String(100))
    filename: Mapped[str] = mapped_column(String(255))
    supplied_at: Mapped[datetime] = mapped_column(default=utcnow)
    supplied_by: Mapped[uuid.UUID | None]
    # Task case numbers it was attached to (later tasks get it when they start).
    shared_with: Mapped[list[str]] = mapped_column(JsonType, default=list)


# A published (or later) version is frozen: cases point at it. Enforced at flush.
_FROZEN = {"published", "superseded", "withdrawn"}


@event.listens_for(BundleVersion, "before_update")
def _refuse_editing_frozen_version(
    mapper: Mapper[Any], _connection: Any, target: BundleVersion
) -> None:
    history = get_history(target, "state")
    old = str(history.deleted[0]) if history.deleted else str(target.state)
    if old not in _FROZEN:
        return
    changed = [a.key for a in mapper.column_attrs
               if a.key != "state" and get_history(target, a.key).has_changes()]
    if changed:
        from tongban.errors import Conflict

        raise Conflict("已发布的一件事版本不可修改,请新建草稿 / a published bundle version is "
                       "immutable; edit a new draft",
                       details={"version_id": str(target.id), "fields": changed})
