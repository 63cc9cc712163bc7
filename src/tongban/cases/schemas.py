"""Pydantic models of the cases API, and one payload model per workflow action.

Action payloads are strict (unknown fields are errors), so a typo in `tracking_nmber`
is rejected rather than silently ignored.
"""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tongban.cases.models import Channel


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# --- submission -------------------------------------------------------------------------


class ApplicantIn(_Strict):
    """Who applies: omitted for oneself; the principal for an agent; the walk-in person
    (or enterprise) for a clerk at a window."""

    person_id: uuid.UUID | None = None
    enterprise_id: uuid.UUID | None = None
    name: str | None = Field(default=None, max_length=200)


class SubmitIn(_Strict):
    implementation_code: str | None = Field(default=None, max_length=31)
    version_id: uuid.UUID | None = None
    form_data: dict[str, Any] = Field(default_factory=dict)
    channel: Channel = Channel.online
    applicant: ApplicantIn | None = None
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=100)

    @model_validator(mode="after")
    def _one_target(self) -> SubmitIn:
        if (self.implementation_code is None) == (self.version_id is None):
            raise ValueError(
                "须且只能指定 implementation_code 或 version_id 之一 / give exactly one of "
                "implementation_code or version_id"
            )
        return self


class ActionIn(_Strict):
    reason: str | None = Field(default=None, max_length=2000)
    data: dict[str, Any] = Field(default_factory=dict)
    expected_version: int | None = Field(default=None, ge=1)


# --- action payloads ----------------------------------------------------------------------


class Empty(_Strict):
    note: str | None = Field(default=None, max_length=2000)


class SupplementItem(_Strict):
    """One thing missing or wrong: a material of the guide, or a form field."""

    material_code: str | None = Field(default=None, max_length=40)
    field: str | None = Field(default=None, max_length=100)
    problem: str = Field(min_length=1, max_length=500)

    @model_validator(mode="after")
    def _names_something(self) -> SupplementItem:
        if not self.material_code and not self.field:
            raise ValueError("须指明材料或字段 / name a material_code or a field")
        return self


class Supply(_Strict):
    """The applicant's answer to a notice: materials are uploaded first; corrected form
    fields come here (the whole form, validated again)."""

    note: str | None = Field(default=None, max_length=2000)
    form_data: dict[str, Any] | None = None


class RequestSupplement(_Strict):
    items: list[SupplementItem] = Field(min_length=1, max_length=100)


class AcceptWithDeficiency(_Strict):
    deficient_materials: list[str] = Field(min_length=1)
    promise_date: date


class Decision(_Strict):
    """An approval (or an immediate item's acceptance, which approves); `licence_fields`
    completes the e-licence the guide promises where the holder record and the form do not
    say everything the licence shows."""

    note: str | None = Field(default=None, max_length=2000)
    licence_fields: dict[str, Any] | None = None


class Commitment(_Strict):
    commitment: str = Field(min_length=1, max_length=4000)
    verify_by: date | None = None
    licence_fields: dict[str, Any] | None = None


class SpecialProcedureKind(StrEnum):
    """行政许可法 Art. 45: time not counted."""

    hearing = "hearing"  # 听证
    tendering = "tendering"  # 招标
    auction = "auction"  # 拍卖
    testing = "testing"  # 检验
    inspection = "inspection"  # 检测
    quarantine = "quarantine"  # 检疫
    appraisal = "appraisal"  # 鉴定
    expert_review = "expert_review"  # 专家评审


SPECIAL_PROCEDURE_LABELS = {
    "hearing": "听证", "tendering": "招标", "auction": "拍卖", "testing": "检验",
    "inspection": "检测", "quarantine": "检疫", "appraisal": "鉴定", "expert_review": "专家评审",
}


class StartSpecialProcedure(_Strict):
    kind: SpecialProcedureKind


class Extend(_Strict):
    days: int = Field(ge=1, le=30)


class DeliveryMethod(StrEnum):
    licence = "licence"  # 电子证照
    post = "post"  # 邮寄
    pickup = "pickup"  # 窗口领取


class Deliver(_Strict):
    method: DeliveryMethod
    tracking_number: str | None = Field(default=None, max_length=60)
    carrier: str | None = Field(default=None, max_length=60)
    pickup_window: str | None = Field(default=None, max_length=200)
    licence_reference: str | None = Field(default=None, max_length=200)

    @model_validator(mode="after")
    def _method_details(self) -> Deliver:
        if self.method == DeliveryMethod.post and not self.tracking_number:
            raise ValueError("邮寄送达须填写快递单号 / post needs a tracking_number")
        if self.method == DeliveryMethod.pickup and not self.pickup_window:
            raise ValueError("窗口领取须填写领取窗口与时间 / pickup needs a pickup_window")
        return self


class RecordPayment(_Strict):
    amount: Decimal = Field(gt=0, max_digits=14, decimal_places=2)
    method: str = Field(default="window", pattern=r"^(window|cash|card|transfer|mobile)$")
    reference: str | None = Field(default=None, max_length=100)

    @field_validator("amount", mode="before")
    @classmethod
    def _no_floats(cls, value: Any) -> Any:
        if isinstance(value, float) or (
            isinstance(value, str) and not re.fullmatch(r"[0-9]+(\.[0-9]{1,2})?", value.strip())
        ):
            raise ValueError("金额应为十进制字符串,如 \"10.50\" / amount must be a decimal string")
        return value


ACTION_PAYLOADS: dict[str, type[_Strict]] = {
    "approve": Decision,
    "accept": Decision,  # 即办件: acceptance decides, so it takes the licence fields
    "request_supplement": RequestSupplement,
    "supply": Supply,
    "accept_with_deficiency": AcceptWithDeficiency,
    "accept_on_commitment": Commitment,
    "approve_on_commitment": Commitment,
    "start_special_procedure": StartSpecialProcedure,
    "extend": Extend,
    "deliver": Deliver,
    "record_payment": RecordPayment,
}


def payload_model(action: str) -> type[_Strict]:
    """The payload model of an action (an optional note when it takes nothing else)."""
    return ACTION_PAYLOADS.get(action, Empty)


# --- output -------------------------------------------------------------------------------


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class EventOut(_Out):
    seq: int
    at: datetime
    actor_name: str
    actor_role: str
    action: str
    action_label: str = ""
    from_state: str | None
    to_state: str
    reason: str | None
    data: dict[str, Any]


class MaterialOut(_Out):
    id: uuid.UUID
    material_code: str
    name: str
    source: str
    sha256: str | None
    size: int | None
    content_type: str | None
    filename: str | None
    reference: str | None
    supplied_at: datetime
    superseded_by: uuid.UUID | None


class NoticeOut(_Out):
    id: uuid.UUID
    items: list[dict[str, Any]]
    text: str
    before_acceptance: bool
    issued_at: datetime
    answered_at: datetime | None


class PauseOut(_Out):
    kind: str
    reason: str
    started_at: datetime
    ended_at: datetime | None
    working_days: int | None


class ExtensionOut(_Out):
    days: int
    reason: str
    by_name: str
    at: datetime


class PaymentOut(_Out):
    amount: Decimal
    method: str
    adapter: str
    reference: str
    paid_at: datetime


class DeliveryOut(_Out):
    method: str
    tracking_number: str | None
    carrier: str | None
    pickup_window: str | None
    licence_reference: str | None
    at: datetime


class DeadlinesOut(BaseModel):
    """The legal dates of a case, each the Asia/Shanghai day (never the UTC one)."""

    legal_days: int
    promised_days: int
    received_on: date = Field(description="收件日期 (Beijing day of submitted_at)")
    accepted_on: date | None
    decided_on: date | None = Field(description="决定日期 (Beijing day of decided_at)")
    legal_due_date: date | None
    promised_due_date: date | None
    provisional: bool
    paused: bool
    paused_days_total: int
    extension_days_total: int
    used_days: int | None
    days_left: int | None
    warning_level: str
    deemed_accepted: bool
    deemed_accepted_reason: str | None
    supplement_notice_due: date | None


class CaseSummary(_Out):
    id: uuid.UUID
    number: str
    kind: str
    parent_case_id: uuid.UUID | None
    item_code: str | None
    item_name: str
    implementation_code: str | None
    department_id: uuid.UUID | None
    region_code: str
    receiving_region_code: str
    applicant_name: str
    channel: str
    state: str
    state_label: str = ""
    version: int
    submitted_at: datetime
    accepted_at: datetime | None
    decided_at: datetime | None
    decision: str | None
    legal_due_date: date | None
    promised_due_date: date | None
    due_provisional: bool
    warning_level: str


class TaskCaseOut(_Out):
    """One department's task case of a bundle (一件事), as its bundle's detail lists it."""

    number: str
    implementation_code: str | None
    item_name: str
    department_id: uuid.UUID | None
    state: str
    state_label: str = ""
    decision: str | None
    promised_due_date: date | None
    legal_due_date: date | None
    warning_level: str


class CaseOut(CaseSummary):
    implementation_version_id: uuid.UUID | None
    applicant_person_id: uuid.UUID | None
    applicant_enterprise_id: uuid.UUID | None
    agent_authorisation_id: uuid.UUID | None
    form_data: dict[str, Any] = Field(description="申请表; 工作人员看到的身份号码、手机号、银行账号"
                                      "已遮蔽 / the form; ID numbers, phones and bank accounts "
                                      "masked for staff")
    masked_fields: list[str] = Field(
        default_factory=list, description="已遮蔽的字段, 可经审计后查看 / the masked fields, "
        "which POST /cases/{number}/reveal shows in full, audited")
    decision_reason: str | None
    deficient_materials: list[str]
    deficiency_promise_date: date | None
    deadlines: DeadlinesOut
    allowed_actions: list[str]
    events: list[EventOut]
    materials: list[MaterialOut]
    notices: list[NoticeOut]
    pauses: list[PauseOut]
    extensions: list[ExtensionOut]
    payments: list[PaymentOut]
    deliveries: list[DeliveryOut]
    tasks: list[TaskCaseOut] = Field(
        default_factory=list, description="一件事的各部门办件 / a bundle case's task cases")
    bundle_case_number: str | None = Field(
        default=None, description="所属一件事办件编号 / the bundle case a task belongs to")


class RevealIn(BaseModel):
    field: str = Field(min_length=1, max_length=100, description="表单字段 / the form field")
    purpose: str = Field(min_length=2, max_length=200, description="查看目的 / why")


class RevealOut(BaseModel):
    field: str
    value: str


class CasePage(BaseModel):
    items: list[CaseSummary]
    next_cursor: str | None
