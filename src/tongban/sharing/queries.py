"""Purpose-bound queries and the access log.

A staff member of a consumer department asks for fields of one subject's records, for a
named purpose, under a grant to their department; where the grant requires it they show
the case the read serves or the subject's recorded consent. They get only the granted
fields, masked as granted. Every query, allowed or refused, is one row of the access log
(who, for which department, what, why, under which grant, how many records), with one
audit entry and one ledger act per request, in the caller's transaction. A refusal is
returned, not raised, so that the caller commits its record before answering 403.

The subject's view ("我的数据被谁用了") is read from the same log, with the reads a grant
delays shown only as a reason and the date they will show (AJ v3's hiddenUntil).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, insert, or_, select
from sqlalchemy.orm import Session, make_transient_to_detached

from tongban.audit.service import record as audit
from tongban.catalog.models import Department
from tongban.config import Settings
from tongban.db import copy_rows, new_id, utcnow
from tongban.errors import DomainError, Forbidden
from tongban.identity import crypto
from tongban.identity.actor import Actor
from tongban.ledger.service import record_act
from tongban.sharing import consents, grants, registries
from tongban.sharing.fields import mask
from tongban.sharing.models import (
    Access,
    AccessOutcome,
    BulkSubject,
    Consent,
    Dataset,
    Grant,
    GrantStatus,
    GrantUsage,
    SharingType,
)

RESULT_COLUMN = "sharing_accesses.result"
ACCESS_INSERT = insert(Access)  # Core: executed on the connection, no ORM bulk path
QUERY_ROLES = frozenset({"clerk", "reviewer", "data_steward", "supervisor"})
AUDIT_ROLES = frozenset({"data_steward", "supervisor", "operator"})

# Why a read was refused: code -> what the caller reads (Chinese / English).
REASONS = {
    "not_consumer_staff": "您不是可代表消费部门查询的工作人员 / you are not staff of a consumer "
                          "department",
    "purpose_missing": "查询须说明用途 / a query must name its purpose",
    "unknown_dataset": "共享目录中没有该数据集 / no such dataset",
    "dataset_not_shared": "该数据集不予共享 / this dataset is not shared",
    "no_grant": "本部门没有该数据集用于此用途的授权 / your department holds no grant of this "
                "dataset for this purpose",
    "grant_revoked": "授权已撤销 / the grant was revoked",
    "grant_paused": "授权已暂停 / the grant is paused",
    "grant_expired": "授权已过期 / the grant has expired",
    "grant_not_yet_valid": "授权尚未生效 / the grant is not valid yet",
    "grant_exhausted": "授权使用次数已用完 / the grant's use limit is reached",
    "field_not_granted": "所查字段超出授权范围 / fields outside the grant",
    "field_masked": "授权对须比对的字段作了脱敏 / the grant masks a field this read "
                    "must compare",
    "case_required": "该授权要求提供办件编号 / this grant requires a case number",
    "case_mismatch": "办件不属于本部门或不是该查询对象的 / the case is not your department's "
                     "or not this subject's",
    "consent_required": "该授权要求本人授权 / this grant requires the subject's consent",
    "consent_mismatch": "本人授权与本次查询不符 / the consent does not cover this query",
    "consent_revoked": "本人已撤回授权 / the subject withdrew the consent",
    "consent_expired": "本人授权已过期 / the consent has expired",
    "case_or_consent_required": "该授权要求提供办件编号或本人授权 / this grant requires a case "
                                "number or the subject's consent",
}


@dataclass(frozen=True)
class Ask:
    """What a read asks for, and on whose behalf."""

    dataset: str
    subject: registries.Subject | None
    fields: Sequence[str] | None
    purpose_code: str
    purpose_text: str
    case_number: str | None
    consent_id: uuid.UUID | None
    kind: str = "query"  # query / no_submit / remote_query
    # Fields the reader compares (a rule engine): a grant masking one of them refuses the
    # read before anything is read, since a masked value cannot be compared.
    compared: Sequence[str] = ()


@dataclass(frozen=True)
class Consumer:
    credit_code: str
    name: str
    region: str
    department_id: uuid.UUID | None  # None: a department of a peer node


@dataclass
class Allowed:
    access: Access
    grant: Grant
    records: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Denied:
    access: Access
    reason: str
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def message(self) -> str:
        return REASONS.get(self.reason, self.reason)

    def error(self) -> DomainError:
        """The 403 the caller answers with, once the refusal is committed."""
        return Forbidden(self.message, code=self.reason,
                         details={**self.details, "access_id": str(self.access.id)})


Outcome = Allowed | Denied


# --- the log ---------------------------------------------------------------------------


def _row(settings: Settings, actor: Actor, consumer: Consumer | None, ask: Ask,
         now: datetime, *, outcome: str, reason: str | None = None,
         grant: Grant | None = None, count: int = 0, consent: Consent | None = None,
         result: Any = None, provider_region: str | None = None) -> dict[str, Any]:
    """The access-log row of one read (or refused attempt)."""
    hidden = grant.hidden_days if grant is not None and outcome == AccessOutcome.allowed else 0
    return {
        "id": new_id(), "at": now, "kind": ask.kind, "outcome": outcome, "reason": reason,
        "actor_id": actor.account_id, "actor_name": actor.name,
        "consumer_credit_code": consumer.credit_code if consumer else None,
        "consumer_name": consumer.name if consumer else "",
        "consumer_region": consumer.region if consumer else "",
        "provider_region": provider_region or settings.node_region,
        "dataset_code": ask.dataset,
        "subject_key": ask.subject.key if ask.subject else None,
        "subject_masked": ask.subject.masked if ask.subject else "",
        "fields": list(ask.fields or []), "purpose_code": ask.purpose_code,
        "purpose_text": ask.purpose_text,
        "legal_ref": grant.detail["basis"]["legal_ref"] if grant is not None else "",
        "grant_id": grant.grant_id if grant else None,
        "grant_version": grant.version if grant else None, "case_number": ask.case_number,
        "consent_id": consent.id if consent else ask.consent_id, "result_count": count,
        "hidden_until": now + timedelta(days=hidden) if hidden else None,
        "hidden_reason": (grant.detail["visibility"]["hidden_reason"]
                          if hidden and grant else None),
        "result_enc": seal_result(settings, result) if result is not None else None,
        "answered_at": now if outcome != AccessOutcome.pending else None}


def _facts(row: dict[str, Any]) -> dict[str, Any]:
    """What an access row's audit entry and ledger act say of it."""
    return {"access_id": str(row["id"]), "outcome": row["outcome"], "reason": row["reason"],
            "dataset": row["dataset_code"], "consumer": row["consumer_credit_code"],
            "purpose_code": row["purpose_code"], "case_number": row["case_number"],
            "fields": row["fields"], "result_count": row["result_count"],
            "kind": row["kind"], "grant_id": str(row["grant_id"]) if row["grant_id"] else None,
            "grant_version": row["grant_version"]}


def _write(db_session: Session, actor: Actor, rows: list[dict[str, Any]],
           bulk: dict[str, Any] | None = None) -> list[Access]:
    """Append the access rows of one request (with a screening's `bulk` facts), one audit
    entry and one ledger act for all of them (the act binds every row's facts): three
    INSERTs however many rows, in the caller's transaction."""
    if not rows:
        return []
    facts = [_facts(row) for row in rows]
    first = rows[0]
    details = {**(facts[0] if len(rows) == 1 else {
        "reads": facts, "kind": first["kind"], "consumer": first["consumer_credit_code"],
        "purpose_code": first["purpose_code"]}), **(bulk or {})}
    db_session.connection().execute(ACCESS_INSERT, rows)
    audit(db_session=db_session, actor_id=actor.account_id, actor_name=actor.name,
          action=f"sharing.{first['kind']}", entity="sharing_access",
          entity_id=str(first["id"]), details=details)
    record_act(db_session=db_session, kind="sharing.access",
               payload={"at": first["at"].isoformat(), **details})
    accesses = [Access(**row) for row in rows]
    for access in accesses:  # the rows just written, as loaded objects of the session
        make_transient_to_detached(access)
        db_session.add(access)
    return accesses


def _log(db_session: Session, settings: Settings, actor: Actor, consumer: Consumer | None,
         ask: Ask, now: datetime, *, outcome: str, reason: str | None = None,
         grant: Grant | None = None, count: int = 0, consent: Consent | None = None,
         result: Any = None, provider_region: str | None = None) -> Access:
    """Append one access row, its audit entry and its ledger act."""
    return _write(db_session, actor, [_row(
        settings, actor, consumer, ask, now, outcome=outcome, reason=reason, grant=grant,
        count=count, consent=consent, result=result, provider_region=provider_region)])[0]


def seal_result(settings: Settings, result: Any) -> bytes:
    """A masked answer kept for later (免提交 material, remote answer), sealed."""
    return crypto.encrypt(settings=settings, value=json.dumps(result, ensure_ascii=False),
                          column=RESULT_COLUMN)


def open_result(*, settings: Settings, access: Access) -> Any:
    """The kept answer of an access (None if none was kept)."""
    if access.result_enc is None:
        return None
    return json.loads(crypto.decrypt(settings=settings, blob=access.result_enc,
                                     column=RESULT_COLUMN))


def _deny(db_session: Session, settings: Settings, actor: Actor, consumer: Consumer | None,
          ask: Ask, now: datetime, reason: str, grant: Grant | None = None,
          **details: Any) -> Denied:
    access = _log(db_session, settings, actor, consumer, ask, now,
                  outcome=AccessOutcome.denied, reason=reason, grant=grant)
    return Denied(access, reason, details)


# --- checks ----------------------------------------------------------------------------


_STATUS_REASON = {GrantStatus.revoked: "grant_revoked", GrantStatus.paused: "grant_paused",
                  GrantStatus.expired: "grant_expired", GrantStatus.exhausted: "grant_exhausted",
                  "not_yet_valid": "grant_not_yet_valid"}

# (dataset, purpose code) -> the consumer's current grant versions, newest first, each
# with its use count (None: no usage row yet, as for a grant copied from a peer node).
Found = dict[tuple[str, str], list[tuple[Grant, int | None]]]


@dataclass(frozen=True)
class Resolved:
    """The datasets a request reads and the consumer's grants of them, with their use
    counts: what every check of the request needs, read in one statement."""

    datasets: dict[str, Dataset]
    found: Found


def resolve(*, db_session: Session, consumer: Consumer,
            wanted: Iterable[tuple[str, str]]) -> Resolved:
    """The catalog entries of the (dataset, purpose code) pairs a request reads and the
    consumer's current grants of them: one statement however many datasets it reads."""
    pairs = {(d, p) for d, p in wanted}
    found: Found = {pair: [] for pair in pairs if pair[1].strip()}
    datasets: dict[str, Dataset] = {}
    if not pairs:
        return Resolved(datasets, found)
    purposes = sorted({p for _, p in found})
    stmt = (select(Dataset, Grant, GrantUsage.use_count)
            .outerjoin(Grant, and_(Grant.dataset_code == Dataset.code,
                                   Grant.consumer_credit_code == consumer.credit_code,
                                   Grant.current.is_(True), Grant.purpose_code.in_(purposes)))
            .outerjoin(GrantUsage, GrantUsage.grant_id == Grant.grant_id)
            .where(Dataset.code.in_(sorted({d for d, _ in pairs})))
            .order_by(Grant.created_at.desc()))
    for dataset, grant, used in db_session.execute(stmt):
        datasets[dataset.code] = dataset
        if grant is not None and (grant.dataset_code, grant.purpose_code) in found:
            found[(grant.dataset_code, grant.purpose_code)].append((grant, used))
    return Resolved(datasets, found)


def _pick_grant(candidates: list[tuple[Grant, int | None]], now: datetime
                ) -> tuple[Grant | None, str | None]:
    """The live grant among a consumer's grants for a dataset and purpose; else why there
    is none (the most telling reason of the grants that exist)."""
    if not candidates:
        return None, "no_grant"
    reasons = []
    for grant, used in candidates:
        status = grants.effective_status(grant, used or 0, now)
        if status == GrantStatus.active:
            return grant, None
        reasons.append(_STATUS_REASON.get(status, "no_grant"))
    return candidates[0][0], reasons[0]


def _grant_for(db_session: Session, dataset: str, consumer: Consumer, purpose_code: str,
               now: datetime) -> tuple[Grant | None, str | None]:
    """The live grant for this consumer, dataset and purpose; else why there is none.
    The dataset need not be in this node's catalog: a consumer node holds the signed
    copy of a peer's grant of a dataset the peer catalogs."""
    stmt = (select(Grant, GrantUsage.use_count)
            .outerjoin(GrantUsage, GrantUsage.grant_id == Grant.grant_id)
            .where(Grant.dataset_code == dataset,
                   Grant.consumer_credit_code == consumer.credit_code,
                   Grant.purpose_code == purpose_code, Grant.current.is_(True))
            .order_by(Grant.created_at.desc()))
    return _pick_grant([(g, used) for g, used in db_session.execute(stmt)], now)


def _case_serves(db_session: Session, settings: Settings, case_number: str,
                 consumer: Consumer, subject: registries.Subject) -> bool:
    """Is the case this consumer department's, and about this subject?"""
    from tongban.cases import service as cases
    from tongban.errors import NotFound
    from tongban.identity import service as identity

    try:
        case = cases.get_case(db_session=db_session, case_number=case_number)
    except NotFound:
        return False
    if consumer.department_id is None or case.department_id != consumer.department_id:
        return False
    if case.applicant_person_id is not None:
        person = identity.get_person(db_session=db_session, person_id=case.applicant_person_id)
        return person.id_number_hash == subject.key
    if case.applicant_enterprise_id is not None:
        enterprise = identity.get_enterprise(db_session=db_session,
                                             enterprise_id=case.applicant_enterprise_id)
        return registries.enterprise_key(settings=settings,
                                         credit_code=enterprise.credit_code) == subject.key
    return False


def _justified(db_session: Session, settings: Settings, grant: Grant, consumer: Consumer,
               ask: Ask, now: datetime, *, case_checked: bool | None = None
               ) -> tuple[Consent | None, str | None]:
    """The case or consent the grant requires, or the reason it is missing. A peer node
    checks the case on its side and says so (`case_checked`)."""
    assert ask.subject is not None
    needs = grant.requires
    case_ok = False
    if ask.case_number:
        case_ok = case_checked if case_checked is not None else _case_serves(
            db_session, settings, ask.case_number, consumer, ask.subject)
    if needs in ("case", "case_or_consent") and case_ok:
        return None, None
    if needs == "case":
        return None, "case_mismatch" if ask.case_number else "case_required"
    if needs == "none":
        return None, None
    consent, missing = consents.usable(
        db_session=db_session, consent_id=ask.consent_id, subject_key=ask.subject.key,
        consumer_credit_code=consumer.credit_code, dataset=ask.dataset,
        purpose_code=ask.purpose_code, now=now)
    if consent is not None:
        return consent, None
    if needs == "case_or_consent" and missing == "consent_required":
        return None, "case_mismatch" if ask.case_number else "case_or_consent_required"
    return None, missing


@dataclass
class _Passed:
    """An ask that passed every check but the use count."""

    ask: Ask
    dataset: Dataset
    grant: Grant
    consent: Consent | None


@dataclass
class _Refusal:
    ask: Ask
    reason: str
    grant: Grant | None = None
    details: dict[str, Any] = field(default_factory=dict)


def _check(db_session: Session, settings: Settings, consumer: Consumer, ask: Ask,
           resolved: Resolved, now: datetime, case_checked: bool | None
           ) -> _Passed | _Refusal:
    """The checks of one ask, in the order the docs list them (use limit aside)."""
    if not ask.purpose_code.strip():
        return _Refusal(ask, "purpose_missing")
    dataset = resolved.datasets.get(ask.dataset)
    if dataset is None:
        return _Refusal(ask, "unknown_dataset")
    if dataset.sharing_type == SharingType.not_shared:
        return _Refusal(ask, "dataset_not_shared")
    grant, why = _pick_grant(resolved.found.get((ask.dataset, ask.purpose_code), []), now)
    if grant is None or why is not None:
        return _Refusal(ask, why or "no_grant", grant)
    granted: dict[str, str] = grant.detail["scope"]["fields"]
    wanted = list(ask.fields) if ask.fields else list(granted)
    outside = sorted(set(wanted) - set(granted))
    if outside:
        return _Refusal(ask, "field_not_granted", grant,
                        {"fields": outside, "granted": sorted(granted)})
    masked = sorted(f for f in ask.compared if granted.get(f, "none") != "none")
    if masked:
        return _Refusal(ask, "field_masked", grant, {"fields": masked})
    consent, missing = _justified(db_session, settings, grant, consumer, ask, now,
                                  case_checked=case_checked)
    if missing is not None:
        return _Refusal(ask, missing, grant)
    return _Passed(Ask(**{**ask.__dict__, "fields": wanted}), dataset, grant, consent)


def _answers(db_session: Session, settings: Settings, passed: list[_Passed]
             ) -> list[list[dict[str, Any]]]:
    """The granted fields of each ask's records, masked as granted: one read per subject
    for all the datasets asked about it."""
    by_subject: dict[str, list[registries.SubjectRecord]] = {}
    for p in passed:
        assert p.ask.subject is not None
        by_subject.setdefault(p.ask.subject.key, [])
    for key in by_subject:
        codes = sorted({p.dataset.code for p in passed
                        if p.ask.subject is not None and p.ask.subject.key == key})
        by_subject[key] = registries.records_of(db_session=db_session, settings=settings,
                                                subject_key=key, datasets=codes)
    out = []
    for p in passed:
        assert p.ask.subject is not None
        specs = registries.field_specs(p.dataset)
        granted: dict[str, str] = p.grant.detail["scope"]["fields"]
        out.append([{"values": {f: mask(specs[f], rec.values.get(f), granted[f])
                                for f in p.ask.fields or []},
                     "source": rec.source, "as_of": rec.as_of.isoformat()}
                    for rec in by_subject[p.ask.subject.key] if rec.dataset == p.dataset.code])
    return out


def read_all(*, db_session: Session, settings: Settings, actor: Actor, consumer: Consumer,
             asks: Sequence[Ask], keep: bool = False, case_checked: bool | None = None,
             resolved: Resolved | None = None, now: datetime | None = None
             ) -> list[Allowed] | Denied:
    """The reads of one request (one or several datasets), each passing every check a
    read under a grant passes, all or nothing: the first refusal, in the order asked, is
    logged and returned and nothing is read. The grants of all datasets are resolved in
    one statement and their uses counted in one; the records of a subject in all datasets
    are read in one query; the log rows are written together. `keep` seals each masked
    answer into its log row (免提交, remote). `resolved`: what `resolve` read for these
    asks in this transaction, if the caller needed it first (a rule engine binding its
    rules to the catalog)."""
    now = now or utcnow()
    if resolved is None:
        resolved = resolve(db_session=db_session, consumer=consumer,
                           wanted=[(a.dataset, a.purpose_code) for a in asks])
    passed: list[_Passed] = []
    for ask in asks:
        checked = _check(db_session, settings, consumer, ask, resolved, now, case_checked)
        if isinstance(checked, _Refusal):
            return _deny(db_session, settings, actor, consumer, checked.ask, now,
                         checked.reason, checked.grant, **checked.details)
        passed.append(checked)
    unused = {g.grant_id for pair in resolved.found.values() for g, used in pair
              if used is None}
    exhausted = grants.use_all(db_session=db_session, grants=[p.grant for p in passed],
                               now=now, without_usage=unused)
    if exhausted is not None:
        first = next(p for p in passed if p.grant.grant_id == exhausted)
        return _deny(db_session, settings, actor, consumer, first.ask, now,
                     "grant_exhausted", first.grant)
    answers = _answers(db_session, settings, passed)
    accesses = _write(db_session, actor, [
        _row(settings, actor, consumer, p.ask, now, outcome=AccessOutcome.allowed,
             grant=p.grant, count=len(records), consent=p.consent,
             result=records if keep else None) for p, records in zip(passed, answers,
                                                                      strict=True)])
    return [Allowed(access, p.grant, records)
            for access, p, records in zip(accesses, passed, answers, strict=True)]


def read(*, db_session: Session, settings: Settings, actor: Actor, consumer: Consumer,
         ask: Ask, keep: bool = False, case_checked: bool | None = None,
         now: datetime | None = None) -> Outcome:
    """The checks every read under a grant passes, in order, then the read itself; each
    outcome logged once. `keep` seals the masked answer into the log (免提交, remote)."""
    out = read_all(db_session=db_session, settings=settings, actor=actor, consumer=consumer,
                   asks=[ask], keep=keep, case_checked=case_checked, now=now)
    return out if isinstance(out, Denied) else out[0]


def local_consumer(department: Department) -> Consumer:
    return Consumer(department.credit_code, department.name, department.region_code,
                    department.id)


def query(*, db_session: Session, settings: Settings, actor: Actor, dataset: str,
          identifier: str, purpose_code: str, purpose_text: str = "",
          fields: Sequence[str] | None = None, case_number: str | None = None,
          consent_id: uuid.UUID | None = None, consumer_credit_code: str | None = None,
          now: datetime | None = None) -> Outcome:
    """A staff member's purpose-bound query of one subject (ID number or credit code)."""
    now = now or utcnow()
    found = registries.find_dataset(db_session=db_session, name=dataset)
    subject = (registries.subject_of(settings=settings, kind=found.subject_kind,
                                     identifier=identifier) if found is not None
               else registries.guess_subject(settings=settings, identifier=identifier))
    ask = Ask(dataset=found.code if found else dataset, subject=subject, fields=fields,
              purpose_code=(purpose_code or "").strip(), purpose_text=(purpose_text or "").strip(),
              case_number=(case_number or "").strip() or None, consent_id=consent_id)
    if not actor.has(*QUERY_ROLES):
        return _deny(db_session, settings, actor, None, ask, now, "not_consumer_staff")
    try:
        department = grants.consumer_department(db_session=db_session, actor=actor,
                                                credit_code=consumer_credit_code)
    except Forbidden:
        return _deny(db_session, settings, actor, None, ask, now, "not_consumer_staff")
    return read(db_session=db_session, settings=settings, actor=actor,
                consumer=local_consumer(department), ask=ask, now=now)


# --- reading the log -----------------------------------------------------------------------


def list_accesses(*, db_session: Session, actor: Actor, dataset: str | None = None,
                  outcome: str | None = None, consumer_credit_code: str | None = None,
                  grant_id: uuid.UUID | None = None, mine: bool = False,
                  limit: int = 100) -> list[Access]:
    """The access log, newest first: a steward's, supervisor's or operator's audit view;
    with `mine`, a staff member's own queries."""
    if not mine and not actor.has(*AUDIT_ROLES):
        raise Forbidden("您的角色不能查看共享审计 / your role may not read the access log",
                        details={"required_roles": sorted(AUDIT_ROLES)})
    stmt = select(Access).order_by(Access.at.desc(), Access.id.desc())
    if mine:
        stmt = stmt.where(Access.actor_id == actor.account_id)
    if dataset:
        stmt = stmt.where(Access.dataset_code == dataset)
    if outcome:
        stmt = stmt.where(Access.outcome == outcome)
    if consumer_credit_code:
        stmt = stmt.where(Access.consumer_credit_code == consumer_credit_code)
    if grant_id is not None:
        stmt = stmt.where(Access.grant_id == grant_id)
    return list(db_session.scalars(stmt.limit(max(1, min(limit, 1000)))))


def get_access(*, db_session: Session, access_id: uuid.UUID) -> Access | None:
    return db_session.get(Access, access_id)


@dataclass(frozen=True)
class Hidden:
    reason: str
    until: datetime


@dataclass(frozen=True)
class Usage:
    """What the subject sees: the reads of their data, and those not shown yet."""

    reads: list[Access]
    hidden: list[Hidden]


def usage_of(*, db_session: Session, subject_key: str, now: datetime | None = None,
             limit: int = 500) -> Usage:
    """Every allowed read of the subject's data, newest first, except those a grant
    delays: for each of them only the reason and the date it will show."""
    now = now or utcnow()
    # The screenings' ids first, as values: an IN sub-select here makes PostgreSQL scan
    # the whole log, a list lets it combine the two indexes.
    screenings = list(db_session.scalars(select(BulkSubject.bulk_id).where(
        BulkSubject.subject_key == subject_key)))
    rows = list(db_session.scalars(select(Access).where(
        Access.outcome == AccessOutcome.allowed,
        or_(Access.subject_key == subject_key, Access.bulk_id.in_(screenings)))
        .order_by(Access.at.desc(), Access.id.desc()).limit(max(1, min(limit, 5000)))))
    reads = [a for a in rows if a.hidden_until is None or a.hidden_until <= now]
    hidden = [Hidden(a.hidden_reason or "", a.hidden_until) for a in rows
              if a.hidden_until is not None and a.hidden_until > now]
    return Usage(reads, hidden)


def my_usage(*, db_session: Session, settings: Settings, actor: Actor,
             now: datetime | None = None) -> Usage:
    """"我的数据被谁用了" for the signed-in person or enterprise."""
    key = consents.subject_key_of(db_session=db_session, settings=settings, actor=actor)
    return usage_of(db_session=db_session, subject_key=key, now=now)


@dataclass(frozen=True)
class BulkRead:
    """One dataset a screening read for every subject it logs, under one grant."""

    dataset: str
    fields: Sequence[str]
    grant: Grant | None = None
    legal_ref: str = ""


def subjects_digest(subject_keys: Iterable[str]) -> str:
    """SHA-256 of a screening's subject keys, sorted, one per line: what its ledger acts
    bind, so `tongban verify` can tell when a subject is added to or dropped from it."""
    digest = hashlib.sha256()
    for key in sorted(subject_keys):
        digest.update(f"{key}\n".encode())
    return digest.hexdigest()


def log_bulk_accesses(*, db_session: Session, settings: Settings, actor: Actor,
                      consumer: Consumer, reads: Sequence[BulkRead], purpose_code: str,
                      purpose_text: str, subject_keys: Sequence[str],
                      now: datetime | None = None) -> int:
    """Log a rule engine's screening reads (一键核对, 免申即享) of several datasets: one
    access row per dataset, all sharing one `bulk_id`, and the subjects once as
    `BulkSubject` rows (COPY on PostgreSQL), so each subject sees every read (and, under a
    grant that delays disclosure, sees it when the grant says); an audit entry and a
    ledger act per dataset binding the subjects' digest. Returns the subject reads
    logged (subjects x datasets)."""
    now = now or utcnow()
    keys = sorted(set(subject_keys))
    bulk_id = new_id()
    copy_rows(db_session, BulkSubject.__table__, ("subject_key", "bulk_id"),
              ((key, bulk_id) for key in keys))
    rows = []
    for read in reads:
        ask = Ask(read.dataset, None, list(read.fields), purpose_code, purpose_text,
                  None, None, kind="bulk")
        row = _row(settings, actor, consumer, ask, now, outcome=AccessOutcome.allowed,
                   grant=read.grant, count=len(keys))
        row["bulk_id"] = bulk_id
        row["legal_ref"] = read.legal_ref or row["legal_ref"]
        rows.append(row)
    _write(db_session, actor, rows, bulk={"bulk_id": str(bulk_id), "subjects": len(keys),
                                          "subjects_sha256": subjects_digest(keys)})
    return len(keys) * len(reads)


def log_bulk_access(*, db_session: Session, settings: Settings, actor: Actor,
                    consumer: Consumer, dataset: str, purpose_code: str, purpose_text: str,
                    subject_keys: Sequence[str], fields: Sequence[str],
                    legal_ref: str = "", grant: Grant | None = None,
                    now: datetime | None = None) -> int:
    """`log_bulk_accesses` of one dataset."""
    return log_bulk_accesses(
        db_session=db_session, settings=settings, actor=actor, consumer=consumer,
        reads=[BulkRead(dataset, fields, grant, legal_ref)], purpose_code=purpose_code,
        purpose_text=purpose_text, subject_keys=subject_keys, now=now)


def live_grant(*, db_session: Session, consumer: Consumer, dataset: str, purpose_code: str,
               now: datetime | None = None) -> tuple[Grant | None, str | None]:
    """The consumer's live grant of a dataset for a purpose, else why there is none: for
    a screening (一键核对 over a population) that checks its grants once, then reads
    columns and logs with `log_bulk_access`."""
    return _grant_for(db_session, dataset, consumer, purpose_code, now or utcnow())
