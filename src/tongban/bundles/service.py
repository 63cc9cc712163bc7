"""一件事 bundles: their terms (drafted and published like implementations), the merged
form, applying once for all members, and the engine that moves a bundle when its tasks
move.

Applying creates one bundle case (kind "bundle") and one task row per member; members
without dependencies start at once as task cases (kind "task", parent_case_id = the
bundle case), each a normal case of its department with its own clock and limit.
A member with `depends_on` stays *pending* (no case yet) until every member it depends on
is approved, and is then created: so its department receives it, and its Art. 32 five-day
rule counts, from the day it can act. A member whose dependency fails is *skipped*.

After every task transition (a transition hook, same transaction; bundles/wiring.py) the
engine re-reads the bundle under a row lock and:
- accepts the bundle case when its first task is accepted (the overall clock starts);
- starts pending members whose dependencies are approved;
- applies the deny rule when a task fails (denied, refused, withdrawn, terminated,
  revoked, or skipped): `deny_bundle` denies the bundle at once and lets started tasks
  finish; `terminate_others` denies it and terminates the open tasks;
  `continue_others` lets the others finish;
- decides the bundle when no task is open or pending: approved if all are approved,
  else partly approved (some approved) or denied (none).
The applicant withdrawing, or staff terminating, the bundle case does the same to its
open tasks.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tongban.audit.service import record as audit
from tongban.bundles import workflow as bundle_wf
from tongban.bundles.merge import MemberForm, Merged, merge_cached
from tongban.bundles.models import (
    Bundle,
    BundleCase,
    BundleMaterial,
    BundleMember,
    BundleTask,
    BundleVersion,
    DenyRule,
    TaskStatus,
)
from tongban.bundles.schemas import BundleIn
from tongban.cases import licensing
from tongban.cases import service as cases
from tongban.cases.blobs import BlobStore, blob_store
from tongban.cases.models import Case, CaseEvent, CaseKind, CaseMaterial
from tongban.cases.schemas import ApplicantIn
from tongban.cases.workflow import STATE_LABELS, Action, State
from tongban.catalog import service as catalog
from tongban.catalog.models import Implementation, ImplementationVersion, VersionState
from tongban.config import Settings
from tongban.db import new_id, utcnow
from tongban.errors import Conflict, Forbidden, InvalidInput, NotFound
from tongban.identity.actor import Actor, region_covers

ENGINE = Actor(account_id=None, name="一件事协调 / bundle engine", roles=frozenset({"system"}))
APPROVED = frozenset({State.approved.value, State.approved_on_commitment.value})
FAILED_STATES = frozenset({State.denied.value, State.refused.value, State.revoked.value,
                           State.withdrawn.value, State.terminated.value})
FAILED_DECISIONS = frozenset({State.denied.value, State.refused.value, State.revoked.value})
TRANSITIONS: dict[tuple[str, str], str] = {
    ("publish", VersionState.draft): VersionState.published,
    ("supersede", VersionState.published): VersionState.superseded,
    ("withdraw", VersionState.published): VersionState.withdrawn,
}


# ================================================================ terms of a bundle


@dataclass(frozen=True)
class MemberTerms:
    """A member of a stored bundle version, detached from the session."""

    id: uuid.UUID
    position: int
    implementation_code: str
    department_id: uuid.UUID
    depends_on: tuple[str, ...]
    promised_days: int | None


@dataclass(frozen=True)
class Terms:
    """What the engine needs of a bundle version; immutable once published, so cached."""

    version_id: uuid.UUID
    name: str
    deny_rule: str
    members: tuple[MemberTerms, ...]

    def depends_on(self, code: str) -> tuple[str, ...]:
        return next(m.depends_on for m in self.members if m.implementation_code == code)


def terms_of(version: BundleVersion) -> Terms:
    return Terms(version.id, version.name, version.deny_rule, tuple(
        MemberTerms(m.id, m.position, m.implementation_code, m.department_id,
                    tuple(m.depends_on), m.promised_days) for m in version.members))


_TERMS: dict[uuid.UUID, Terms] = {}


def _terms(db_session: Session, version_id: uuid.UUID) -> Terms:
    """A published version's terms, read once per process (drafts are never cached)."""
    hit = _TERMS.get(version_id)
    if hit is not None:
        return hit
    version = db_session.get(BundleVersion, version_id)
    assert version is not None
    terms = terms_of(version)
    if version.state != VersionState.draft:
        _TERMS[version_id] = terms
    return terms


@dataclass(frozen=True)
class ResolvedMember:
    """A member with its implementation and the version a task would run under now."""

    member: MemberTerms
    implementation: Implementation | None
    version: ImplementationVersion | None  # the current published one, or None

    @property
    def code(self) -> str:
        return self.member.implementation_code

    @property
    def name(self) -> str:
        return self.version.name if self.version is not None else self.code

    @property
    def promised_days(self) -> int:
        if self.member.promised_days is not None:
            return self.member.promised_days
        return self.version.promised_days if self.version is not None else 0


@dataclass(frozen=True)
class BundleView:
    """A bundle version with its members resolved and its merged form."""

    bundle: Bundle
    version: BundleVersion
    members: list[ResolvedMember]
    merged: Merged
    problems: list[dict[str, Any]]

    def member(self, code: str) -> ResolvedMember:
        return next(m for m in self.members if m.code == code)


def _get_bundle(db_session: Session, code: str) -> Bundle:
    bundle = db_session.scalar(select(Bundle).where(Bundle.code == code))
    if bundle is None:
        raise NotFound(f"一件事 {code} 不存在 / no such bundle",
                       details={"field": "bundle_code", "value": code})
    return bundle


def _latest(db_session: Session, bundle: Bundle) -> BundleVersion | None:
    return db_session.scalar(select(BundleVersion).where(BundleVersion.bundle_id == bundle.id)
                             .order_by(BundleVersion.version.desc()).limit(1))


def _resolve(db_session: Session, member: MemberTerms) -> ResolvedMember:
    try:
        impl = catalog.get_implementation(db_session=db_session,
                                          implementation_code=member.implementation_code)
    except NotFound:
        return ResolvedMember(member, None, None)
    version = None
    if impl.current_version_id is not None:
        version = catalog.get_version(db_session=db_session, version_id=impl.current_version_id)
        if version.state != VersionState.published:
            version = None
    return ResolvedMember(member, impl, version)


def _member_problems(bundle: Bundle, members: list[ResolvedMember]) -> list[dict[str, Any]]:
    """What stops a version from being published or applied for, per member."""
    problems = []
    for i, rm in enumerate(members):
        where = f"members.{i}.implementation_code"
        if rm.implementation is None:
            problems.append({"field": where, "message": "实施清单不存在 / no such "
                             f"implementation: {rm.code}"})
        elif rm.version is None:
            problems.append({"field": where, "message": "成员事项未发布或已停止办理 / member "
                             f"implementation is not published: {rm.code}",
                             "code": "member_not_published"})
        elif not region_covers(bundle.region_code, rm.implementation.region_code):
            problems.append({"field": where, "message": "成员事项不在一件事所属地区 / member "
                             f"is outside region {bundle.region_code}"})
        elif rm.member.promised_days is not None and \
                rm.member.promised_days > rm.version.legal_days:
            problems.append({"field": f"members.{i}.promised_days",
                             "message": "承诺时限超过该事项法定时限 / promised_days exceeds the "
                             f"implementation's legal limit ({rm.version.legal_days})"})
    return problems


def view_of(*, db_session: Session, bundle: Bundle, version: BundleVersion) -> BundleView:
    """A version with its members resolved against the catalog now, and merged."""
    members = [_resolve(db_session, m) for m in terms_of(version).members]
    forms = [MemberForm(rm.code, rm.version.id, rm.version.form_schema, rm.version.guide)
             for rm in members if rm.version is not None]
    merged = _name_the_form(merge_cached(forms), version.name)
    problems = _member_problems(bundle, members) + list(merged.problems)
    return BundleView(bundle, version, members, merged, problems)


APPLICATION_FORM = "application_form"  # the guide's form generated from the online form


def _name_the_form(merged: Merged, bundle_name: str) -> Merged:
    """One application form for the bundle is the merged form: call it by its name."""
    materials = tuple(
        dataclasses.replace(m, name=f"《{bundle_name}申请表》")
        if m.code == APPLICATION_FORM and len(m.members) > 1 else m
        for m in merged.materials)
    return dataclasses.replace(merged, materials=materials)


def _graph_problems(data: BundleIn) -> list[dict[str, Any]]:
    """Members appear once; dependencies name other members and never form a cycle."""
    codes = [m.implementation_code for m in data.members]
    problems = [{"field": f"members.{i}.implementation_code",
                 "message": f"成员重复 / member listed twice: {c}"}
                for i, c in enumerate(codes) if c in codes[:i]]
    for i, m in enumerate(data.members):
        problems += [{"field": f"members.{i}.depends_on",
                      "message": f"依赖的事项不是本一件事的其他成员 / not another member: {d}"}
                     for d in m.depends_on if d not in codes or d == m.implementation_code]
    if not problems and _has_cycle({m.implementation_code: m.depends_on for m in data.members}):
        problems.append({"field": "members", "message": "成员之间的依赖构成循环 / the "
                         "dependencies form a cycle"})
    return problems


def _has_cycle(deps: dict[str, list[str]]) -> bool:
    done: set[str] = set()
    visiting: set[str] = set()

    def visit(node: str) -> bool:
        if node in done:
            return False
        if node in visiting:
            return True
        visiting.add(node)
        if any(visit(d) for d in deps.get(node, [])):
            return True
        visiting.discard(node)
        done.add(node)
        return False

    return any(visit(n) for n in deps)


def _new_members(db_session: Session, data: BundleIn) -> list[BundleMember]:
    """Member rows for a draft; each must name an existing implementation."""
    rows, problems = [], []
    for i, m in enumerate(data.members):
        try:
            impl = catalog.get_implementation(db_session=db_session,
                                              implementation_code=m.implementation_code)
        except NotFound:
            problems.append({"field": f"members.{i}.implementation_code",
                             "message": f"实施清单不存在 / no such implementation: "
                                        f"{m.implementation_code}"})
            continue
        rows.append(BundleMember(id=new_id(), position=i,
                                 implementation_code=m.implementation_code,
                                 department_id=impl.department_id,
                                 depends_on=list(m.depends_on), promised_days=m.promised_days))
    problems += _graph_problems(data)
    if problems:
        raise InvalidInput("一件事定义有误 / the bundle definition has errors",
                           details=problems)
    return rows


def save_draft(*, db_session: Session, actor: Actor, data: BundleIn) -> BundleVersion:
    """Create a bundle with its draft v1, or edit its open draft (or open the next one)."""
    catalog.ensure_region_exists(db_session=db_session, region_code=data.region_code)
    catalog.authorise_region(actor=actor, region_code=data.region_code)
    members = _new_members(db_session, data)
    bundle = db_session.scalar(select(Bundle).where(Bundle.code == data.code))
    if bundle is None:
        bundle = Bundle(id=new_id(), code=data.code, region_code=data.region_code)
        db_session.add(bundle)
    elif bundle.region_code != data.region_code:
        raise Conflict("一件事所属地区不可变更 / a bundle's region cannot change",
                       details={"field": "region_code", "current": bundle.region_code})
    latest = _latest(db_session, bundle)
    terms = {"name": data.name, "topic": data.topic, "description": data.description,
             "legal_days": data.legal_days, "promised_days": data.promised_days,
             "deny_rule": data.deny_rule.value, "created_by": actor.account_id}
    if latest is not None and latest.state == VersionState.draft:
        version = latest
        for key, value in terms.items():
            setattr(version, key, value)
        version.members.clear()
        db_session.flush()  # old member rows go before new ones reuse their codes
        version.members.extend(members)
    else:
        version = BundleVersion(id=new_id(), bundle_id=bundle.id,
                                version=(latest.version if latest else 0) + 1,
                                state=VersionState.draft.value, members=members, **terms)
        db_session.add(version)
    db_session.flush()
    audit(db_session=db_session, actor_id=actor.account_id, actor_name=actor.name,
          action="bundle.draft", entity="bundle", entity_id=bundle.code,
          details={"version": version.version, "members": len(members)})
    return version


def _move(version: BundleVersion, action: str) -> None:
    target = TRANSITIONS.get((action, version.state))
    if target is None:
        raise Conflict(f"版本 {version.version} 处于 {version.state} 状态,不能 {action} / "
                       f"cannot {action} a {version.state} version",
                       details={"version": version.version, "state": version.state})
    version.state = target


def publish(*, db_session: Session, actor: Actor, bundle_code: str) -> BundleVersion:
    """Publish the draft once every member is published, in region, and the forms merge."""
    bundle = _get_bundle(db_session, bundle_code)
    catalog.authorise_region(actor=actor, region_code=bundle.region_code)
    draft = _latest(db_session, bundle)
    if draft is None or draft.state != VersionState.draft:
        raise Conflict("没有待发布的草稿 / there is no draft to publish",
                       details={"bundle_code": bundle_code})
    view = view_of(db_session=db_session, bundle=bundle, version=draft)
    if view.problems:
        raise Conflict("一件事不能发布 / the bundle cannot be published",
                       code="bundle_not_publishable", details=view.problems)
    if bundle.current_version_id is not None:
        previous = db_session.get(BundleVersion, bundle.current_version_id)
        if previous is not None:
            _move(previous, "supersede")
            db_session.flush()
    _move(draft, "publish")
    draft.published_at, draft.published_by = utcnow(), actor.account_id
    bundle.current_version_id = draft.id
    db_session.flush()
    audit(db_session=db_session, actor_id=actor.account_id, actor_name=actor.name,
          action="bundle.publish", entity="bundle", entity_id=bundle.code,
          details={"version": draft.version})
    return draft


def withdraw(*, db_session: Session, actor: Actor, bundle_code: str,
             reason: str = "") -> BundleVersion:
    """Stop offering a bundle; cases already filed run on."""
    bundle = _get_bundle(db_session, bundle_code)
    catalog.authorise_region(actor=actor, region_code=bundle.region_code)
    current = _current(db_session, bundle)
    _move(current, "withdraw")
    bundle.current_version_id = None
    db_session.flush()
    audit(db_session=db_session, actor_id=actor.account_id, actor_name=actor.name,
          action="bundle.withdraw", entity="bundle", entity_id=bundle.code,
          details={"version": current.version, "reason": reason})
    return current


def _current(db_session: Session, bundle: Bundle) -> BundleVersion:
    version = (db_session.get(BundleVersion, bundle.current_version_id)
               if bundle.current_version_id else None)
    if version is None or version.state != VersionState.published:
        raise Conflict("该一件事尚未发布或已停止办理 / this bundle is not published",
                       code="not_published", details={"bundle_code": bundle.code})
    return version


def get_bundle(*, db_session: Session, bundle_code: str,
               include_draft: bool = False) -> BundleView:
    """A bundle's published terms (or its latest draft) with the merged form."""
    bundle = _get_bundle(db_session, bundle_code)
    if include_draft:
        version = _latest(db_session, bundle)
        if version is None:
            raise NotFound("一件事没有版本 / the bundle has no version",
                           details={"bundle_code": bundle_code})
    else:
        if bundle.current_version_id is None:
            raise NotFound(f"一件事 {bundle_code} 尚未发布或已停止办理 / not published",
                           details={"bundle_code": bundle_code})
        version = _current(db_session, bundle)
    return view_of(db_session=db_session, bundle=bundle, version=version)


def list_bundles(*, db_session: Session, region: str | None = None,
                 topic: str | None = None) -> list[tuple[Bundle, BundleVersion]]:
    """Published bundles, those of a region (above or below it) and topic only if asked."""
    stmt = (select(Bundle, BundleVersion)
            .join(BundleVersion, BundleVersion.id == Bundle.current_version_id)
            .where(BundleVersion.state == VersionState.published).order_by(Bundle.code))
    if topic:
        stmt = stmt.where(BundleVersion.topic == topic)
    rows = [(b, v) for b, v in db_session.execute(stmt)]
    if region:
        rows = [(b, v) for b, v in rows
                if region_covers(region, b.region_code) or region_covers(b.region_code, region)]
    return rows


# ================================================================ applying


def _existing(db_session: Session, actor: Actor, key: str | None) -> Case | None:
    if key is None or actor.account_id is None:
        return None
    return db_session.scalar(select(Case).where(Case.submitted_by_account_id == actor.account_id,
                                                Case.idempotency_key == key))


def _replay(db_session: Session, case: Case, bundle: Bundle) -> Case:
    link = db_session.get(BundleCase, case.id)
    if link is None or link.bundle_id != bundle.id:
        raise Conflict("该幂等键已用于另一项申请 / this idempotency key was used for another "
                       "application", code="idempotency_conflict",
                       details={"field": "idempotency_key", "case_number": case.number})
    return case


def _check_startable(view: BundleView) -> None:
    """Every member must be published (and the forms merge) when someone applies."""
    if view.problems:
        raise Conflict("一件事的成员事项当前不能申请 / a member of this bundle cannot be "
                       "applied for now", code="member_not_published", details=view.problems)


def _check_channel(view: BundleView, channel: str, party: cases.Party) -> None:
    merged = view.merged
    problems = []
    if channel not in merged.handling_forms:
        problems.append({"field": "channel",
                         "message": f"允许 / allowed: {list(merged.handling_forms)}"})
    kind = "person" if party.person_id else "enterprise"
    if kind not in merged.applicant_types:
        problems.append({"field": "applicant",
                         "message": f"允许 / allowed: {list(merged.applicant_types)}"})
    if problems:
        raise InvalidInput("该一件事不支持此渠道或申请人类型 / this channel or applicant type "
                           "is not served by every member", details=problems)


def _check_reach(actor: Actor, view: BundleView) -> None:
    """A window clerk files for the applicant only where the clerk may supply materials."""
    if not actor.has("clerk") or actor.has("applicant", "agent"):
        return
    outside = [rm.code for rm in view.members if rm.implementation is not None
               and not actor.covers(rm.implementation.region_code, rm.implementation.department_id)]
    if outside:
        raise Forbidden("一件事的部分成员事项不在您的窗口受理范围内 / some members are outside "
                        "your window's scope", code="out_of_scope", details={"members": outside})


def validate_form(view: BundleView, form_data: dict[str, Any]) -> None:
    """The merged form, then each member's own form on its part: every problem, once."""
    problems: list[dict[str, str]] = []
    try:
        cases.validate_form(view.merged.schema, form_data)
    except InvalidInput as exc:
        problems += exc.details
    for rm in view.members:
        assert rm.version is not None
        part = project(rm.version.form_schema, form_data)
        try:
            cases.validate_form(rm.version.form_schema, part)
        except InvalidInput as exc:
            problems += [p for p in exc.details if p not in problems]
    if problems:
        raise InvalidInput("申请表填写有误 / the application form has errors",
                           code="invalid_form", details=problems)


def _parties(db_session: Session, actor: Actor, view: BundleView, given: ApplicantIn | None,
             now: datetime) -> dict[str, cases.Party]:
    """The applicant for each member (an agent needs authorisation for every item)."""
    out = {}
    for rm in view.members:
        assert rm.implementation is not None
        out[rm.code] = cases.resolve_applicant(db_session=db_session, actor=actor, given=given,
                                               item_code=rm.implementation.item.basic_code,
                                               now=now)
    return out


def project(member_schema: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """The part of the merged form data a member's own form asks for."""
    props = member_schema.get("properties") or {}
    return {k: v for k, v in data.items() if k in props}


def _bundle_target(view: BundleView) -> cases.Target:
    v = view.version
    return cases.Target(workflow=bundle_wf.NAME, region_code=view.bundle.region_code,
                        department_id=None, item_code=None, item_name=v.name,
                        implementation_code=None, version_id=None, legal_days=v.legal_days,
                        promised_days=v.promised_days)


def apply(
    *, db_session: Session, settings: Settings, actor: Actor, bundle_code: str,
    form_data: dict[str, Any], channel: str, applicant: ApplicantIn | None = None,
    idempotency_key: str | None = None, now: datetime | None = None,
) -> Case:
    """Apply once for every member: the bundle case, and its first tasks started."""
    now = now or utcnow()
    bundle = _get_bundle(db_session, bundle_code)
    view = view_of(db_session=db_session, bundle=bundle, version=_current(db_session, bundle))
    found = _existing(db_session, actor, idempotency_key)
    if found is not None:
        return _replay(db_session, found, bundle)
    _check_startable(view)
    parties = _parties(db_session, actor, view, applicant, now)
    first = parties[view.members[0].code]
    _check_channel(view, channel, first)
    _check_reach(actor, view)
    validate_form(view, form_data)
    try:
        with db_session.begin_nested():
            case = _open(db_session, settings, actor, view, parties, form_data, channel, now,
                         idempotency_key)
    except IntegrityError:
        found = _existing(db_session, actor, idempotency_key)
        if found is None:
            raise
        return _replay(db_session, found, bundle)
    return case


def _open(db_session: Session, settings: Settings, actor: Actor, view: BundleView,
          parties: dict[str, cases.Party], form_data: dict[str, Any], channel: str,
          now: datetime, key: str | None) -> Case:
    party = parties[view.members[0].code]
    case = cases.open_case(db_session=db_session, actor=actor, target=_bundle_target(view),
                           party=party, form_data=form_data, channel=channel, now=now,
                           kind=CaseKind.bundle, idempotency_key=key,
                           state=bundle_wf.BundleState.in_progress.value)
    db_session.add(BundleCase(case_id=case.id, bundle_id=view.bundle.id,
                              version_id=view.version.id))
    tasks = [BundleTask(id=new_id(), bundle_case_id=case.id, member_id=rm.member.id,
                        position=rm.member.position, implementation_code=rm.code,
                        status=TaskStatus.pending.value,
                        authorisation_id=parties[rm.code].authorisation_id)
             for rm in view.members]
    db_session.add_all(tasks)
    run = _Run(db_session, case, terms_of(view.version), tasks, {}, actor, now,
               {rm.code: rm for rm in view.members})
    _progress(db_session, settings, run)
    audit(db_session=db_session, actor_id=actor.account_id, actor_name=actor.name,
          action="bundle.apply", entity="case", entity_id=case.number,
          details={"bundle_code": view.bundle.code, "version": view.version.version,
                   "tasks": [t.implementation_code for t in tasks]})
    db_session.flush()
    return case


# ================================================================ the engine


@dataclass
class _Run:
    """One evaluation of a bundle case: its terms, task rows and task cases."""

    db_session: Session
    bundle_case: Case
    terms: Terms
    tasks: list[BundleTask]
    cases: dict[uuid.UUID, Case]
    actor: Actor | None  # who files started tasks (None: the bundle's filer, loaded)
    now: datetime
    resolved: dict[str, ResolvedMember]

    def member(self, code: str) -> ResolvedMember:
        """A member against the catalog now (read only when a task starts or is named)."""
        if code not in self.resolved:
            terms = next(m for m in self.terms.members if m.implementation_code == code)
            self.resolved[code] = _resolve(self.db_session, terms)
        return self.resolved[code]

    def outcome(self, task: BundleTask) -> str:
        """pending / skipped / open / ok / failed."""
        if task.status != TaskStatus.started:
            return task.status
        assert task.task_case_id is not None
        case = self.cases[task.task_case_id]
        if case.decision in FAILED_DECISIONS or case.state in FAILED_STATES:
            return "failed"
        return "ok" if case.decision in APPROVED else "open"

    def by_code(self) -> dict[str, BundleTask]:
        return {t.implementation_code: t for t in self.tasks}


def _filer(db_session: Session, case: Case) -> Actor:
    """Whoever filed the bundle, as an actor: later tasks are filed in their name."""
    from tongban.identity import service as identity

    if case.submitted_by_account_id is None:
        return ENGINE
    account = identity.get_account(db_session=db_session, account_id=case.submitted_by_account_id)
    return identity.actor_from_account(account)


def _progress(db_session: Session, settings: Settings, run: _Run) -> bool:
    """Start pending members whose dependencies are approved; skip those that cannot."""
    moved = False
    changed = True
    while changed:
        changed = False
        codes = run.by_code()
        for task in run.tasks:
            if task.status != TaskStatus.pending:
                continue
            deps = [run.outcome(codes[d]) for d in run.terms.depends_on(task.implementation_code)]
            if any(d in ("failed", "skipped") for d in deps):
                _skip(task, "所依赖的事项未获准予 / a member it depends on was not approved")
            elif all(d == "ok" for d in deps):
                _start(db_session, settings, run, task)
            else:
                continue
            changed = moved = True
    return moved


def _skip(task: BundleTask, note: str) -> None:
    task.status, task.note = TaskStatus.skipped.value, note


def _start(db_session: Session, settings: Settings, run: _Run, task: BundleTask) -> None:
    """Open the member's task case under its current version, with its part of the form."""
    rm = run.member(task.implementation_code)
    if rm.version is None:
        _skip(task, "成员事项已停止办理 / the member implementation is no longer published")
        return
    if run.actor is None:
        run.actor = _filer(db_session, run.bundle_case)
    bc = run.bundle_case
    party = cases.Party(bc.applicant_person_id, bc.applicant_enterprise_id,
                        bc.applicant_account_id, bc.applicant_name, task.authorisation_id,
                        bc.receiving_region_code)
    target = dataclasses.replace(cases.target_of(rm.version), promised_days=rm.promised_days)
    form = project(rm.version.form_schema, bc.form_data)
    case = cases.open_case(db_session=db_session, actor=run.actor, target=target, party=party,
                           form_data=form, channel=bc.channel, now=run.now,
                           kind=CaseKind.task, parent_case_id=bc.id)
    task.status, task.task_case_id = TaskStatus.started.value, case.id
    run.cases[case.id] = case
    licensing.attach_held_licences(db_session=db_session, case=case, guide=rm.version.guide,
                                   now=run.now)
    _forward_materials(db_session, settings, run, rm, case)


def _forward_materials(db_session: Session, settings: Settings, run: _Run,
                       rm: ResolvedMember, case: Case) -> None:
    """Materials uploaded for the bundle before this task started: shared with it."""
    assert rm.version is not None and run.actor is not None
    covered = {m.material_code for m in licensing.attached_licences(
        db_session=db_session, case_ids=[case.id])}
    wanted = _upload_codes(rm.version.guide) - covered
    shared = [m for m in current_materials(db_session=db_session, bundle_case_id=run.bundle_case.id)
              if m.material_code in wanted]
    if not shared:
        return
    store = blob_store(settings)
    for material in shared:
        cases.attach_material(db_session=db_session, settings=settings, actor=run.actor,
                              case_number=case.number, material_code=material.material_code,
                              filename=material.filename, data=store.get(material.sha256),
                              store=store, now=run.now)
        material.shared_with = [*material.shared_with, case.number]


def _upload_codes(guide: dict[str, Any]) -> set[str]:
    return {m["code"] for m in guide.get("materials") or []
            if m.get("source", "upload") in cases.UPLOADABLE_SOURCES}


def _lock(db_session: Session, case_id: uuid.UUID) -> tuple[Case, list[Case]]:
    """The bundle case and its task cases, read fresh and locked (PostgreSQL) so that two
    tasks decided at once are seen in turn: the second waits, then sees the first."""
    stmt = (select(Case).where(or_(Case.id == case_id, Case.parent_case_id == case_id))
            .with_for_update().execution_options(populate_existing=True))
    rows = list(db_session.scalars(stmt))
    bundle = next(c for c in rows if c.id == case_id)
    return bundle, [c for c in rows if c.id != case_id]


def _load_run(db_session: Session, bundle_case: Case, now: datetime,
              task_cases: list[Case] | None = None) -> _Run:
    rows = db_session.execute(
        select(BundleTask, BundleCase.version_id)
        .join(BundleCase, BundleCase.case_id == BundleTask.bundle_case_id)
        .where(BundleTask.bundle_case_id == bundle_case.id).order_by(BundleTask.position)
    ).all()
    tasks = [t for t, _ in rows]
    loaded: Iterable[Case] = task_cases if task_cases is not None else db_session.scalars(
        select(Case).where(Case.parent_case_id == bundle_case.id))
    return _Run(db_session, bundle_case, _terms(db_session, rows[0][1]), tasks,
                {c.id: c for c in loaded}, None, now, {})


def _system_act(db_session: Session, settings: Settings, case: Case, action: str,
                reason: str | None, now: datetime) -> None:
    cases.act(db_session=db_session, settings=settings, actor=ENGINE, case_number=case.number,
              action=action, reason=reason, now=now)


def _summary(run: _Run, tasks: Iterable[BundleTask]) -> str:
    parts = []
    for t in tasks:
        case = run.cases.get(t.task_case_id) if t.task_case_id else None
        name = case.item_name if case else run.member(t.implementation_code).name
        state = case.state if case else t.status
        parts.append(f"{name}: {STATE_LABELS.get(state, state)}")
    return ";".join(parts)


def evaluate(*, db_session: Session, settings: Settings, bundle_case_id: uuid.UUID,
             now: datetime) -> None:
    """Move a bundle case after one of its tasks moved (see the module docstring)."""
    bundle_case, task_cases = _lock(db_session, bundle_case_id)
    if bundle_case.state not in bundle_wf.OPEN_STATES:
        return
    run = _load_run(db_session, bundle_case, now, task_cases)
    if bundle_case.state == bundle_wf.BundleState.in_progress and any(
            c.accepted_at is not None for c in run.cases.values()):
        _system_act(db_session, settings, bundle_case, Action.accept, None, now)
    rule = run.terms.deny_rule
    while True:
        failed = [t for t in run.tasks if run.outcome(t) in ("failed", "skipped")]
        if failed and rule != DenyRule.continue_others:
            _deny(db_session, settings, run, failed, terminate=rule == DenyRule.terminate_others)
            return
        if not _progress(db_session, settings, run):
            break
    _decide_when_done(db_session, settings, run)


def _deny(db_session: Session, settings: Settings, run: _Run, failed: list[BundleTask],
          *, terminate: bool) -> None:
    for task in run.tasks:
        if task.status == TaskStatus.pending:
            _skip(task, "一件事已不予 / the bundle was denied")
    reason = f"成员事项未获准予 / a member was not approved: {_summary(run, failed)}"
    _system_act(db_session, settings, run.bundle_case, Action.deny, reason, run.now)
    if terminate:
        for task in run.tasks:
            if run.outcome(task) == "open":
                assert task.task_case_id is not None
                _system_act(db_session, settings, run.cases[task.task_case_id],
                            Action.terminate, "一件事中其他事项未获准予,依规则终止 / another "
                            f"member was not approved; terminated by the bundle's rule "
                            f"({_summary(run, failed)})", run.now)


def _decide_when_done(db_session: Session, settings: Settings, run: _Run) -> None:
    outcomes = [run.outcome(t) for t in run.tasks]
    if any(o in ("open", "pending") for o in outcomes):
        return
    case = run.bundle_case
    if all(o == "ok" for o in outcomes):
        _system_act(db_session, settings, case, Action.approve, None, run.now)
        return
    reason = _summary(run, run.tasks)
    action = bundle_wf.BundleAction.partly_approve if "ok" in outcomes else Action.deny
    _system_act(db_session, settings, case, action, reason, run.now)


def _cascade(db_session: Session, settings: Settings, case: Case, event: CaseEvent) -> None:
    """The bundle was withdrawn or terminated: its open tasks follow, pending ones never
    start."""
    run = _load_run(db_session, case, event.at)
    actor = ENGINE
    if event.action == Action.withdraw:
        actor = _filer_by_id(db_session, event.actor_id) or _filer(db_session, case)
    for task in run.tasks:
        if task.status == TaskStatus.pending:
            _skip(task, "一件事已撤回或终止 / the bundle was withdrawn or terminated")
        elif run.outcome(task) == "open":
            assert task.task_case_id is not None
            cases.act(db_session=db_session, settings=settings, actor=actor,
                      case_number=run.cases[task.task_case_id].number, action=event.action,
                      reason=event.reason, now=event.at)


def _filer_by_id(db_session: Session, account_id: uuid.UUID | None) -> Actor | None:
    from tongban.identity import service as identity

    if account_id is None:
        return None
    return identity.actor_from_account(
        identity.get_account(db_session=db_session, account_id=account_id))


def after_transition(*, db_session: Session, settings: Settings, case: Case,
                     event: CaseEvent) -> None:
    """The case engine's hook: a task changed state, or a bundle was withdrawn/terminated."""
    if event.from_state == event.to_state:
        return
    if case.kind == CaseKind.task and case.parent_case_id is not None:
        evaluate(db_session=db_session, settings=settings, bundle_case_id=case.parent_case_id,
                 now=event.at)
    elif case.kind == CaseKind.bundle and event.action in (Action.withdraw, Action.terminate):
        _cascade(db_session, settings, case, event)


def partly_approve(ctx: Any) -> None:
    """partly_approved is a decision the engine's DECISIONS set does not know: record it."""
    ctx.case.decision = bundle_wf.BundleState.partly_approved.value
    ctx.case.decision_reason = ctx.reason
    ctx.case.decided_at = ctx.now


# ================================================================ reading a bundle case


@dataclass(frozen=True)
class TaskView:
    task: BundleTask
    member: ResolvedMember
    case: Case | None


@dataclass(frozen=True)
class BundleCaseDetail:
    detail: cases.CaseDetail
    view: BundleView
    tasks: list[TaskView]
    materials: list[BundleMaterial]
    licences: list[CaseMaterial]  # 一证通办: e-licences referenced by its task cases

    def licence_for(self, material_code: str) -> CaseMaterial | None:
        """The held e-licence that supplies this material on a task, if any."""
        return next((m for m in self.licences if m.material_code == material_code), None)


def _bundle_case(db_session: Session, actor: Actor, case_number: str) -> Case:
    case = cases.get_case(db_session=db_session, case_number=case_number)
    if case.kind != CaseKind.bundle or not cases.can_see(actor, case):
        raise NotFound("一件事办件不存在 / no such bundle case",
                       details={"case_number": case_number})
    return case


def _case_view(db_session: Session, case: Case) -> BundleView:
    """The bundle version a bundle case was applied under, resolved and merged now."""
    link = db_session.get(BundleCase, case.id)
    assert link is not None
    bundle = db_session.get(Bundle, link.bundle_id)
    version = db_session.get(BundleVersion, link.version_id)
    assert bundle is not None and version is not None
    return view_of(db_session=db_session, bundle=bundle, version=version)


def current_materials(*, db_session: Session, bundle_case_id: uuid.UUID) -> list[BundleMaterial]:
    """The latest upload of each material code of a bundle case."""
    rows = db_session.scalars(select(BundleMaterial)
                              .where(BundleMaterial.bundle_case_id == bundle_case_id)
                              .order_by(BundleMaterial.supplied_at))
    latest: dict[str, BundleMaterial] = {}
    for row in rows:
        latest[row.material_code] = row
    return list(latest.values())


def get_case(*, db_session: Session, actor: Actor, case_number: str,
             now: datetime | None = None) -> BundleCaseDetail:
    """A bundle case with its tasks (pending, started, skipped) and shared materials."""
    case = _bundle_case(db_session, actor, case_number)
    detail = cases.get(db_session=db_session, actor=actor, case_number=case_number, now=now)
    run = _load_run(db_session, case, now or utcnow(), detail.tasks)
    view = _case_view(db_session, case)
    tasks = [TaskView(t, view.member(t.implementation_code),
                      run.cases.get(t.task_case_id) if t.task_case_id else None)
             for t in run.tasks]
    return BundleCaseDetail(detail, view, tasks,
                            current_materials(db_session=db_session, bundle_case_id=case.id),
                            licensing.attached_licences(db_session=db_session,
                                                        case_ids=list(run.cases)))


def attach_material(
    *, db_session: Session, settings: Settings, actor: Actor, case_number: str,
    material_code: str, filename: str, data: bytes, store: BlobStore | None = None,
    now: datetime | None = None,
) -> BundleMaterial:
    """Upload a material once for the bundle; every started task that lists it gets it now,
    tasks that start later get it then."""
    now = now or utcnow()
    case = _bundle_case(db_session, actor, case_number)
    if not actor.has("applicant", "agent", "clerk"):
        raise Forbidden("只有申请人、代办人或窗口人员可以提交材料 / only the applicant, their "
                        "agent or a window clerk may supply materials", code="wrong_role")
    if case.state not in bundle_wf.OPEN_STATES:
        raise Conflict("一件事已办结,不能再提交材料 / the bundle is closed",
                       code="action_not_allowed", details={"state": case.state})
    run = _load_run(db_session, case, now)
    view = _case_view(db_session, case)
    spec = next((m for m in view.merged.materials if m.code == material_code), None)
    if spec is None or spec.source not in cases.UPLOADABLE_SOURCES:
        raise InvalidInput("一件事材料清单中没有该上传材料 / no such uploaded material in the "
                           "bundle", details=[{"field": "material_code", "message": material_code}])
    store = store or blob_store(settings)
    blob = store.put(data)
    shared = []
    for task in run.tasks:
        task_case = run.cases.get(task.task_case_id) if task.task_case_id else None
        if task_case is None or task_case.state not in cases.MATERIAL_STATES:
            continue
        version = view.member(task.implementation_code).version
        guide = (catalog.get_version(db_session=db_session,
                                     version_id=task_case.implementation_version_id).guide
                 if task_case.implementation_version_id else (version.guide if version else {}))
        covered = {m.material_code for m in licensing.attached_licences(
            db_session=db_session, case_ids=[task_case.id])}
        if material_code in _upload_codes(guide) and material_code not in covered:
            cases.attach_material(db_session=db_session, settings=settings, actor=actor,
                                  case_number=task_case.number, material_code=material_code,
                                  filename=filename, data=data, store=store, now=now)
            shared.append(task_case.number)
    row = BundleMaterial(id=new_id(), bundle_case_id=case.id, material_code=material_code,
                         name=spec.name, sha256=blob.sha256, size=blob.size,
                         content_type=blob.content_type, filename=(filename or "file")[:255],
                         supplied_at=now, supplied_by=actor.account_id, shared_with=shared)
    db_session.add(row)
    db_session.flush()
    audit(db_session=db_session, actor_id=actor.account_id, actor_name=actor.name,
          action="bundle.material_attached", entity="case", entity_id=case.number,
          details={"material_code": material_code, "sha256": blob.sha256,
                   "shared_with": shared})
    return row
