"""Cases (办件), their append-only events, materials, notices, pauses, extensions,
payments and deliveries.

A case's current state lives on the Case row (with a row version for optimistic
locking); its history is the CaseEvent table, appended once per transition and never
updated. A bundle case (一件事) owns task cases through `parent_case_id`.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from tongban.db import Base, CreatedMixin, IdMixin, JsonType, utcnow
from tongban.sealed import SealedJson


class CaseKind(StrEnum):
    single = "single"
    bundle = "bundle"  # 一件事: owns task cases
    task = "task"  # one department's part of a bundle


class Channel(StrEnum):
    online = "online"
    window = "window"
    mobile = "mobile"


class WarningLevel(StrEnum):
    none = "none"
    yellow = "yellow"
    red = "red"


class Case(IdMixin, CreatedMixin, Base):
    """One application and everything that happens to it."""

    __tablename__ = "cases"

    number: Mapped[str] = mapped_column(String(32), unique=True)
    kind: Mapped[str] = mapped_column(String(10), default=CaseKind.single)
    parent_case_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("cases.id"), index=True
    )
    workflow: Mapped[str] = mapped_column(String(20), default="promised")
    implementation_version_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("catalog_implementation_versions.id")
    )
    implementation_code: Mapped[str | None] = mapped_column(String(31))
    item_code: Mapped[str | None] = mapped_column(String(12), index=True)
    item_name: Mapped[str] = mapped_column(String(200), default="")
    department_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("catalog_departments.id")
    )
    region_code: Mapped[str] = mapped_column(String(12))  # handling region (办理地)
    receiving_region_code: Mapped[str] = mapped_column(String(12))  # 收件地
    applicant_person_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("identity_people.id"), index=True
    )
    applicant_enterprise_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("identity_enterprises.id"), index=True
    )
    applicant_account_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("identity_accounts.id"), index=True
    )
    applicant_name: Mapped[str] = mapped_column(String(200), default="")
    # Who filed it: the applicant, their agent, or the window clerk.
    submitted_by_account_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("identity_accounts.id"), index=True
    )
    agent_authorisation_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("identity_agent_authorisations.id")
    )
    channel: Mapped[str] = mapped_column(String(10))
    state: Mapped[str] = mapped_column(String(30))
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    form_data: Mapped[dict[str, Any]] = mapped_column(SealedJson("cases.form_data"), default=dict)
    idempotency_key: Mapped[str | None] = mapped_column(String(100))

    submitted_at: Mapped[datetime] = mapped_column(default=utcnow)
    accepted_at: Mapped[datetime | None]
    decided_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    decision: Mapped[str | None] = mapped_column(String(30))
    decision_reason: Mapped[str | None] = mapped_column(SealedJson("cases.decision_reason"))

    # Time limits, in working days, copied from the version at submission.
    legal_days: Mapped[int] = mapped_column(default=0)
    promised_days: Mapped[int] = mapped_column(default=0)
    legal_due_date: Mapped[date | None]
    promised_due_date: Mapped[date | None]
    due_provisional: Mapped[bool] = mapped_column(default=False)
    paused: Mapped[bool] = mapped_column(default=False)
    paused_days_total: Mapped[int] = mapped_column(default=0)
    extension_days_total: Mapped[int] = mapped_column(default=0)
    warning_level: Mapped[str] = mapped_column(String(8), default=WarningLevel.none)
    # The worker's incremental refresh: the first day the warning may change with time
    # alone, and the calendar version the due dates were counted with (a loaded or
    # replaced year re-dates exactly the cases counted with an older one).
    warning_recheck_on: Mapped[date | None]
    deadlines_calendar: Mapped[str | None] = mapped_column(String(200))
    deemed_accepted: Mapped[bool] = mapped_column(default=False)
    deemed_accepted_reason: Mapped[str | None] = mapped_column(
        SealedJson("cases.deemed_accepted_reason"))
    # 容缺: material codes still owed, and the date they were promised by.
    deficient_materials: Mapped[list[str]] = mapped_column(JsonType, default=list)
    deficiency_promise_date: Mapped[date | None]
    deficiency_missed_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    last_event_seq: Mapped[int] = mapped_column(default=0)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012
    __table_args__ = (
        UniqueConstraint("submitted_by_account_id", "idempotency_key",
                         name="uq_cases_idempotency"),
        Index("ix_cases_warning_level", "warning_level"),
        Index("ix_cases_dept_state_due", "department_id", "state", "promised_due_date"),
        Index("ix_cases_region_state_due", "region_code", "state", "promised_due_date"),
        Index("ix_cases_dept_warning", "department_id", "warning_level"),
        Index("ix_cases_region_warning", "region_code", "warning_level"),
        Index("ix_cases_state_due", "state", "promised_due_date"),
        # The workbench queue pages by (due date, id) across every state in scope.
        Index("ix_cases_due_id", "promised_due_date", "id"),
        Index("ix_cases_state_submitted", "state", "submitted_at"),
        Index("ix_cases_state_recheck", "state", "warning_recheck_on"),
    )


class CaseNumberSequence(Base):
    """The last case number used per handling region and local day."""

    __tablename__ = "case_number_sequences"

    region_code: Mapped[str] = mapped_column(String(12), primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    last: Mapped[int] = mapped_column(default=0)


EVENT_FACT_KEYS = ("channel", "days", "paused_working_days", "method")


def event_facts(data: dict[str, Any]) -> dict[str, Any]:
    """The plain part of an event's data: the codes and figures metrics aggregate."""
    return {k: data[k] for k in EVENT_FACT_KEYS if k in data}


class CaseEvent(Base):
    """One transition (or notable fact) of a case: appended, never updated."""

    __tablename__ = "case_events"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"))
    seq: Mapped[int]
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_id: Mapped[uuid.UUID | None]
    # Sealed: a name, a reason and an event's data (licence fields, notes, a commitment's
    # text, a parcel number ...) are the applicant's or say things about them.
    actor_name: Mapped[str] = mapped_column(SealedJson("case_events.actor_name"))
    actor_role: Mapped[str] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(40))
    from_state: Mapped[str | None] = mapped_column(String(30))
    to_state: Mapped[str] = mapped_column(String(30))
    reason: Mapped[str | None] = mapped_column(SealedJson("case_events.reason"))
    data: Mapped[dict[str, Any]] = mapped_column(SealedJson("case_events.data"), default=dict)
    # Plain: the codes and figures of `data` that supervision's metrics read in SQL
    # (EVENT_FACT_KEYS), copied at write time; never anything personal.
    facts: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)

    __table_args__ = (UniqueConstraint("case_id", "seq", name="uq_case_events_case_seq"),)


class CaseMaterial(IdMixin, Base):
    """A material supplied for a case: an uploaded blob or a reference to a licence /
    shared data; a newer one of the same code supersedes it."""

    __tablename__ = "case_materials"

    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"), index=True)
    material_code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(12))
    sha256: Mapped[str | None] = mapped_column(String(64))
    size: Mapped[int | None] = mapped_column(BigInteger)
    content_type: Mapped[str | None] = mapped_column(String(100))
    filename: Mapped[str | None] = mapped_column(String(255))
    reference: Mapped[str | None] = mapped_column(String(200))
    supplied_at: Mapped[datetime] = mapped_column(default=utcnow)
    supplied_by: Mapped[uuid.UUID | None]
    superseded_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("case_materials.id"))


class SupplementNotice(IdMixin, Base):
    """一次性告知: everything missing or wrong, in one notice."""

    __tablename__ = "case_supplement_notices"

    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"), index=True)
    # The officer's words on what is wrong often quote the form: sealed.
    items: Mapped[list[dict[str, Any]]] = mapped_column(
        SealedJson("case_supplement_notices.items"), default=list)
    text: Mapped[str] = mapped_column(SealedJson("case_supplement_notices.text"), default="")
    before_acceptance: Mapped[bool] = mapped_column(default=True)
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    issued_by: Mapped[uuid.UUID | None]
    answered_at: Mapped[datetime | None]


class Pause(IdMixin, Base):
    """A period the clock does not count: special procedure or post-acceptance 补正."""

    __tablename__ = "case_pauses"

    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    reason: Mapped[str] = mapped_column(SealedJson("case_pauses.reason"), default="")
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None]
    working_days: Mapped[int | None]


class Extension(IdMixin, Base):
    """An extension of the limit (Art. 42), a recorded decision."""

    __tablename__ = "case_extensions"

    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"), index=True)
    days: Mapped[int]
    reason: Mapped[str] = mapped_column(SealedJson("case_extensions.reason"))
    by_account_id: Mapped[uuid.UUID | None]
    by_name: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class Payment(IdMixin, Base):
    """A fee paid, as recorded by a payment adapter."""

    __tablename__ = "case_payments"

    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"), index=True)
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    method: Mapped[str] = mapped_column(String(30))
    adapter: Mapped[str] = mapped_column(String(30))
    reference: Mapped[str] = mapped_column(SealedJson("case_payments.reference"))  # a card
    paid_at: Mapped[datetime] = mapped_column(default=utcnow)


class Delivery(IdMixin, Base):
    """送达: how the result reached the applicant."""

    __tablename__ = "case_deliveries"

    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"), index=True)
    method: Mapped[str] = mapped_column(String(12))
    # A parcel number leads to the recipient's address and phone: sealed, like the rest.
    tracking_number: Mapped[str | None] = mapped_column(
        SealedJson("case_deliveries.tracking_number"))
    carrier: Mapped[str | None] = mapped_column(String(60))
    pickup_window: Mapped[str | None] = mapped_column(SealedJson("case_deliveries.pickup_window"))
    licence_reference: Mapped[str | None] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(default=utcnow)
