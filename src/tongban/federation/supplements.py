"""补正 and withdrawal across regions, by envelopes.

The handling node's supplement notice (一次性告知) reaches the receiving node with the
status mirror (modes._event_doc carries its items). What the applicant (全程网办, 多地联办)
or the receiving window (异地代收) supplies there, and a withdrawal (撤回), goes back as a
`case.supply` / `case.withdraw` envelope; the handling node acts on its own case at the
time the person acted at home (the envelope's signed time, never before the case's last
event nor after arrival), so a post-acceptance 补正 resumes the clock when it was
answered, not when the envelope arrived. Each request is applied once: a supply answers
one notice (by the remote event that made it), a withdrawal one open case; a repeat is
ignored, and a request the handling node refuses comes back as `case.request_refused`.
"""

from __future__ import annotations

import base64
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tongban.audit.service import record as audit
from tongban.cases import service as cases
from tongban.cases.models import Case, CaseEvent
from tongban.config import Settings
from tongban.db import utcnow
from tongban.errors import Conflict, DomainError, Forbidden, InvalidInput
from tongban.federation import service
from tongban.federation.envelopes import Envelope
from tongban.federation.models import CaseLink, ForwardedCase
from tongban.federation.modes import (
    CLOSED,
    DECIDED,
    SUPPLY_STATES,
    _append,
    _events,
    _forwarded,
    _materials,
    _out,
    _staff_of_node,
    _visible,
    item_code_of,
    open_notice,
    pending_supply,
    pending_withdrawal,
)
from tongban.federation.schemas import ForwardedCaseOut, SupplyIn, WithdrawIn
from tongban.identity import service as identity
from tongban.identity.actor import Actor, Scope

HANDLERS: dict[str, service.Handler] = {}


def _handler(kind: str) -> Any:
    def add(func: service.Handler) -> service.Handler:
        HANDLERS[kind] = func
        return func
    return add


# --- receiving side ---------------------------------------------------------------------------


def _acting_as(db_session: Session, actor: Actor, fc: ForwardedCase, node_region: str,
               now: datetime) -> str:
    """Who may answer for the applicant here: the applicant of an online application, the
    agent who filed it for them while an authorisation for it holds (as for a local case),
    or this node's window for one it received (异地代收); "applicant", "agent" or
    "window", else 403 (an agent's with why their authorisation does not hold)."""
    if fc.mode == "receive_and_forward":
        if actor.has("clerk") and _staff_of_node(actor, node_region):
            return "window"
    elif actor.has("applicant") and (
            (actor.account_id is not None and actor.account_id == fc.applicant_account_id)
            or (actor.person_id is not None and actor.person_id == fc.applicant_person_id)):
        return "applicant"
    elif (actor.has("agent") and fc.agent_authorisation_id is not None
          and actor.account_id is not None and actor.account_id == fc.received_by_account_id):
        identity.check_agent_authorisation(
            db_session=db_session, agent_account_id=actor.account_id,
            principal_person_id=fc.applicant_person_id,
            item_code=item_code_of(fc.implementation_code), at=now)
        return "agent"
    raise Forbidden("只有申请人或其代办人(异地代收:收件窗口)可以补正或撤回 / only the "
                    "applicant or their agent (for a received case, the receiving window) "
                    "may supply or withdraw", code="wrong_role")


def acting_as(*, db_session: Session, settings: Settings, actor: Actor,
              forwarded_id: uuid.UUID, now: datetime | None = None) -> str:
    """In which capacity the caller may answer a notice or withdraw here (see _acting_as):
    for a page to offer the forms only to one who may send them."""
    fc = _visible(db_session, actor, forwarded_id, settings.node_region)
    return _acting_as(db_session, actor, fc, settings.node_region, now or utcnow())


def current_form(*, db_session: Session, settings: Settings, actor: Actor,
                 forwarded_id: uuid.UUID) -> dict[str, Any]:
    """The form as this node sent it, for the one who may answer a notice here: what a
    correction of the fields the notice names starts from ({} once purged)."""
    fc = _visible(db_session, actor, forwarded_id, settings.node_region)
    _acting_as(db_session, actor, fc, settings.node_region, utcnow())
    return dict(fc.form_data or {})


def supply(*, db_session: Session, settings: Settings, actor: Actor, forwarded_id: uuid.UUID,
           data: SupplyIn, now: datetime | None = None) -> ForwardedCaseOut:
    """Answer the handling region's 补正 notice from here: keep the materials as forwarding
    copies and send them (once per notice) to the handling node."""
    now = now or utcnow()
    fc = _visible(db_session, actor, forwarded_id, settings.node_region)
    acting = _acting_as(db_session, actor, fc, settings.node_region, now)
    events = _events(db_session, fc)
    notice = open_notice(fc, events)
    if notice is None:
        raise Conflict("办理地没有待补正的告知 / the handling region asks for nothing",
                       code="no_open_notice", details={"state": fc.state})
    if pending_supply(notice, events) is not None:
        raise Conflict("补正材料已发送,等待办理地处理 / already sent: the handling region has "
                       "not answered yet", code="supply_pending")
    _check_asked(notice, data)
    inline, kept = _materials(settings, data.materials)
    fc.materials = [*fc.materials, *kept]
    payload = {"answers_seq": notice["remote_seq"], "materials": inline, "by": actor.name,
               "as": acting, "note": data.note, "form_data": data.form_data}
    return _send(db_session, settings, actor, fc, "case.supply", payload, now, action=
                 "supplied_here", data={"answers_seq": notice["remote_seq"],
                                        "materials": kept, "as": acting})


def _check_asked(notice: dict[str, Any], data: SupplyIn) -> None:
    """A supply sends only materials the notice asks for, and at least one of them when it
    asks for materials (an empty answer would only cost the applicant a round trip)."""
    asked = {i["material_code"] for i in notice["items"] if i.get("material_code")}
    other = sorted({m.code for m in data.materials} - asked)
    if other:
        raise InvalidInput("补正通知未要求这些材料 / the notice does not ask for these "
                           f"materials: {', '.join(other)}", code="not_asked",
                           details=[{"field": "materials", "codes": other,
                                     "asked": sorted(asked)}])
    fields = {i["field"] for i in notice["items"] if i.get("field")}
    if fields and not asked and data.form_data is None and not data.materials:
        raise InvalidInput("请改正补正通知指出的字段 / correct the fields the notice names",
                           code="nothing_supplied",
                           details=[{"field": "form_data", "asked": sorted(fields)}])
    if asked and not data.materials:
        raise InvalidInput("请上传补正通知要求的材料 / upload the materials the notice asks "
                           "for", code="nothing_supplied",
                           details=[{"field": "materials", "asked": sorted(asked)}])


def withdraw(*, db_session: Session, settings: Settings, actor: Actor,
             forwarded_id: uuid.UUID, data: WithdrawIn,
             now: datetime | None = None) -> ForwardedCaseOut:
    """撤回申请 from here: the handling node withdraws its case (if still undecided)."""
    now = now or utcnow()
    fc = _visible(db_session, actor, forwarded_id, settings.node_region)
    acting = _acting_as(db_session, actor, fc, settings.node_region, now)
    if fc.state in DECIDED or fc.state in CLOSED:
        raise Conflict("办件已办结,不能撤回 / the case is decided or closed: it cannot be "
                       "withdrawn", code="action_not_allowed", details={"state": fc.state})
    if pending_withdrawal(fc, _events(db_session, fc)) is not None:
        raise Conflict("撤回申请已发送,等待办理地处理 / the withdrawal was sent: the handling "
                       "region has not answered yet", code="withdrawal_pending")
    payload = {"reason": data.reason, "by": actor.name, "as": acting}
    return _send(db_session, settings, actor, fc, "case.withdraw", payload, now,
                 action="withdrawal_sent", data={"reason": data.reason, "as": acting})


def _send(db_session: Session, settings: Settings, actor: Actor, fc: ForwardedCase,
          kind: str, payload: dict[str, Any], now: datetime, *, action: str,
          data: dict[str, Any]) -> ForwardedCaseOut:
    envelope = service.send(db_session=db_session, settings=settings,
                            receiver=fc.handling_region, kind=kind, case_id=str(fc.id),
                            user_id=str(actor.account_id) if actor.account_id else None,
                            now=now, payload=payload)
    _append(db_session, fc, actor_name=actor.name, action=action, now=now,
            envelope_id=envelope.id, data=data)
    audit(db_session=db_session, actor_id=actor.account_id, actor_name=actor.name,
          action=f"federation.{action}", entity="federation_case", entity_id=str(fc.id),
          details={"envelope_id": str(envelope.id), "to": fc.handling_region})
    return _out(db_session, fc)


@_handler("case.request_refused")
def handle_request_refused(*, db_session: Session, settings: Settings, envelope: Envelope,
                           now: datetime) -> str:
    """The handling node could not apply a supply or withdrawal: show why, here."""
    fc = _forwarded(db_session, envelope)
    _append(db_session, fc, actor_name=f"node {envelope.sender}",
            action="remote.request_refused", now=now, envelope_id=envelope.id,
            data=dict(envelope.payload))
    return "noted"


# --- handling side ----------------------------------------------------------------------------


def _case_of(db_session: Session, envelope: Envelope) -> Case:
    link = db_session.scalar(select(CaseLink).where(CaseLink.peer_case_ref == envelope.case_id,
                                                    CaseLink.peer_region == envelope.sender))
    if link is None:
        raise service.Deferred("no case for this forwarded case yet")
    case = db_session.get(Case, link.case_id)
    assert case is not None
    return case


def _peer(case: Case, envelope: Envelope, *, window: bool) -> Actor:
    """The person acting at the sender: its window (a clerk of this case's region) or the
    applicant (as this node knows them)."""
    by = str(envelope.payload.get("by") or "")[:60]
    if envelope.payload.get("as") == "agent":
        by = f"{by}(代办人 / agent)"
    via = f"(经 {envelope.sender} 节点 / via node {envelope.sender})"
    if window:
        return Actor(account_id=None, name=f"{by}{via}", roles=frozenset({"clerk"}),
                     scopes=(Scope(case.region_code),))
    return Actor(account_id=None, name=f"{by}{via}", roles=frozenset({"applicant"}),
                 person_id=case.applicant_person_id)


def _acted_at(db_session: Session, case: Case, envelope: Envelope, now: datetime) -> datetime:
    """When the person acted at the sender (its signed envelope time), kept after the
    case's last event and not after now."""
    last = db_session.scalar(select(func.max(CaseEvent.at)).where(CaseEvent.case_id == case.id))
    sent = envelope.created_at
    return min(max(sent, last) if last is not None else sent, now)


def _refuse(db_session: Session, settings: Settings, envelope: Envelope, exc: DomainError,
            now: datetime) -> str:
    service.send(db_session=db_session, settings=settings, receiver=envelope.sender,
                 kind="case.request_refused", case_id=envelope.case_id, now=now,
                 require_registry=False,
                 payload={"request": envelope.type, "request_envelope": str(envelope.id),
                          "error": exc.code, "message": exc.message})
    return f"refused: {exc.code}"


@_handler("case.supply")
def handle_supply(*, db_session: Session, settings: Settings, envelope: Envelope,
                  now: datetime) -> str:
    """补正 from the receiving node: attach its materials and answer the notice, at the
    time it was supplied there; once per notice."""
    case = _case_of(db_session, envelope)
    payload = envelope.payload
    asked = db_session.scalar(select(func.max(CaseEvent.seq)).where(
        CaseEvent.case_id == case.id, CaseEvent.action == "request_supplement"))
    if case.state not in SUPPLY_STATES or asked != payload.get("answers_seq"):
        return "already answered"
    at = _acted_at(db_session, case, envelope, now)
    actor = _peer(case, envelope, window=payload.get("as") == "window")
    try:
        with db_session.begin_nested():
            for material in payload.get("materials") or []:
                cases.attach_material(
                    db_session=db_session, settings=settings, actor=actor,
                    case_number=case.number, material_code=material["code"],
                    filename=material["filename"],
                    data=base64.b64decode(material["content_base64"]), now=at)
            answer = {k: payload[k] for k in ("note", "form_data") if payload.get(k)}
            cases.act(db_session=db_session, settings=settings, actor=actor,
                      case_number=case.number, action="supply", data=answer, now=at)
    except DomainError as exc:
        return _refuse(db_session, settings, envelope, exc, now)
    return "supplied"


@_handler("case.withdraw")
def handle_withdraw(*, db_session: Session, settings: Settings, envelope: Envelope,
                    now: datetime) -> str:
    """撤回 from the receiving node, by the applicant (or the window on their request)."""
    case = _case_of(db_session, envelope)
    if case.state == "withdrawn":
        return "already withdrawn"
    payload = envelope.payload
    actor = _peer(case, envelope, window=False)
    if payload.get("as") == "window":
        actor = Actor(account_id=None, name=f"{actor.name} 窗口代交申请人撤回申请 / the "
                      "window passes on the applicant's withdrawal", roles=actor.roles,
                      person_id=actor.person_id)
    try:
        with db_session.begin_nested():
            cases.act(db_session=db_session, settings=settings, actor=actor,
                      case_number=case.number, action="withdraw",
                      reason=str(payload.get("reason") or "")[:2000],
                      now=_acted_at(db_session, case, envelope, now))
    except DomainError as exc:
        return _refuse(db_session, settings, envelope, exc, now)
    return "withdrawn"
