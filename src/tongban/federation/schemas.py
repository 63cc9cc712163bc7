"""Pydantic models of the federation API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tongban.cases.schemas import Deliver


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class BatchIn(_Strict):
    """Several compact JWS envelopes in one request (the worker batches per peer)."""

    envelopes: list[str] = Field(min_length=1, max_length=500)


class ReceiptOut(BaseModel):
    envelope_id: str
    receipt: str
    sha256: str


class BatchResultOut(BaseModel):
    envelope_id: str | None = None
    receipt: str | None = None
    sha256: str | None = None
    error: str | None = None
    message: str | None = None
    details: Any = None


class BatchOut(BaseModel):
    results: list[BatchResultOut]


class NodeOut(BaseModel):
    region_code: str
    name: str
    endpoint: str
    node_key: str
    trust_list_url: str
    offered: list[str]


class RegistryOut(BaseModel):
    instance: str
    version: int
    issued_at: datetime
    expires_at: datetime
    expired: bool
    nodes: list[NodeOut]


class MessageOut(_Out):
    envelope_id: uuid.UUID
    direction: str
    peer_region: str
    type: str
    case_ref: str | None
    user_ref: str | None
    created_at: datetime
    logged_at: datetime
    body_sha256: str
    size: int
    status: str
    receipt: str | None
    receipt_at: datetime | None
    attempts: int
    last_error: str | None


class ParkedOut(_Out):
    envelope_id: uuid.UUID
    sender: str
    type: str
    case_ref: str | None
    received_at: datetime
    parked_at: datetime
    attempts: int
    last_error: str | None


class RejectionOut(_Out):
    id: uuid.UUID
    at: datetime
    claimed_sender: str | None
    envelope_id: str | None
    error: str
    message: str
    body_sha256: str
    size: int
    details: Any


class MaterialIn(_Strict):
    code: str = Field(min_length=1, max_length=40)
    filename: str = Field(min_length=1, max_length=255)
    content_base64: str = Field(min_length=1)


class ChecksIn(_Strict):
    """What the receiving window checked (异地代收: the receiving region's duty)."""

    identity_checked: bool
    form_checked: bool
    materials_checked: bool = False
    note: str | None = Field(default=None, max_length=500)


class ForwardIn(_Strict):
    """Apply for another region's implementation (全程网办), or receive it at this
    node's window for that region (异地代收代办)."""

    implementation_code: str = Field(min_length=31, max_length=31)
    mode: str = Field(pattern="^(fully_online|receive_and_forward)$")
    form_data: dict[str, Any] = Field(default_factory=dict)
    # The walk-in applicant, for a clerk; the principal, for an agent (帮办代办).
    person_id: uuid.UUID | None = None
    materials: list[MaterialIn] = Field(default_factory=list, max_length=20)
    checks: ChecksIn | None = None
    idempotency_key: str | None = Field(default=None, max_length=100)


class JointTaskIn(_Strict):
    implementation_code: str = Field(min_length=31, max_length=31)
    role: str = Field(min_length=1, max_length=40)
    form_data: dict[str, Any] = Field(default_factory=dict)


class JointIn(_Strict):
    """多地联办: one application, a task at each node."""

    kind: str = Field(min_length=1, max_length=40)
    name: str = Field(min_length=1, max_length=200)
    tasks: list[JointTaskIn] = Field(min_length=2, max_length=10)
    person_id: uuid.UUID | None = None
    # collected once; each task gets those its guide asks for
    materials: list[MaterialIn] = Field(default_factory=list, max_length=20)


class ForwardedEventOut(_Out):
    seq: int
    at: datetime
    actor_name: str
    action: str
    state: str
    remote_seq: int | None
    envelope_id: uuid.UUID | None
    data: dict[str, Any]


class ForwardingProblemOut(BaseModel):
    """Why a forwarded case did not reach (or was refused by) its handling node:
    `final` when the case failed; else the envelope is still being retried."""

    code: str
    reason: str
    at: datetime
    final: bool
    attempts: int = 0


class ForwardedCaseOut(_Out):
    id: uuid.UUID
    mode: str
    handling_region: str
    implementation_code: str
    item_name: str
    channel: str
    applicant_name: str
    applicant_person_id: uuid.UUID | None = None
    agent_authorisation_id: uuid.UUID | None = None  # filed by an agent for the applicant
    state: str
    decision: str | None
    remote_case_number: str | None
    joint_case_id: uuid.UUID | None
    role_in_joint: str | None
    materials: list[dict[str, Any]]
    licences: list[dict[str, Any]]
    delivered_at: datetime | None
    purged_at: datetime | None
    created_at: datetime
    problem: ForwardingProblemOut | None = None
    events: list[ForwardedEventOut] = Field(default_factory=list)
    # The handling region's 补正 notice still to answer here (items, text, remote_seq).
    open_notice: dict[str, Any] | None = None
    # When the supply answering that notice, or a withdrawal, was sent from here and the
    # handling node has not yet applied or refused it (None: nothing waiting).
    supply_sent_at: datetime | None = None
    withdrawal_sent_at: datetime | None = None


class JointCaseOut(_Out):
    id: uuid.UUID
    kind: str
    name: str
    state: str
    created_at: datetime
    completed_at: datetime | None
    tasks: list[ForwardedCaseOut] = Field(default_factory=list)


class SupplyIn(_Strict):
    """补正 answered at the receiving node: the materials the notice asks for (and the
    corrected form, when it names fields), carried to the handling node."""

    materials: list[MaterialIn] = Field(default_factory=list, max_length=20)
    form_data: dict[str, Any] | None = None
    note: str | None = Field(default=None, max_length=2000)


class WithdrawIn(_Strict):
    """The applicant withdraws the application (撤回申请) from the receiving node."""

    reason: str = Field(min_length=1, max_length=2000)


class DeliverIn(Deliver):
    """How the receiving window delivered the result (窗口领取 / 邮寄)."""


class LicenceCheckIn(_Strict):
    licence_jws: str = Field(min_length=10, max_length=200_000)


class WitnessOut(_Out):
    peer_region: str
    tree_size: int
    cosigned_note: str
    checked_at: datetime


class ForkOut(_Out):
    id: uuid.UUID
    peer_region: str
    detected_at: datetime
    seen_size: int
    seen_note: str
    new_size: int
    new_note: str
    reason: str


class ResultRecordOut(_Out):
    id: uuid.UUID
    handling_region: str
    case_number: str
    item_code: str | None
    item_name: str
    decision: str | None
    decided_at: datetime | None
    licence_identifiers: list[str]
    received_at: datetime
    person_name: str | None = None  # the person of this region the result is about
