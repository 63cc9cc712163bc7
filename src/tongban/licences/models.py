"""Licence types, department signing keys, licences, their status history and lists.

A licence row keeps the exact JWS that was issued (`jws`) next to the document it signs
(`document`); the JWS is the legal artefact, the JSON columns are for queries. Status
changes are appended to `licences_status_changes`; `Licence.status` is their latest
value, kept for the status list and for queries.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tongban.db import Base, CreatedMixin, IdMixin, JsonType, utcnow
from tongban.sealed import SealedJson


class LicenceStatus(StrEnum):
    """证照状态, codes as in the national specifications."""

    valid = "01"  # 有效
    suspended = "02"  # 暂扣
    annulled = "03"  # 撤销
    cancelled = "04"  # 注销
    lapsed = "05"  # 失效
    revoked = "07"  # 吊销


STATUS_NAMES = {
    "01": "有效", "02": "暂扣", "03": "撤销", "04": "注销", "05": "失效", "07": "吊销",
}


class HolderKind(StrEnum):
    person = "person"
    enterprise = "enterprise"


class KeyPurpose(StrEnum):
    jws = "jws"  # Ed25519, signs licence JSON
    pdf = "pdf"  # ECDSA P-256 + self-signed X.509 certificate, seals licence PDFs


class LicenceType(IdMixin, CreatedMixin, Base):
    """证照目录 entry: one kind of licence, its fields and validity rule."""

    __tablename__ = "licences_types"

    code: Mapped[str] = mapped_column(String(21), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    holder_kind: Mapped[str] = mapped_column(String(12))
    issuer_kind: Mapped[str] = mapped_column(String(40))
    # JSON Schema of `Licence.fields`; titles are the Chinese labels printed on the PDF.
    field_schema: Mapped[dict[str, Any]] = mapped_column(JsonType)
    # {"kind": "years"|"days", "value": n} or {"kind": "permanent"}.
    validity: Mapped[dict[str, Any]] = mapped_column(JsonType)
    # 基本编码 of the items whose approval issues this licence.
    item_codes: Mapped[list[str]] = mapped_column(JsonType, default=list)
    description: Mapped[str] = mapped_column(Text, default="")
    # A type we verify and attach but do not issue (e.g. 居民身份证).
    reference_only: Mapped[bool] = mapped_column(default=False)
    # A kind a holder has one of at a time (社会保障卡, 居住证, 驾驶证 …): a new one
    # replaces the one in force (换领), never stands beside it.
    held_once: Mapped[bool] = mapped_column(default=False)


class DepartmentKey(IdMixin, CreatedMixin, Base):
    """A department's signing key; the private half sealed with the node data key."""

    __tablename__ = "licences_department_keys"

    department_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("catalog_departments.id"), index=True
    )
    kid: Mapped[str] = mapped_column(String(64), unique=True)
    purpose: Mapped[str] = mapped_column(String(8))
    # Ed25519: the JWK x; P-256: the PEM certificate.
    public_key: Mapped[str] = mapped_column(Text)
    private_key_enc: Mapped[bytes] = mapped_column(LargeBinary)
    retired_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_licences_department_keys_current", "department_id", "purpose"),)


class StatusList(IdMixin, CreatedMixin, Base):
    """One Token Status List; licences take random free positions until it is half full."""

    __tablename__ = "licences_status_lists"

    size: Mapped[int]
    bits: Mapped[int]
    assigned: Mapped[int] = mapped_column(default=0)
    closed_at: Mapped[datetime | None]


class Licence(IdMixin, Base):
    """An issued (or imported) e-licence."""

    __tablename__ = "licences"

    identifier: Mapped[str] = mapped_column(String(120), unique=True)
    type_code: Mapped[str] = mapped_column(ForeignKey("licences_types.code"), index=True)
    holder_kind: Mapped[str] = mapped_column(String(12))
    holder_person_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("identity_people.id"), index=True
    )
    holder_enterprise_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("identity_enterprises.id"), index=True
    )
    issuer_department_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("catalog_departments.id"), index=True
    )
    kid: Mapped[str] = mapped_column(String(64))
    fields: Mapped[dict[str, Any]] = mapped_column(JsonType)
    document: Mapped[dict[str, Any]] = mapped_column(JsonType)
    jws: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(2), default=LicenceStatus.valid)
    status_list_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("licences_status_lists.id"))
    status_idx: Mapped[int]
    valid_from: Mapped[date]
    valid_until: Mapped[date | None]
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    case_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    imported: Mapped[bool] = mapped_column(default=False)
    # 补领/换领: the identifier of the licence that replaced this one (then 05 失效).
    replaced_by: Mapped[str | None] = mapped_column(String(120))

    __table_args__ = (
        UniqueConstraint("status_list_id", "status_idx"),
        Index("ix_licences_holder_type", "holder_person_id", "holder_enterprise_id",
              "type_code"),
    )


class LicenceStatusChange(IdMixin, Base):
    """One status change: who, when, from, to, why. Appended, never updated."""

    __tablename__ = "licences_status_changes"

    licence_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("licences.id"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    from_status: Mapped[str | None] = mapped_column(String(2))
    to_status: Mapped[str] = mapped_column(String(2))
    reason: Mapped[str] = mapped_column(SealedJson("licences_status_changes.reason"))
    actor_id: Mapped[uuid.UUID | None]
    actor_name: Mapped[str] = mapped_column(String(100))


class SerialCounter(Base):
    """The next 流水号 per licence type, issuer and year."""

    __tablename__ = "licences_serial_counters"

    type_code: Mapped[str] = mapped_column(String(21), primary_key=True)
    issuer_code: Mapped[str] = mapped_column(String(18), primary_key=True)
    year: Mapped[int] = mapped_column(primary_key=True)
    next_value: Mapped[int] = mapped_column(default=1)


class LicencePdf(Base):
    """The sealed PDF of a licence, made once on first request (PAdES signing is slow)."""

    __tablename__ = "licences_pdfs"

    licence_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("licences.id"), primary_key=True)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
