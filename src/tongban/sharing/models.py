"""Base registries and the sharing catalog: datasets, their records and import batches,
requests (需求清单), grants (signed, versioned), consents, the access log and fetches.

A registry record is never updated in place: a newer version of the same record (same
dataset, subject and record key) ends the older one (`ended_at`, `superseded_by`), so
"what did the registry say on that day" has an answer. Personal fields (ID numbers,
phones, addresses, ...) are sealed with the node's data key; the other values are plain
JSON so that eligibility rules can run over a whole registry in SQL.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from tongban.db import Base, CreatedMixin, IdMixin, JsonType, utcnow


class SubjectKind(StrEnum):
    person = "person"
    enterprise = "enterprise"


class SharingType(StrEnum):
    """共享类型 of a dataset (《政务信息资源共享管理暂行办法》 第九条)."""

    unconditional = "unconditional"  # 无条件共享
    conditional = "conditional"  # 有条件共享
    not_shared = "not_shared"  # 不予共享


class Dataset(IdMixin, CreatedMixin, Base):
    """One entry of the sharing catalog: what a department holds about whom, its fields,
    how often it is updated, on what terms it is shared and under which law."""

    __tablename__ = "sharing_datasets"

    code: Mapped[str] = mapped_column(String(60), unique=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    # Other names a guide's material may use for it (人口库 for the household register).
    aliases: Mapped[list[str]] = mapped_column(JsonType, default=list)
    base_registry: Mapped[str] = mapped_column(String(40), index=True)
    owner_department_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("catalog_departments.id"), index=True)
    subject_kind: Mapped[str] = mapped_column(String(12))
    # [{name, label, type, required, personal, values, subject, description}]
    fields: Mapped[list[dict[str, Any]]] = mapped_column(JsonType)
    # The field that tells several records of one subject apart (a plate number), if any.
    record_key: Mapped[str | None] = mapped_column(String(40))
    update_frequency: Mapped[str] = mapped_column(String(20))
    sharing_type: Mapped[str] = mapped_column(String(20))
    sharing_conditions: Mapped[str] = mapped_column(Text, default="")
    legal_basis: Mapped[str] = mapped_column(Text, default="")
    description: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ImportBatch(IdMixin, Base):
    """One file imported into a dataset: who, when, from where, and what it changed."""

    __tablename__ = "sharing_import_batches"

    dataset_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sharing_datasets.id"),
                                                  index=True)
    filename: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    format: Mapped[str] = mapped_column(String(8))
    mode: Mapped[str] = mapped_column(String(12))  # incremental / full
    source: Mapped[str] = mapped_column(String(200))
    as_of: Mapped[datetime]
    rows: Mapped[int] = mapped_column(Integer, default=0)
    inserted: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    deleted: Mapped[int] = mapped_column(Integer, default=0)
    imported_at: Mapped[datetime] = mapped_column(default=utcnow)
    imported_by: Mapped[uuid.UUID | None]
    imported_by_name: Mapped[str] = mapped_column(String(100), default="")


class Record(IdMixin, Base):
    """One version of one registry record of one subject."""

    __tablename__ = "sharing_records"

    dataset_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sharing_datasets.id"))
    # Keyed hash of the subject's ID number / credit code (identity's look-up hash).
    subject_key: Mapped[str] = mapped_column(String(64))
    subject_enc: Mapped[bytes] = mapped_column(LargeBinary)
    subject_masked: Mapped[str] = mapped_column(String(18))
    # Keyed hash of the record key's value ("" when a subject has one record).
    record_key: Mapped[str] = mapped_column(String(64), default="")
    values: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    personal_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    # sha256 of the canonical values (plain and personal): an unchanged row is a no-op.
    digest: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(200))
    as_of: Mapped[datetime]
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    batch_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("sharing_import_batches.id"))
    ended_at: Mapped[datetime | None]
    end_reason: Mapped[str | None] = mapped_column(String(12))  # superseded / deleted
    superseded_by: Mapped[uuid.UUID | None]

    __table_args__ = (
        Index("ix_sharing_records_current", "dataset_id", "subject_key", "record_key",
              unique=True, sqlite_where=text("ended_at IS NULL"),
              postgresql_where=text("ended_at IS NULL")),
        Index("ix_sharing_records_subject", "subject_key", "dataset_id"),
    )


class RequestState(StrEnum):
    filed = "filed"
    granted = "granted"
    refused = "refused"
    withdrawn = "withdrawn"


class DataRequest(IdMixin, CreatedMixin, Base):
    """需求清单: a consumer department asks an owner for fields of a dataset, for a
    purpose, under a law."""

    __tablename__ = "sharing_requests"

    dataset_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sharing_datasets.id"),
                                                  index=True)
    consumer_department_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("catalog_departments.id"), index=True)
    fields: Mapped[list[str]] = mapped_column(JsonType)
    purpose_code: Mapped[str] = mapped_column(String(40))
    purpose_text: Mapped[str] = mapped_column(Text)
    legal_ref: Mapped[str] = mapped_column(Text, default="")
    wanted_days: Mapped[int] = mapped_column(Integer, default=365)
    wanted_use_limit: Mapped[int | None]
    state: Mapped[str] = mapped_column(String(12), default=RequestState.filed)
    filed_by: Mapped[uuid.UUID | None]
    filed_by_name: Mapped[str] = mapped_column(String(100), default="")
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[uuid.UUID | None]
    decision_reason: Mapped[str | None] = mapped_column(Text)
    grant_id: Mapped[uuid.UUID | None]


class GrantStatus(StrEnum):
    active = "active"
    paused = "paused"
    revoked = "revoked"
    expired = "expired"  # derived at read time from valid_until, never stored
    exhausted = "exhausted"  # derived at read time from the use count


class Grant(Base):
    """One version of a grant (wave2.md §A.6): signed by the owner department's key over
    its canonical detail, never changed; a change is a new version."""

    __tablename__ = "sharing_grants"

    grant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(primary_key=True)
    current: Mapped[bool] = mapped_column(default=True)
    status: Mapped[str] = mapped_column(String(12))
    dataset_code: Mapped[str] = mapped_column(String(60), index=True)
    # None on a consumer node's copy of a peer's grant (the owner is not in its catalog).
    provider_department_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("catalog_departments.id"))
    provider_region: Mapped[str] = mapped_column(String(12))
    consumer_credit_code: Mapped[str] = mapped_column(String(18), index=True)
    consumer_region: Mapped[str] = mapped_column(String(12))
    purpose_code: Mapped[str] = mapped_column(String(40))
    basis: Mapped[str] = mapped_column(String(12))
    requires: Mapped[str] = mapped_column(String(16))
    valid_from: Mapped[datetime]
    valid_until: Mapped[datetime]
    use_limit: Mapped[int | None]
    hidden_days: Mapped[int] = mapped_column(Integer, default=0)
    # The whole signed detail (parties, basis, purpose, scope, limits, duties, visibility).
    detail: Mapped[dict[str, Any]] = mapped_column(JsonType)
    jws: Mapped[str] = mapped_column(Text)
    kid: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[uuid.UUID | None]
    change_reason: Mapped[str | None] = mapped_column(Text)
    request_id: Mapped[uuid.UUID | None]

    __table_args__ = (
        Index("ix_sharing_grants_lookup", "dataset_code", "consumer_credit_code",
              "purpose_code", "current"),
    )


class GrantUsage(Base):
    """How often a grant was used: kept apart so the signed versions stay immutable; the
    use limit is enforced by one conditional UPDATE of this row."""

    __tablename__ = "sharing_grant_usage"

    grant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    use_count: Mapped[int] = mapped_column(Integer, default=0)
    last_used_at: Mapped[datetime | None]


class Consent(IdMixin, CreatedMixin, Base):
    """The subject's recorded consent that a consumer department reads a dataset for a
    purpose, until a date; the notice shown is bound by its hash; revocable."""

    __tablename__ = "sharing_consents"

    subject_key: Mapped[str] = mapped_column(String(64), index=True)
    person_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("identity_people.id"))
    enterprise_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("identity_enterprises.id"))
    consumer_credit_code: Mapped[str] = mapped_column(String(18))
    dataset_code: Mapped[str] = mapped_column(String(60))
    purpose_code: Mapped[str] = mapped_column(String(40))
    notice_sha256: Mapped[str] = mapped_column(String(64))
    # How it was given: portal (signed-in subject), window (clerk, subject present),
    # no_submit (the applicant's explicit request for a 免提交 material).
    given_via: Mapped[str] = mapped_column(String(12))
    given_by: Mapped[uuid.UUID | None]
    valid_until: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    jws: Mapped[str] = mapped_column(Text)


class AccessOutcome(StrEnum):
    allowed = "allowed"
    denied = "denied"
    pending = "pending"  # sent to a peer node, no answer yet


class Access(IdMixin, Base):
    """One read of registry data (or a refused attempt): who, for which department,
    what, why, under which grant, with how many records; appended, never updated except
    for a pending cross-region answer arriving."""

    __tablename__ = "sharing_accesses"

    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    kind: Mapped[str] = mapped_column(String(16))  # query / no_submit / remote_query
    outcome: Mapped[str] = mapped_column(String(10))
    reason: Mapped[str | None] = mapped_column(String(40))
    actor_id: Mapped[uuid.UUID | None]
    actor_name: Mapped[str] = mapped_column(String(100))
    consumer_credit_code: Mapped[str | None] = mapped_column(String(18), index=True)
    consumer_name: Mapped[str] = mapped_column(String(200), default="")
    consumer_region: Mapped[str] = mapped_column(String(12), default="")
    provider_region: Mapped[str] = mapped_column(String(12), default="")
    dataset_code: Mapped[str] = mapped_column(String(60), index=True)
    subject_key: Mapped[str | None] = mapped_column(String(64), index=True)
    subject_masked: Mapped[str] = mapped_column(String(18), default="")
    fields: Mapped[list[str]] = mapped_column(JsonType, default=list)
    purpose_code: Mapped[str] = mapped_column(String(40), default="")
    purpose_text: Mapped[str] = mapped_column(Text, default="")
    legal_ref: Mapped[str] = mapped_column(Text, default="")
    grant_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    grant_version: Mapped[int | None]
    case_number: Mapped[str | None] = mapped_column(String(32))
    consent_id: Mapped[uuid.UUID | None]
    result_count: Mapped[int] = mapped_column(Integer, default=0)
    # Delayed disclosure to the subject (AJ v3 hiddenReason / hiddenUntil).
    hidden_until: Mapped[datetime | None]
    hidden_reason: Mapped[str | None] = mapped_column(Text)
    # The masked answer, sealed (a 免提交 material and a remote answer are kept).
    result_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    answered_at: Mapped[datetime | None]
    # A screening's read (kind "bulk") names its subjects in `BulkSubject`, not here.
    bulk_id: Mapped[uuid.UUID | None]

    # Few rows are a screening's: a partial index, which a single read does not touch.
    __table_args__ = (Index("ix_sharing_accesses_bulk_id", "bulk_id",
                            postgresql_where=text("bulk_id IS NOT NULL"),
                            sqlite_where=text("bulk_id IS NOT NULL")),)


class BulkSubject(Base):
    """One subject of a screening (一键核对 over a file, 免申即享 over a population): the
    screening's access rows (one per dataset, sharing a `bulk_id`) apply to every subject
    named here, so the subject's view finds them by key."""

    __tablename__ = "sharing_bulk_subjects"

    subject_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    bulk_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)


class FetchState(StrEnum):
    previewed = "previewed"  # fetched, shown to the applicant
    attached = "attached"  # the applicant kept it; it is a material of a case
    declined = "declined"  # the applicant chose to upload instead


class Fetch(IdMixin, CreatedMixin, Base):
    """免提交: a material filled from shared data for an application, shown to the
    applicant first (OOTS preview); the values are the access's sealed result."""

    __tablename__ = "sharing_fetches"

    access_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sharing_accesses.id"))
    implementation_code: Mapped[str] = mapped_column(String(31))
    material_code: Mapped[str] = mapped_column(String(40))
    dataset_code: Mapped[str] = mapped_column(String(60))
    subject_key: Mapped[str] = mapped_column(String(64))
    requested_by: Mapped[uuid.UUID | None] = mapped_column(index=True)
    state: Mapped[str] = mapped_column(String(12), default=FetchState.previewed)
    case_number: Mapped[str | None] = mapped_column(String(32), index=True)
    decided_at: Mapped[datetime | None]
    found: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (UniqueConstraint("access_id", name="uq_sharing_fetches_access"),)

