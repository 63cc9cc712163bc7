"""免申即享 and 政策推送: find who newly qualifies, tell them, open the benefit case.

A run screens every rule set in effect over its population (`screening.screen`), and
for each eligible subject without a qualification yet records one; a later run finds
them again and does nothing (the unique key on rule set and subject), so a run may be
repeated or interrupted and re-run. What follows a find is a table:

| mode      | confirmation | on find                          | on confirm        |
|-----------|--------------|----------------------------------|-------------------|
| proactive | none         | open the case, tell (opened)     | -                 |
| proactive | required     | candidate (the department looks) | open, tell        |
| notify    | none         | tell (notified)                  | -                 |
| notify    | required     | candidate                        | tell (notified)   |

The benefit case is opened under the department's published implementation of the
rule set's item, for the subject, with no application: the case's form data names the
rule set version that found them, and the department reviews it as any case.

Telling is the `notify` domain's `policy.qualified` message, keyed per qualification
(once, however often it is retried): an inbox entry, and SMS / e-mail as preferred.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from tongban.audit.service import record as audit
from tongban.catalog import service as catalog
from tongban.config import Settings
from tongban.db import utcnow
from tongban.eligibility import screening, service
from tongban.eligibility.models import Qualification, QualificationState, RuleSet
from tongban.errors import Conflict, Forbidden, NotFound
from tongban.identity import service as identity
from tongban.identity.actor import SYSTEM_ACTOR, Actor
from tongban.sharing import registries

QUALIFIED_KIND = "policy.qualified"
S = QualificationState
NO_CASE = ("主管部门尚无已发布的该事项实施清单或申请人未在平台登记,待人工办理 / no published "
           "implementation of the item or no platform account: a person opens the case")

# (mode, confirmation) -> state on find; a state of the right column names what is done.
ON_FIND: dict[tuple[str, str], S] = {
    ("proactive", "none"): S.opened, ("proactive", "required"): S.candidate,
    ("notify", "none"): S.notified, ("notify", "required"): S.candidate,
}
ON_CONFIRM: dict[str, S] = {"proactive": S.opened, "notify": S.notified}
# state -> the states a person's decision may move it to
DECISIONS: dict[S, tuple[S, ...]] = {S.candidate: (S.confirmed, S.declined)}


@dataclass(frozen=True)
class RunReport:
    rule_set: str
    version: int
    population: int
    eligible: int
    new: int
    refused: str | None = None


def _subject_party(db_session: Session, settings: Settings, rule_set: RuleSet, key: str
                   ) -> tuple[uuid.UUID | None, uuid.UUID | None, str]:
    """The platform's person or enterprise behind a registry subject key (if they have
    one), and the name the registry gives."""
    found = registries.records_of(db_session=db_session, settings=settings, subject_key=key,
                                  datasets=[rules_population(db_session, rule_set)])
    values = found[0].values if found else {}
    name = str(values.get("name", ""))
    if rule_set.subject_kind == "person":
        person = identity.find_person_by_id_number(
            db_session=db_session, settings=settings, id_number=values.get("id_number", ""))
        return (person.id if person else None), None, (person.name if person else name)
    enterprise = identity.find_enterprise_by_credit_code(
        db_session=db_session, credit_code=values.get("credit_code", ""))
    return None, (enterprise.id if enterprise else None), (enterprise.name if enterprise
                                                           else name)


def rules_population(db_session: Session, rule_set: RuleSet) -> str:
    return str(rule_set.document["population"])


def _tell(db_session: Session, settings: Settings, rule_set: RuleSet, q: Qualification,
          now: datetime) -> None:
    """The "you qualify" message (notify: an inbox entry, and SMS / e-mail as the person
    prefers), once per qualification."""
    from tongban.notify import service as notify

    if q.person_id is not None:
        to = notify.Recipient.person(q.person_id)
    elif q.enterprise_id is not None:
        to = notify.Recipient.enterprise(q.enterprise_id)
    else:
        return  # nobody on the platform to tell; the department sees the qualification
    opened = q.state == S.opened
    notify.notify(db_session=db_session, settings=settings, kind=QUALIFIED_KIND, to=to,
                  key=f"eligibility:{q.id}", now=now, params={
                      "policy_name": rule_set.document["name"],
                      "detail": (f"已为您主动办理(办件编号 {q.case_number}),无需申请。"
                                 if opened else "请在网上办事大厅或窗口申请。"),
                      "detail_en": (f"It was opened for you (case {q.case_number}); no "
                                    "application is needed." if opened
                                    else "You may apply online or at a window."),
                      "page": "/my/policies"})


def _open_case(db_session: Session, rule_set: RuleSet, q: Qualification, now: datetime
               ) -> str | None:
    """The benefit case, opened without an application under the department's published
    implementation of the item (None when there is none, or no one to open it for)."""
    from tongban.cases import service as cases

    item = rule_set.document.get("item_code")
    if not item or (q.person_id is None and q.enterprise_id is None):
        return None
    department = service.department_of(db_session=db_session, rule_set=rule_set)
    # The department's own implementation, else one in its region (a county bureau's:
    # 低保 is decided at county level), by code.
    codes = [c for c, _ in catalog.published_guides(db_session=db_session,
                                                     region_code=department.region_code)
             if c[19:] == item]
    code = next((c for c in codes if c[:18] == department.credit_code),
                codes[0] if codes else None)
    if code is None:
        return None
    impl = catalog.get_implementation(db_session=db_session, implementation_code=code)
    assert impl.current_version_id is not None
    version = catalog.get_version(db_session=db_session, version_id=impl.current_version_id)
    party = cases.Party(person_id=q.person_id, enterprise_id=q.enterprise_id, account_id=None,
                        name=q.name, authorisation_id=None, receiving_region=None)
    case = cases.open_case(
        db_session=db_session, actor=SYSTEM_ACTOR, target=cases.target_of(version),
        party=party, channel="proactive", now=now, idempotency_key=f"eligibility:{q.id}",
        form_data={"免申即享": {"rule_set": rule_set.code, "version": rule_set.version,
                              "sha256": rule_set.sha256, "qualification": str(q.id)}})
    return case.number


def _follow(db_session: Session, settings: Settings, rule_set: RuleSet, q: Qualification,
            now: datetime) -> None:
    """Do what the qualification's new state means: open the case, tell the subject."""
    if q.state == S.opened:
        q.case_number = _open_case(db_session, rule_set, q, now)
        if q.case_number is None:  # confirmed, but the case waits for a person
            q.state = S.confirmed
            q.reason = (q.reason + " " if q.reason else "") + NO_CASE
            return
    if q.state in (S.opened, S.notified):
        _tell(db_session, settings, rule_set, q, now)


def run_rule_set(*, db_session: Session, settings: Settings, code: str,
                 actor: Actor = SYSTEM_ACTOR, now: datetime | None = None) -> RunReport:
    """Screen one rule set's population and act on everyone newly eligible."""
    now = now or utcnow()
    done = screening.screen(db_session=db_session, settings=settings, actor=actor, code=code,
                            now=now)
    return _act(db_session, settings, actor, code, done, now)


def _act(db_session: Session, settings: Settings, actor: Actor, code: str,
         done: screening.Screened | service.Refused, now: datetime) -> RunReport:
    """Record a qualification of everyone a screening found eligible and had none, and
    do what its state means."""
    if isinstance(done, service.Refused):
        row = service.current_rule_set(db_session=db_session, code=code)
        return RunReport(code, row.version, 0, 0, 0, refused=done.reason)
    rule_set = done.rule_set
    eligible = done.eligible_keys
    known = set(db_session.scalars(select(Qualification.subject_key).where(
        Qualification.rule_set_code == rule_set.code)))
    state = ON_FIND[(rule_set.mode, rule_set.confirmation)]
    new = [k for k in eligible if k not in known]
    for key in new:
        person_id, enterprise_id, name = _subject_party(db_session, settings, rule_set, key)
        q = Qualification(rule_set_code=rule_set.code, rule_set_version=rule_set.version,
                          rule_set_sha256=rule_set.sha256, subject_kind=rule_set.subject_kind,
                          subject_key=key, person_id=person_id, enterprise_id=enterprise_id,
                          name=name, department_id=rule_set.department_id, state=state,
                          found_at=now)
        db_session.add(q)
        db_session.flush()
        _follow(db_session, settings, rule_set, q, now)
    report = RunReport(rule_set.code, rule_set.version, done.table.height, len(eligible),
                       len(new))
    audit(db_session=db_session, actor_id=actor.account_id, actor_name=actor.name,
          action="eligibility.run", entity="eligibility_rule_set",
          entity_id=f"{rule_set.code}@{rule_set.version}",
          details={"population": report.population, "eligible": report.eligible,
                   "new": report.new})
    return report


def run_all(*, db_session: Session, settings: Settings, actor: Actor = SYSTEM_ACTOR,
            now: datetime | None = None) -> list[RunReport]:
    """Every rule set in effect, screened together (each registry read once for all of
    them) and acted on (the nightly job)."""
    now = now or utcnow()
    codes = []
    for code in sorted({r.code for r in service.list_rule_sets(db_session=db_session)}):
        try:
            service.current_rule_set(db_session=db_session, code=code)
        except NotFound:
            continue  # not in effect today
        codes.append(code)
    screened = screening.screen_many(db_session=db_session, settings=settings, actor=actor,
                                     codes=codes, now=now)
    return [_act(db_session, settings, actor, code, done, now)
            for code, done in screened.items()]


def job(session: Session, settings: Settings) -> int:
    """The worker job: one run of every rule set; returns how many were newly found."""
    return sum(r.new for r in run_all(db_session=session, settings=settings))


# --- the department's confirmation (二次确认) -------------------------------------------------


def list_qualifications(*, db_session: Session, actor: Actor, state: str | None = None,
                        limit: int = 200) -> list[Qualification]:
    """The qualifications of the departments the actor works for, newest first."""
    departments = [s.department_id for s in actor.scopes if s.department_id is not None]
    stmt = select(Qualification).order_by(Qualification.found_at.desc())
    if not actor.has("operator", "supervisor"):
        if not actor.has(*service.CHECK_ROLES) or not departments:
            raise Forbidden("只有政策主管部门的工作人员可以查看 / only staff of the department "
                            "that runs a policy see its qualifications", code="not_policy_staff")
        stmt = stmt.where(Qualification.department_id.in_(departments))
    if state:
        stmt = stmt.where(Qualification.state == state)
    return list(db_session.scalars(stmt.limit(max(1, min(limit, 1000)))))


def mine(*, db_session: Session, actor: Actor) -> list[Qualification]:
    """The policies the signed-in person or enterprise was found to qualify for (what the
    department declined is not shown as a qualification)."""
    if actor.person_id is None and actor.enterprise_id is None:
        return []
    stmt = select(Qualification).where(Qualification.state != S.declined).order_by(
        Qualification.found_at.desc())
    stmt = stmt.where(Qualification.person_id == actor.person_id) if actor.person_id else \
        stmt.where(Qualification.enterprise_id == actor.enterprise_id)
    return list(db_session.scalars(stmt))


def decide(*, db_session: Session, settings: Settings, actor: Actor,
           qualification_id: uuid.UUID, confirm: bool, reason: str,
           now: datetime | None = None) -> Qualification:
    """二次确认: a person of the department confirms a candidate (the case opens, the
    subject is told) or declines it with a reason; recorded with who and when."""
    now = now or utcnow()
    q = db_session.get(Qualification, qualification_id, with_for_update=True)
    if q is None:
        raise NotFound("没有该核对结果 / no such qualification")
    rule_set = db_session.scalar(select(RuleSet).where(
        RuleSet.code == q.rule_set_code, RuleSet.version == q.rule_set_version))
    assert rule_set is not None
    department = service.acting_department(db_session=db_session, actor=actor,
                                           rule_set=rule_set)
    if department is None or actor.account_id is None:
        raise Forbidden(service.REASONS["not_policy_staff"], code="not_policy_staff")
    target = S.confirmed if confirm else S.declined
    if target not in DECISIONS.get(S(q.state), ()):
        raise Conflict(f"当前状态 {q.state} 不能{'确认' if confirm else '驳回'} / a "
                       f"{q.state} qualification cannot be decided", code="bad_state",
                       details={"state": q.state})
    q.decided_at, q.decided_by, q.decided_by_name = now, actor.account_id, actor.name
    q.reason = reason.strip()
    q.state = ON_CONFIRM[rule_set.mode] if confirm else S.declined
    _follow(db_session, settings, rule_set, q, now)
    audit(db_session=db_session, actor_id=actor.account_id, actor_name=actor.name,
          action="eligibility.confirm" if confirm else "eligibility.decline",
          entity="eligibility_qualification", entity_id=str(q.id),
          details={"rule_set": q.rule_set_code, "state": q.state, "reason": q.reason,
                   "case_number": q.case_number})
    db_session.flush()
    return q
