"""The case engine: submit, attach materials, act through the workflow table, read, list.

Every transition is checked against the case's workflow table (state, action, role,
scope), then written in the caller's transaction together with its event, its audit
entry and, when it has legal weight, its ledger outbox row. Optimistic locking (the
row version) makes concurrent actions on one case safe: the loser gets 409.

This module is the domain's public service. The parts that each answer one question live
beside it: access.py (who may see a case and act on it, in which role), rules.py (what
each action checks and writes beyond the table), queries.py (lists and counts), numbers.py
(case numbers), forms.py (an application form against its schema). The workflow tables
are in workflow.py, the working-day clock in clock.py, e-licences on decision in
licensing.py.
"""

from __future__ import annotations

import hashlib
import uuid
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

import rfc8785
from pydantic import BaseModel, ValidationError
from sqlalchemy import bindparam, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from tongban.audit.models import AuditEntry
from tongban.audit.service import entry_row
from tongban.audit.service import record as audit
from tongban.cases import clock, licensing, masking, own_identity
from tongban.cases.access import SYSTEM_ROLE, _acting_role, _may_act_as, allowed_actions, can_see
from tongban.cases.blobs import BlobStore, blob_store
from tongban.cases.forms import validate_form
from tongban.cases.models import (
    Case,
    CaseEvent,
    CaseKind,
    CaseMaterial,
    Delivery,
    Extension,
    Pause,
    Payment,
    SupplementNotice,
    WarningLevel,
    event_facts,
)
from tongban.cases.numbers import next_number
from tongban.cases.queries import (
    CaseCount,
    CaseFilters,
    counts_by,
    list_case_rows,
    list_cases,
    list_overdue,
)
from tongban.cases.rules import (
    CHECKS,
    CLOCK_EFFECTS,
    GUARDS,
    _Ctx,
    _current_materials,
    _decide,
    _guide_materials,
    case_materials,
    forget_materials,
)
from tongban.cases.schemas import ApplicantIn, payload_model
from tongban.cases.workflow import (
    BEFORE_ACCEPTANCE,
    CLOCK_RUNNING_STATES,
    CLOSED_STATES,
    PAUSED_STATES,
    State,
    Transition,
    initial_state,
    workflow_for,
)
from tongban.catalog import service as catalog
from tongban.catalog.models import Implementation, ImplementationVersion, VersionState
from tongban.config import Settings
from tongban.db import insert_together, new_id, utcnow
from tongban.errors import Conflict, Forbidden, InvalidInput, NotFound
from tongban.identity import service as identity
from tongban.identity.actor import Actor
from tongban.ledger import binding
from tongban.ledger import service as ledger
from tongban.node.root import wiring
from tongban.outbox.models import OutboxMessage

# The domain's public API: what other packages, the CLI, bench and tests call as
# cases.service.X. Part of it lives in the sibling module that explains it (access,
# forms, queries) and is re-exported from here; nothing else of those modules is (their
# helpers, rules.py's tables and numbers.next_number are imported from where they live).
__all__ = [
    "BOUND_COLUMNS",
    "MATERIAL_STATES",
    "UPLOADABLE_SOURCES",
    "WORKER_ACTOR",
    "CaseCount",
    "CaseDetail",
    "CaseFilters",
    "Deadlines",
    "Party",
    "Target",
    "TransitionHook",
    "act",
    "allowed_actions",
    "attach_fetched",
    "attach_material",
    "bundle_case_of",
    "can_see",
    "counts_by",
    "deadlines",
    "detail_of",
    "get",
    "get_case",
    "guide_of",
    "handles_person",
    "ledger_digest",
    "list_case_rows",
    "list_cases",
    "list_overdue",
    "material_content",
    "open_case",
    "record_fact",
    "refresh_deadlines",
    "resolve_applicant",
    "submit",
    "target_of",
    "tasks_of",
    "validate_form",
    "warning_for",
]

WORKER_ACTOR = Actor(account_id=None, name="system", roles=frozenset({SYSTEM_ROLE}))
# Every source takes an upload: a licence material its paper copy when no e-licence is
# attached, a shared-data material the document itself until data sharing fills it.
UPLOADABLE_SOURCES = ("upload", "licence", "shared_data")
MATERIAL_STATES = frozenset({State.pre_review, State.submitted, State.supplement_requested,
                             State.supplement_in_process, State.accepted})


# --- catalog and identity look-ups ---------------------------------------------------------


# An implementation's current version (with its implementation, item and department,
# eagerly joined) in one statement, built once.
_CURRENT_VERSION = (
    select(ImplementationVersion)
    .join(Implementation, Implementation.current_version_id == ImplementationVersion.id)
    .where(Implementation.implementation_code == bindparam("code")))


def _resolve_version(
    db_session: Session, implementation_code: str | None, version_id: uuid.UUID | None
) -> tuple[ImplementationVersion, Implementation]:
    """The published version to apply under; 404 / 409 when there is none."""
    if version_id is not None:
        version = catalog.get_version(db_session=db_session, version_id=version_id)
    else:
        assert implementation_code is not None
        found = db_session.scalar(_CURRENT_VERSION, {"code": implementation_code})
        if found is None:  # no such implementation (404), or none published now (409)
            catalog.get_implementation(db_session=db_session,
                                       implementation_code=implementation_code)
            raise Conflict("该事项尚未发布或已停止办理,不能申请 / this implementation is not "
                           "published", code="not_published",
                           details={"field": "implementation_code"})
        version = found
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


# --- events --------------------------------------------------------------------------------


def _next_event(
    case: Case, *, actor: Actor, role: str, action: str, from_state: str | None,
    reason: str | None, data: dict[str, Any], at: datetime,
) -> dict[str, Any]:
    """The case's next event as a row (its seq taken on the case, which the caller then
    flushes): written by _write_step (or _write_event) once the case row is."""
    case.last_event_seq += 1
    return {"case_id": case.id, "seq": case.last_event_seq, "at": at,
            "actor_id": actor.account_id, "actor_name": actor.name, "actor_role": role,
            "action": action, "from_state": from_state, "to_state": case.state,
            "reason": reason, "data": data, "facts": event_facts(data)}


_INSERT_EVENT = insert(CaseEvent.__table__)  # type: ignore[arg-type]


def _write_event(db_session: Session, row: dict[str, Any]) -> CaseEvent:
    """Append an event now, with a Core INSERT (events are append-only and nothing reads
    one back through the session: the unit of work's bookkeeping was pure cost); returns
    it, with its id, as a transient CaseEvent for the ledger payload and the hooks."""
    key = db_session.connection().execute(_INSERT_EVENT, row).inserted_primary_key
    assert key is not None
    return CaseEvent(id=key[0], **row)


def _write_step(db_session: Session, row: dict[str, Any], case: Case, *, kind: str,
                details: dict[str, Any]) -> CaseEvent:
    """A step's event with its audit entry and its act for the tamper-evident log (`kind`,
    e.g. case.accept), in this transaction and, on PostgreSQL, in one statement; returns
    the event, with its id, as a transient CaseEvent for the hooks."""
    event = CaseEvent(**row)
    act = ledger.act_row(kind=kind, payload=_ledger_payload(case, event))
    entry = entry_row(actor_id=row["actor_id"], actor_name=row["actor_name"], action=kind,
                      entity="case", entity_id=case.number, details=details)
    event.id = insert_together(db_session, _EVENT_ID, row, (AuditEntry.__table__, entry),
                               (OutboxMessage.__table__, act))
    return event


_EVENT_ID = CaseEvent.__table__.c.id


def ledger_digest(value: Any) -> str | None:
    """SHA-256 of the RFC 8785 JSON of `value`: binds free text without publishing it."""
    if value in (None, "", {}):
        return None
    return hashlib.sha256(rfc8785.dumps(value)).hexdigest()


# The case's columns with legal weight, bound by the log: every act logs them as they are
# after it (the decision's reason by its hash), and `tongban verify` compares the row with
# its latest act's record (cases/integrity.py).
BOUND_COLUMNS: binding.Readers = {
    **{name: binding.column(name) for name in (
        "state", "decision", "submitted_at", "accepted_at", "decided_at", "closed_at",
        "legal_due_date", "promised_due_date", "legal_days", "promised_days",
        "paused_days_total", "extension_days_total", "item_code", "implementation_code",
        "region_code", "department_id", "applicant_person_id", "applicant_enterprise_id",
        "parent_case_id")},
    "decision_reason_sha256": lambda case: ledger_digest(case.decision_reason),
}


def _ledger_payload(case: Case, event: CaseEvent) -> dict[str, Any]:
    """What the public log says of an act: ids, states, dates and hashes, no personal data
    (the reason and the data are bound by their hashes; the event keeps them), and the
    record of the case's bound columns after it."""
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
        "reason_sha256": ledger_digest(event.reason), "data_sha256": ledger_digest(event.data),
        "record": binding.snapshot(case, BOUND_COLUMNS),
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
    own_identity.check(db_session=db_session, settings=settings, schema=version.form_schema,
                       form_data=form_data, person_id=party.person_id,
                       enterprise_id=party.enterprise_id)
    # Only a key can collide with a concurrent twin; without one, no savepoint is needed.
    guard = db_session.begin_nested() if idempotency_key is not None else nullcontext()
    try:
        with guard:
            case, event = _open_case(
                db_session=db_session, actor=actor, target=target_of(version), party=party,
                form_data=form_data, channel=channel, now=now, kind=CaseKind.single,
                parent_case_id=None, idempotency_key=idempotency_key, state=None)
            attached = licensing.attach_held_licences(db_session=db_session, case=case,
                                                      guide=version.guide, now=now)
    except IntegrityError:
        found = _existing(db_session, actor, idempotency_key)
        if found is None:
            raise
        return _replay(found, version.id)
    _remember_history(db_session, case, [event], attached)
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
    return _open_case(db_session=db_session, actor=actor, target=target, party=party,
                      form_data=form_data, channel=channel, now=now, kind=kind,
                      parent_case_id=parent_case_id, idempotency_key=idempotency_key,
                      state=state)[0]


def _open_case(
    *, db_session: Session, actor: Actor, target: Target, party: Party,
    form_data: dict[str, Any], channel: str, now: datetime, kind: str,
    parent_case_id: uuid.UUID | None, idempotency_key: str | None, state: str | None,
) -> tuple[Case, CaseEvent]:
    """open_case(), also returning the case's first event."""
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
    row = _next_event(
        case, actor=actor, role=_submit_role(actor), action="submit",
        from_state=None, reason=None,
        data={"channel": channel, "kind": kind,
              "parent_case_id": str(parent_case_id) if parent_case_id else None}, at=now)
    db_session.flush()
    # Receipt starts the Art. 32 clock and the case's record: logged like any transition.
    event = _write_step(db_session, row, case, kind="case.submit", details={
        "implementation_code": target.implementation_code, "channel": channel, "kind": kind})
    return case, event


def _submit_role(actor: Actor) -> str:
    for role in ("applicant", "agent", "clerk"):
        if actor.has(role):
            return role
    return "unknown"


# --- acting ------------------------------------------------------------------------------------


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
    case.due_provisional, case.deadlines_calendar = dl.provisional, dl.calendar_version
    case.warning_level = warning_for(db_session=db_session, settings=settings, case=case,
                                     today=today).value
    schedule_warning_check(db_session=db_session, settings=settings, case=case, today=today)


def schedule_warning_check(*, db_session: Session, settings: Settings, case: Case,
                           today: date) -> None:
    """Note the day the worker must look at this case's warning again (None: never by
    time alone: paused, closed or already red)."""
    running = case.state in CLOCK_RUNNING_STATES
    case.warning_recheck_on = clock.next_warning_check(
        db_session=db_session, today=today, level=WarningLevel(case.warning_level),
        promised_due=case.promised_due_date if running else None,
        yellow_days_left=settings.yellow_days_left)


def warning_for(*, db_session: Session, settings: Settings, case: Case,
                today: date) -> WarningLevel:
    """The warning a case deserves today: by its promised due date while the clock runs,
    frozen while it is paused, red while a 容缺 promise stays broken, none once closed."""
    if case.state in PAUSED_STATES:
        return WarningLevel(case.warning_level)
    if case.state not in CLOCK_RUNNING_STATES:
        return WarningLevel.none
    if case.deficiency_missed_at is not None and case.deficient_materials:
        return WarningLevel.red
    return clock.warning_level(db_session=db_session, today=today,
                               promised_due=case.promised_due_date,
                               yellow_days_left=settings.yellow_days_left)


class TransitionHook(Protocol):
    def __call__(self, *, db_session: Session, settings: Settings, case: Case,
                 event: CaseEvent) -> None: ...




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
    if case.parent_case_id is not None:
        _lock_parent_first(db_session, case)
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


def _lock_parent_first(db_session: Session, case: Case) -> None:
    """A task of a bundle locks the bundle's row before its own is written, then reads
    itself afresh: every transaction on one bundle locks parent first, then tasks, so two
    departments approving at once queue at the bundle instead of each holding its task and
    waiting for the other's (a deadlock on PostgreSQL; SQLite has one writer anyway)."""
    db_session.execute(select(Case.id).where(Case.id == case.parent_case_id)
                       .with_for_update())
    db_session.refresh(case)


def _recheck_agent(db_session: Session, actor: Actor, case: Case, role: str,
                   now: datetime) -> None:
    """An agent's authorisation must still hold when the agent acts."""
    if role != "agent" or case.item_code is None:
        return
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
        effect = wiring().effects.find(row.action)
        if effect is not None:
            effect(ctx)
        case.state = row.to_state.value
        _decide(ctx)
        refresh_deadlines(db_session=ctx.db_session, settings=ctx.settings, case=case,
                          today=ctx.today)
        note = getattr(ctx.payload, "note", None)
        if note:
            ctx.data["note"] = note
        event_row = _next_event(case, actor=ctx.actor, role=ctx.role,
                                action=row.action.value, from_state=from_state,
                                reason=ctx.reason, data=ctx.data, at=ctx.now)
    _flush(ctx.db_session)
    # Every transition is logged (not only the legal acts): the state it leaves is bound.
    event = _write_step(ctx.db_session, event_row, case, kind=f"case.{row.action.value}",
                        details={"from": from_state, "to": case.state, "version": case.version})
    # Other domains' reactions (a bundle to its task's decision, a peer node to a
    # forwarded case's step), in the same transaction; registered by the root.
    for hook in wiring().transition_hooks:
        hook(db_session=ctx.db_session, settings=ctx.settings, case=case, event=event)


# --- system events (the worker) -----------------------------------------------------------------


def record_fact(
    *, db_session: Session, case: Case, action: str, reason: str, data: dict[str, Any],
    now: datetime, actor: Actor = WORKER_ACTOR,
) -> CaseEvent:
    """Append an event that is not a transition (a warning, a missed promise)."""
    row = _next_event(case, actor=actor, role=SYSTEM_ROLE, action=action,
                      from_state=case.state, reason=reason, data=data, at=now)
    _flush(db_session)
    return _write_event(db_session, row)


# --- materials -----------------------------------------------------------------------------------


def may_supply(actor: Actor, case: Case) -> bool:
    """The applicant, their agent, or a window clerk of the case's department."""
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
    if not may_supply(actor, case):
        raise Forbidden("只有申请人、代办人或窗口人员可以提交材料 / only the applicant, their "
                        "agent or a window clerk may supply materials", code="wrong_role")
    if case.state not in MATERIAL_STATES:
        raise Conflict("当前状态下不能提交材料 / materials cannot be supplied in this state",
                       code="action_not_allowed", details={"state": case.state})
    guide, _ = _guide_and_schema(db_session, case)
    spec = _guide_materials(guide).get(material_code)
    if spec is None or spec.get("source", "upload") not in UPLOADABLE_SOURCES:
        raise InvalidInput("办事指南中没有该上传材料 / no such uploaded material in the guide",
                           details=[{"field": "material_code", "message": material_code}])
    older = [m for m in _current_materials(db_session, case.id)
             if m.material_code == material_code]
    if any(m.source == "licence" for m in older):
        raise Conflict("该材料已关联电子证照,免于提交 / an e-licence already supplies this "
                       "material", code="licence_attached",
                       details={"material_code": material_code})
    _forget_history(db_session, case.id)
    blob = (store or blob_store(settings)).put(data)
    material = CaseMaterial(
        id=new_id(), case_id=case.id, material_code=material_code, name=spec["name"],
        source="upload", sha256=blob.sha256, size=blob.size, content_type=blob.content_type,
        filename=(filename or "file")[:255], supplied_at=now, supplied_by=actor.account_id,
    )
    db_session.add(material)
    db_session.flush()
    for old in older:
        old.superseded_by = material.id
    db_session.flush()
    forget_materials(db_session, case.id)
    audit(db_session=db_session, actor_id=actor.account_id, actor_name=actor.name,
          action="case.material_attached", entity="case", entity_id=case.number,
          details={"material_code": material_code, "sha256": blob.sha256, "size": blob.size})
    return material


def attach_fetched(
    *, db_session: Session, actor: Actor, case_number: str, material_code: str,
    reference: str, now: datetime | None = None,
) -> CaseMaterial:
    """免提交: a shared-data material filled from a registry (data sharing fetched it and
    the applicant kept it after the preview): a reference, superseding older ones."""
    now = now or utcnow()
    case = get_case(db_session=db_session, case_number=case_number)
    if not can_see(actor, case) or not may_supply(actor, case):
        raise NotFound("办件不存在 / no such case", details={"case_number": case_number})
    if case.state not in MATERIAL_STATES:
        raise Conflict("当前状态下不能提交材料 / materials cannot be supplied in this state",
                       code="action_not_allowed", details={"state": case.state})
    guide, _ = _guide_and_schema(db_session, case)
    spec = _guide_materials(guide).get(material_code)
    if spec is None or spec.get("source") != "shared_data":
        raise InvalidInput("办事指南中没有该共享数据材料 / no such shared-data material",
                           details=[{"field": "material_code", "message": material_code}])
    older = [m for m in _current_materials(db_session, case.id)
             if m.material_code == material_code]
    _forget_history(db_session, case.id)
    material = CaseMaterial(id=new_id(), case_id=case.id, material_code=material_code,
                            name=spec["name"], source="shared_data", reference=reference,
                            supplied_at=now, supplied_by=actor.account_id)
    db_session.add(material)
    db_session.flush()
    for old in older:
        old.superseded_by = material.id
    db_session.flush()
    forget_materials(db_session, case.id)
    audit(db_session=db_session, actor_id=actor.account_id, actor_name=actor.name,
          action="case.material_fetched", entity="case", entity_id=case.number,
          details={"material_code": material_code, "reference": reference})
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
    store = store or blob_store(settings)
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
    # The form as this caller may read it (masked for staff) and the fields masked.
    form_data: dict[str, Any] = field(default_factory=dict)
    masked_fields: list[str] = field(default_factory=list)
    whole: bool = True  # False: a staff reader, whose events are masked too


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
    # A decided or closed case has no time left to count: only the time it used.
    left = None if case.decided_at is not None or case.state in CLOSED_STATES else use.left
    return Deadlines(accepted_on, use.used, left, case.due_provisional or use.provisional, None)


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


# A case submit() has just opened in this session: its whole history is what it wrote
# (one event, the e-licences it attached), so the response after it need not read that
# back. Kept with the event count it was true at; anything that adds an event or a
# material to the case (act, record_fact, attach_*) changes the count or forgets it.
_JUST_OPENED = "tongban.cases.just_opened"


@dataclass(frozen=True)
class _Opened:
    last_event_seq: int
    events: list[CaseEvent]
    materials: list[CaseMaterial]


def _remember_history(db_session: Session, case: Case, events: list[CaseEvent],
                      materials: list[CaseMaterial]) -> None:
    db_session.info.setdefault(_JUST_OPENED, {})[case.id] = _Opened(
        case.last_event_seq, events, materials)


def _forget_history(db_session: Session, case_id: uuid.UUID) -> None:
    db_session.info.get(_JUST_OPENED, {}).pop(case_id, None)


def _history(db_session: Session, case_id: uuid.UUID) -> tuple[list[CaseEvent], list[list[Any]]]:
    """A case's events, and each side table's rows of it: a case without pauses or
    payments costs no query for them; a case submit() just opened, none at all."""
    opened = db_session.info.get(_JUST_OPENED, {}).pop(case_id, None)
    case = db_session.get(Case, case_id) if opened is not None else None
    if opened is not None and case is not None and case.last_event_seq == opened.last_event_seq:
        db_session.flush()  # the attached materials are written (and have their ids)
        return list(opened.events), [sorted(opened.materials, key=lambda m: m.supplied_at),
                                     *([] for _ in _SIDE_RECORDS[1:])]
    rows = db_session.execute(_EVENTS_AND_SIDE_PRESENT, {"case_id": case_id}).all()
    flags = rows[0][1:] if rows else (True,) * len(_SIDE_RECORDS)
    return [row[0] for row in rows], [
        (list(case_materials(db_session, case_id)) if model is CaseMaterial
         else _rows(db_session, model, case_id)) if present else []
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
    _guide, schema = guide_of(db_session=db_session, case=case)
    whole = masking.sees_whole(actor, case)
    return CaseDetail(
        case=case, allowed_actions=allowed_actions(actor=actor, case=case),
        deadlines=deadlines(db_session=db_session, case=case, today=today), events=events,
        materials=materials, notices=notices, pauses=pauses, extensions=extensions,
        payments=payments, deliveries=deliveries,
        tasks=tasks_of(db_session=db_session, case=case),
        bundle_case=bundle_case_of(db_session=db_session, case=case),
        form_data=masking.form_for(actor, case, schema),
        masked_fields=[] if whole else masking.masked_fields(schema, case.form_data or {}),
        whole=whole,
    )


def schema_of(db_session: Session, case: Case) -> dict[str, Any]:
    """The form schema the case was applied under ({} without a version)."""
    return guide_of(db_session=db_session, case=case)[1]


def reveal_form_field(*, db_session: Session, settings: Settings, actor: Actor,
                      case_number: str, field_name: str, purpose: str) -> str:
    """One masked form value in full, for a clerk or reviewer who handles the case; always
    audited. The applicant's own ID number goes through identity's audited reveal."""
    detail = get(db_session=db_session, actor=actor, case_number=case_number)
    case = detail.case
    value = (case.form_data or {}).get(field_name)
    if field_name not in detail.masked_fields or not isinstance(value, str):
        raise InvalidInput("该字段未被遮蔽,无需查看 / this field is not masked",
                           details={"field": "field", "name": field_name})
    owner = (identity.find_person_by_id_number(db_session=db_session, settings=settings,
                                               id_number=value)
             if masking.personal_kind(schema_of(db_session, case), field_name, value)
             == "id_number" else None)
    if owner is not None and owner.id == case.applicant_person_id:
        return identity.reveal_id_number(db_session=db_session, settings=settings,
                                         actor=actor, person_id=case.applicant_person_id,
                                         purpose=purpose, case_id=case.id)
    clean = identity.check_purpose(purpose)
    if not any(_may_act_as(actor, case, role) for role in identity.REVEAL_ROLES):
        raise Forbidden("无权查看完整信息:须经办该件的窗口或审核人员 / only a clerk or "
                        "reviewer handling this case may see it in full",
                        details={"field": field_name})
    audit(db_session=db_session, actor_id=actor.account_id, actor_name=actor.name,
          action="case.reveal_field", entity="case", entity_id=str(case.id),
          details={"field": field_name, "purpose": clean, "basis": "case"})
    return value


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


def handles_person(*, db_session: Session, actor: Actor, person_id: uuid.UUID,
                    case_id: uuid.UUID | None) -> bool:
    """identity's reveal check: is the actor handling a case of this person?"""
    stmt = select(Case).where(Case.applicant_person_id == person_id)
    if case_id is not None:
        stmt = stmt.where(Case.id == case_id)
    return any(_may_act_as(actor, c, r) for c in db_session.scalars(stmt.limit(50))
               for r in ("clerk", "reviewer"))

