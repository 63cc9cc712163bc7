"""Eligibility tables: the rule sets a node runs (each version kept, never changed) and
the qualifications the screening found.

A rule set is law as data: the version that decided something must stay readable, so a
change is a new version (a new row), and each row keeps the document it was loaded from
and its sha256.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tongban.catalog.models import Department
from tongban.db import Base, IdMixin, JsonType, utcnow


class RuleSet(IdMixin, Base):
    """One version of one policy's rules, bound to the department of this node that
    runs it (its consumer department for every registry read)."""

    __tablename__ = "eligibility_rule_sets"

    code: Mapped[str] = mapped_column(String(60), index=True)
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20))
    subject_kind: Mapped[str] = mapped_column(String(12))
    mode: Mapped[str] = mapped_column(String(12))  # proactive (免申即享) / notify
    confirmation: Mapped[str] = mapped_column(String(12))  # required / none
    department_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("catalog_departments.id"))
    effective_from: Mapped[date]
    effective_until: Mapped[date | None]
    document: Mapped[dict[str, Any]] = mapped_column(JsonType)
    sha256: Mapped[str] = mapped_column(String(64))
    loaded_at: Mapped[datetime] = mapped_column(default=utcnow)
    loaded_by: Mapped[uuid.UUID | None]
    # Loaded with the row: every check acts for it (one statement, not two).
    department: Mapped[Department] = relationship(lazy="joined")

    __table_args__ = (UniqueConstraint("code", "version", name="uq_eligibility_rule_sets"),)


class QualificationState(StrEnum):
    """Where a found qualification is: a table of transitions in `proactive.py`."""

    candidate = "candidate"  # found; a person of the department confirms it first
    confirmed = "confirmed"  # confirmed; the benefit case is being opened
    opened = "opened"  # 免申即享: the benefit case is open, no application was needed
    notified = "notified"  # 政策推送: the subject was told and may apply
    declined = "declined"  # the department's confirmation found it does not hold


class Qualification(IdMixin, Base):
    """A subject the screening found newly eligible for a policy: found once (the
    unique key makes every later run a no-op for them), then confirmed, opened or
    notified. No registry value is kept here: the access log and the rule set's
    version say what was read and why."""

    __tablename__ = "eligibility_qualifications"

    rule_set_code: Mapped[str] = mapped_column(String(60))
    rule_set_version: Mapped[int] = mapped_column(Integer)
    rule_set_sha256: Mapped[str] = mapped_column(String(64))
    subject_kind: Mapped[str] = mapped_column(String(12))
    subject_key: Mapped[str] = mapped_column(String(64), index=True)
    person_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("identity_people.id"))
    enterprise_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("identity_enterprises.id"))
    name: Mapped[str] = mapped_column(String(200), default="")
    department_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("catalog_departments.id"),
                                                     index=True)
    state: Mapped[str] = mapped_column(String(12))
    found_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[uuid.UUID | None]
    decided_by_name: Mapped[str] = mapped_column(String(100), default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    case_number: Mapped[str | None] = mapped_column(String(32))

    __table_args__ = (UniqueConstraint("rule_set_code", "subject_key",
                                       name="uq_eligibility_qualifications"),)
