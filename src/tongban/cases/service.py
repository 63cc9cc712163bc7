"""The case engine: submit, attach materials, act through the workflow table, read, list.

Every transition is checked against the case's workflow table (state, action, role,
scope), then written in the caller's transaction together with its event, its audit
entry and, when it has legal weight, its ledger outbox row. Optimistic locking (the
row version) makes concurrent actions on one case safe: the loser gets 409.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import threading
import uuid
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

import jsonschema
import rfc8785
from pydantic import BaseModel, ValidationError
from sqlalchemy import (
    ColumnElement,
    Engine,
    and_,
    bindparam,
    create_engine,
    event,
    false,
    func,
    or_,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, defer
from sqlalchemy.orm.exc import StaleDataError

from tongban.audit.service import record as audit
from tongban.cases import clock, licensing
from tongban.cases.blobs import BlobStore, disk_store
from tongban.cases.models import (
    Case,
    CaseEvent,
    CaseKind,
    CaseMaterial,
    CaseNumberSequence,
    Delivery,
    Extension,
    Pause,
    Payment,
    SupplementNotice,
    WarningLevel,
)
from tongban.cases.payments import ADAPTERS
from tongban.cases.schemas import (
    AcceptWithDeficiency,
    ApplicantIn,
    Commitment,
    Deliver,
    Extend,
    RecordPayment,
    RequestSupplement,
    Supply,
    payload_model,
)
from tongban.cases.workflow import (
    BEFORE_ACCEPTANCE,
    CLOCK_RUNNING_STATES,
    CLOSED_STATES,
    DECIDED_STATES,
    Action,
    Clock,
    State,
    Transition,
    initial_state,
    workflow_for,
)
from tongban.catalog import service as catalog
from tongban.catalog.models import Implementation, ImplementationVersion, VersionState
from tongban.config import Settings
from tongban.db import new_id, utcnow
from tongban.errors import Conflict, Forbidden, InvalidInput, NotFound
from tongban.identity.actor import Actor, region_covers, region_prefix

CASE_STAFF_ROLES = ("clerk", "reviewer", "supervisor", "operator")
SYSTEM_ROLE = "system"
WORKER_ACTOR = Actor(account_id=None, name="system", roles=frozenset({SYSTEM_ROLE}))
DECISIONS = {State.approved, State.denied, State.approved_on_commitment, State.revoked,
             State.refused}
# Art. 42: an extension of at most 10 working days (15 for joint handling).
MAX_EXTENSION_DAYS = 10
MAX_EXTENSION_DAYS_JOINT = 15
MATERIAL_STATES = frozenset({State.pre_review, State.submitted, State.supplement_requested,
                             State.supplement_in_process, State.accepted})


# --- catalog and identity look-ups ---------------------------------------------------------


def _version(db_session: Session, version_id: uuid.UUID | None) -> ImplementationVersion | None:
    return catalog.get_version(db_session=db_session, version_id=version_id) \
        if version_id else None


def _resolve_version(
    db_session: Session, implementation_code: str | None, version_id: uuid.UUID | None
) -> tuple[ImplementationVersion, Implementation]:
    """The published version to apply under; 404 / 409 when there is none."""
    if version_id is not None:
        version = catalog.get_version(db_session=db_session, version_id=version_id)
    else:
        assert implementation_code is not None
        impl = catalog.get_implementation(db_session=db_session,
                                          implementation_code=implementation_code)
        if impl.current_version_id is None:
            raise Conflict("该事项尚未发布或已停止办理,不能申请 / this implementation is not "
                           "published", code="not_published",
                           details={"field": "implementation_code"})
        version = catalog.get_version(db_session=db_session,
                                      version_id=impl.current_version_id)
    if version.state != VersionState.published:
        raise Conflict(
            "该事项版本未发布、已停用或已被替代,不能申请 / this version is not published "
            "(draft, withdrawn or superseded)", code="not_published",
            details={"field": "version_id", "state": version.state},
        )
    return version, version.implementation


@dataclass(frozen=True)
class Party:
    """Who a case is for, and through whom it was filed."""

    person_id: uuid.UUID | None
    enterprise_id: uuid.UUID | None
    account_id: uuid.UUID | None
    name: str
    authorisation_id: uuid.UUID | None
    receiving_region: str | None


def _named_party(db_session: Session, given: ApplicantIn) -> tuple[str, str]:
    """The name and type ("person"/"enterprise") of a principal or walk-in applicant."""
    from tongban.identity import service as identity

    if given.person_id is not None:
        return identity.get_person(db_session=db_session, person_id=given.person_id).name, \
            "person"
    if given.enterprise_id is not None:
        ent = identity.get_enterprise(db_session=db_session, enterprise_id=given.enterprise_id)
        return ent.name, "enterprise"
    raise InvalidInput("须指明申请人(person_id 或 enterprise_id) / name the applicant",
                       details=[{"field": "applicant", "message": "person_id 或 enterprise_id"}])


def resolve_applicant(
    *, db_session: Session, actor: Actor, given: ApplicantIn | None, item_code: str,
    now: datetime,
) -> Party:
    """Self, a principal under an agent authorisation, or a walk-in for a window clerk."""
    if given is not None and actor.has("clerk"):
        name, _ = _named_party(db_session, given)
        region = actor.scopes[0].region_code if actor.scopes else None
        return Party(given.person_id, given.enterprise_id, None, given.name or name,
                          None, region)
    if given is not None and actor.has("agent"):
        from tongban.identity import service as identity

        name, _ = _named_party(db_session, given)
        assert actor.account_id is not None
        auth = identity.check_agent_authorisation(
            db_session=db_session, agent_account_id=actor.account_id,
            principal_person_id=given.person_id, principal_enterprise_id=given.enterprise_id,
            item_code=item_code, at=now,
        )
        return Party(given.person_id, given.enterprise_id, None, name, auth.id, None)
    if actor.has("applicant") and (actor.person_id or actor.enterprise_id):
        if given is not None and (
            given.person_id not in (None, actor.person_id)
            or given.enterprise_id not in (None, actor.enterprise_id)
        ):
            raise Forbidden("只能为本人申请;代办须有授权 / you may apply only for yourself",
                            code="not_authorised")
        return Party(actor.person_id, None if actor.person_id else actor.enterprise_id,
                          actor.account_id, actor.name, None, None)
    raise Forbidden("您的角色不能提交申请 / your role may not apply",
                    details={"required_roles": ["applicant", "agent", "clerk"]})


# --- form validation ----------------------------------------------------------------------

_MESSAGES: dict[str, str] = {
    "required": "必填", "type": "类型不正确", "enum": "不在可选范围内", "const": "取值不正确",
    "minLength": "太短", "maxLength": "太长", "pattern": "格式不正确", "format": "格式不正确",
    "minimum": "小于允许的最小值", "maximum": "大于允许的最大值",
    "exclusiveMinimum": "小于允许的最小值", "exclusiveMaximum": "大于允许的最大值",
    "minItems": "条目太少", "maxItems": "条目太多", "additionalProperties": "含有不允许的字段",
    "uniqueItems": "条目不得重复",
}


def _form_errors(schema: dict[str, Any], data: dict[str, Any]) -> list[dict[str, str]]:
    """Per-field problems of `data` against the version's JSON Schema."""
    cls = jsonschema.validators.validator_for(schema)
    validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
    problems = []
    for err in sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.path))):
        path = [str(p) for p in err.absolute_path]
        if err.validator == "required" and isinstance(err.instance, dict):
            missing = [p for p in err.validator_value if p not in err.instance]
            path += missing[:1]
        chinese = _MESSAGES.get(str(err.validator), "不符合要求")
        problems.append({"field": ".".join(["form_data", *path]),
                         "message": f"{chinese} / {err.message}"})
    return problems


def validate_form(schema: dict[str, Any], data: dict[str, Any]) -> None:
    """Raise InvalidInput listing every field that breaks the form schema."""
    problems = _form_errors(schema or {}, data)
    if problems:
        raise InvalidInput("申请表填写有误 / the application form has errors",
                           code="invalid_form", details=problems)


# --- numbers and events --------------------------------------------------------------------


def _next_number_upsert(insert: Any) -> Any:
    seq = CaseNumberSequence
    upsert = insert(seq).values(
        region_code=bindparam("region_code", type_=seq.region_code.type),
        day=bindparam("day", type_=seq.day.type), last=1)
    return upsert.on_conflict_do_update(
        index_elements=[seq.region_code, seq.day], set_={"last": seq.last + 1}
    ).returning(seq.last)


_NEXT_NUMBER = {"postgresql": _next_number_upsert(pg_insert),
                "sqlite": _next_number_upsert(sqlite_insert)}


def next_number(*, db_session: Session, region_code: str, day: date) -> str:
    """The next case number of a region and day: region + YYYYMMDD + 6-digit sequence.

    One atomic upsert. On PostgreSQL it runs in its own short transaction (see
    _number_engine): in the caller's transaction the counter row would stay locked until
    that commits, and every application of a region and day would queue behind it. A
    case whose transaction then fails leaves a gap; numbers stay unique. SQLite has one
    writer at a time anyway, so there the upsert joins the caller's transaction.
    """
    bind = db_session.get_bind()
    postgres = bind.dialect.name == "postgresql"
    stmt = _NEXT_NUMBER[bind.dialect.name]
    params = {"region_code": region_code, "day": day}
    if postgres:
        with _number_engine(bind if isinstance(bind, Engine) else bind.engine).begin() as conn:
            seq = conn.execute(stmt, params).scalar_one()
    else:
        seq = db_session.execute(stmt, params).scalar_one()
    return f"{region_code}{day:%Y%m%d}{seq:06d}"


_NUMBER_ENGINES: dict[int, Engine] = {}
_NUMBER_ENGINES_LOCK = threading.Lock()


def _number_engine(engine: Engine) -> Engine:
    """A small pool of its own for number allocation, disposed with `engine`: a request that
    holds a connection of the main pool never waits for a second one from it (with every
    connection held that way, the pool would deadlock)."""
    with _NUMBER_ENGINES_LOCK:
        found = _NUMBER_ENGINES.get(id(engine))
        if found is None:
            # Its commits need not wait for the WAL flush: the case that uses a number
            # commits later, synchronously, which flushes all WAL before it; a crash can
            # lose only counter steps whose cases never committed (a gap, no duplicate).
            found = create_engine(engine.url, pool_size=2, max_overflow=6,
                                  pool_pre_ping=True,
                                  connect_args={"options": "-c synchronous_commit=off"})
            _NUMBER_ENGINES[id(engine)] = found
            event.listen(engine, "engine_disposed", _dispose_number_engine)
    return found


def _dispose_number_engine(engine: Engine) -> None:
    with _NUMBER_ENGINES_LOCK:
        found = _NUMBER_ENGINES.pop(id(engine), None)
    if found is not None:
        found.dispose()


def _append_event(
    db_session: Session, case: Case, *, actor: Actor, role: str, action: str,
    from_state: str | None, reason: str | None, data: dict[str, Any], at: datetime,
) -> CaseEvent:
    case.last_event_seq += 1
    event = CaseEvent(
        case_id=case.id, seq=case.last_event_seq, at=at, actor_id=actor.account_id,
        actor_name=actor.name, actor_role=role, action=action, from_state=from_state,
        to_state=case.state, reason=reason, data=data,
    )
    db_session.add(event)
    return event


def _ledger(db_session: Session, kind: str, payload: dict[str, Any]) -> None:
    """A legal act for the tamper-evident log, in this transaction."""
    try:
        from tongban.ledger.service import record_act
    except ImportError:
        from tongban.outbox.service import enqueue

        enqueue(db_session=db_session, topic="ledger", kind=kind, payload=payload)
    else:
        record_act(db_session=db_session, kind=kind, payload=payload)


def _digest(value: Any) -> str | None:
    """SHA-256 of the RFC 8785 JSON of `value`: binds free text without publishing it."""
    if value in (None, "", {}):
        return None
    return hashlib.sha256(rfc8785.dumps(value)).hexdigest()


def _ledger_payload(case: Case, event: CaseEvent) -> dict[str, Any]:
    """What the public log says of an act: ids, states, dates and hashes, no personal data
    (the reason and the data are bound by their hashes; the event keeps them)."""
    return {
        "case_id": str(case.id), "case_number": case.number, "seq": event.seq,
        "action": event.action, "from_state": event.from_state, "to_state": event.to_state,
        "at": event.at.isoformat(), "actor_id": str(event.actor_id) if event.actor_id else None,
        "actor_role": event.actor_role, "item_code": case.item_code,
        "implementation_code": case.implementation_code, "region_code": case.region_code,
        "department_id": str(case.department_id) if case.department_id else None,
        "decision": case.decision,
        "legal_due_date": case.legal_due_date.isoformat() if case.legal_due_date else None,
        "promised_due_date": (case.promised_due_date.isoformat()
                              if case.promised_due_date else None),
        "reason_sha256": _digest(event.reason), "data_sha256": _digest(event.data),
    }


def _flush(db_session: Session) -> None:
    """Flush; a concurrent change of the same case becomes 409."""
    try:
        db_session.flush()
    except StaleDataError as exc:
        raise Conflict("办件已被他人修改,请刷新后重试 / the case was changed by someone "
                       "else; reload and retry", code="stale_version") from exc


# --- submit ---------------------------------------------------------------------------------


def _check_guide(guide: dict[str, Any], channel: str, applicant: Party) -> None:
    forms = guide.get("handling_forms") or []
    if channel not in forms:
        raise InvalidInput(
            "该事项不支持此办理渠道 / this item cannot be applied for through this channel",
            details=[{"field": "channel", "message": f"允许 / allowed: {forms}"}],
        )
    kind = "person" if applicant.person_id else "enterprise"
    types = guide.get("applicant_types") or []
    if kind not in types:
        raise InvalidInput("申请人类型不在服务对象范围内 / applicant type not served",
                           details=[{"field": "applicant", "message": f"允许 / allowed: {types}"}])


def _existing(db_session: Session, actor: Actor, key: str | None) -> Case | None:
    if key is None or actor.account_id is None:
        return None
    return db_session.scalar(select(Case).where(
        Case.submitted_by_account_id == actor.account_id, Case.idempotency_key == key))


def _replay(case: Case, version_id: uuid.UUID) -> Case:
    """The same idempotency key again: the same case, if it asked for the same thing."""
    if case.implementation_version_id != version_id:
        raise Conflict("该幂等键已用于另一项申请 / this idempotency key was used for another "
                       "application", code="idempotency_conflict",
                       details={"field": "idempotency_key", "case_number": case.number})
    return case


def submit(
    *, db_session: Session, settings: Settings, actor: Actor, form_data: dict[str, Any],
    channel: str, implementation_code: str | None = None, version_id: uuid.UUID | None = None,
    applicant: ApplicantIn | None = None, idempotency_key: str | None = None,
    now: datetime | None = None,
) -> Case:
    """File an application under a published version; the same key twice is one case."""
    now = now or utcnow()
    version, impl = _resolve_version(db_session, implementation_code, version_id)
    found = _existing(db_session, actor, idempotency_key)
    if found is not None:
        return _replay(found, version.id)
    item_code = impl.item.basic_code
    party = resolve_applicant(db_session=db_session, actor=actor, given=applicant,
                              item_code=item_code, now=now)
    _check_guide(version.guide, channel, party)
    validate_form(version.form_schema, form_data)
    # Only a key can collide with a concurrent twin; without one, no savepoint is needed.
    guard = db_session.begin_nested() if idempotency_key is not None else nullcontext()
    try:
        with guard:
            case = open_case(db_session=db_session, actor=actor, target=target_of(version),
                             party=party, form_data=form_data, channel=channel, now=now,
                             idempotency_key=idempotency_key)
            licensing.attach_held_licences(db_session=db_session, case=case,
                                           guide=version.guide, now=now)
    except IntegrityError:
        found = _existing(db_session, actor, idempotency_key)
        if found is None:
            raise
        return _replay(found, version.id)
    return case


@dataclass(frozen=True)
class Target:
    """What a case is handled under: an implementation version, or a bundle's own terms."""

    workflow: str
    region_code: str
    department_id: uuid.UUID | None
    item_code: str | None
    item_name: str
    implementation_code: str | None
    version_id: uuid.UUID | None
    legal_days: int
    promised_days: int


def target_of(version: ImplementationVersion) -> Target:
    """The terms of a published implementation version (its guide names the workflow)."""
    impl = version.implementation
    return Target(
        workflow=version.guide.get("item_kind", "promised"), region_code=impl.region_code,
        department_id=impl.department_id, item_code=impl.item.basic_code,
        item_name=version.name, implementation_code=impl.implementation_code,
        version_id=version.id, legal_days=version.legal_days,
        promised_days=version.promised_days,
    )


def open_case(
    *, db_session: Session, actor: Actor, target: Target, party: Party,
    form_data: dict[str, Any], channel: str, now: datetime, kind: str = CaseKind.single,
    parent_case_id: uuid.UUID | None = None, idempotency_key: str | None = None,
    state: str | None = None,
) -> Case:
    """Create a case row with its number and first event (no checks: callers check).

    submit() uses it for single cases; a bundle (一件事) uses it for the bundle case and,
    with kind="task" and parent_case_id, for each department's task case.
    """
    number = next_number(db_session=db_session, region_code=target.region_code,
                         day=clock.local_date(now))
    case = Case(
        id=new_id(), number=number, kind=kind, parent_case_id=parent_case_id,
        workflow=target.workflow, implementation_version_id=target.version_id,
        implementation_code=target.implementation_code, item_code=target.item_code,
        item_name=target.item_name, department_id=target.department_id,
        region_code=target.region_code,
        receiving_region_code=party.receiving_region or target.region_code,
        applicant_person_id=party.person_id, applicant_enterprise_id=party.enterprise_id,
        applicant_account_id=party.account_id, applicant_name=party.name,
        submitted_by_account_id=actor.account_id, agent_authorisation_id=party.authorisation_id,
        channel=channel, state=state or initial_state(channel), form_data=form_data,
        idempotency_key=idempotency_key, submitted_at=now, legal_days=target.legal_days,
        promised_days=target.promised_days, warning_level=WarningLevel.none,
        deficient_materials=[], last_event_seq=0,
    )
    db_session.add(case)
    _append_event(db_session, case, actor=actor, role=_submit_role(actor), action="submit",
                  from_state=None, reason=None,
                  data={"channel": channel, "kind": kind,
                        "parent_case_id": str(parent_case_id) if parent_case_id else None},
                  at=now)
    audit(db_session=db_session, actor_id=actor.account_id, actor_name=actor.name,
          action="case.submit", entity="case", entity_id=number,
          details={"implementation_code": target.implementation_code, "channel": channel,
                   "kind": kind})
    db_session.flush()
    return case


def _submit_role(actor: Actor) -> str:
    for role in ("applicant", "agent", "clerk"):
        if actor.has(role):
            return role
    return "unknown"


# --- who may act ------------------------------------------------------------------------------


def _owns(actor: Actor, case: Case) -> bool:
    """The applicant's own case (by account, person or enterprise)."""
    return (
        (actor.account_id is not None and case.applicant_account_id == actor.account_id)
        or (actor.person_id is not None and case.applicant_person_id == actor.person_id)
        or (actor.enterprise_id is not None
            and case.applicant_enterprise_id == actor.enterprise_id)
    )


def _may_act_as(actor: Actor, case: Case, role: str) -> bool:
    """Whether the actor holds `role` and, for it, has this case (own, filed, in scope)."""
    if not actor.has(role):
        return False
    if role == SYSTEM_ROLE:
        return True
    if role == "applicant":
        return _owns(actor, case)
    if role == "agent":
        return (case.agent_authorisation_id is not None
                and case.submitted_by_account_id == actor.account_id)
    return actor.covers(case.region_code, case.department_id)


def can_see(actor: Actor, case: Case) -> bool:
    """Whether the actor may read the case."""
    if actor.has(SYSTEM_ROLE):
        return True
    if actor.has("applicant") and _owns(actor, case):
        return True
    if actor.has("agent") and case.submitted_by_account_id == actor.account_id:
        return True
    return actor.has(*CASE_STAFF_ROLES) and (
        actor.covers(case.region_code, case.department_id)
        or actor.covers(case.receiving_region_code)
    )


def allowed_actions(*, actor: Actor, case: Case) -> list[str]:
    """The actions this caller may take on the case now."""
    wf = workflow_for(case.workflow)
    return [r.action.value for r in wf.rows
            if r.state == case.state and any(_may_act_as(actor, case, x) for x in r.roles)]


def _acting_role(actor: Actor, case: Case, row: Transition) -> str:
    """The role the actor acts in, or 403 (wrong role / out of scope)."""
    for role in row.roles:
        if _may_act_as(actor, case, role):
            return role
    details = {"action": row.action.value, "state": case.state,
               "required_roles": list(row.roles),
               "allowed_actions": allowed_actions(actor=actor, case=case)}
    if actor.has(*row.roles):
        raise Forbidden("该办件不在您的辖区或部门范围内 / this case is outside your scope",
                        code="out_of_scope", details=details)
    raise Forbidden("您的角色无权执行此操作 / your role may not take this action",
                    code="wrong_role", details=details)


# --- acting ------------------------------------------------------------------------------------


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


_CURRENT_MATERIALS = select(CaseMaterial).where(CaseMaterial.case_id == bindparam("case_id"),
                                                CaseMaterial.superseded_by.is_(None))
_OPEN_PAUSE = select(Pause).where(Pause.case_id == bindparam("case_id"),
                                  Pause.ended_at.is_(None))


def _current_materials(db_session: Session, case_id: uuid.UUID) -> list[CaseMaterial]:
    return list(db_session.scalars(_CURRENT_MATERIALS, {"case_id": case_id}))


def _guide_materials(guide: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["code"]: m for m in guide.get("materials", [])}


def _missing_required(ctx: _Ctx) -> list[str]:
    """Required uploads the case does not have yet (licence / shared data are fetched)."""
    have = {m.material_code for m in _current_materials(ctx.db_session, ctx.case.id)}
    return [code for code, m in _guide_materials(ctx.guide).items()
            if m.get("required", True) and m.get("source", "upload") == "upload"
            and code not in have]


def _open_notice(ctx: _Ctx) -> SupplementNotice | None:
    stmt = select(SupplementNotice).where(SupplementNotice.case_id == ctx.case.id,
                                          SupplementNotice.answered_at.is_(None))
    return ctx.db_session.scalar(stmt)


def _supplied_since(ctx: _Ctx, since: datetime) -> set[str]:
    return {m.material_code for m in _current_materials(ctx.db_session, ctx.case.id)
            if m.supplied_at >= since}


# Guards: named preconditions of table rows; each raises when the row may not apply.


def _guard_materials_complete(ctx: _Ctx) -> None:
    missing = _missing_required(ctx)
    if missing:
        raise Conflict("申请材料不齐全,请一次性告知补正或容缺受理 / required materials are "
                       "missing", code="materials_missing", details={"missing": missing})


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


CHECKS: dict[str, Callable[[_Ctx], None]] = {
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
    receipt = ADAPTERS["offline"].record(case_number=ctx.case.number, amount=p.amount,
                                         method=p.method, reference=p.reference, at=ctx.now)
    ctx.db_session.add(Payment(case_id=ctx.case.id, amount=p.amount, method=p.method,
                               adapter=receipt.adapter, reference=receipt.reference,
                               paid_at=receipt.paid_at))
    ctx.data.update(amount=str(p.amount), method=p.method, reference=receipt.reference)


def _do_deem_accept(ctx: _Ctx) -> None:
    ctx.case.deemed_accepted = True
    ctx.case.deemed_accepted_reason = ctx.reason


EFFECTS: dict[str, Callable[[_Ctx], None]] = {
    Action.request_supplement: _do_request_supplement,
    Action.supply: _do_supply,
    Action.accept_with_deficiency: _do_accept_with_deficiency,
    Action.accept_on_commitment: _do_commitment,
    Action.approve_on_commitment: _do_commitment,
    Action.approve: _do_record_licence_fields,
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


def refresh_deadlines(*, db_session: Session, settings: Settings, case: Case,
                      today: date) -> None:
    """Recompute due dates and the warning level from acceptance, pauses and extensions."""
    if case.accepted_at is None:
        return
    dl = clock.due_dates(
        db_session=db_session, accepted_on=clock.local_date(case.accepted_at),
        legal_days=case.legal_days, promised_days=case.promised_days,
        paused_days=case.paused_days_total, extension_days=case.extension_days_total,
    )
    case.legal_due_date, case.promised_due_date = dl.legal_due_date, dl.promised_due_date
    case.due_provisional = dl.provisional
    case.warning_level = warning_for(db_session=db_session, settings=settings, case=case,
                                     today=today).value


def warning_for(*, db_session: Session, settings: Settings, case: Case,
                today: date) -> WarningLevel:
    """The warning a case deserves today: by its promised due date while the clock runs,
    frozen while it is paused, red while a 容缺 promise stays broken, none once closed."""
    if case.state in (State.paused, State.supplement_in_process):
        return WarningLevel(case.warning_level)
    if case.state not in CLOCK_RUNNING_STATES:
        return WarningLevel.none
    if case.deficiency_missed_at is not None and case.deficient_materials:
        return WarningLevel.red
    return clock.warning_level(db_session=db_session, today=today,
                               promised_due=case.promised_due_date,
                               yellow_days_left=settings.yellow_days_left)


def _decide(ctx: _Ctx) -> None:
    to = ctx.row.to_state
    if to in DECISIONS:
        ctx.case.decision = to.value
        ctx.case.decision_reason = ctx.reason
    if to in (State.refused, State.withdrawn, State.terminated, State.delivered):
        ctx.case.closed_at = ctx.now


class TransitionHook(Protocol):
    def __call__(self, *, db_session: Session, settings: Settings, case: Case,
                 event: CaseEvent) -> None: ...


# Called after every transition, in the same transaction (e.g. a bundle reacting to a
# task's decision). Register with AFTER_TRANSITION.append(hook).
AFTER_TRANSITION: list[TransitionHook] = [licensing.issue_licence_on_decision]


def _parse_payload(action: str, data: dict[str, Any]) -> BaseModel:
    try:
        return payload_model(action).model_validate(data)
    except ValidationError as exc:
        problems = [{"field": ".".join(["data", *(str(p) for p in e["loc"])]),
                     "message": e["msg"]} for e in exc.errors()]
        raise InvalidInput("操作参数有误 / invalid action data", details=problems) from None


# Hot statements are built once: SQLAlchemy then reuses their cache key and compiled SQL
# (building an equivalent statement per call costs 0.1-0.2 ms of CPU, each time).
_CASE_BY_NUMBER = select(Case).where(Case.number == bindparam("number"))


def get_case(*, db_session: Session, case_number: str) -> Case:
    """A case by its number (no visibility check: callers check)."""
    case = db_session.scalar(_CASE_BY_NUMBER, {"number": case_number})
    if case is None:
        raise NotFound("办件不存在 / no such case", details={"case_number": case_number})
    return case


def _transition(actor: Actor, case: Case, action: str) -> Transition:
    row = workflow_for(case.workflow).find(case.state, action)
    if row is None:
        raise Conflict(
            "当前状态下不能执行此操作 / this action is not allowed in the case's state",
            code="action_not_allowed",
            details={"action": action, "state": case.state,
                     "allowed_actions": allowed_actions(actor=actor, case=case)},
        )
    return row


# Guides and forms of published (or later superseded/withdrawn) versions never change, so
# one read per process serves every action on every case applied under them.
_FROZEN_GUIDES: dict[uuid.UUID, tuple[dict[str, Any], dict[str, Any]]] = {}
_FROZEN_GUIDES_MAX = 4096


def _guide_and_schema(db_session: Session, case: Case) -> tuple[dict[str, Any], dict[str, Any]]:
    """The guide and form a case was applied under (read-only: shared between requests)."""
    version_id = case.implementation_version_id
    if version_id is None:
        return {}, {}
    hit = _FROZEN_GUIDES.get(version_id)
    if hit is not None:
        return hit
    version = catalog.get_version(db_session=db_session, version_id=version_id)
    found = (version.guide, version.form_schema)
    if version.state != VersionState.draft:
        if len(_FROZEN_GUIDES) >= _FROZEN_GUIDES_MAX:
            _FROZEN_GUIDES.clear()
        _FROZEN_GUIDES[version_id] = found
    return found


def guide_of(*, db_session: Session, case: Case) -> tuple[dict[str, Any], dict[str, Any]]:
    """The guide and form schema a case was applied under ({} without a version); shared
    between requests, so callers must not change them."""
    return _guide_and_schema(db_session, case)


def act(
    *, db_session: Session, settings: Settings, actor: Actor, case_number: str, action: str,
    reason: str | None = None, data: dict[str, Any] | None = None,
    expected_version: int | None = None, now: datetime | None = None,
) -> Case:
    """Take one workflow action: checked against the table, written with its event."""
    now = now or utcnow()
    case = get_case(db_session=db_session, case_number=case_number)
    if not can_see(actor, case) and not actor.is_staff:
        raise NotFound("办件不存在 / no such case", details={"case_number": case_number})
    if expected_version is not None and expected_version != case.version:
        raise Conflict("办件已被他人修改,请刷新后重试 / the case changed since you read it",
                       code="stale_version",
                       details={"expected_version": expected_version,
                                "current_version": case.version})
    row = _transition(actor, case, action)
    role = _acting_role(actor, case, row)
    _recheck_agent(db_session, actor, case, role, now)
    reason = (reason or "").strip() or None
    if row.needs_reason and reason is None:
        raise InvalidInput("须说明理由 / a reason is required",
                           details=[{"field": "reason", "message": "必填 / required"}])
    guide, schema = _guide_and_schema(db_session, case)
    ctx = _Ctx(db_session, settings, actor, case, row, _parse_payload(action, data or {}),
               reason, now, role, guide, schema)
    if row.guard:
        GUARDS[row.guard](ctx)
    if action in CHECKS:
        CHECKS[action](ctx)
    _apply(ctx)
    return case


def _recheck_agent(db_session: Session, actor: Actor, case: Case, role: str,
                   now: datetime) -> None:
    """An agent's authorisation must still hold when the agent acts."""
    if role != "agent" or case.item_code is None:
        return
    from tongban.identity import service as identity

    assert actor.account_id is not None
    identity.check_agent_authorisation(
        db_session=db_session, agent_account_id=actor.account_id,
        principal_person_id=case.applicant_person_id,
        principal_enterprise_id=case.applicant_enterprise_id, item_code=case.item_code,
        at=now,
    )


def _apply(ctx: _Ctx) -> None:
    """Write the transition: state, clock, effect, event, audit, ledger; flush once."""
    case, row = ctx.case, ctx.row
    from_state = case.state
    # One UPDATE of the case per action: its version moves by exactly one.
    with ctx.db_session.no_autoflush:
        for step in CLOCK_EFFECTS[row.clock]:
            step(ctx)
        effect = EFFECTS.get(row.action)
        if effect is not None:
            effect(ctx)
        case.state = row.to_state.value
        _decide(ctx)
        refresh_deadlines(db_session=ctx.db_session, settings=ctx.settings, case=case,
                          today=ctx.today)
        note = getattr(ctx.payload, "note", None)
        if note:
            ctx.data["note"] = note
        event = _append_event(ctx.db_session, case, actor=ctx.actor, role=ctx.role,
                              action=row.action.value, from_state=from_state,
                              reason=ctx.reason, data=ctx.data, at=ctx.now)
    _flush(ctx.db_session)
    audit(db_session=ctx.db_session, actor_id=ctx.actor.account_id, actor_name=ctx.actor.name,
          action=f"case.{row.action.value}", entity="case", entity_id=case.number,
          details={"from": from_state, "to": case.state, "version": case.version})
    if row.legal_act:
        _ledger(ctx.db_session, f"case.{row.action.value}", _ledger_payload(case, event))
    for hook in AFTER_TRANSITION:
        hook(db_session=ctx.db_session, settings=ctx.settings, case=case, event=event)


# --- system events (the worker) -----------------------------------------------------------------


def record_fact(
    *, db_session: Session, case: Case, action: str, reason: str, data: dict[str, Any],
    now: datetime, actor: Actor = WORKER_ACTOR,
) -> CaseEvent:
    """Append an event that is not a transition (a warning, a missed promise)."""
    event = _append_event(db_session, case, actor=actor, role=SYSTEM_ROLE, action=action,
                          from_state=case.state, reason=reason, data=data, at=now)
    _flush(db_session)
    return event


# --- materials -----------------------------------------------------------------------------------


def _may_supply(actor: Actor, case: Case) -> bool:
    return any(_may_act_as(actor, case, r) for r in ("applicant", "agent", "clerk"))


def attach_material(
    *, db_session: Session, settings: Settings, actor: Actor, case_number: str,
    material_code: str, filename: str, data: bytes, store: BlobStore | None = None,
    now: datetime | None = None,
) -> CaseMaterial:
    """Store an uploaded material (content-addressed) and supersede the previous one."""
    now = now or utcnow()
    case = get_case(db_session=db_session, case_number=case_number)
    if not can_see(actor, case):
        raise NotFound("办件不存在 / no such case", details={"case_number": case_number})
    if not _may_supply(actor, case):
        raise Forbidden("只有申请人、代办人或窗口人员可以提交材料 / only the applicant, their "
                        "agent or a window clerk may supply materials", code="wrong_role")
    if case.state not in MATERIAL_STATES:
        raise Conflict("当前状态下不能提交材料 / materials cannot be supplied in this state",
                       code="action_not_allowed", details={"state": case.state})
    guide, _ = _guide_and_schema(db_session, case)
    spec = _guide_materials(guide).get(material_code)
    if spec is None or spec.get("source", "upload") != "upload":
        raise InvalidInput("办事指南中没有该上传材料 / no such uploaded material in the guide",
                           details=[{"field": "material_code", "message": material_code}])
    blob = (store or disk_store(settings.var_dir, settings.max_upload_bytes)).put(data)
    material = CaseMaterial(
        id=new_id(), case_id=case.id, material_code=material_code, name=spec["name"],
        source="upload", sha256=blob.sha256, size=blob.size, content_type=blob.content_type,
        filename=(filename or "file")[:255], supplied_at=now, supplied_by=actor.account_id,
    )
    older = [m for m in _current_materials(db_session, case.id)
             if m.material_code == material_code]
    db_session.add(material)
    db_session.flush()
    for old in older:
        old.superseded_by = material.id
    db_session.flush()
    audit(db_session=db_session, actor_id=actor.account_id, actor_name=actor.name,
          action="case.material_attached", entity="case", entity_id=case.number,
          details={"material_code": material_code, "sha256": blob.sha256, "size": blob.size})
    return material


def material_content(
    *, db_session: Session, settings: Settings, actor: Actor, case_number: str,
    material_id: uuid.UUID, store: BlobStore | None = None,
) -> tuple[CaseMaterial, bytes]:
    """A material's bytes, for someone who may see the case."""
    case = get_case(db_session=db_session, case_number=case_number)
    material = db_session.get(CaseMaterial, material_id)
    if not can_see(actor, case) or material is None or material.case_id != case.id:
        raise NotFound("材料不存在 / no such material", details={"material_id": str(material_id)})
    if material.sha256 is None:
        raise NotFound("该材料不是上传文件 / this material is not an upload",
                       details={"material_id": str(material_id)})
    store = store or disk_store(settings.var_dir, settings.max_upload_bytes)
    return material, store.get(material.sha256)


# --- reading ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Deadlines:
    accepted_on: date | None
    used_days: int | None
    days_left: int | None
    provisional: bool
    supplement_notice_due: date | None


@dataclass(frozen=True)
class CaseDetail:
    case: Case
    allowed_actions: list[str]
    deadlines: Deadlines
    events: list[CaseEvent]
    materials: list[CaseMaterial]
    notices: list[SupplementNotice]
    pauses: list[Pause]
    extensions: list[Extension]
    payments: list[Payment]
    deliveries: list[Delivery]
    tasks: list[Case] = field(default_factory=list)  # a bundle's task cases (一件事)
    bundle_case: Case | None = None  # a task's bundle case


def _rows(db_session: Session, model: Any, case_id: uuid.UUID) -> list[Any]:
    """A case's rows of one of _ROWS_OF's tables, in their order."""
    return list(db_session.scalars(_ROWS_OF[model], {"case_id": case_id}))


def deadlines(*, db_session: Session, case: Case, today: date) -> Deadlines:
    """Time used and left of an accepted case; the Art. 32 notice day before acceptance."""
    if case.accepted_at is None or case.promised_due_date is None:
        notice_due = None
        if case.state in BEFORE_ACCEPTANCE:
            notice_due, _ = clock.supplement_notice_deadline(
                db_session=db_session, received_on=clock.local_date(case.submitted_at))
        return Deadlines(None, None, None, case.due_provisional, notice_due)
    accepted_on = clock.local_date(case.accepted_at)
    end = clock.local_date(case.decided_at) if case.decided_at else today
    end = max(end, accepted_on)
    use = clock.usage(db_session=db_session, accepted_on=accepted_on, today=end,
                      paused_days=case.paused_days_total, promised_due=case.promised_due_date)
    return Deadlines(accepted_on, use.used, use.left, case.due_provisional or use.provisional,
                     None)


# The records a case may have besides its events; most cases have few or none of them.
_SIDE_RECORDS: tuple[tuple[Any, Any], ...] = (
    (CaseMaterial, CaseMaterial.supplied_at), (SupplementNotice, SupplementNotice.issued_at),
    (Pause, Pause.started_at), (Extension, Extension.at), (Payment, Payment.paid_at),
    (Delivery, Delivery.at),
)
_ROWS_OF: dict[Any, Any] = {
    model: select(model).where(model.case_id == bindparam("case_id")).order_by(order)
    for model, order in (*_SIDE_RECORDS, (CaseEvent, CaseEvent.seq))
}
# A case's events, each row also saying which side tables have rows for the case: one
# round trip instead of two (every case has at least its submit event).
_EVENTS_AND_SIDE_PRESENT = select(CaseEvent, *(
    select(model.case_id).where(model.case_id == bindparam("case_id")).exists()
    for model, _ in _SIDE_RECORDS)).where(
        CaseEvent.case_id == bindparam("case_id")).order_by(CaseEvent.seq)


def _history(db_session: Session, case_id: uuid.UUID) -> tuple[list[CaseEvent], list[list[Any]]]:
    """A case's events, and each side table's rows of it: a case without pauses or
    payments costs no query for them."""
    rows = db_session.execute(_EVENTS_AND_SIDE_PRESENT, {"case_id": case_id}).all()
    flags = rows[0][1:] if rows else (True,) * len(_SIDE_RECORDS)
    return [row[0] for row in rows], [
        _rows(db_session, model, case_id) if present else []
        for (model, _), present in zip(_SIDE_RECORDS, flags, strict=True)]


def get(*, db_session: Session, actor: Actor, case_number: str,
        now: datetime | None = None) -> CaseDetail:
    """A case with its history, materials, deadlines and what the caller may do next."""
    case = get_case(db_session=db_session, case_number=case_number)
    return detail_of(db_session=db_session, actor=actor, case=case, now=now)


def detail_of(*, db_session: Session, actor: Actor, case: Case,
              now: datetime | None = None) -> CaseDetail:
    """get() of a case already loaded (after submit or an action, so the response does
    not read the case again); 404 for a caller who may not see it."""
    if not can_see(actor, case):
        raise NotFound("办件不存在 / no such case", details={"case_number": case.number})
    today = clock.local_date(now or utcnow())
    events, (materials, notices, pauses, extensions, payments, deliveries) = _history(
        db_session, case.id)
    return CaseDetail(
        case=case, allowed_actions=allowed_actions(actor=actor, case=case),
        deadlines=deadlines(db_session=db_session, case=case, today=today), events=events,
        materials=materials, notices=notices, pauses=pauses, extensions=extensions,
        payments=payments, deliveries=deliveries,
        tasks=tasks_of(db_session=db_session, case=case),
        bundle_case=bundle_case_of(db_session=db_session, case=case),
    )


def tasks_of(*, db_session: Session, case: Case) -> list[Case]:
    """A bundle case's task cases in the order they started; no query for other kinds."""
    if case.kind != CaseKind.bundle:
        return []
    return list(db_session.scalars(select(Case).where(Case.parent_case_id == case.id)
                                   .order_by(Case.submitted_at, Case.id)))


def bundle_case_of(*, db_session: Session, case: Case) -> Case | None:
    """The bundle case a task case belongs to (from the session when already loaded)."""
    if case.parent_case_id is None:
        return None
    return db_session.get(Case, case.parent_case_id)


@dataclass(frozen=True)
class CaseFilters:
    state: str | None = None
    department_id: uuid.UUID | None = None
    region: str | None = None
    item_code: str | None = None
    warning_level: str | None = None
    applicant_person_id: uuid.UUID | None = None
    applicant_enterprise_id: uuid.UUID | None = None
    due_before: date | None = None
    kind: str | None = None
    parent_case_id: uuid.UUID | None = None


def _scope_clause(region_code: str, department_id: uuid.UUID | None) -> ColumnElement[bool]:
    if region_code == "100000":
        region: ColumnElement[bool] = true()
    else:
        prefix = region_prefix(region_code) + "%"
        region = or_(Case.region_code.like(prefix), Case.receiving_region_code.like(prefix))
    if department_id is None:
        return region
    return and_(region, Case.department_id == department_id)


def visible_clause(actor: Actor) -> ColumnElement[bool]:
    """The cases the actor may see, as a WHERE clause (own, filed, or in scope)."""
    if actor.has(SYSTEM_ROLE):
        return true()
    clauses: list[ColumnElement[bool]] = []
    if actor.has("applicant"):
        if actor.account_id is not None:
            clauses.append(Case.applicant_account_id == actor.account_id)
        if actor.person_id is not None:
            clauses.append(Case.applicant_person_id == actor.person_id)
        if actor.enterprise_id is not None:
            clauses.append(Case.applicant_enterprise_id == actor.enterprise_id)
    if actor.has("agent") and actor.account_id is not None:
        clauses.append(Case.submitted_by_account_id == actor.account_id)
    if actor.has(*CASE_STAFF_ROLES):
        clauses += [_scope_clause(s.region_code, s.department_id) for s in actor.scopes]
    return or_(*clauses) if clauses else false()


def _filter_clauses(f: CaseFilters) -> list[ColumnElement[bool]]:
    out: list[ColumnElement[bool]] = []
    pairs: list[tuple[Any, Any]] = [
        (Case.state, f.state), (Case.department_id, f.department_id),
        (Case.item_code, f.item_code), (Case.warning_level, f.warning_level),
        (Case.applicant_person_id, f.applicant_person_id),
        (Case.applicant_enterprise_id, f.applicant_enterprise_id), (Case.kind, f.kind),
        (Case.parent_case_id, f.parent_case_id),
    ]
    out += [col == value for col, value in pairs if value is not None]
    if f.region:
        out.append(Case.region_code.like(region_prefix(f.region) + "%"))
    if f.due_before:
        out.append(Case.promised_due_date <= f.due_before)
    return out


def encode_cursor(case_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(case_id.bytes).decode().rstrip("=")


def decode_cursor(cursor: str) -> uuid.UUID:
    try:
        return uuid.UUID(bytes=base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error):
        raise InvalidInput("分页游标无效 / invalid cursor",
                           details=[{"field": "cursor", "message": "invalid"}]) from None


def encode_due_cursor(due: date | None, case_id: uuid.UUID) -> str:
    """The position (promised due date, id) of the last case of a due-date page."""
    text = f"{due.isoformat() if due else '-'}~{case_id.hex}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_due_cursor(cursor: str) -> tuple[date | None, uuid.UUID]:
    """(due date or None, id) from encode_due_cursor, or InvalidInput."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        due_text, _, id_hex = text.partition("~")
        due = None if due_text == "-" else date.fromisoformat(due_text)
        return due, uuid.UUID(hex=id_hex)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidInput("分页游标无效 / invalid cursor",
                           details=[{"field": "cursor", "message": "invalid"}]) from None


# How a page of cases is ordered: "new" (newest first, the default) or "due" (the
# earliest promised due date first, cases without one last). Each has its own cursor.
CASE_ORDERS = ("new", "due")


def _page(
    db_session: Session, *, base: str, actor: Actor, filters: CaseFilters, cursor: str | None,
    limit: int, order: str,
) -> tuple[list[Any], str | None]:
    """One keyset page (Case objects, or rows of SUMMARY_COLUMNS) and its cursor."""
    if order not in CASE_ORDERS:
        raise InvalidInput("排序方式无效 / unknown order",
                           details=[{"field": "order", "message": f"{'|'.join(CASE_ORDERS)}"}])
    limit = max(1, min(limit, 200))
    params: dict[str, Any] = {}
    shape = None
    if cursor and order == "due":
        params["after_due"], params["after_id"] = decode_due_cursor(cursor)
        shape = "no_due" if params["after_due"] is None else "due"
    elif cursor:
        params["after_id"], shape = decode_cursor(cursor), "id"
    stmt = _page_statement(base, actor, filters, order, shape, limit)
    result = db_session.execute(stmt, params)
    rows = list(result.scalars() if base == "objects" else result)
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    next_cursor = (encode_due_cursor(last.promised_due_date, last.id) if order == "due"
                   else encode_cursor(last.id))
    return rows[:limit], next_cursor


_AFTER_ID = bindparam("after_id", type_=Case.id.type)
_AFTER_DUE = bindparam("after_due", type_=Case.promised_due_date.type)
_CURSOR_CLAUSES: dict[str, ColumnElement[bool]] = {
    "id": Case.id < _AFTER_ID,  # order "new"
    # order "due": after (due, id), due dates ascending, cases without one last
    "no_due": and_(Case.promised_due_date.is_(None), Case.id > _AFTER_ID),
    "due": or_(Case.promised_due_date > _AFTER_DUE,
               and_(Case.promised_due_date == _AFTER_DUE, Case.id > _AFTER_ID),
               Case.promised_due_date.is_(None)),
}
_PAGE_STATEMENTS: dict[tuple[Any, ...], Any] = {}
_PAGE_STATEMENTS_MAX = 2048


def _page_statement(base: str, actor: Actor, filters: CaseFilters, order: str,
                    shape: str | None, limit: int) -> Any:
    """The page query of one caller and filter set, built once: a queue asked for again
    and again reuses its compiled SQL (building it costs more than running it)."""
    key = (base, actor.roles, actor.account_id, actor.person_id, actor.enterprise_id,
           actor.scopes, filters, order, shape, limit)
    found = _PAGE_STATEMENTS.get(key)
    if found is not None:
        return found
    stmt = (select(*SUMMARY_COLUMNS) if base == "rows" else select(Case).options(
        defer(Case.form_data), defer(Case.deficient_materials)))
    stmt = stmt.where(visible_clause(actor), *_filter_clauses(filters))
    if shape is not None:
        stmt = stmt.where(_CURSOR_CLAUSES[shape])
    stmt = stmt.order_by(*((Case.promised_due_date.asc().nulls_last(), Case.id.asc())
                           if order == "due" else (Case.id.desc(),))).limit(limit + 1)
    if len(_PAGE_STATEMENTS) >= _PAGE_STATEMENTS_MAX:
        _PAGE_STATEMENTS.clear()
    _PAGE_STATEMENTS[key] = stmt
    return stmt


def list_cases(
    *, db_session: Session, actor: Actor, filters: CaseFilters, cursor: str | None = None,
    limit: int = 50, order: str = "new",
) -> tuple[list[Case], str | None]:
    """Cases the caller may see, newest first (or by due date), one keyset page at a time."""
    # A list row never shows the form or the owed materials: leave the JSON unread.
    return _page(db_session, base="objects", actor=actor, filters=filters, cursor=cursor,
                 limit=limit, order=order)


# What a list row of the API shows (schemas.CaseSummary): a page reads these columns
# only, as plain rows, instead of whole Case objects (half the columns, no identity map).
SUMMARY_COLUMNS = (
    Case.id, Case.number, Case.kind, Case.parent_case_id, Case.item_code, Case.item_name,
    Case.implementation_code, Case.department_id, Case.region_code,
    Case.receiving_region_code, Case.applicant_name, Case.channel, Case.state, Case.version,
    Case.submitted_at, Case.accepted_at, Case.decided_at, Case.decision,
    Case.legal_due_date, Case.promised_due_date, Case.due_provisional, Case.warning_level,
)


def list_case_rows(
    *, db_session: Session, actor: Actor, filters: CaseFilters, cursor: str | None = None,
    limit: int = 50, order: str = "new",
) -> tuple[list[Any], str | None]:
    """list_cases() as rows of SUMMARY_COLUMNS: the API's list, cheap to read."""
    return _page(db_session, base="rows", actor=actor, filters=filters, cursor=cursor,
                 limit=limit, order=order)


@dataclass(frozen=True)
class CaseCount:
    """How many visible cases one department has in one state at one warning level."""

    department_id: uuid.UUID | None
    state: str
    warning_level: str
    count: int


def counts_by(*, db_session: Session, actor: Actor, filters: CaseFilters | None = None
              ) -> list[CaseCount]:
    """Supervision: the caller's visible cases counted per department, state and warning,
    one grouped query (no rows loaded), so a dashboard stays cheap on many cases."""
    columns = (Case.department_id, Case.state, Case.warning_level)
    stmt = (select(*columns, func.count())
            .where(visible_clause(actor), *_filter_clauses(filters or CaseFilters()))
            .group_by(*columns))
    return [CaseCount(department_id=d, state=s, warning_level=w, count=int(n))
            for d, s, w, n in db_session.execute(stmt)]


def list_overdue(*, db_session: Session, actor: Actor, today: date, limit: int = 50
                 ) -> list[Case]:
    """Supervision: open cases past their promised due date, the most overdue first."""
    finished = [str(s) for s in DECIDED_STATES | CLOSED_STATES]
    stmt = (select(Case)
            .where(visible_clause(actor), Case.promised_due_date < today,
                   Case.state.not_in(finished))
            .order_by(Case.promised_due_date.asc(), Case.id.asc())
            .limit(max(1, min(limit, 200))))
    return list(db_session.scalars(stmt))


def region_in_scope(actor: Actor, region_code: str) -> bool:
    """Whether any of the actor's scopes covers the region."""
    return any(region_covers(s.region_code, region_code) for s in actor.scopes)


def _handles_person(*, db_session: Session, actor: Actor, person_id: uuid.UUID,
                    case_id: uuid.UUID | None) -> bool:
    """identity's reveal check: is the actor handling a case of this person?"""
    stmt = select(Case).where(Case.applicant_person_id == person_id)
    if case_id is not None:
        stmt = stmt.where(Case.id == case_id)
    return any(_may_act_as(actor, c, r) for c in db_session.scalars(stmt.limit(50))
               for r in ("clerk", "reviewer"))


def _register() -> None:
    from tongban.identity import service as identity

    identity.register_case_handler_check(_handles_person)


_register()
