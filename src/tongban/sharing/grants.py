"""Requests (需求清单) and grants: who may read which fields of a dataset, for what, how
often, until when, masked how (wave2.md §A.6).

A grant is a signed record: its detail (parties, basis, purpose, scope, limits, duties,
visibility) is signed as JWS by the owner department's key, stored next to the columns
the query checks read, and never changed. Amending or revoking appends the next version,
signed again; the latest version is the grant. How often it was used lives apart, in
GrantUsage, so that the use limit is one conditional UPDATE (no lost increments under
concurrent queries) and the signed versions stay immutable.

Every new grant is held to the purpose ceilings below (Sahamati's fair-use idea): per
sharing type and legal basis, how long it may run, how often it may be used and what a
query under it must show (a case number or the subject's consent).
"""

from __future__ import annotations

import hashlib
import uuid
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import and_, case, insert, or_, select, update
from sqlalchemy.orm import Session

from tongban.audit.service import record as audit
from tongban.catalog import service as catalog
from tongban.catalog.models import Department
from tongban.config import Settings
from tongban.db import new_id, utcnow
from tongban.errors import Conflict, Forbidden, InvalidInput, NotFound
from tongban.identity.actor import Actor
from tongban.identity.ids import IdentifierError, validate_uscc
from tongban.ledger.service import record_act
from tongban.licences import keys as licence_keys
from tongban.licences import signing
from tongban.licences.models import KeyPurpose
from tongban.sharing import registries
from tongban.sharing.fields import Masking
from tongban.sharing.models import (
    DataRequest,
    Dataset,
    Grant,
    GrantStatus,
    GrantUsage,
    RequestState,
    SharingType,
)

GRANT_TYP = "grant+jwt"
BASES = ("statute", "public_task", "consent", "contract")
REQUIRES = ("none", "case", "consent", "case_or_consent")


@dataclass(frozen=True)
class Ceiling:
    max_days: int
    max_uses: int | None  # None: no cap on the use limit (it may still be set)
    requires: frozenset[str]  # what a query under the grant may be asked to show


# (sharing type, basis) -> ceiling; a basis not listed for a type cannot be granted.
CEILINGS: dict[tuple[str, str], Ceiling] = {
    (SharingType.unconditional, "statute"): Ceiling(1825, None, frozenset(REQUIRES)),
    (SharingType.unconditional, "public_task"): Ceiling(1825, None, frozenset(REQUIRES)),
    (SharingType.unconditional, "consent"): Ceiling(
        365, None, frozenset({"consent", "case_or_consent"})),
    (SharingType.unconditional, "contract"): Ceiling(730, None, frozenset(REQUIRES)),
    # 有条件共享: a query shows why this subject (the case it serves, or their consent),
    # unless a statute itself empowers the consumer (e.g. 公安机关依法调取).
    (SharingType.conditional, "statute"): Ceiling(1095, None, frozenset(REQUIRES)),
    (SharingType.conditional, "public_task"): Ceiling(
        730, 100_000, frozenset({"case", "consent", "case_or_consent"})),
    (SharingType.conditional, "consent"): Ceiling(
        365, 10_000, frozenset({"consent", "case_or_consent"})),
}


class GrantTerms(BaseModel):
    """What an owner grants (the API body and the CLI's options)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    dataset: str = Field(max_length=60)
    consumer_credit_code: str = Field(max_length=18)
    consumer_region: str | None = Field(default=None, max_length=12)
    consumer_name: str | None = Field(default=None, max_length=200)
    purpose_code: str = Field(min_length=1, max_length=40)
    purpose_text: str = Field(min_length=1, max_length=500)
    basis: str = "statute"
    legal_ref: str = Field(default="", max_length=500)
    requires: str = "case_or_consent"
    # field name -> masking; the subject field may be granted too
    fields: dict[str, Masking] = Field(min_length=1)
    valid_from: datetime | None = None
    valid_days: int = Field(default=365, ge=1, le=3650)
    use_limit: int | None = Field(default=None, ge=1)
    retention_days: int = Field(default=30, ge=0, le=3650)
    hidden_days: int = Field(default=0, ge=0, le=3650)
    hidden_reason: str | None = Field(default=None, max_length=300)
    preview_required: bool = False


class GrantChange(BaseModel):
    """An amendment: what changes (the rest stays), and why."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: str = Field(min_length=1, max_length=500)
    fields: dict[str, Masking] | None = None
    valid_days: int | None = Field(default=None, ge=1, le=3650)
    use_limit: int | None = Field(default=None, ge=1)
    requires: str | None = None


def _bad(field: str, message: str) -> InvalidInput:
    return InvalidInput(message, details=[{"field": field, "message": message}])


# --- terms ---------------------------------------------------------------------------


def _check_terms(dataset: Dataset, terms: GrantTerms) -> Ceiling:
    """The grant's terms against the dataset and the ceiling table; 422 naming the field."""
    if dataset.sharing_type == SharingType.not_shared:
        raise Conflict("该数据集不予共享,不能授权 / this dataset is not shared",
                       code="dataset_not_shared", details={"dataset": dataset.code})
    if terms.basis not in BASES:
        raise _bad("basis", f"依据应为 {'/'.join(BASES)} 之一 / unknown basis")
    ceiling = CEILINGS.get((dataset.sharing_type, terms.basis))
    if ceiling is None:
        raise _bad("basis", "该共享类型不接受此依据 / this basis cannot grant this dataset")
    if terms.basis in ("statute", "public_task") and not terms.legal_ref:
        raise _bad("legal_ref", "依法共享须写明法律依据 / name the law the grant rests on")
    if terms.requires not in ceiling.requires:
        raise _bad("requires", f"有条件共享须要求 {'/'.join(sorted(ceiling.requires))} / "
                               f"queries must show {sorted(ceiling.requires)}")
    if terms.valid_days > ceiling.max_days:
        raise _bad("valid_days", f"有效期至多 {ceiling.max_days} 天 / at most "
                                 f"{ceiling.max_days} days")
    if ceiling.max_uses is not None and (terms.use_limit or ceiling.max_uses + 1) > \
            ceiling.max_uses:
        raise _bad("use_limit", f"须设定不超过 {ceiling.max_uses} 次的使用上限 / set a use "
                                f"limit of at most {ceiling.max_uses}")
    unknown = sorted(set(terms.fields) - set(registries.field_specs(dataset)))
    if unknown:
        raise _bad("fields", f"数据集没有这些字段 / no such fields: {', '.join(unknown)}")
    if terms.hidden_days and not terms.hidden_reason:
        raise _bad("hidden_reason", "延迟告知须写明依据 / a delayed disclosure needs a reason")
    return ceiling


def _consumer(db_session: Session, settings: Settings, terms: GrantTerms
              ) -> tuple[str, str, str]:
    """(credit code, region, name) of the consumer: a department of this node, or of a
    peer node (then its region and name are given)."""
    try:
        code = validate_uscc(terms.consumer_credit_code)
    except IdentifierError as exc:
        raise _bad("consumer_credit_code", str(exc)) from None
    region = terms.consumer_region or settings.node_region
    if region == settings.node_region:
        department = catalog.get_department_by_credit_code(db_session=db_session,
                                                           credit_code=code)
        return code, settings.node_region, department.name
    if not terms.consumer_name:
        raise _bad("consumer_name", "他省部门须写明名称 / name the other region's department")
    return code, region, terms.consumer_name


def _detail(grant_id: uuid.UUID, version: int, status: str, dataset: Dataset,
            provider: Department, settings: Settings, consumer: tuple[str, str, str],
            terms: GrantTerms, valid_from: datetime, valid_until: datetime, now: datetime,
            reason: str | None) -> dict[str, Any]:
    """The signed body of a grant version (wave2.md §A.6's parts)."""
    return {
        "grant_id": str(grant_id), "version": version, "status": status,
        "created_at": _iso(now), "change_reason": reason,
        "parties": {
            "subject": {"kind": dataset.subject_kind, "scope": "every subject of the dataset"},
            "data_provider": {"credit_code": provider.credit_code, "name": provider.name,
                              "node": settings.node_region},
            "data_consumer": {"credit_code": consumer[0], "name": consumer[2],
                              "node": consumer[1]},
            "collector": {"node": settings.node_region, "name": settings.node_name},
        },
        "basis": {"basis": terms.basis, "legal_ref": terms.legal_ref,
                  "dataset_legal_basis": dataset.legal_basis},
        "purpose": {"code": terms.purpose_code, "text": terms.purpose_text},
        "scope": {"dataset": dataset.code, "dataset_version": dataset.version,
                  "fields": {k: Masking(v).value for k, v in sorted(terms.fields.items())},
                  "mode": "query"},
        "limits": {"valid_from": _iso(valid_from), "valid_until": _iso(valid_until),
                   "use_limit": terms.use_limit, "retention_days": terms.retention_days},
        "requires": terms.requires,
        "duties": {"notify_on_revoke": True, "delete_at_end_of_retention": True,
                   "preview_required": terms.preview_required, "log_every_use": True},
        "visibility": {"hidden_days": terms.hidden_days, "hidden_reason": terms.hidden_reason},
    }


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds")


def _sign(db_session: Session, settings: Settings, provider: Department,
          detail: dict[str, Any]) -> tuple[str, str]:
    key = licence_keys.current_key(db_session=db_session, settings=settings,
                                   department_id=provider.id, purpose=KeyPurpose.jws)
    private = licence_keys.signing_key(settings=settings, key=key)
    return signing.sign(detail, key=private, kid=key.kid, typ=GRANT_TYP), key.kid


def _write(db_session: Session, settings: Settings, actor: Actor, dataset: Dataset,
           provider: Department, consumer: tuple[str, str, str], terms: GrantTerms, *,
           grant_id: uuid.UUID, version: int, status: str, valid_from: datetime,
           valid_until: datetime, now: datetime, reason: str | None,
           request_id: uuid.UUID | None) -> Grant:
    detail = _detail(grant_id, version, status, dataset, provider, settings, consumer, terms,
                     valid_from, valid_until, now, reason)
    jws, kid = _sign(db_session, settings, provider, detail)
    grant = Grant(
        grant_id=grant_id, version=version, current=True, status=status,
        dataset_code=dataset.code, provider_department_id=provider.id,
        provider_region=settings.node_region, consumer_credit_code=consumer[0],
        consumer_region=consumer[1], purpose_code=terms.purpose_code, basis=terms.basis,
        requires=terms.requires, valid_from=valid_from, valid_until=valid_until,
        use_limit=terms.use_limit, hidden_days=terms.hidden_days, detail=detail, jws=jws,
        kid=kid, created_at=now, created_by=actor.account_id, change_reason=reason,
        request_id=request_id)
    db_session.add(grant)
    db_session.flush()
    audit(db_session=db_session, actor_id=actor.account_id, actor_name=actor.name,
          action=f"sharing.grant_{'create' if version == 1 else status}", entity="sharing_grant",
          entity_id=str(grant_id), details={"version": version, "status": status,
                                            "dataset": dataset.code, "reason": reason})
    record_act(db_session=db_session, kind="sharing.grant", payload={
        "grant_id": str(grant_id), "version": version, "status": status,
        "dataset": dataset.code, "provider": provider.credit_code, "consumer": consumer[0],
        "purpose_code": terms.purpose_code, "valid_until": _iso(valid_until),
        "jws_sha256": hashlib.sha256(jws.encode("ascii")).hexdigest()})
    from tongban.sharing import remote

    remote.after_grant_change(db_session=db_session, settings=settings, grant=grant)
    return grant


def create_grant(*, db_session: Session, settings: Settings, actor: Actor, terms: GrantTerms,
                 request_id: uuid.UUID | None = None, now: datetime | None = None) -> Grant:
    """Grant a consumer department fields of a dataset for a purpose, signed by the
    owner; held to the ceilings; the owner's data steward only."""
    now = now or utcnow()
    dataset = registries.get_dataset(db_session=db_session, code=terms.dataset)
    provider = registries.authorise_owner(db_session=db_session, actor=actor, dataset=dataset)
    _check_terms(dataset, terms)
    consumer = _consumer(db_session, settings, terms)
    valid_from = terms.valid_from or now
    grant_id = new_id()
    grant = _write(db_session, settings, actor, dataset, provider, consumer, terms,
                   grant_id=grant_id, version=1, status=GrantStatus.active,
                   valid_from=valid_from, valid_until=valid_from + timedelta(
                       days=terms.valid_days), now=now, reason=None, request_id=request_id)
    db_session.add(GrantUsage(grant_id=grant_id, use_count=0))
    db_session.flush()
    return grant


def terms_of(grant: Grant) -> GrantTerms:
    """The terms a stored version was made with (from its signed detail)."""
    d = grant.detail
    return GrantTerms(
        dataset=grant.dataset_code, consumer_credit_code=grant.consumer_credit_code,
        consumer_region=grant.consumer_region,
        consumer_name=d["parties"]["data_consumer"]["name"],
        purpose_code=grant.purpose_code, purpose_text=d["purpose"]["text"],
        basis=grant.basis, legal_ref=d["basis"]["legal_ref"], requires=grant.requires,
        fields=d["scope"]["fields"], valid_from=grant.valid_from,
        valid_days=max(1, (grant.valid_until - grant.valid_from).days),
        use_limit=grant.use_limit, retention_days=d["limits"]["retention_days"],
        hidden_days=grant.hidden_days, hidden_reason=d["visibility"]["hidden_reason"],
        preview_required=d["duties"]["preview_required"])


def get_grant(*, db_session: Session, grant_id: uuid.UUID, for_update: bool = False) -> Grant:
    """The current version of a grant, or NotFound."""
    stmt = select(Grant).where(Grant.grant_id == grant_id, Grant.current.is_(True))
    grant = db_session.scalar(stmt.with_for_update() if for_update else stmt)
    if grant is None:
        raise NotFound("授权不存在 / no such grant", details={"grant_id": str(grant_id)})
    return grant


def versions(*, db_session: Session, grant_id: uuid.UUID) -> list[Grant]:
    """Every version of a grant, oldest first."""
    return list(db_session.scalars(select(Grant).where(Grant.grant_id == grant_id)
                                   .order_by(Grant.version)))


def _next_version(db_session: Session, settings: Settings, actor: Actor, old: Grant,
                  terms: GrantTerms, status: str, reason: str, now: datetime) -> Grant:
    dataset = registries.get_dataset(db_session=db_session, code=old.dataset_code)
    provider = registries.authorise_owner(db_session=db_session, actor=actor, dataset=dataset)
    old.current = False
    db_session.flush()
    consumer = (old.consumer_credit_code, old.consumer_region,
                old.detail["parties"]["data_consumer"]["name"])
    return _write(db_session, settings, actor, dataset, provider, consumer, terms,
                  grant_id=old.grant_id, version=old.version + 1, status=status,
                  valid_from=old.valid_from,
                  valid_until=old.valid_from + timedelta(days=terms.valid_days), now=now,
                  reason=reason, request_id=old.request_id)


def amend_grant(*, db_session: Session, settings: Settings, actor: Actor,
                grant_id: uuid.UUID, change: GrantChange, now: datetime | None = None
                ) -> Grant:
    """A new signed version with the changed terms (held to the ceilings again)."""
    now = now or utcnow()
    old = get_grant(db_session=db_session, grant_id=grant_id, for_update=True)
    if old.status == GrantStatus.revoked:
        raise Conflict("授权已撤销 / the grant is revoked", code="grant_revoked")
    terms = terms_of(old).model_copy(update={k: v for k, v in {
        "fields": change.fields, "valid_days": change.valid_days,
        "use_limit": change.use_limit, "requires": change.requires}.items() if v is not None})
    dataset = registries.get_dataset(db_session=db_session, code=old.dataset_code)
    _check_terms(dataset, GrantTerms.model_validate(terms.model_dump()))
    return _next_version(db_session, settings, actor, old, terms, old.status, change.reason,
                         now)


def revoke_grant(*, db_session: Session, settings: Settings, actor: Actor,
                 grant_id: uuid.UUID, reason: str, now: datetime | None = None) -> Grant:
    """Revoke: a signed version with status revoked; every later query is refused."""
    now = now or utcnow()
    reason = (reason or "").strip()
    if not reason:
        raise _bad("reason", "撤销须说明理由 / a reason is required")
    old = get_grant(db_session=db_session, grant_id=grant_id, for_update=True)
    if old.status == GrantStatus.revoked:
        return old
    return _next_version(db_session, settings, actor, old, terms_of(old), GrantStatus.revoked,
                         reason, now)


# status now -> status after, for a pause or a resumption (revoked is final)
SUSPENSIONS: dict[str, dict[str, str]] = {
    "pause": {GrantStatus.active: GrantStatus.paused},
    "resume": {GrantStatus.paused: GrantStatus.active},
}


def suspend_grant(*, db_session: Session, settings: Settings, actor: Actor,
                  grant_id: uuid.UUID, action: str, reason: str,
                  now: datetime | None = None) -> Grant:
    """Pause a grant (queries refused as grant_paused, e.g. while a misuse is looked into)
    or resume it: a signed version with the new status; repeating the same step is a
    no-op."""
    now = now or utcnow()
    reason = (reason or "").strip()
    if not reason:
        raise _bad("reason", "须说明理由 / a reason is required")
    moves = SUSPENSIONS[action]
    old = get_grant(db_session=db_session, grant_id=grant_id, for_update=True)
    if old.status in moves.values():
        return old
    if old.status not in moves:
        raise Conflict("授权当前状态不允许此操作 / the grant's status does not allow this",
                       code=f"grant_{old.status}", details={"status": old.status})
    return _next_version(db_session, settings, actor, old, terms_of(old), moves[old.status],
                         reason, now)


def usage(*, db_session: Session, grant_id: uuid.UUID) -> GrantUsage:
    found = db_session.get(GrantUsage, grant_id)
    if found is None:  # a grant copied from a peer node counts nothing here
        found = GrantUsage(grant_id=grant_id, use_count=0)
        db_session.add(found)
        db_session.flush()
    return found


def effective_status(grant: Grant, used: int, now: datetime) -> str:
    """What the grant is now: the stored status, or expired / not yet valid / exhausted."""
    if grant.status != GrantStatus.active:
        return grant.status
    if now >= grant.valid_until:
        return GrantStatus.expired
    if now < grant.valid_from:
        return "not_yet_valid"
    if grant.use_limit is not None and used >= grant.use_limit:
        return GrantStatus.exhausted
    return GrantStatus.active


def use_once(*, db_session: Session, grant: Grant, now: datetime) -> bool:
    """Count one use, atomically: False when the use limit is already reached (one
    conditional UPDATE, so concurrent queries never overrun it)."""
    usage(db_session=db_session, grant_id=grant.grant_id)
    return use_all(db_session=db_session, grants=[grant], now=now) is None


def use_all(*, db_session: Session, grants: Sequence[Grant], now: datetime,
            without_usage: Collection[uuid.UUID] = ()) -> uuid.UUID | None:
    """Count one use of each grant (a grant named twice counts twice) in one conditional
    UPDATE, so concurrent reads never overrun a limit; all or none: if one grant's limit
    is reached, the others' counts are put back and that grant's id is returned.
    `without_usage` names grants known to have no usage row yet (created first)."""
    uses = Counter(g.grant_id for g in grants)
    if not uses:
        return None
    limits = {g.grant_id: g.use_limit for g in grants}
    missing = [gid for gid in uses if gid in without_usage]
    if missing:
        db_session.execute(insert(GrantUsage), [{"grant_id": gid, "use_count": 0}
                                                for gid in missing])
    step: Any = (GrantUsage.use_count + 1 if set(uses.values()) == {1} else
                 GrantUsage.use_count + case(uses, value=GrantUsage.grant_id, else_=0))
    fits = or_(*[and_(GrantUsage.grant_id == gid,
                      *([GrantUsage.use_count + n <= limits[gid]]
                        if limits[gid] is not None else []))
                 for gid, n in uses.items()])
    counted = set(db_session.scalars(
        update(GrantUsage).where(fits).values(use_count=step, last_used_at=now)
        .returning(GrantUsage.grant_id).execution_options(synchronize_session=False)))
    short = [gid for gid in uses if gid not in counted]
    if not short:
        return None
    if counted:
        back = {gid: uses[gid] for gid in counted}
        db_session.execute(
            update(GrantUsage).where(GrantUsage.grant_id.in_(list(back)))
            .values(use_count=GrantUsage.use_count - case(back, value=GrantUsage.grant_id,
                                                          else_=0))
            .execution_options(synchronize_session=False))
    return next(g.grant_id for g in grants if g.grant_id in short)


def list_grants(*, db_session: Session, dataset: str | None = None,
                consumer_credit_code: str | None = None, limit: int = 200) -> list[Grant]:
    """Current grant versions, newest first."""
    stmt = select(Grant).where(Grant.current.is_(True)).order_by(Grant.created_at.desc())
    if dataset:
        stmt = stmt.where(Grant.dataset_code == dataset)
    if consumer_credit_code:
        stmt = stmt.where(Grant.consumer_credit_code == consumer_credit_code)
    return list(db_session.scalars(stmt.limit(max(1, min(limit, 1000)))))


@dataclass(frozen=True)
class SignatureCheck:
    ok: bool
    problem: str | None


def check_signature(*, db_session: Session, settings: Settings, grant: Grant) -> SignatureCheck:
    """Does the stored JWS verify with the provider's key on this node's trust list, and
    say exactly what the stored columns say?"""
    try:
        jws = signing.parse(grant.jws)
    except signing.JwsFormatError as exc:
        return SignatureCheck(False, f"malformed JWS: {exc}")
    trusted = licence_keys.trusted_keys(licence_keys.trust_list_claims(
        db_session=db_session, settings=settings)).get(jws.kid)
    if trusted is None:
        return SignatureCheck(False, f"unknown key {jws.kid}")
    if not jws.verify(signing.public_key_from_x(trusted.x)):
        return SignatureCheck(False, "signature does not verify")
    body = jws.payload
    if body != grant.detail or body["parties"]["data_provider"]["credit_code"] != \
            trusted.credit_code:
        return SignatureCheck(False, "signed detail differs from the stored grant")
    stored = {"grant_id": str(grant.grant_id), "version": grant.version,
              "status": grant.status, "dataset": grant.dataset_code,
              "consumer": grant.consumer_credit_code, "purpose": grant.purpose_code,
              "requires": grant.requires, "valid_until": _iso(grant.valid_until),
              "use_limit": grant.use_limit}
    signed = {"grant_id": body["grant_id"], "version": body["version"],
              "status": body["status"], "dataset": body["scope"]["dataset"],
              "consumer": body["parties"]["data_consumer"]["credit_code"],
              "purpose": body["purpose"]["code"], "requires": body["requires"],
              "valid_until": body["limits"]["valid_until"],
              "use_limit": body["limits"]["use_limit"]}
    if stored != signed:
        changed = sorted(k for k in stored if stored[k] != signed[k])
        return SignatureCheck(False, f"stored columns differ from the signed detail: {changed}")
    return SignatureCheck(True, None)


# --- requests (需求清单) -----------------------------------------------------------------


class RequestIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    dataset: str = Field(max_length=60)
    consumer_credit_code: str | None = Field(default=None, max_length=18)
    fields: list[str] = Field(min_length=1)
    purpose_code: str = Field(min_length=1, max_length=40)
    purpose_text: str = Field(min_length=1, max_length=500)
    legal_ref: str = Field(default="", max_length=500)
    wanted_days: int = Field(default=365, ge=1, le=3650)
    wanted_use_limit: int | None = Field(default=None, ge=1)


REQUEST_ROLES = frozenset({"data_steward", "reviewer", "clerk"})


def consumer_department(*, db_session: Session, actor: Actor,
                        credit_code: str | None) -> Department:
    """The department a staff member acts for: the one named (which their scope must
    cover), else the only department of their scopes; 403 otherwise."""
    if credit_code:
        department = catalog.get_department_by_credit_code(db_session=db_session,
                                                           credit_code=credit_code)
        if actor.covers(department.region_code, department.id):
            return department
        raise Forbidden("您不属于该部门 / you do not work for this department",
                        code="not_consumer_staff", details={"department": department.name})
    departments = {s.department_id for s in actor.scopes if s.department_id is not None}
    if len(departments) == 1:
        return catalog.get_department(db_session=db_session,
                                      department_id=departments.pop())
    raise Forbidden("须指明所代表的部门 / name the department you act for "
                    "(consumer_credit_code)", code="not_consumer_staff")


def file_request(*, db_session: Session, actor: Actor, data: RequestIn) -> DataRequest:
    """A consumer department files a need (需求清单) with the owner."""
    if not actor.has(*REQUEST_ROLES):
        raise Forbidden("您的角色不能提交共享需求 / your role may not file requests",
                        details={"required_roles": sorted(REQUEST_ROLES)})
    dataset = registries.get_dataset(db_session=db_session, code=data.dataset)
    consumer = consumer_department(db_session=db_session, actor=actor,
                                   credit_code=data.consumer_credit_code)
    unknown = sorted(set(data.fields) - set(registries.field_specs(dataset)))
    if unknown:
        raise _bad("fields", f"数据集没有这些字段 / no such fields: {', '.join(unknown)}")
    if dataset.sharing_type == SharingType.not_shared:
        raise Conflict("该数据集不予共享 / this dataset is not shared",
                       code="dataset_not_shared", details={"dataset": dataset.code})
    req = DataRequest(dataset_id=dataset.id, consumer_department_id=consumer.id,
                      fields=list(dict.fromkeys(data.fields)), purpose_code=data.purpose_code,
                      purpose_text=data.purpose_text, legal_ref=data.legal_ref,
                      wanted_days=data.wanted_days, wanted_use_limit=data.wanted_use_limit,
                      state=RequestState.filed, filed_by=actor.account_id,
                      filed_by_name=actor.name)
    db_session.add(req)
    db_session.flush()
    audit(db_session=db_session, actor_id=actor.account_id, actor_name=actor.name,
          action="sharing.request_file", entity="sharing_request", entity_id=str(req.id),
          details={"dataset": dataset.code, "consumer": consumer.credit_code})
    return req


def get_request(*, db_session: Session, request_id: uuid.UUID) -> DataRequest:
    req = db_session.get(DataRequest, request_id)
    if req is None:
        raise NotFound("共享需求不存在 / no such request", details={"id": str(request_id)})
    return req


def list_requests(*, db_session: Session, state: str | None = None,
                  limit: int = 200) -> list[DataRequest]:
    """Requests, newest first."""
    stmt = select(DataRequest).order_by(DataRequest.created_at.desc())
    if state:
        stmt = stmt.where(DataRequest.state == state)
    return list(db_session.scalars(stmt.limit(max(1, min(limit, 1000)))))


def _open_request(db_session: Session, request_id: uuid.UUID) -> DataRequest:
    req = get_request(db_session=db_session, request_id=request_id)
    if req.state != RequestState.filed:
        raise Conflict("该需求已处理 / the request was already decided",
                       code="request_decided", details={"state": req.state})
    return req


def grant_request(*, db_session: Session, settings: Settings, actor: Actor,
                  request_id: uuid.UUID, masking: dict[str, Masking] | None = None,
                  basis: str = "statute", requires: str = "case_or_consent",
                  valid_days: int | None = None, use_limit: int | None = None,
                  legal_ref: str | None = None, now: datetime | None = None) -> Grant:
    """The owner grants a request: a grant on its terms (masking per field, default
    none), signed; the request records it."""
    req = _open_request(db_session, request_id)
    dataset = db_session.get(Dataset, req.dataset_id)
    consumer = catalog.get_department(db_session=db_session,
                                      department_id=req.consumer_department_id)
    assert dataset is not None
    masks = masking or {}
    terms = GrantTerms(
        dataset=dataset.code, consumer_credit_code=consumer.credit_code,
        purpose_code=req.purpose_code, purpose_text=req.purpose_text, basis=basis,
        legal_ref=legal_ref if legal_ref is not None else req.legal_ref, requires=requires,
        fields={f: masks.get(f, Masking.none) for f in req.fields},
        valid_days=valid_days or req.wanted_days,
        use_limit=use_limit if use_limit is not None else req.wanted_use_limit)
    grant = create_grant(db_session=db_session, settings=settings, actor=actor, terms=terms,
                         request_id=req.id, now=now)
    req.state, req.grant_id = RequestState.granted, grant.grant_id
    req.decided_at, req.decided_by = grant.created_at, actor.account_id
    db_session.flush()
    return grant


def refuse_request(*, db_session: Session, actor: Actor, request_id: uuid.UUID, reason: str,
                   now: datetime | None = None) -> DataRequest:
    """The owner refuses a request, with the reason the consumer will read."""
    reason = (reason or "").strip()
    if not reason:
        raise _bad("reason", "不予共享须说明理由 / a reason is required")
    req = _open_request(db_session, request_id)
    dataset = db_session.get(Dataset, req.dataset_id)
    assert dataset is not None
    registries.authorise_owner(db_session=db_session, actor=actor, dataset=dataset)
    req.state, req.decision_reason = RequestState.refused, reason
    req.decided_at, req.decided_by = now or utcnow(), actor.account_id
    db_session.flush()
    audit(db_session=db_session, actor_id=actor.account_id, actor_name=actor.name,
          action="sharing.request_refuse", entity="sharing_request", entity_id=str(req.id),
          details={"reason": reason})
    return req
