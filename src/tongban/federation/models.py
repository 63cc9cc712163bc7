"""Federation tables: this node's identity, anchors and registries, the message log, the
inbox, rejections, witnessed checkpoints and forks, and the cross-region case records.

Envelopes and receipts are stored as the exact signed bytes (sealed with the node data
key where they may carry personal data), so evidence can be re-verified later. Message
log rows and case hand-over events are appended; the only updates are delivery progress
and purges, which keep the hashes and receipts.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from tongban.db import Base, IdMixin, JsonType, utcnow
from tongban.sealed import SealedJson

AutoId = BigInteger().with_variant(Integer, "sqlite")


class LocalNode(Base):
    """This node as the federation knows it (one row): region, name and public endpoint."""

    __tablename__ = "federation_local_node"

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    region_code: Mapped[str] = mapped_column(String(12))
    name: Mapped[str] = mapped_column(String(100))
    endpoint: Mapped[str] = mapped_column(String(300))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Anchor(IdMixin, Base):
    """A federation's trust anchor (X-Road's configuration anchor): where its registry is
    published and the authority key that must have signed it. Imported out of band."""

    __tablename__ = "federation_anchors"

    instance: Mapped[str] = mapped_column(String(60), unique=True)
    registry_url: Mapped[str] = mapped_column(String(300))
    authority_kid: Mapped[str] = mapped_column(String(200))
    authority_x: Mapped[str] = mapped_column(String(60))
    imported_at: Mapped[datetime] = mapped_column(default=utcnow)
    pulled_at: Mapped[datetime | None]  # last attempt to fetch the registry


class RegistryDocument(Base):
    """A signed registry version this node fetched (or, as authority, issued)."""

    __tablename__ = "federation_registries"

    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    instance: Mapped[str] = mapped_column(String(60))
    version: Mapped[int] = mapped_column(BigInteger)
    token: Mapped[str] = mapped_column(Text)
    issued_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    stored_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("instance", "version", name="uq_federation_registry"),)


class Member(Base):
    """Authority side: a node listed in the registry it issues."""

    __tablename__ = "federation_members"

    region_code: Mapped[str] = mapped_column(String(12), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    endpoint: Mapped[str] = mapped_column(String(300))
    node_key: Mapped[str] = mapped_column(Text)  # C2SP verifier key of the node key
    trust_list_url: Mapped[str] = mapped_column(String(300))
    offered: Mapped[list[str]] = mapped_column(JsonType, default=list)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Message(Base):
    """The message log (both directions): what, when, with whom, and the receipt."""

    __tablename__ = "federation_messages"

    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    envelope_id: Mapped[uuid.UUID]
    direction: Mapped[str] = mapped_column(String(3))  # out | in
    peer_region: Mapped[str] = mapped_column(String(12))
    type: Mapped[str] = mapped_column(String(40))
    case_ref: Mapped[str | None] = mapped_column(String(64))
    user_ref: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]  # the envelope's own time
    logged_at: Mapped[datetime] = mapped_column(default=utcnow)
    body_sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(12))  # queued | delivered | failed | accepted
    receipt: Mapped[str | None] = mapped_column(Text)
    receipt_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        UniqueConstraint("envelope_id", "direction", name="uq_federation_messages_dir"),
        Index("ix_federation_messages_case", "case_ref"),
    )


class InboxEnvelope(Base):
    """An accepted envelope, stored once (its id is the seen-ids key), then processed."""

    __tablename__ = "federation_inbox"

    envelope_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    sender: Mapped[str] = mapped_column(String(12))
    type: Mapped[str] = mapped_column(String(40))
    case_ref: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    body_sha256: Mapped[str] = mapped_column(String(64))
    token_enc: Mapped[bytes | None] = mapped_column(LargeBinary)  # None once purged
    receipt: Mapped[str] = mapped_column(Text)
    processed_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(200))
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    # Set aside: its handler fails in a way retrying cannot fix (or failed too often);
    # reported to the operator, never run again, and the envelopes behind it go on.
    parked_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_federation_inbox_pending", "processed_at", "received_at"),)


class Rejection(IdMixin, Base):
    """An envelope this node refused, and why (kept for the operator and for audits)."""

    __tablename__ = "federation_rejections"

    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    claimed_sender: Mapped[str | None] = mapped_column(String(200))
    envelope_id: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str] = mapped_column(String(40))
    message: Mapped[str] = mapped_column(Text)
    body_sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    details: Mapped[Any] = mapped_column(JsonType, default=dict)


class WitnessedHead(Base):
    """The last checkpoint of a peer's ledger this node checked and countersigned."""

    __tablename__ = "federation_witnessed_heads"

    peer_region: Mapped[str] = mapped_column(String(12), primary_key=True)
    tree_size: Mapped[int] = mapped_column(BigInteger)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    note: Mapped[str] = mapped_column(Text)  # the peer's signed checkpoint
    cosigned_note: Mapped[str] = mapped_column(Text)  # with this node's signature added
    checked_at: Mapped[datetime] = mapped_column(default=utcnow)


class Fork(IdMixin, Base):
    """A peer's log that is not consistent with what this node saw before."""

    __tablename__ = "federation_forks"

    peer_region: Mapped[str] = mapped_column(String(12), index=True)
    detected_at: Mapped[datetime] = mapped_column(default=utcnow)
    seen_size: Mapped[int] = mapped_column(BigInteger)
    seen_note: Mapped[str] = mapped_column(Text)
    new_size: Mapped[int] = mapped_column(BigInteger)
    new_note: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)


class CaseLink(IdMixin, Base):
    """Handling side: a local case opened for a peer (its receiving node)."""

    __tablename__ = "federation_case_links"

    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"), unique=True)
    peer_region: Mapped[str] = mapped_column(String(12))  # the receiving node
    peer_case_ref: Mapped[str] = mapped_column(String(64))  # its forwarded-case id
    mode: Mapped[str] = mapped_column(String(24))
    home_region: Mapped[str | None] = mapped_column(String(12))  # for 数据回流
    opened_by: Mapped[uuid.UUID]  # the envelope
    licences_sent: Mapped[list[str]] = mapped_column(JsonType, default=list)
    result_sent_at: Mapped[datetime | None]
    # 数据回流 done: the foreign applicant's form, files and envelope bodies are gone.
    purged_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    # The sender's idempotency key: one case per forwarded application of a peer, however
    # often (and under however many envelope ids) the peer signs it again.
    __table_args__ = (UniqueConstraint("peer_region", "peer_case_ref",
                                       name="uq_federation_case_links_peer_case"),)


class JointCase(IdMixin, Base):
    """多地联办: one application with tasks at several nodes; done when all are."""

    __tablename__ = "federation_joint_cases"

    kind: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(20))  # open | completed | failed
    applicant_account_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("identity_accounts.id"))
    applicant_person_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("identity_people.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None]


class ForwardedCase(IdMixin, Base):
    """Receiving side: an application this node received and forwarded to a handling
    node, with the status mirrored from that node's envelopes."""

    __tablename__ = "federation_forwarded_cases"
    # The same key from the same account is one forwarded case (a double submit at the
    # window must not send a second application to the handling region).
    __table_args__ = (UniqueConstraint("received_by_account_id", "idempotency_key",
                                       name="uq_federation_forwarded_idempotency"),)

    mode: Mapped[str] = mapped_column(String(24))
    handling_region: Mapped[str] = mapped_column(String(12), index=True)
    implementation_code: Mapped[str] = mapped_column(String(31))
    item_name: Mapped[str] = mapped_column(String(200), default="")
    channel: Mapped[str] = mapped_column(String(10))
    applicant_account_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("identity_accounts.id"), index=True)
    applicant_person_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("identity_people.id"), index=True)
    applicant_name: Mapped[str] = mapped_column(String(200), default="")
    received_by_account_id: Mapped[uuid.UUID | None]
    # An agent's application for their principal (帮办代办): the authorisation it was
    # filed under; the agent (received_by) sees it and, while one holds, answers for it.
    agent_authorisation_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("identity_agent_authorisations.id"))
    idempotency_key: Mapped[str | None] = mapped_column(String(100))
    joint_case_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("federation_joint_cases.id"), index=True)
    role_in_joint: Mapped[str | None] = mapped_column(String(40))
    state: Mapped[str] = mapped_column(String(30))  # the handling node's case state
    remote_case_number: Mapped[str | None] = mapped_column(String(32))
    remote_case_id: Mapped[str | None] = mapped_column(String(64))
    last_remote_seq: Mapped[int] = mapped_column(default=0)
    decision: Mapped[str | None] = mapped_column(String(30))
    form_data: Mapped[dict[str, Any] | None] = mapped_column(  # None once purged
        SealedJson("federation_forwarded_cases.form_data"))
    materials: Mapped[list[dict[str, Any]]] = mapped_column(
        SealedJson("federation_forwarded_cases.materials"), default=list)
    licences: Mapped[list[dict[str, Any]]] = mapped_column(JsonType, default=list)
    delivered_at: Mapped[datetime | None]
    purged_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_event_seq: Mapped[int] = mapped_column(default=0)


class ForwardedCaseEvent(Base):
    """One hand-over or mirrored status of a forwarded case: appended, never updated."""

    __tablename__ = "federation_forwarded_case_events"

    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    forwarded_case_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("federation_forwarded_cases.id"))
    seq: Mapped[int]
    at: Mapped[datetime] = mapped_column(default=utcnow)
    # "张伟(经 510000 节点)": the applicant's name, sealed like the event's data.
    actor_name: Mapped[str] = mapped_column(
        SealedJson("federation_forwarded_case_events.actor_name"))
    action: Mapped[str] = mapped_column(String(40))
    state: Mapped[str] = mapped_column(String(30))
    remote_seq: Mapped[int | None]
    envelope_id: Mapped[uuid.UUID | None]
    data: Mapped[dict[str, Any]] = mapped_column(
        SealedJson("federation_forwarded_case_events.data"), default=dict)

    __table_args__ = (UniqueConstraint("forwarded_case_id", "seq", name="uq_federation_fce_seq"),)


class ResultRecord(IdMixin, Base):
    """数据回流: the result of a case handled elsewhere for a person of this region."""

    __tablename__ = "federation_result_records"

    envelope_id: Mapped[uuid.UUID] = mapped_column(unique=True)
    handling_region: Mapped[str] = mapped_column(String(12))
    case_number: Mapped[str] = mapped_column(String(32))
    item_code: Mapped[str | None] = mapped_column(String(12))
    item_name: Mapped[str] = mapped_column(String(200), default="")
    person_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("identity_people.id"))
    person_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    decision: Mapped[str | None] = mapped_column(String(30))
    decided_at: Mapped[datetime | None]
    licence_identifiers: Mapped[list[str]] = mapped_column(JsonType, default=list)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
