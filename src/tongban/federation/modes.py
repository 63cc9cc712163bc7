"""The three cross-region modes (国办发〔2020〕35号) on top of the case engine.

- 全程网办 (fully_online): an applicant of this node applies for another node's
  implementation; the case lives at the handling node; this node mirrors its status.
- 异地代收代办 (receive_and_forward): this node's window receives the application for the
  other node's item, records its own checks, forwards form and materials; the handler
  accepts, decides and returns the result; this window delivers it.
- 多地联办 (joint): one application, a task at each node; done when all tasks are.

The receiving node keeps a `ForwardedCase` whose history (hand-overs plus every event of
the handling node's case, mirrored in order by sequence number) matches the handling
node's case history; the handling node's case carries the hand-overs as case events.
After completion the receiving node purges its forwarding copies (form, materials,
envelope bodies), keeping references, hashes and receipts (数据回流).
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Callable
from contextlib import nullcontext
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tongban.audit.service import record as audit
from tongban.blobs.store import BlobStore, blob_store
from tongban.cases import own_identity
from tongban.cases import service as cases
from tongban.cases.models import Case, CaseEvent
from tongban.cases.workflow import CLOSED_STATES, DECIDED_STATES
from tongban.catalog import service as catalog
from tongban.config import Settings
from tongban.db import new_id, utcnow
from tongban.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound
from tongban.federation import registry, service
from tongban.federation.envelopes import Envelope
from tongban.federation.models import (
    CaseLink,
    ForwardedCase,
    ForwardedCaseEvent,
    InboxEnvelope,
    JointCase,
    Message,
    ResultRecord,
)
from tongban.federation.schemas import (
    DeliverIn,
    ForwardedCaseOut,
    ForwardedEventOut,
    ForwardIn,
    ForwardingProblemOut,
    JointCaseOut,
    JointIn,
    NodeOut,
    RegistryOut,
    ResultRecordOut,
)
from tongban.identity import crypto
from tongban.identity import service as identity
from tongban.identity.actor import Actor, Scope, region_covers
from tongban.ledger.service import record_act
from tongban.licences import service as licences
from tongban.outbox.models import OutboxMessage

MODE_CHANNEL = {"fully_online": "online", "receive_and_forward": "window", "joint": "online"}
MODE_LABEL = {"fully_online": "全程网办", "receive_and_forward": "异地代收代办",
              "joint": "多地联办"}
DECIDED = frozenset(s.value for s in DECIDED_STATES)
CLOSED = frozenset(s.value for s in CLOSED_STATES) | {"failed"}
APPROVED = frozenset({"approved", "approved_on_commitment", "delivered"})

# 多地联办 kinds: the roles a joint application needs, one task per role.
JOINT_KINDS: dict[str, dict[str, Any]] = {
    "hukou_migration": {"name": "户口迁移(迁出地+迁入地)",
                        "roles": ("迁出地", "迁入地")},
    "pension_transfer": {"name": "养老保险关系转移接续(转出地+转入地)",
                         "roles": ("转出地", "转入地")},
}

# This module's envelope types and their inbox handlers, and what the sender does when
# it gives up on one (federation.wiring registers both).
HANDLERS: dict[str, service.Handler] = {}
UNDELIVERABLE: dict[str, service.Undeliverable] = {}


def handles(kind: str) -> Callable[[service.Handler], service.Handler]:
    """List `func` as the inbox handler of envelope type `kind`."""
    def add(func: service.Handler) -> service.Handler:
        HANDLERS[kind] = func
        return func
    return add


def on_undeliverable(kind: str) -> Callable[[service.Undeliverable], service.Undeliverable]:
    """List `func` as what happens when an envelope of type `kind` is given up on."""
    def add(func: service.Undeliverable) -> service.Undeliverable:
        UNDELIVERABLE[kind] = func
        return func
    return add


# --- receiving side: forwarding --------------------------------------------------------------


def _forwarding_copies(settings: Settings) -> BlobStore:
    """Where the receiving node keeps what it forwarded (the node's shared blob store)."""
    return blob_store(settings, "federation_blobs")


def _append(db_session: Session, fc: ForwardedCase, *, actor_name: str, action: str,
            data: dict[str, Any], now: datetime, remote_seq: int | None = None,
            envelope_id: uuid.UUID | None = None) -> ForwardedCaseEvent:
    fc.last_event_seq += 1
    event = ForwardedCaseEvent(forwarded_case_id=fc.id, seq=fc.last_event_seq, at=now,
                               actor_name=actor_name[:200], action=action, state=fc.state,
                               remote_seq=remote_seq, envelope_id=envelope_id, data=data)
    db_session.add(event)
    return event


def item_code_of(implementation_code: str) -> str:
    """The 基本编码 an implementation code ends in (its characters 20-31): what an agent
    authorisation names, known here even when this node's catalog lacks the guide."""
    return implementation_code[19:]


def _applicant(db_session: Session, settings: Settings, actor: Actor, mode: str,
               person_id: uuid.UUID | None, implementation_code: str, now: datetime
               ) -> tuple[Any, dict[str, Any], uuid.UUID | None]:
    """The applicant (a person), what the handling node needs to identify them, and the
    agent authorisation the application is filed under (an agent for a principal)."""
    authorisation_id = None
    if mode == "receive_and_forward":
        if not actor.has("clerk"):
            raise Forbidden("异地代收须由窗口人员办理 / only a window clerk receives for another "
                            "region", details={"required_roles": ["clerk"]})
        if person_id is None:
            raise InvalidInput("须指明申请人 / name the applicant",
                               details=[{"field": "person_id", "message": "必填 / required"}])
        wanted = person_id
    elif person_id is not None and actor.has("clerk"):
        if not actor.covers(settings.node_region):
            raise Forbidden("您不是本节点的窗口人员 / you are not a clerk of this node's "
                            "region", code="out_of_scope")
        wanted = person_id
    elif person_id not in (None, actor.person_id) and actor.has("agent"):
        assert actor.account_id is not None and person_id is not None
        authorisation_id = identity.check_agent_authorisation(
            db_session=db_session, agent_account_id=actor.account_id,
            principal_person_id=person_id, item_code=item_code_of(implementation_code),
            at=now).id
        wanted = person_id
    elif actor.has("applicant") and actor.person_id is not None:
        if person_id not in (None, actor.person_id):
            raise Forbidden("只能为本人申请;代办须有授权 / you may apply only for yourself",
                            code="not_authorised")
        wanted = actor.person_id
    else:
        raise Forbidden("全程网办须由申请人本人或其代办人提交 / an applicant applies for "
                        "themself, or their agent for them",
                        details={"required_roles": ["applicant", "agent"]})
    person = identity.get_person(db_session=db_session, person_id=wanted)
    number = crypto.decrypt(settings=settings, blob=person.id_number_enc,
                            column=identity.ID_NUMBER_COLUMN)
    return person, {"name": person.name, "id_number": number,
                    "home_region": person.home_region}, authorisation_id


def _materials(settings: Settings, given: list[Any]) -> tuple[list[dict[str, Any]],
                                                             list[dict[str, Any]]]:
    """(what the envelope carries, what this node keeps as reference) of the materials."""
    inline, kept = [], []
    for index, material in enumerate(given):
        try:
            data = base64.b64decode(material.content_base64, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidInput("材料内容不是 base64 / material content is not base64",
                               details=[{"field": f"materials.{index}.content_base64"}]) from exc
        if not data or len(data) > settings.max_upload_bytes:  # what an upload may be
            raise InvalidInput("材料为空或过大 / a material is empty or too large",
                               details=[{"field": f"materials.{index}", "size": len(data),
                                         "limit": settings.max_upload_bytes}])
        digest = _forwarding_copies(settings).keep(data)
        ref = {"code": material.code, "filename": material.filename, "sha256": digest,
               "size": len(data)}
        kept.append(ref)
        inline.append({**ref, "content_base64": material.content_base64})
    return inline, kept


def _target(db_session: Session, implementation_code: str, mode: str, me: str
            ) -> tuple[registry.NodeEntry, str]:
    """The node that handles an implementation across regions, and the item's name."""
    reg = registry.current(db_session=db_session)
    entry = reg.handler_of(implementation_code)
    if entry is None:
        raise InvalidInput("联邦中没有节点跨域办理该事项 / no node offers this implementation "
                           "across regions", code="not_offered",
                           details={"implementation_code": implementation_code})
    if entry.region_code == me and mode != "joint":
        raise InvalidInput("本节点事项请直接申请 / apply for this node's own items directly",
                           code="local_item")
    name = implementation_code
    try:
        version = catalog.get_current_version(db_session=db_session,
                                              implementation_code=implementation_code)
    except DomainError:
        return entry, name  # this node's catalog may not hold other regions' guides
    modes = version.guide.get("cross_region_modes") or []
    if mode not in modes:
        raise InvalidInput("该事项不支持此跨域办理方式 / this item does not offer this "
                           "cross-region mode", code="mode_not_offered",
                           details={"mode": mode, "offered": modes})
    return entry, version.name


def _check_window(actor: Actor, checks: Any, settings: Settings) -> dict[str, Any]:
    """异地代收: the receiving window's own duty (identity and form) must be recorded."""
    if checks is None or not (checks.identity_checked and checks.form_checked):
        raise InvalidInput("代收窗口须核验身份和表单 / the receiving window must check identity "
                           "and form", details=[{"field": "checks",
                                                 "message": "identity_checked, form_checked"}])
    if not actor.covers(settings.node_region):
        raise Forbidden("您不是本节点的窗口人员 / you are not a clerk of this node's region",
                        code="out_of_scope")
    return checks.model_dump()


def forward(*, db_session: Session, settings: Settings, actor: Actor, data: ForwardIn,
            now: datetime | None = None) -> ForwardedCaseOut:
    """Receive an application for another node's implementation and forward it there."""
    now = now or utcnow()
    if data.mode == "receive_and_forward" and not actor.has("clerk"):
        raise Forbidden("异地代收须由窗口人员办理 / only a window clerk receives for another "
                        "region", details={"required_roles": ["clerk"]})
    entry, name = _target(db_session, data.implementation_code, data.mode, settings.node_region)
    checks = (_check_window(actor, data.checks, settings)
              if data.mode == "receive_and_forward" else None)
    key = data.idempotency_key if actor.account_id is not None else None
    found = _forwarded_with_key(db_session, actor, key)
    if found is not None:
        return _replay(db_session, found, data.implementation_code)
    try:  # only a key can collide with a concurrent twin: the savepoint guards that
        with db_session.begin_nested() if key else nullcontext():
            fc = _open_forwarded(db_session, settings, actor, mode=data.mode, entry=entry,
                                 name=name, implementation_code=data.implementation_code,
                                 form_data=data.form_data, person_id=data.person_id,
                                 materials=data.materials, checks=checks, now=now,
                                 idempotency_key=key)
    except IntegrityError:
        found = _forwarded_with_key(db_session, actor, key)
        if found is None:
            raise
        return _replay(db_session, found, data.implementation_code)
    return _out(db_session, fc)


def _forwarded_with_key(db_session: Session, actor: Actor,
                        key: str | None) -> ForwardedCase | None:
    if key is None:
        return None
    return db_session.scalar(select(ForwardedCase).where(
        ForwardedCase.received_by_account_id == actor.account_id,
        ForwardedCase.idempotency_key == key))


def _replay(db_session: Session, fc: ForwardedCase, implementation_code: str
            ) -> ForwardedCaseOut:
    """The same key again: the same forwarded case, if it asked for the same thing."""
    if fc.implementation_code != implementation_code:
        raise Conflict("该幂等键已用于另一项申请 / this idempotency key was used for another "
                       "application", code="idempotency_conflict",
                       details={"field": "idempotency_key", "forwarded_case_id": str(fc.id)})
    return _out(db_session, fc)


def _open_forwarded(db_session: Session, settings: Settings, actor: Actor, *, mode: str,
                    entry: registry.NodeEntry, name: str, implementation_code: str,
                    form_data: dict[str, Any], person_id: uuid.UUID | None,
                    materials: list[Any], checks: dict[str, Any] | None, now: datetime,
                    joint: JointCase | None = None, role: str | None = None,
                    idempotency_key: str | None = None) -> ForwardedCase:
    person, applicant, authorisation_id = _applicant(db_session, settings, actor, mode,
                                                     person_id, implementation_code, now)
    inline, kept = _materials(settings, materials)
    agent = ({"name": actor.name, "authorisation_id": str(authorisation_id)}
             if authorisation_id else None)
    fc = ForwardedCase(
        id=new_id(), mode=mode, handling_region=entry.region_code,
        implementation_code=implementation_code, item_name=name[:200],
        channel=MODE_CHANNEL[mode], applicant_account_id=(
            actor.account_id if actor.has("applicant") and person.id == actor.person_id
            else None),
        applicant_person_id=person.id, applicant_name=person.name,
        received_by_account_id=actor.account_id, agent_authorisation_id=authorisation_id,
        idempotency_key=idempotency_key,
        joint_case_id=joint.id if joint else None, role_in_joint=role,
        state="forwarding", form_data=form_data, materials=kept, licences=[],
        created_at=now, last_event_seq=0)
    db_session.add(fc)
    db_session.flush()
    _append(db_session, fc, actor_name=actor.name, action="received", now=now,
            data={"mode": mode, "checks": checks, "materials": kept, "by_role": sorted(
                actor.roles), "agent": agent})
    envelope = service.send(
        db_session=db_session, settings=settings, receiver=entry.region_code,
        kind="case.apply", case_id=str(fc.id),
        user_id=str(actor.account_id) if actor.account_id else None, now=now,
        payload={"mode": mode, "implementation_code": implementation_code,
                 "channel": MODE_CHANNEL[mode], "form_data": form_data,
                 "applicant": applicant, "materials": inline, "checks": checks,
                 "received_by": actor.name, "receiving_region": settings.node_region,
                 "agent": agent,
                 "joint": ({"id": str(joint.id), "kind": joint.kind, "role": role}
                           if joint else None)})
    _append(db_session, fc, actor_name=actor.name, action="forwarded", now=now,
            envelope_id=envelope.id,
            data={"to": entry.region_code, "materials": [m["sha256"] for m in kept]})
    audit(db_session=db_session, actor_id=actor.account_id, actor_name=actor.name,
          action="federation.case_forwarded", entity="federation_case", entity_id=str(fc.id),
          details={"mode": mode, "to": entry.region_code,
                   "implementation_code": implementation_code, "envelope_id": str(envelope.id)})
    return fc


def open_joint(*, db_session: Session, settings: Settings, actor: Actor, data: JointIn,
               now: datetime | None = None) -> JointCaseOut:
    """多地联办: accept one application and send each task to its handling node."""
    now = now or utcnow()
    kind = JOINT_KINDS.get(data.kind)
    if kind is None:
        raise InvalidInput("未知的联办类型 / unknown joint kind",
                           details={"kind": data.kind, "known": sorted(JOINT_KINDS)})
    roles = [t.role for t in data.tasks]
    if sorted(roles) != sorted(kind["roles"]):
        raise InvalidInput("联办任务须覆盖每个角色一次 / one task per role",
                           details={"roles": roles, "expected": list(kind["roles"])})
    wanted = {t.implementation_code: _uploadable_codes(db_session, t.implementation_code)
              for t in data.tasks}
    stray = sorted({m.code for m in data.materials} - set().union(*wanted.values()))
    if stray:
        raise InvalidInput("联办事项的办事指南均未要求该材料 / no task's guide asks for this "
                           "material", details=[{"field": "materials", "message": code}
                                                for code in stray])
    joint = JointCase(id=new_id(), kind=data.kind, name=data.name[:200], state="open",
                      applicant_account_id=actor.account_id if actor.has("applicant")
                      and data.person_id in (None, actor.person_id) else None,
                      created_at=now)
    db_session.add(joint)
    db_session.flush()
    for task in data.tasks:
        entry, name = _target(db_session, task.implementation_code, "joint",
                              settings.node_region)
        fc = _open_forwarded(db_session, settings, actor, mode="joint", entry=entry, name=name,
                             implementation_code=task.implementation_code,
                             form_data=task.form_data, person_id=data.person_id,
                             materials=[m for m in data.materials
                                        if m.code in wanted[task.implementation_code]],
                             checks=None, now=now, joint=joint, role=task.role)
        joint.applicant_person_id = fc.applicant_person_id
    return view_joint(db_session=db_session, settings=settings, actor=actor,
                      joint_id=joint.id)


def _uploadable_codes(db_session: Session, implementation_code: str) -> set[str]:
    """The materials a task's guide takes as files: collected once at the window for a
    joint application, each sent to every handling region whose guide asks for it."""
    guide = catalog.get_current_version(db_session=db_session,
                                        implementation_code=implementation_code).guide
    return {m["code"] for m in guide.get("materials") or []
            if m.get("source", "upload") in cases.UPLOADABLE_SOURCES}


# --- handling side ----------------------------------------------------------------------------


def _peer_actor(envelope: Envelope, payload: dict[str, Any], region_code: str,
                person_id: uuid.UUID | None) -> Actor:
    """Who acts at this node for the peer: its applicant (online) or its window (clerk),
    named after the peer node and the person there."""
    by = str(payload.get("received_by") or "")[:60]
    name = f"{by}(经 {envelope.sender} 节点 / via node {envelope.sender})"
    if payload.get("channel") == "window":
        return Actor(account_id=None, name=name, roles=frozenset({"clerk"}),
                     scopes=(Scope(region_code),))
    return Actor(account_id=None, name=name, roles=frozenset({"applicant"}),
                 person_id=person_id)


def _person_here(db_session: Session, settings: Settings, actor: Actor,
                 applicant: dict[str, Any]) -> uuid.UUID:
    found = identity.find_person_by_id_number(db_session=db_session, settings=settings,
                                              id_number=str(applicant.get("id_number", "")))
    if found is not None:
        return found.id
    return identity.create_person(db_session=db_session, settings=settings, actor=actor,
                                  name=str(applicant.get("name", "")),
                                  id_number=str(applicant["id_number"])).id


def _open_here(db_session: Session, settings: Settings, envelope: Envelope,
               now: datetime) -> Case:
    payload = envelope.payload
    version = catalog.get_current_version(db_session=db_session,
                                          implementation_code=payload["implementation_code"])
    target = cases.target_of(version)
    if not region_covers(settings.node_region, target.region_code):
        raise InvalidInput("该事项不由本节点办理 / this node does not handle this item",
                           details={"implementation_code": payload["implementation_code"]})
    system = Actor(account_id=None, name=f"node {envelope.sender}",
                   roles=frozenset({"operator"}))
    person_id = _person_here(db_session, settings, system, payload["applicant"])
    actor = _peer_actor(envelope, payload, target.region_code, person_id)
    cases.validate_form(version.form_schema, payload.get("form_data") or {})
    own_identity.check(db_session=db_session, settings=settings, schema=version.form_schema,
                       form_data=payload.get("form_data") or {}, person_id=person_id,
                       enterprise_id=None)
    party = cases.Party(person_id, None, None, str(payload["applicant"]["name"]), None,
                        envelope.sender)
    case = cases.open_case(db_session=db_session, actor=actor, target=target, party=party,
                           form_data=payload.get("form_data") or {},
                           channel=payload["channel"], now=now)
    for material in payload.get("materials") or []:
        cases.attach_material(db_session=db_session, settings=settings, actor=actor,
                              case_number=case.number, material_code=material["code"],
                              filename=material["filename"],
                              data=base64.b64decode(material["content_base64"]), now=now)
    cases.record_fact(
        db_session=db_session, case=case, action="federation_received", now=now, actor=actor,
        reason=f"{MODE_LABEL.get(payload['mode'], payload['mode'])}:由 {envelope.sender} 节点"
               f"转来 / {payload['mode']}: received from node {envelope.sender}",
        data={"envelope_id": str(envelope.id), "mode": payload["mode"],
              "receiving_region": envelope.sender, "checks": payload.get("checks"),
              "received_by": payload.get("received_by"), "joint": payload.get("joint"),
              "agent": payload.get("agent"),
              "materials": [{"code": m["code"], "sha256": m["sha256"]}
                            for m in payload.get("materials") or []]})
    return case


def _link_of(db_session: Session, envelope: Envelope) -> CaseLink | None:
    """The case already opened for this application: by this envelope, or by another
    envelope of the sender for the same forwarded case (its idempotency key: a re-signed
    application, e.g. sent again after a restore, must not open a second case)."""
    return db_session.scalar(select(CaseLink).where(or_(
        CaseLink.opened_by == envelope.id,
        (CaseLink.peer_region == envelope.sender)
        & (CaseLink.peer_case_ref == str(envelope.case_id)))))


@handles("case.apply")
def handle_apply(*, db_session: Session, settings: Settings, envelope: Envelope,
                 now: datetime) -> str:
    """Open the forwarded application as a case here (once), and tell the sender."""
    existing = _link_of(db_session, envelope)
    if existing is not None:
        return "already opened"
    try:
        with db_session.begin_nested():
            case = _open_here(db_session, settings, envelope, now)
            link = CaseLink(case_id=case.id, peer_region=envelope.sender,
                            peer_case_ref=str(envelope.case_id), mode=envelope.payload["mode"],
                            home_region=str(envelope.payload["applicant"].get("home_region")
                                            or "")[:12] or None,
                            opened_by=envelope.id, licences_sent=[], created_at=now)
            db_session.add(link)
            db_session.flush()
    except IntegrityError as exc:  # the same application, opened at this moment under
        raise service.Deferred("a twin is being opened") from exc  # another envelope id
    except DomainError as exc:
        service.send(db_session=db_session, settings=settings, receiver=envelope.sender,
                     kind="case.failed", case_id=envelope.case_id, now=now,
                     require_registry=False,
                     payload={"error": exc.code, "message": exc.message,
                              "details": _plain(exc.details)})
        return f"failed: {exc.code}"
    events = list(db_session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id)
                                     .order_by(CaseEvent.seq)))
    _send_status(db_session, settings, case, link, events, now)
    return f"opened {case.number}"


def _plain(value: Any) -> Any:
    """Error details made JSON-safe for an envelope."""
    import json

    return json.loads(json.dumps(value, default=str)) if value is not None else None


def _event_doc(event: CaseEvent) -> dict[str, Any]:
    doc = {"seq": event.seq, "at": event.at.isoformat(), "action": event.action,
           "from_state": event.from_state, "to_state": event.to_state,
           "actor_role": event.actor_role, "actor_name": event.actor_name,
           "reason": event.reason}
    if event.action == "request_supplement":  # 一次性告知: what the window must collect
        doc["notice"] = {"items": event.data.get("items") or []}
    return doc


def _send_status(db_session: Session, settings: Settings, case: Case, link: CaseLink,
                 events: list[CaseEvent], now: datetime) -> None:
    service.send(db_session=db_session, settings=settings, receiver=link.peer_region,
                 kind="case.status", case_id=link.peer_case_ref, now=now,
                 require_registry=False,
                 payload={"case_id": str(case.id), "case_number": case.number,
                          "state": case.state, "decision": case.decision,
                          "item_code": case.item_code, "item_name": case.item_name,
                          "events": [_event_doc(e) for e in events]})


_LINK_OF_CASE = select(CaseLink).where(CaseLink.case_id == bindparam("case_id"))


def after_transition(*, db_session: Session, settings: Settings, case: Case,
                     event: CaseEvent) -> None:
    """cases.AFTER_TRANSITION hook: a forwarded case's every transition goes back to the
    receiving node (same transaction); a decision also goes to the home region."""
    # Envelopes open a case as the peer's actor, who has no account here: a case filed by
    # an account of this node (applicant, agent, window) has no link to look up. The
    # regions cannot tell: a joint task this node handles itself was received here too.
    if case.submitted_by_account_id is not None:
        return
    link = db_session.scalar(_LINK_OF_CASE, {"case_id": case.id})
    if link is None:
        return
    now = event.at
    _send_status(db_session, settings, case, link, [event], now)
    if event.to_state in DECIDED and event.from_state not in DECIDED:
        _send_home_record(db_session, settings, case, link, now)


def _send_home_record(db_session: Session, settings: Settings, case: Case, link: CaseLink,
                      now: datetime) -> None:
    """数据回流: the person's home region receives the result record."""
    reg = registry.stored(db_session=db_session)
    if reg is None or not link.home_region or case.applicant_person_id is None:
        return
    home = reg.node_covering(link.home_region)
    if home is None or home.region_code == settings.node_region:
        return
    person = identity.get_person(db_session=db_session, person_id=case.applicant_person_id)
    number = crypto.decrypt(settings=settings, blob=person.id_number_enc,
                            column=identity.ID_NUMBER_COLUMN)
    service.send(db_session=db_session, settings=settings, receiver=home.region_code,
                 kind="result.record", case_id=str(case.id), now=now, require_registry=False,
                 payload={"case_number": case.number, "item_code": case.item_code,
                          "item_name": case.item_name, "decision": case.decision,
                          "decided_at": (case.decided_at or now).isoformat(),
                          "person": {"id_number": number, "name": person.name},
                          "licences": [i for i in link.licences_sent]})


@handles("case.delivered")
def handle_delivered(*, db_session: Session, settings: Settings, envelope: Envelope,
                     now: datetime) -> str:
    """The receiving window delivered the result: record 送达 on the case here."""
    link = db_session.scalar(select(CaseLink).where(CaseLink.peer_case_ref == envelope.case_id,
                                                    CaseLink.peer_region == envelope.sender))
    if link is None:
        raise service.Deferred("no case for this forwarded case yet")
    case = db_session.get(Case, link.case_id)
    assert case is not None
    if case.state == "delivered":
        return "already delivered"
    payload = envelope.payload
    actor = Actor(account_id=None, name=f"{payload.get('delivered_by', '')[:60]}(经 "
                  f"{envelope.sender} 节点 / via node {envelope.sender})",
                  roles=frozenset({"clerk"}), scopes=(Scope(case.region_code),))
    cases.act(db_session=db_session, settings=settings, actor=actor, case_number=case.number,
              action="deliver", data=payload["delivery"], now=now,
              reason=f"由 {envelope.sender} 节点窗口送达 / delivered by node {envelope.sender}")
    return "delivered"


# --- receiving side: what comes back ----------------------------------------------------------


def _forwarded(db_session: Session, envelope: Envelope) -> ForwardedCase:
    try:
        fc_id = uuid.UUID(str(envelope.case_id))
    except ValueError as exc:
        raise InvalidInput("信封未指明办件 / the envelope names no case") from exc
    fc = db_session.get(ForwardedCase, fc_id)
    if fc is None or fc.handling_region != envelope.sender:
        raise NotFound("没有该转办件 / no such forwarded case",
                       details={"case_id": envelope.case_id})
    return fc


@handles("case.status")
def handle_status(*, db_session: Session, settings: Settings, envelope: Envelope,
                  now: datetime) -> str:
    """Mirror the handling node's events, strictly in sequence: a later status that
    arrives first waits (Deferred) for the ones before it; a repeat is ignored."""
    fc = _forwarded(db_session, envelope)
    payload = envelope.payload
    applied = 0
    for event in sorted(payload["events"], key=lambda e: e["seq"]):
        if event["seq"] <= fc.last_remote_seq:
            continue
        if event["seq"] != fc.last_remote_seq + 1:
            raise service.Deferred(f"waiting for event {fc.last_remote_seq + 1}, got "
                                   f"{event['seq']}")
        fc.state = event["to_state"]
        fc.last_remote_seq = event["seq"]
        _append(db_session, fc, actor_name=str(event.get("actor_name") or ""),
                action=f"remote.{event['action']}", now=now, remote_seq=event["seq"],
                envelope_id=envelope.id,
                data={"from_state": event.get("from_state"), "at": event.get("at"),
                      "actor_role": event.get("actor_role"), "reason": event.get("reason"),
                      **({"notice": event["notice"]} if event.get("notice") else {})})
        applied += 1
    fc.remote_case_number = payload.get("case_number") or fc.remote_case_number
    fc.remote_case_id = payload.get("case_id") or fc.remote_case_id
    if payload.get("decision"):
        fc.decision = payload["decision"]
    _after_mirror(db_session, settings, fc, now)
    return f"applied {applied}"


@handles("case.failed")
def handle_failed(*, db_session: Session, settings: Settings, envelope: Envelope,
                  now: datetime) -> str:
    """The handling node could not open the case: record why and close."""
    fc = _forwarded(db_session, envelope)
    fc.state = "failed"
    _append(db_session, fc, actor_name=f"node {envelope.sender}", action="remote.failed",
            now=now, envelope_id=envelope.id, data=dict(envelope.payload))
    _after_mirror(db_session, settings, fc, now)
    return "failed"


def _forwarded_by_ref(db_session: Session, case_ref: str | None) -> ForwardedCase | None:
    try:
        return db_session.get(ForwardedCase, uuid.UUID(str(case_ref)))
    except ValueError:
        return None


@on_undeliverable("case.apply")
def apply_undeliverable(*, db_session: Session, settings: Settings, envelope_id: uuid.UUID,
                        case_ref: str | None, receiver: str, code: str, reason: str,
                        now: datetime) -> None:
    """The application never reached the handling node: the forwarded case fails, with
    the reason, for the window and the applicant to see."""
    fc = _forwarded_by_ref(db_session, case_ref)
    if fc is None or fc.state in CLOSED:
        return
    fc.state = "failed"
    _append(db_session, fc, actor_name=f"node {settings.node_region}", action="undeliverable",
            now=now, envelope_id=envelope_id,
            data={"code": code, "reason": reason, "to": receiver})
    _after_mirror(db_session, settings, fc, now)


@on_undeliverable("case.delivered")
def delivered_undeliverable(*, db_session: Session, settings: Settings,
                            envelope_id: uuid.UUID, case_ref: str | None, receiver: str,
                            code: str, reason: str, now: datetime) -> None:
    """The handling node never heard of the delivery: the forwarded case says so."""
    fc = _forwarded_by_ref(db_session, case_ref)
    if fc is not None:
        _append(db_session, fc, actor_name=f"node {settings.node_region}",
                action="undeliverable", now=now, envelope_id=envelope_id,
                data={"code": code, "reason": reason, "to": receiver})


@handles("case.licence")
def handle_licence(*, db_session: Session, settings: Settings, envelope: Envelope,
                   now: datetime) -> str:
    """An e-licence issued for a forwarded case: visible to the applicant here."""
    fc = _forwarded(db_session, envelope)
    licence = dict(envelope.payload)
    if any(x.get("identifier") == licence.get("identifier") for x in fc.licences):
        return "already known"
    fc.licences = [*fc.licences, licence]
    _append(db_session, fc, actor_name=f"node {envelope.sender}", action="licence_received",
            now=now, envelope_id=envelope.id,
            data={"identifier": licence.get("identifier"), "type": licence.get("type")})
    return "licence stored"


@handles("result.record")
def handle_result_record(*, db_session: Session, settings: Settings, envelope: Envelope,
                         now: datetime) -> str:
    """数据回流: keep the result of a case handled elsewhere for a person of this region."""
    if db_session.scalar(select(ResultRecord.id).where(ResultRecord.envelope_id == envelope.id)):
        return "already recorded"
    payload = envelope.payload
    number = str((payload.get("person") or {}).get("id_number", ""))
    person = identity.find_person_by_id_number(db_session=db_session, settings=settings,
                                               id_number=number)
    decided = payload.get("decided_at")
    db_session.add(ResultRecord(
        envelope_id=envelope.id, handling_region=envelope.sender,
        case_number=str(payload["case_number"]), item_code=payload.get("item_code"),
        item_name=str(payload.get("item_name") or ""),
        person_id=person.id if person else None,
        person_hash=None if person else crypto.keyed_hash(settings=settings, value=number),
        decision=payload.get("decision"),
        decided_at=datetime.fromisoformat(decided) if decided else None,
        licence_identifiers=list(payload.get("licences") or []), received_at=now))
    record_act(db_session=db_session, kind="federation.result_returned", payload={
        "envelope_id": str(envelope.id), "handling_region": envelope.sender,
        "case_number": payload["case_number"], "decision": payload.get("decision")})
    return "recorded"


def _after_mirror(db_session: Session, settings: Settings, fc: ForwardedCase,
                  now: datetime) -> None:
    if fc.joint_case_id is not None:
        _update_joint(db_session, fc.joint_case_id, now)
    if fc.state in CLOSED and fc.purged_at is None:
        purge(db_session=db_session, settings=settings, fc=fc, now=now)


def _update_joint(db_session: Session, joint_id: uuid.UUID, now: datetime) -> None:
    """A joint case is completed when every task is approved, failed when any is not."""
    joint = db_session.get(JointCase, joint_id)
    assert joint is not None
    tasks = list(db_session.scalars(select(ForwardedCase)
                                    .where(ForwardedCase.joint_case_id == joint_id)))
    if joint.state != "open":
        return
    settled = [t for t in tasks if t.state in DECIDED or t.state in CLOSED]
    if any(t.state in CLOSED and t.state not in APPROVED for t in settled) or \
            any(t.decision and t.decision not in APPROVED for t in tasks):
        joint.state, joint.completed_at = "failed", now
    elif len(settled) == len(tasks) and all(t.state in APPROVED for t in tasks):
        joint.state, joint.completed_at = "completed", now
    else:
        return
    record_act(db_session=db_session, kind=f"federation.joint_{joint.state}",
               payload={"joint_case_id": str(joint.id), "kind": joint.kind,
                        "tasks": [{"region": t.handling_region,
                                   "case_number": t.remote_case_number,
                                   "state": t.state} for t in tasks]})


# --- delivery at the receiving window ---------------------------------------------------------

# Why a forwarded case cannot be delivered at the receiving window, by delivery stage.
NOT_DELIVERABLE = {
    "not_window": "只有异地代收的办件由收件窗口送达 / only receive-and-forward cases are "
                  "delivered by the receiving window",
    "waiting": "办理地尚未作出决定，暂不能送达 / the handling region has not decided yet: "
               "there is nothing to deliver",
    "closed": "办件已在办理地终结，无需送达 / the case ended at the handling region without a "
              "decision to deliver",
    "delivered": "该办件已送达 / this case has already been delivered",
}


def delivery_stage(fc: ForwardedCase | ForwardedCaseOut) -> str:
    """Where a forwarded case stands for delivery at the receiving window: not_window
    (not 异地代收), waiting (no decision yet), ready, delivered, or closed (ended
    without a decision)."""
    if fc.mode != "receive_and_forward":
        return "not_window"
    if fc.delivered_at is not None or fc.state == "delivered":
        return "delivered"
    if fc.state in DECIDED:
        return "ready"
    return "closed" if fc.state in CLOSED else "waiting"



def deliver(*, db_session: Session, settings: Settings, actor: Actor, forwarded_id: uuid.UUID,
            data: DeliverIn, now: datetime | None = None) -> ForwardedCaseOut:
    """异地代收: the receiving window hands the result over and tells the handling node."""
    now = now or utcnow()
    fc = _visible(db_session, actor, forwarded_id, settings.node_region)
    if not actor.has("clerk") or not actor.covers(settings.node_region):
        raise Forbidden("只有本节点窗口人员可以送达 / only this node's window clerks deliver",
                        code="wrong_role", details={"required_roles": ["clerk"]})
    stage = delivery_stage(fc)
    if stage != "ready":
        raise Conflict(NOT_DELIVERABLE[stage], code="action_not_allowed",
                       details={"state": fc.state, "stage": stage})
    delivery = data.model_dump(mode="json", exclude_none=True)
    fc.delivered_at = now
    _append(db_session, fc, actor_name=actor.name, action="delivered_here", now=now,
            data={"delivery": delivery})
    envelope = service.send(db_session=db_session, settings=settings,
                            receiver=fc.handling_region, kind="case.delivered",
                            case_id=str(fc.id), now=now,
                            user_id=str(actor.account_id) if actor.account_id else None,
                            payload={"delivery": delivery, "delivered_by": actor.name})
    audit(db_session=db_session, actor_id=actor.account_id, actor_name=actor.name,
          action="federation.case_delivered", entity="federation_case", entity_id=str(fc.id),
          details={"method": delivery.get("method"), "envelope_id": str(envelope.id)})
    return _out(db_session, fc)


# --- 数据回流: purge the forwarding copies -------------------------------------------------------


def purge(*, db_session: Session, settings: Settings, fc: ForwardedCase, now: datetime) -> None:
    """Drop what this node held only to forward (form, material files, envelope bodies),
    keeping references, hashes and receipts; log the purge."""
    fc.form_data = None
    still_used = _blobs_in_use(db_session, exclude=fc.id)
    removed = []
    copies = _forwarding_copies(settings)
    for material in fc.materials:
        digest = material["sha256"]
        if digest not in still_used:
            copies.delete(digest)
            removed.append(digest)
    ref = str(fc.id)
    drop_envelopes(db_session=db_session, case_ref=ref)
    fc.purged_at = now
    _append(db_session, fc, actor_name="system", action="purged", now=now,
            data={"kept": ["references", "hashes", "receipts"], "blobs_removed": removed})
    audit(db_session=db_session, actor_id=None, actor_name="system",
          action="federation.copy_purged", entity="federation_case", entity_id=ref,
          details={"blobs_removed": removed, "remote_case_number": fc.remote_case_number})
    record_act(db_session=db_session, kind="federation.copy_purged", payload={
        "forwarded_case_id": ref, "handling_region": fc.handling_region,
        "remote_case_number": fc.remote_case_number,
        "materials_sha256": [m["sha256"] for m in fc.materials]})


def drop_envelopes(*, db_session: Session, case_ref: str) -> None:
    """Drop the stored bodies of a case's processed inbound and delivered outbound
    envelopes (they carry the applicant's data); their hashes and receipts stay."""
    db_session.execute(update(InboxEnvelope).where(InboxEnvelope.case_ref == case_ref)
                       .values(token_enc=None))
    sent = select(Message.envelope_id).where(Message.case_ref == case_ref,
                                             Message.direction == "out")
    for message in db_session.scalars(select(OutboxMessage).where(
            OutboxMessage.id.in_(sent), OutboxMessage.delivered_at.is_not(None))):
        if "token" in message.payload:
            message.payload = {k: v for k, v in message.payload.items() if k != "token"} | {
                "purged": True}


def _blobs_in_use(db_session: Session, exclude: uuid.UUID) -> set[str]:
    rows = db_session.scalars(select(ForwardedCase).where(
        ForwardedCase.purged_at.is_(None), ForwardedCase.id != exclude))
    return {m["sha256"] for fc in rows for m in fc.materials}


# --- reading ----------------------------------------------------------------------------------


FEDERATION_STAFF = ("clerk", "reviewer", "supervisor", "operator")


def _staff_of_node(actor: Actor, node_region: str) -> bool:
    """Staff whose scope covers this node's region see all of its forwarded cases (the
    receiving region is the node's, as for forwarding and delivery)."""
    return actor.has(*FEDERATION_STAFF) and actor.covers(node_region)


def _may_see(actor: Actor, fc: ForwardedCase, node_region: str) -> bool:
    if actor.account_id is not None and actor.account_id in (fc.applicant_account_id,
                                                             fc.received_by_account_id):
        return True
    if actor.person_id is not None and actor.person_id == fc.applicant_person_id:
        return True
    return _staff_of_node(actor, node_region)


def _visible(db_session: Session, actor: Actor, forwarded_id: uuid.UUID,
             node_region: str) -> ForwardedCase:
    fc = db_session.get(ForwardedCase, forwarded_id)
    if fc is None or not _may_see(actor, fc, node_region):
        raise NotFound("没有该转办件 / no such forwarded case",
                       details={"case_id": str(forwarded_id)})
    return fc


def _events(db_session: Session, fc: ForwardedCase) -> list[ForwardedCaseEvent]:
    return list(db_session.scalars(select(ForwardedCaseEvent)
                                   .where(ForwardedCaseEvent.forwarded_case_id == fc.id)
                                   .order_by(ForwardedCaseEvent.seq)))


# The handling node's states in which its case waits for a 补正 (before/after acceptance).
SUPPLY_STATES = frozenset({"supplement_requested", "supplement_in_process"})


def open_notice(fc: ForwardedCase, events: list[ForwardedCaseEvent]) -> dict[str, Any] | None:
    """The handling node's supplement notice the applicant still has to answer here: its
    items, text and the remote event it was made in (what a supply answers)."""
    if fc.state not in SUPPLY_STATES:
        return None
    for event in reversed(events):
        if event.action == "remote.request_supplement":
            return {"remote_seq": event.remote_seq, "text": event.data.get("reason") or "",
                    "items": (event.data.get("notice") or {}).get("items") or []}
    return None


def _refused(event: ForwardedCaseEvent, events: list[ForwardedCaseEvent]) -> bool:
    """Whether the handling node sent back a refusal of the request this event sent."""
    sent = str(event.envelope_id)
    return any(e.action == "remote.request_refused" and e.data.get("request_envelope") == sent
               for e in events)


def pending_supply(notice: dict[str, Any] | None, events: list[ForwardedCaseEvent]
                   ) -> ForwardedCaseEvent | None:
    """The supply sent from here for the open notice that the handling node has neither
    applied (the notice would be closed) nor refused: nothing to send again meanwhile."""
    if notice is None:
        return None
    for event in reversed(events):
        if (event.action == "supplied_here" and event.data.get("answers_seq")
                == notice["remote_seq"] and not _refused(event, events)):
            return event
    return None


def pending_withdrawal(fc: ForwardedCase, events: list[ForwardedCaseEvent]
                       ) -> ForwardedCaseEvent | None:
    """The withdrawal sent from here that the handling node has not yet applied or refused."""
    if fc.state == "withdrawn" or fc.state in DECIDED or fc.state in CLOSED:
        return None
    for event in reversed(events):
        if event.action == "withdrawal_sent" and not _refused(event, events):
            return event
    return None


def _out(db_session: Session, fc: ForwardedCase) -> ForwardedCaseOut:
    out = ForwardedCaseOut.model_validate(fc)
    events = _events(db_session, fc)
    out.events = [ForwardedEventOut.model_validate(e) for e in events]
    out.problem = _problem(db_session, fc, events)
    out.open_notice = open_notice(fc, events)
    supplied = pending_supply(out.open_notice, events)
    withdrawn = pending_withdrawal(fc, events)
    out.supply_sent_at = supplied.at if supplied else None
    out.withdrawal_sent_at = withdrawn.at if withdrawn else None
    return out


def _problem(db_session: Session, fc: ForwardedCase, events: list[ForwardedCaseEvent]
             ) -> ForwardingProblemOut | None:
    """The last failure of a forwarded case: given up on, refused by the handling node,
    or (while still forwarding) the error of the latest attempt to deliver it."""
    for event in reversed(events):
        if event.action == "undeliverable":
            return ForwardingProblemOut(code=str(event.data.get("code")),
                                        reason=str(event.data.get("reason")), at=event.at,
                                        final=fc.state == "failed")
        if event.action == "remote.failed":
            return ForwardingProblemOut(code=str(event.data.get("error")),
                                        reason=str(event.data.get("message")), at=event.at,
                                        final=True)
    if fc.state != "forwarding":
        return None
    sent = db_session.scalar(select(Message).where(
        Message.case_ref == str(fc.id), Message.direction == "out",
        Message.type == "case.apply", Message.status == "queued",
        Message.last_error.is_not(None)))
    if sent is None:
        return None
    return ForwardingProblemOut(code="retrying", reason=str(sent.last_error),
                                at=sent.logged_at, final=False, attempts=sent.attempts)


def view(*, db_session: Session, settings: Settings, actor: Actor, forwarded_id: uuid.UUID
         ) -> ForwardedCaseOut:
    """A forwarded case with its full history."""
    return _out(db_session, _visible(db_session, actor, forwarded_id, settings.node_region))


def list_forwarded(*, db_session: Session, settings: Settings, actor: Actor,
                   ready_to_deliver: bool = False, own: bool = False, limit: int = 100
                   ) -> list[ForwardedCaseOut]:
    """The forwarded cases the caller may see, newest first; `ready_to_deliver`: only
    异地代收 cases the handling node has decided and this window has not yet delivered;
    `own`: only the caller's own applications, even for staff (the portal's 我的办件)."""
    stmt = select(ForwardedCase).order_by(ForwardedCase.created_at.desc(),
                                          ForwardedCase.id.desc()).limit(limit)
    if own or not _staff_of_node(actor, settings.node_region):
        clauses = []
        if actor.account_id is not None:
            clauses.append(ForwardedCase.applicant_account_id == actor.account_id)
            if not own:
                clauses.append(ForwardedCase.received_by_account_id == actor.account_id)
            elif actor.has("agent"):  # what they filed for their principals
                clauses.append(ForwardedCase.agent_authorisation_id.is_not(None)
                               & (ForwardedCase.received_by_account_id == actor.account_id))
        if actor.person_id is not None:
            clauses.append(ForwardedCase.applicant_person_id == actor.person_id)
        if not clauses:
            return []
        stmt = stmt.where(or_(*clauses))
    if ready_to_deliver:
        stmt = stmt.where(ForwardedCase.mode == "receive_and_forward",
                          ForwardedCase.state.in_(sorted(DECIDED - {"delivered"})),
                          ForwardedCase.delivered_at.is_(None))
    return [ForwardedCaseOut.model_validate(fc) for fc in db_session.scalars(stmt)]


def view_joint(*, db_session: Session, settings: Settings, actor: Actor, joint_id: uuid.UUID
               ) -> JointCaseOut:
    """A joint case with each node's task and history."""
    joint = db_session.get(JointCase, joint_id)
    tasks = list(db_session.scalars(select(ForwardedCase)
                                    .where(ForwardedCase.joint_case_id == joint_id)
                                    .order_by(ForwardedCase.created_at)))
    if joint is None or not tasks or not _may_see(actor, tasks[0], settings.node_region):
        raise NotFound("没有该联办件 / no such joint case", details={"id": str(joint_id)})
    out = JointCaseOut.model_validate(joint)
    out.tasks = [_out(db_session, t) for t in tasks]
    return out


# A staff member scoped below the node's region finds their people's records among the
# newest this many (the record does not carry the home region; the person does).
RESULT_SCAN = 2000


def result_records(*, db_session: Session, settings: Settings, actor: Actor, limit: int = 200
                   ) -> list[ResultRecordOut]:
    """数据回流 records the caller may read, newest first: their own; staff: those of people
    whose home region their scope covers (all of this node's if it covers the node's)."""
    stmt = select(ResultRecord).order_by(ResultRecord.received_at.desc(),
                                         ResultRecord.id.desc())
    if not actor.has(*FEDERATION_STAFF):
        if actor.person_id is None:
            return []
        rows = list(db_session.scalars(stmt.where(ResultRecord.person_id == actor.person_id)
                                       .limit(limit)))
    elif _staff_of_node(actor, settings.node_region):
        rows = list(db_session.scalars(stmt.limit(limit)))
    else:
        rows = [r for r in db_session.scalars(stmt.where(ResultRecord.person_id.is_not(None))
                                              .limit(RESULT_SCAN))
                if actor.covers(_home_and_name(db_session, r.person_id)[0])][:limit]
    out = []
    for row in rows:
        record = ResultRecordOut.model_validate(row)
        if row.person_id is not None:
            record.person_name = _home_and_name(db_session, row.person_id)[1]
        out.append(record)
    return out


def _home_and_name(db_session: Session, person_id: uuid.UUID | None) -> tuple[str, str]:
    """A result record's person: home region and name (the session keeps each once)."""
    assert person_id is not None
    person = identity.get_person(db_session=db_session, person_id=person_id)
    return person.home_region, person.name


def registry_view(*, db_session: Session) -> RegistryOut:
    """The stored registry, readable, with whether it has expired."""
    reg = registry.stored(db_session=db_session)
    if reg is None:
        raise NotFound("本节点没有注册表 / this node holds no registry", code="registry_missing")
    return RegistryOut(
        instance=reg.instance, version=reg.version, issued_at=reg.issued_at,
        expires_at=reg.expires_at, expired=reg.expires_at <= utcnow(),
        nodes=[NodeOut(region_code=n.region_code, name=n.name, endpoint=n.endpoint,
                       node_key=n.node_key, trust_list_url=n.trust_list_url,
                       offered=sorted(n.offered)) for n in reg.nodes.values()])


# --- licences of handled cases go back to the receiving node -----------------------------------


def forward_licences(*, db_session: Session, settings: Settings, now: datetime | None = None
                     ) -> int:
    """Send e-licences issued for cases handled for a peer (once each)."""
    now = now or utcnow()
    links = list(db_session.scalars(
        select(CaseLink).join(Case, Case.id == CaseLink.case_id)
        .where(Case.decision.is_not(None), CaseLink.result_sent_at.is_(None)).limit(200)))
    sent = 0
    for link in links:
        for licence in licences.issued_for_case(db_session=db_session, case_id=link.case_id):
            if licence.identifier in link.licences_sent:
                continue
            service.send(db_session=db_session, settings=settings, receiver=link.peer_region,
                         kind="case.licence", case_id=link.peer_case_ref, now=now,
                         require_registry=False,
                         payload={"identifier": licence.identifier, "type": licence.type_code,
                                  "jws": licence.jws, "issued_at": licence.issued_at.isoformat()})
            link.licences_sent = [*link.licences_sent, licence.identifier]
            sent += 1
        case = db_session.get(Case, link.case_id)
        if case is not None and case.state in CLOSED:
            link.result_sent_at = now
    db_session.flush()
    return sent

