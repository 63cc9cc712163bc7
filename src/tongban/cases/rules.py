"""What each workflow action checks and writes, beyond the table's state and roles.

The workflow table (workflow.py) says which action may be taken in which state, by which
role, and what it does to the clock; service.act() finds the row and runs, in order, the
row's named guard (GUARDS), the action's payload check (CHECKS), then the clock steps
(CLOCK_EFFECTS), the action's effect (EFFECTS) and _decide. Each of these gets one _Ctx.
EFFECTS are the case domain's own; the composition root registers them with other
domains' (bundles: partly_approve) in one `effects` registry. _Ctx, _decide
and the material helpers are shared with service.py, inside this package only.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from tongban.cases import clock
from tongban.cases.forms import validate_form
from tongban.cases.models import (
    Case,
    CaseMaterial,
    Delivery,
    Extension,
    Pause,
    Payment,
    SupplementNotice,
)
from tongban.cases.schemas import (
    AcceptWithDeficiency,
    Commitment,
    Deliver,
    Extend,
    RecordPayment,
    RequestSupplement,
    Supply,
)
from tongban.cases.workflow import BEFORE_ACCEPTANCE, Action, Clock, State, Transition
from tongban.config import Settings
from tongban.errors import Conflict, InvalidInput
from tongban.identity.actor import Actor
from tongban.node.root import wiring

DECISIONS = {State.approved, State.denied, State.approved_on_commitment, State.revoked,
             State.refused}
# Art. 42: an extension of at most 10 working days (15 for joint handling).
MAX_EXTENSION_DAYS = 10
MAX_EXTENSION_DAYS_JOINT = 15


@dataclass
class _Ctx:
    db_session: Session
    settings: Settings
    actor: Actor
    case: Case
    row: Transition
    payload: BaseModel
    reason: str | None
    now: datetime
    role: str
    guide: dict[str, Any]
    schema: dict[str, Any]
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def today(self) -> date:
        return clock.local_date(self.now)


_CASE_MATERIALS = (select(CaseMaterial).where(CaseMaterial.case_id == bindparam("case_id"))
                   .order_by(CaseMaterial.supplied_at))
_OPEN_PAUSE = select(Pause).where(Pause.case_id == bindparam("case_id"),
                                  Pause.ended_at.is_(None))


# A case's materials as read in this transaction: an action's guard reads them and the
# detail that answers the action shows them, from one read. Whatever attaches or
# supersedes a material forgets them (forget_materials); a new transaction reads afresh.
_MATERIALS_READ = "tongban.cases.materials_read"


def case_materials(db_session: Session, case_id: uuid.UUID) -> list[CaseMaterial]:
    """Every material of a case, superseded ones too, oldest first (read once per
    transaction; callers must not change the list)."""
    memo: tuple[Any, dict[uuid.UUID, list[CaseMaterial]]] | None = db_session.info.get(
        _MATERIALS_READ)
    tx = db_session.get_transaction()
    if memo is not None and tx is not None and memo[0] is tx and case_id in memo[1]:
        found: list[CaseMaterial] = memo[1][case_id]
        return found
    found = list(db_session.scalars(_CASE_MATERIALS, {"case_id": case_id}))
    tx = db_session.get_transaction()
    if memo is None or memo[0] is not tx:
        memo = (tx, {})
        db_session.info[_MATERIALS_READ] = memo
    memo[1][case_id] = found
    return found


def forget_materials(db_session: Session, case_id: uuid.UUID) -> None:
    """A material of the case was attached or superseded: the next read goes to the
    database."""
    memo = db_session.info.get(_MATERIALS_READ)
    if memo is not None:
        memo[1].pop(case_id, None)


def _current_materials(db_session: Session, case_id: uuid.UUID) -> list[CaseMaterial]:
    return [m for m in case_materials(db_session, case_id) if m.superseded_by is None]


def _guide_materials(guide: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["code"]: m for m in guide.get("materials", [])}


def _missing_required(ctx: _Ctx) -> list[str]:
    """Required materials the case does not have yet, whatever their source: an e-licence
    or shared data counts once it is attached, never because the guide names a source
    (nothing is fetched until data sharing does it; until then it is uploaded)."""
    have = {m.material_code for m in _current_materials(ctx.db_session, ctx.case.id)}
    return [code for code, m in _guide_materials(ctx.guide).items()
            if m.get("required", True) and code not in have]


def _open_notice(ctx: _Ctx) -> SupplementNotice | None:
    stmt = select(SupplementNotice).where(SupplementNotice.case_id == ctx.case.id,
                                          SupplementNotice.answered_at.is_(None))
    return ctx.db_session.scalar(stmt)


def _supplied_since(ctx: _Ctx, since: datetime) -> set[str]:
    return {m.material_code for m in _current_materials(ctx.db_session, ctx.case.id)
            if m.supplied_at >= since}


# Guards: named preconditions of table rows; each raises when the row may not apply.


def _names(ctx: _Ctx, codes: list[str]) -> str:
    materials = _guide_materials(ctx.guide)
    return "、".join(materials.get(c, {}).get("name", c) for c in codes)


def _guard_materials_complete(ctx: _Ctx) -> None:
    missing = _missing_required(ctx)
    if missing:
        raise Conflict(f"申请材料不齐全(缺:{_names(ctx, missing)}),请一次性告知补正或容缺受理"
                       " / required materials are missing", code="materials_missing",
                       details={"missing": missing})


def _guard_deficiency_allowed(ctx: _Ctx) -> None:
    assert isinstance(ctx.payload, AcceptWithDeficiency)
    materials = _guide_materials(ctx.guide)
    problems = [
        {"field": f"data.deficient_materials.{i}",
         "message": "该材料不允许容缺 / this material is not marked deficiency_allowed"}
        for i, code in enumerate(ctx.payload.deficient_materials)
        if not materials.get(code, {}).get("deficiency_allowed", False)
    ]
    if ctx.payload.promise_date <= ctx.today:
        problems.append({"field": "data.promise_date",
                         "message": "承诺日期须晚于今天 / promise_date must be after today"})
    if problems:
        raise InvalidInput("容缺受理条件不满足 / accept with deficiency is not allowed here",
                           code="deficiency_not_allowed", details=problems)
    missing = set(_missing_required(ctx)) - set(ctx.payload.deficient_materials)
    if missing:
        raise Conflict("除容缺材料外仍有材料缺失 / other required materials are missing",
                       code="materials_missing", details={"missing": sorted(missing)})


def _guard_supplement_answered(ctx: _Ctx) -> None:
    notice = _open_notice(ctx)
    if notice is None:
        raise Conflict("没有待补正的告知 / there is no open supplement notice",
                       code="no_open_notice")
    supplied = _supplied_since(ctx, notice.issued_at)
    owed = [i["material_code"] for i in notice.items
            if i.get("material_code") and i["material_code"] not in supplied]
    assert isinstance(ctx.payload, Supply)
    fields = [i["field"] for i in notice.items if i.get("field")]
    if fields and ctx.payload.form_data is None:
        owed += [f"form_data.{f}" for f in fields]
    if owed:
        raise Conflict("告知补正的内容尚未全部补齐 / not everything in the notice was supplied",
                       code="supplement_incomplete", details={"missing": owed})


def _guard_deficiency_supplied(ctx: _Ctx) -> None:
    if not ctx.case.deficient_materials:
        raise Conflict("没有待补的容缺材料 / no deficient materials are owed",
                       code="nothing_owed")
    have = {m.material_code for m in _current_materials(ctx.db_session, ctx.case.id)}
    owed = [c for c in ctx.case.deficient_materials if c not in have]
    if owed:
        raise Conflict("容缺材料尚未补齐 / deficient materials are still missing",
                       code="supplement_incomplete", details={"missing": owed})


def _guard_no_deficiency(ctx: _Ctx) -> None:
    if ctx.case.deficient_materials:
        raise Conflict("容缺材料补齐前不能准予 / approve after the deficient materials arrive",
                       code="deficiency_outstanding",
                       details={"missing": ctx.case.deficient_materials})


def _guard_not_delivered(ctx: _Ctx) -> None:
    if ctx.case.delivered_at is not None:
        raise Conflict("已送达 / already delivered", code="already_delivered")


GUARDS: dict[str, Callable[[_Ctx], None]] = {
    "materials_complete": _guard_materials_complete,
    "deficiency_allowed": _guard_deficiency_allowed,
    "supplement_answered": _guard_supplement_answered,
    "deficiency_supplied": _guard_deficiency_supplied,
    "no_deficiency": _guard_no_deficiency,
    "not_delivered": _guard_not_delivered,
}


# Checks that validate a payload against the case before anything is written.


def _check_request_supplement(ctx: _Ctx) -> None:
    assert isinstance(ctx.payload, RequestSupplement)
    materials = _guide_materials(ctx.guide)
    problems = [
        {"field": f"data.items.{i}.material_code",
         "message": "办事指南中没有该材料 / no such material in the guide"}
        for i, item in enumerate(ctx.payload.items)
        if item.material_code and item.material_code not in materials
    ]
    if problems:
        raise InvalidInput("补正告知有误 / the supplement notice is invalid", details=problems)


def _check_extend(ctx: _Ctx) -> None:
    assert isinstance(ctx.payload, Extend)
    joint = "joint" in (ctx.guide.get("cross_region_modes") or [])
    limit = MAX_EXTENSION_DAYS_JOINT if joint else MAX_EXTENSION_DAYS
    if ctx.case.extension_days_total + ctx.payload.days > limit:
        raise InvalidInput(
            f"延长合计不得超过 {limit} 个工作日 / extensions may total at most {limit} "
            "working days", code="extension_too_long",
            details=[{"field": "data.days", "message": f"已延长 / already "
                      f"{ctx.case.extension_days_total}"}],
        )


def _check_supply(ctx: _Ctx) -> None:
    assert isinstance(ctx.payload, Supply)
    if ctx.payload.form_data is not None:
        validate_form(ctx.schema, ctx.payload.form_data)


def _check_accept(ctx: _Ctx) -> None:
    """Licence fields come with an acceptance only where it decides (即办件)."""
    if getattr(ctx.payload, "licence_fields", None) and ctx.row.to_state not in DECISIONS:
        raise InvalidInput(
            "受理不作出决定,不签发电子证照 / this acceptance decides nothing and issues no "
            "licence", details=[{"field": "data.licence_fields",
                                 "message": "仅即办件受理时填写 / only when acceptance decides"}])


CHECKS: dict[str, Callable[[_Ctx], None]] = {
    Action.accept: _check_accept,
    Action.request_supplement: _check_request_supplement,
    Action.extend: _check_extend,
    Action.supply: _check_supply,
}


# Effects: the writes of each action beyond the state and the clock.


def _do_request_supplement(ctx: _Ctx) -> None:
    assert isinstance(ctx.payload, RequestSupplement)
    items = [i.model_dump(exclude_none=True) for i in ctx.payload.items]
    ctx.db_session.add(SupplementNotice(
        case_id=ctx.case.id, items=items, text=ctx.reason or "",
        before_acceptance=ctx.row.state in BEFORE_ACCEPTANCE, issued_at=ctx.now,
        issued_by=ctx.actor.account_id,
    ))
    ctx.data["items"] = items


def _do_supply(ctx: _Ctx) -> None:
    assert isinstance(ctx.payload, Supply)
    if ctx.payload.form_data is not None:
        ctx.case.form_data = ctx.payload.form_data
        ctx.data["form_data_replaced"] = True
    if ctx.row.guard == "deficiency_supplied":
        ctx.data["deficiency_supplied"] = list(ctx.case.deficient_materials)
        ctx.case.deficient_materials = []
        ctx.case.deficiency_promise_date = None
        return
    notice = _open_notice(ctx)
    if notice is not None:
        notice.answered_at = ctx.now
        ctx.data["notice_id"] = str(notice.id)


def _do_accept_with_deficiency(ctx: _Ctx) -> None:
    assert isinstance(ctx.payload, AcceptWithDeficiency)
    ctx.case.deficient_materials = list(ctx.payload.deficient_materials)
    ctx.case.deficiency_promise_date = ctx.payload.promise_date
    ctx.data.update(deficient_materials=ctx.case.deficient_materials,
                    promise_date=ctx.payload.promise_date.isoformat())


def _do_commitment(ctx: _Ctx) -> None:
    assert isinstance(ctx.payload, Commitment)
    ctx.data["commitment"] = ctx.payload.commitment
    if ctx.payload.verify_by:
        ctx.data["verify_by"] = ctx.payload.verify_by.isoformat()
    _do_record_licence_fields(ctx)


def _do_record_licence_fields(ctx: _Ctx) -> None:
    """What the approving officer says the e-licence shows (licensing.py issues it)."""
    fields = getattr(ctx.payload, "licence_fields", None)
    if fields:
        ctx.data["licence_fields"] = fields


def _do_extend(ctx: _Ctx) -> None:
    assert isinstance(ctx.payload, Extend)
    ctx.db_session.add(Extension(case_id=ctx.case.id, days=ctx.payload.days,
                                 reason=ctx.reason or "", by_account_id=ctx.actor.account_id,
                                 by_name=ctx.actor.name, at=ctx.now))
    ctx.case.extension_days_total += ctx.payload.days
    ctx.data["days"] = ctx.payload.days


def _do_deliver(ctx: _Ctx) -> None:
    assert isinstance(ctx.payload, Deliver)
    p = ctx.payload
    ctx.db_session.add(Delivery(case_id=ctx.case.id, method=p.method,
                                tracking_number=p.tracking_number, carrier=p.carrier,
                                pickup_window=p.pickup_window,
                                licence_reference=p.licence_reference, at=ctx.now))
    ctx.case.delivered_at = ctx.now
    ctx.data.update(p.model_dump(mode="json", exclude_none=True))


def _do_record_payment(ctx: _Ctx) -> None:
    assert isinstance(ctx.payload, RecordPayment)
    p = ctx.payload
    adapter = wiring().payment_adapters.get("offline")
    receipt = adapter.record(case_number=ctx.case.number, amount=p.amount, method=p.method,
                             reference=p.reference, at=ctx.now)
    ctx.db_session.add(Payment(case_id=ctx.case.id, amount=p.amount, method=p.method,
                               adapter=receipt.adapter, reference=receipt.reference,
                               paid_at=receipt.paid_at))
    ctx.data.update(amount=str(p.amount), method=p.method, reference=receipt.reference)


def _do_deem_accept(ctx: _Ctx) -> None:
    ctx.case.deemed_accepted = True
    ctx.case.deemed_accepted_reason = ctx.reason


# What an action writes beyond its state change; the root registers these by action name.
Effect = Callable[["_Ctx"], None]

EFFECTS: dict[str, Effect] = {
    Action.request_supplement: _do_request_supplement,
    Action.supply: _do_supply,
    Action.accept_with_deficiency: _do_accept_with_deficiency,
    Action.accept_on_commitment: _do_commitment,
    Action.approve_on_commitment: _do_commitment,
    Action.approve: _do_record_licence_fields,
    Action.accept: _do_record_licence_fields,  # 即办件: acceptance is the approval
    Action.extend: _do_extend,
    Action.deliver: _do_deliver,
    Action.record_payment: _do_record_payment,
    Action.deem_accept: _do_deem_accept,
}


# The clock.


def _open_pause(ctx: _Ctx) -> Pause | None:
    return ctx.db_session.scalar(_OPEN_PAUSE, {"case_id": ctx.case.id})


def _start_clock(ctx: _Ctx) -> None:
    deemed = ctx.row.action == Action.deem_accept
    ctx.case.accepted_at = ctx.case.submitted_at if deemed else ctx.now


def _pause_clock(ctx: _Ctx) -> None:
    kind = getattr(ctx.payload, "kind", None) or "supplement"
    ctx.db_session.add(Pause(case_id=ctx.case.id, kind=str(kind), reason=ctx.reason or "",
                             started_at=ctx.now))
    ctx.case.paused = True
    ctx.data["pause_kind"] = str(kind)


def _resume_clock(ctx: _Ctx) -> None:
    pause = _open_pause(ctx)
    if pause is not None:
        days, _ = clock.pause_days(db_session=ctx.db_session, started=pause.started_at,
                                   ended=ctx.now)
        pause.ended_at, pause.working_days = ctx.now, days
        ctx.case.paused_days_total += days
        ctx.data["paused_working_days"] = days
    ctx.case.paused = False


def _stop_clock(ctx: _Ctx) -> None:
    if ctx.case.paused:
        _resume_clock(ctx)
    if ctx.row.to_state in DECISIONS:
        ctx.case.decided_at = ctx.now


CLOCK_EFFECTS: dict[Clock, tuple[Callable[[_Ctx], None], ...]] = {
    Clock.none: (),
    Clock.start: (_start_clock,),
    Clock.pause: (_pause_clock,),
    Clock.resume: (_resume_clock,),
    Clock.stop: (_stop_clock,),
    Clock.start_stop: (_start_clock, _stop_clock),
}


def _decide(ctx: _Ctx) -> None:
    to = ctx.row.to_state
    if to in DECISIONS:
        ctx.case.decision = to.value
        ctx.case.decision_reason = ctx.reason
    if to in (State.refused, State.withdrawn, State.terminated, State.delivered):
        ctx.case.closed_at = ctx.now
