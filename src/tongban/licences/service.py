"""E-licences: the type catalog, issuance, status changes, status lists, holder views.

A licence is a JSON document signed by its issuing department (JWS, EdDSA, over the RFC
8785 form). Its legal status lives in an IETF Token Status List at a random position;
status changes follow the TRANSITIONS table, need a reason, and are appended to the
history, the audit trail and the ledger (through the outbox) in one transaction.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from importlib import resources
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from jsonschema import Draft202012Validator
from sqlalchemy import bindparam, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tongban import schema_errors
from tongban.audit.service import record as audit
from tongban.catalog.models import Department
from tongban.config import Settings
from tongban.db import utcnow
from tongban.errors import Conflict, Forbidden, InvalidInput, NotFound
from tongban.identity import service as identity
from tongban.identity.actor import SYSTEM_ACTOR, Actor
from tongban.identity.models import Role
from tongban.ledger import binding
from tongban.ledger.service import record_act
from tongban.licences import keys, signing
from tongban.licences import status_list as sl
from tongban.licences.identifiers import (
    IdentifierFormatError,
    LicenceIdentifier,
    make_identifier,
    parse_identifier,
)
from tongban.licences.models import (
    STATUS_NAMES,
    HolderKind,
    KeyPurpose,
    Licence,
    LicencePdf,
    LicenceStatus,
    LicenceStatusChange,
    LicenceType,
    SerialCounter,
    StatusList,
)
from tongban.licences.schemas import LicenceImportIn

LICENCE_TYP = "licence+jws"
STATUS_LIST_PATH = "/api/v1/licences/status-lists/"
MAX_ALLOCATION_TRIES = 64
_CHINA = ZoneInfo("Asia/Shanghai")

# (from, to) -> roles that may make the change; the acting staff member must also have
# the issuing department in scope. 03/04/05/07 are final. 吊销 is an administrative
# penalty (行政处罚法) and is left to supervisors; the rest to the department's reviewers.
_DEPT = frozenset({Role.reviewer, Role.supervisor})
TRANSITIONS: dict[tuple[str, str], frozenset[str]] = {
    ("01", "02"): _DEPT,  # 暂扣 suspend
    ("02", "01"): _DEPT,  # 恢复 lift a suspension
    ("01", "03"): _DEPT,  # 撤销 annul (issued wrongly)
    ("02", "03"): _DEPT,
    ("01", "04"): _DEPT,  # 注销 cancel (holder's request, entity dissolved, ...)
    ("02", "04"): _DEPT,
    ("01", "05"): _DEPT | {Role.operator},  # 失效 lapse
    ("01", "07"): frozenset({Role.supervisor}),  # 吊销 revoke as a penalty
    ("02", "07"): frozenset({Role.supervisor}),
}


def public_url(settings: Settings) -> str:
    """The node's public base URL (TONGBAN_PUBLIC_URL), for status-list and QR links."""
    return settings.public_url.rstrip("/")


def _audit(db_session: Session, actor: Actor, action: str, entity_id: Any, **details: Any
           ) -> None:
    audit(db_session=db_session, actor_id=actor.account_id, actor_name=actor.name,
          action=action, entity="licence", entity_id=str(entity_id), details=details)


# --- licence types ------------------------------------------------------------------


def _shipped_types() -> list[dict[str, Any]]:
    text = resources.files("tongban.licences").joinpath("data/licence_types.json").read_text(
        encoding="utf-8")
    types: list[dict[str, Any]] = json.loads(text)["types"]
    return types


_TYPE_FIELDS = ("name", "holder_kind", "issuer_kind", "field_schema", "validity",
                "item_codes", "description", "reference_only", "held_once")
_FLAGS = ("reference_only", "held_once")


def load_licence_types(*, db_session: Session, actor: Actor = SYSTEM_ACTOR) -> int:
    """Load (or update) the shipped 证照目录; idempotent; returns how many rows changed."""
    changed = 0
    for spec in _shipped_types():
        Draft202012Validator.check_schema(spec["field_schema"])
        values = {f: spec.get(f, False if f in _FLAGS else None) for f in _TYPE_FIELDS}
        values["description"] = values["description"] or ""
        row = db_session.scalar(select(LicenceType).where(LicenceType.code == spec["code"]))
        if row is None:
            db_session.add(LicenceType(code=spec["code"], **values))
        elif all(getattr(row, f) == v for f, v in values.items()):
            continue
        else:
            for f, v in values.items():
                setattr(row, f, v)
        changed += 1
        audit(db_session=db_session, actor_id=actor.account_id, actor_name=actor.name,
              action="licence_type.load", entity="licence_type", entity_id=spec["code"])
    db_session.flush()
    return changed


def list_types(*, db_session: Session) -> list[LicenceType]:
    """Every licence type, by code (public: the catalog is published)."""
    return list(db_session.scalars(select(LicenceType).order_by(LicenceType.code)))


# Built once: every application whose guide names a licence type looks it up.
_TYPE_BY_CODE_OR_NAME = select(LicenceType).where(
    or_(LicenceType.code == bindparam("code"), LicenceType.name == bindparam("code")))


def get_type(*, db_session: Session, code: str) -> LicenceType:
    """A licence type by its 21-character code (or, for guides, its exact name)."""
    row = db_session.scalar(_TYPE_BY_CODE_OR_NAME, {"code": code})
    if row is None:
        raise NotFound("未找到该证照类型 / no such licence type",
                       details={"field": "licence_type_code", "value": code})
    return row


def _check_fields(licence_type: LicenceType, fields: dict[str, Any]) -> None:
    """Each field against the type's schema; the problems name their field, in Chinese
    with its title (the line itself lists them, for the CLI and the page's summary)."""
    found = schema_errors.problems(licence_type.field_schema, fields, prefix="fields",
                                   titled=True)
    if found:
        raise InvalidInput(
            f"证照字段不符合{licence_type.name}的要求:{schema_errors.summary(found)} / "
            "fields do not match the licence type", code="invalid_licence_fields",
            details=found)


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def default_valid_until(licence_type: LicenceType, valid_from: date) -> date | None:
    """The end of validity the type's rule gives; None for a permanent licence."""
    rule = licence_type.validity
    if rule.get("kind") == "years":
        return _add_years(valid_from, int(rule["value"])) - timedelta(days=1)
    if rule.get("kind") == "days":
        return valid_from + timedelta(days=int(rule["value"]) - 1)
    return None


# --- holders and issuers ------------------------------------------------------------


def _holder(db_session: Session, person_id: uuid.UUID | None,
            enterprise_id: uuid.UUID | None) -> tuple[str, dict[str, Any]]:
    """The holder's kind and the part of the document naming them (no clear ID number)."""
    if (person_id is None) == (enterprise_id is None):
        raise InvalidInput(
            "须且只能指定一个持证主体 / give exactly one holder (person or enterprise)",
            details={"field": "holder"})
    if person_id is not None:
        person = identity.get_person(db_session=db_session, person_id=person_id)
        return HolderKind.person, {"kind": "person", "name": person.name,
                                   "id_masked": person.id_number_masked,
                                   "id_ref": person.id_number_hash}
    assert enterprise_id is not None
    enterprise = identity.get_enterprise(db_session=db_session, enterprise_id=enterprise_id)
    return HolderKind.enterprise, {"kind": "enterprise", "name": enterprise.name,
                                   "credit_code": enterprise.credit_code}


def _next_serial(db_session: Session, type_code: str, issuer_code: str, year: int) -> str:
    """The issuer's next 流水号 for this type: the year and a 7-digit count (row-locked)."""
    key = {"type_code": type_code, "issuer_code": issuer_code, "year": year}
    counter = db_session.get(SerialCounter, key, with_for_update=True)
    if counter is None:
        try:
            with db_session.begin_nested():
                db_session.add(SerialCounter(**key, next_value=1))
        except IntegrityError:
            pass  # another transaction created it first
        counter = db_session.get(SerialCounter, key, with_for_update=True,
                                 populate_existing=True)
    assert counter is not None
    value = counter.next_value
    counter.next_value = value + 1
    return f"{year}{value:07d}"


# --- status lists -------------------------------------------------------------------


def _open_list(db_session: Session) -> StatusList:
    stmt = (select(StatusList).where(StatusList.closed_at.is_(None))
            .order_by(StatusList.created_at).limit(1).with_for_update())
    current = db_session.scalar(stmt)
    if current is not None and current.assigned < sl.FILL_LIMIT:
        return current
    if current is not None:
        current.closed_at = utcnow()
    fresh = StatusList(size=sl.LIST_SIZE, bits=sl.BITS, assigned=0)
    db_session.add(fresh)
    db_session.flush()
    return fresh


def _allocate(db_session: Session) -> tuple[StatusList, int]:
    """A random unused position in the open list (random, so it reveals no order)."""
    status_list = _open_list(db_session)
    for _ in range(MAX_ALLOCATION_TRIES):
        idx = secrets.randbelow(status_list.size)
        taken = db_session.scalar(select(Licence.id).where(
            Licence.status_list_id == status_list.id, Licence.status_idx == idx))
        if taken is None:
            status_list.assigned += 1
            return status_list, idx
    raise Conflict("状态列表无空位 / no free status list position, retry")


def status_list_uri(settings: Settings, list_id: uuid.UUID) -> str:
    """The URL a status list is served at (the `sub` of its token)."""
    return f"{public_url(settings)}{STATUS_LIST_PATH}{list_id}"


def list_id_from_uri(uri: str) -> uuid.UUID | None:
    """The local list id a status-list URI names, or None if it is not one of ours."""
    _head, sep, tail = uri.rpartition(STATUS_LIST_PATH)
    if not sep:
        return None
    try:
        return uuid.UUID(tail)
    except ValueError:
        return None


def status_list_token(*, db_session: Session, settings: Settings, list_id: uuid.UUID,
                      now: datetime | None = None) -> str:
    """The signed Status List Token of one list, built from the licences' statuses."""
    status_list = db_session.get(StatusList, list_id)
    if status_list is None:
        raise NotFound("未找到该状态列表 / no such status list",
                       details={"list_id": str(list_id)})
    rows = db_session.execute(select(Licence.status_idx, Licence.status).where(
        Licence.status_list_id == list_id, Licence.status != LicenceStatus.valid))
    raw = sl.pack({idx: sl.STATUS_VALUES[status] for idx, status in rows},
                  size=status_list.size, bits=status_list.bits)
    claims = sl.token_claims(uri=status_list_uri(settings, list_id), raw=raw,
                             iat=int((now or utcnow()).timestamp()), bits=status_list.bits)
    return signing.sign(claims, key=keys.node_key(settings).private_key,
                        kid=keys.node_kid(settings), typ=sl.TOKEN_TYP)


# --- issuing ------------------------------------------------------------------------


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class _Draft:
    licence_type: LicenceType
    holder_kind: str
    holder: dict[str, Any]
    fields: dict[str, Any]
    department: Department
    valid_from: date
    valid_until: date | None
    issued_at: datetime


def _prepare(db_session: Session, *, licence_type_code: str, holder_person_id: uuid.UUID | None,
             holder_enterprise_id: uuid.UUID | None, fields: dict[str, Any],
             issuer_department_id: uuid.UUID, valid_from: date, valid_until: date | None,
             issued_at: datetime | None) -> _Draft:
    """Check everything a licence needs before anything is written."""
    licence_type = get_type(db_session=db_session, code=licence_type_code)
    holder_kind, holder = _holder(db_session, holder_person_id, holder_enterprise_id)
    if holder_kind != licence_type.holder_kind:
        raise InvalidInput(
            f"{licence_type.name}的持证主体应为"
            f"{'个人' if licence_type.holder_kind == 'person' else '企业'} / "
            f"this licence type is held by a {licence_type.holder_kind}",
            details={"field": "holder", "expected": licence_type.holder_kind})
    _check_fields(licence_type, fields)
    department = keys.get_department(db_session=db_session, department_id=issuer_department_id)
    if valid_until is None:
        valid_until = default_valid_until(licence_type, valid_from)
    elif valid_until < valid_from:
        raise InvalidInput("有效期截止日早于起始日 / valid_until is before valid_from",
                           details={"field": "valid_until"})
    return _Draft(licence_type, holder_kind, holder, dict(fields), department, valid_from,
                  valid_until, issued_at or utcnow())


def _document(settings: Settings, draft: _Draft, identifier: str, list_id: uuid.UUID,
              idx: int, signed_at: datetime) -> dict[str, Any]:
    """The licence document, exactly as it is signed."""
    return {
        "identifier": identifier,
        "type": {"code": draft.licence_type.code, "name": draft.licence_type.name},
        "holder": draft.holder,
        "fields": draft.fields,
        "validity": {"from": draft.valid_from.isoformat(),
                     "until": draft.valid_until.isoformat() if draft.valid_until else None},
        "issuer": {"name": draft.department.name, "credit_code": draft.department.credit_code,
                   "region_code": draft.department.region_code},
        "issued_at": _iso(draft.issued_at),
        "signed_at": _iso(signed_at),
        "status": {"status_list": {"idx": idx, "uri": status_list_uri(settings, list_id)}},
    }


# A licence's columns with legal weight besides its signed JWS (which binds the fields
# and the document): logged at issue, compared by `tongban verify` (licences/integrity.py),
# so a licence moved to another holder or given a longer validity in the database is named.
BOUND_COLUMNS: binding.Readers = {name: binding.column(name) for name in (
    "identifier", "type_code", "holder_kind", "holder_person_id", "holder_enterprise_id",
    "issuer_department_id", "kid", "valid_from", "valid_until", "issued_at", "case_id",
    "status_list_id", "status_idx", "imported")}


def _store(db_session: Session, settings: Settings, draft: _Draft, ident: LicenceIdentifier,
           *, holder_person_id: uuid.UUID | None, holder_enterprise_id: uuid.UUID | None,
           case_id: uuid.UUID | None, imported: bool, actor: Actor) -> Licence:
    """Allocate a status position, sign, store, and record the act; one transaction."""
    identifier = str(ident)
    if db_session.scalar(select(Licence.id).where(Licence.identifier == identifier)):
        raise Conflict("该证照标识已存在 / this licence identifier exists",
                       details={"field": "identifier", "value": identifier})
    status_list, idx = _allocate(db_session)
    key = keys.current_key(db_session=db_session, settings=settings,
                           department_id=draft.department.id, purpose=KeyPurpose.jws, actor=actor)
    document = _document(settings, draft, identifier, status_list.id, idx,
                         max(utcnow(), key.created_at))
    jws = signing.sign(document, key=keys.signing_key(settings=settings, key=key), kid=key.kid,
                       typ=LICENCE_TYP)
    licence = Licence(
        identifier=identifier, type_code=draft.licence_type.code, holder_kind=draft.holder_kind,
        holder_person_id=holder_person_id, holder_enterprise_id=holder_enterprise_id,
        issuer_department_id=draft.department.id, kid=key.kid, fields=draft.fields,
        document=document, jws=jws, status=LicenceStatus.valid, status_list_id=status_list.id,
        status_idx=idx, valid_from=draft.valid_from, valid_until=draft.valid_until,
        issued_at=draft.issued_at, case_id=case_id, imported=imported,
    )
    db_session.add(licence)
    db_session.flush()
    db_session.add(LicenceStatusChange(
        licence_id=licence.id, from_status=None, to_status=LicenceStatus.valid,
        reason="导入 / imported" if imported else "签发 / issued",
        actor_id=actor.account_id, actor_name=actor.name))
    act = "licence.imported" if imported else "licence.issued"
    record_act(db_session=db_session, kind=act, payload={
        "licence_id": str(licence.id), "identifier": identifier,
        "type_code": draft.licence_type.code, "issuer": draft.department.credit_code,
        "kid": key.kid, "jws_sha256": hashlib.sha256(jws.encode("ascii")).hexdigest(),
        "case_id": str(case_id) if case_id else None,
        "record": binding.snapshot(licence, BOUND_COLUMNS),
    })
    _audit(db_session, actor, act, licence.id, identifier=identifier, case_id=
           str(case_id) if case_id else None)
    db_session.flush()
    return licence


def issue(*, db_session: Session, settings: Settings, licence_type_code: str,
          holder_person_id: uuid.UUID | None = None, holder_enterprise_id: uuid.UUID | None = None,
          fields: dict[str, Any], issuer_department_id: uuid.UUID,
          case_id: uuid.UUID | None = None, valid_from: date,
          valid_until: date | None = None, actor: Actor = SYSTEM_ACTOR,
          issued_at: datetime | None = None,
          replacing: tuple[Licence, Replacement, str] | None = None) -> Licence:
    """Issue a licence signed by its department's key, with a fresh status-list position;
    issued now, or at `issued_at` (the decision that issues it, in its transaction). It
    replaces the licence given in `replacing` (with why) and, of a held-once kind, the
    holder's licence in force (换领)."""
    draft = _prepare(db_session, licence_type_code=licence_type_code,
                     holder_person_id=holder_person_id, holder_enterprise_id=holder_enterprise_id,
                     fields=fields, issuer_department_id=issuer_department_id,
                     valid_from=valid_from, valid_until=valid_until, issued_at=issued_at)
    if draft.licence_type.reference_only:
        raise InvalidInput(
            f"{draft.licence_type.name}不由本平台签发 / this type is not issued here",
            details={"field": "licence_type_code"})
    in_force = _held(db_session, draft.licence_type, holder_person_id, holder_enterprise_id)
    serial = _next_serial(db_session, draft.licence_type.code, draft.department.credit_code,
                          today_in_china(draft.issued_at).year)
    ident = make_identifier(type_code=draft.licence_type.code,
                            issuer_code=draft.department.credit_code, serial=serial)
    licence = _store(db_session, settings, draft, ident, holder_person_id=holder_person_id,
                     holder_enterprise_id=holder_enterprise_id, case_id=case_id,
                     imported=False, actor=actor)
    given, kind, reason = replacing or (None, Replacement.renewal,
                                        "签发同类新证 / a new licence of this kind was issued")
    ended = {x.id: x for x in in_force} | ({given.id: given} if given is not None else {})
    for old in ended.values():
        _end_replaced(db_session, actor, old, licence, kind, reason)
    db_session.flush()
    return licence


def import_existing(*, db_session: Session, settings: Settings, licence_type_code: str,
                    identifier: str, holder_person_id: uuid.UUID | None = None,
                    holder_enterprise_id: uuid.UUID | None = None, fields: dict[str, Any],
                    issuer_department_id: uuid.UUID, issued_at: datetime, valid_from: date,
                    valid_until: date | None = None, actor: Actor) -> Licence:
    """Bring a licence issued before (or outside) tongban under its department's signature,
    keeping its identifier and issue time."""
    _require_importer(actor)
    draft = _prepare(db_session, licence_type_code=licence_type_code,
                     holder_person_id=holder_person_id, holder_enterprise_id=holder_enterprise_id,
                     fields=fields, issuer_department_id=issuer_department_id,
                     valid_from=valid_from, valid_until=valid_until, issued_at=issued_at)
    _check_scope(actor, draft.department)
    ident = parse_or_invalid(identifier)
    if ident.type_code != draft.licence_type.code or ident.issuer_code != \
            draft.department.credit_code:
        raise InvalidInput(
            "证照标识中的类型或颁发机构与导入数据不符 / the identifier's type or issuer does not "
            "match the licence", details={"field": "identifier", "type_code": ident.type_code,
                                          "issuer_code": ident.issuer_code})
    in_force = _held(db_session, draft.licence_type, holder_person_id, holder_enterprise_id)
    licence = _store(db_session, settings, draft, ident, holder_person_id=holder_person_id,
                     holder_enterprise_id=holder_enterprise_id, case_id=None, imported=True,
                     actor=actor)
    _keep_newest(db_session, actor, licence, in_force)
    db_session.flush()
    return licence


def _keep_newest(db_session: Session, actor: Actor, imported: Licence,
                 in_force: list[Licence]) -> None:
    """An imported licence of a held-once kind meets the holder's licence in force: the
    one issued last stays in force and every older one lapses, replaced by it (as 换领
    does), so a holder never has two; an import older than the one in force comes in
    already replaced."""
    if not in_force:
        return
    newest = max([*in_force, imported], key=lambda x: x.issued_at)
    reason = ("导入同类证照,以颁发时间最晚者为准 / a licence of this kind was imported: the "
              "one issued last is in force")
    for old in [*in_force, imported]:
        if old is not newest:
            _end_replaced(db_session, actor, old, newest, Replacement.renewal, reason)


def import_record(*, db_session: Session, settings: Settings, actor: Actor,
                  record: LicenceImportIn) -> Licence:
    """Import one licence record (API or CLI JSON), resolving holder and issuer by code.

    Who may import is checked before anything is looked up, and every look-up that finds
    nothing answers the same 404: otherwise any signed-in account could learn whether an
    ID number belongs to someone here."""
    _require_importer(actor)
    department = db_session.scalar(select(Department).where(
        Department.credit_code == record.issuer_credit_code.upper()))
    if department is None:
        raise _import_not_found("issuer_credit_code")
    _check_scope(actor, department)
    person_id = enterprise_id = None
    if record.holder_id_number is not None:
        person = identity.find_person_by_id_number(db_session=db_session, settings=settings,
                                                   id_number=record.holder_id_number)
        if person is None:
            raise _import_not_found("holder_id_number")
        person_id = person.id
    else:
        enterprise = identity.find_enterprise_by_credit_code(
            db_session=db_session, credit_code=record.holder_credit_code or "")
        if enterprise is None:
            raise _import_not_found("holder_credit_code")
        enterprise_id = enterprise.id
    return import_existing(
        db_session=db_session, settings=settings, licence_type_code=record.licence_type_code,
        identifier=record.identifier, holder_person_id=person_id,
        holder_enterprise_id=enterprise_id, fields=record.fields,
        issuer_department_id=department.id, issued_at=record.issued_at,
        valid_from=record.valid_from, valid_until=record.valid_until, actor=actor)


def _require_importer(actor: Actor) -> None:
    if not actor.has(Role.operator, Role.supervisor, Role.reviewer):
        raise Forbidden("您的角色无权导入证照 / your role may not import licences",
                        details={"required_roles": ["operator", "supervisor", "reviewer"]})


def _import_not_found(field: str) -> NotFound:
    """The one answer of an import whose holder or issuer is not here."""
    return NotFound("未找到持证人或颁发部门 / no such holder or issuing department",
                    details={"field": field})


def parse_or_invalid(identifier: str) -> LicenceIdentifier:
    """Parse a 证照标识, turning a format error into InvalidInput naming the bad part."""
    try:
        return parse_identifier(identifier)
    except IdentifierFormatError as exc:
        raise InvalidInput(str(exc), code="malformed_identifier",
                           details={"field": "identifier", "part": exc.part}) from exc


class ApprovedCase(Protocol):
    """What issuing needs of an approved case (cases.models.Case has these)."""

    id: uuid.UUID
    item_code: str | None
    department_id: uuid.UUID | None
    applicant_person_id: uuid.UUID | None
    applicant_enterprise_id: uuid.UUID | None
    implementation_version_id: uuid.UUID | None
    form_data: dict[str, Any]


def _guide_licence_type(db_session: Session, case: ApprovedCase) -> str | None:
    from tongban.catalog.models import ImplementationVersion

    if case.implementation_version_id is None:
        return None
    version = db_session.get(ImplementationVersion, case.implementation_version_id)
    result = (version.guide or {}).get("result", {}) if version else {}
    if result.get("kind") != "licence":
        return None
    licence_type = result.get("licence_type")
    return str(licence_type) if licence_type else None


def _holder_defaults(db_session: Session, case: ApprovedCase) -> dict[str, Any]:
    """Fields the holder's record already gives (name, gender, birth date, credit code)."""
    if case.applicant_person_id is not None:
        person = identity.get_person(db_session=db_session, person_id=case.applicant_person_id)
        return {"name": person.name, "gender": {"M": "男", "F": "女"}.get(person.gender),
                "birth_date": person.birth_date.isoformat()}
    if case.applicant_enterprise_id is not None:
        enterprise = identity.get_enterprise(db_session=db_session,
                                             enterprise_id=case.applicant_enterprise_id)
        return {"name": enterprise.name, "credit_code": enterprise.credit_code}
    return {}


def issue_for_approved_case(*, db_session: Session, settings: Settings, case: ApprovedCase,
                            actor: Actor = SYSTEM_ACTOR,
                            fields: dict[str, Any] | None = None,
                            decided_at: datetime | None = None) -> Licence | None:
    """Issue the licence an approved case's guide promises (result.kind == "licence");
    None when the guide promises none. Fields come from the holder record, the form and
    what the approving officer gave (`fields`), the later winning; issued at the decision
    (`decided_at`, default now) and valid from its legal (Beijing) day."""
    type_ref = _guide_licence_type(db_session, case)
    if type_ref is None:
        return None
    licence_type = get_type(db_session=db_session, code=type_ref)
    if case.department_id is None:
        raise InvalidInput("办件无实施部门,无法签发证照 / the case has no department",
                           details={"field": "department_id", "case_id": str(case.id)})
    properties = licence_type.field_schema.get("properties", {})
    merged = {**_holder_defaults(db_session, case), **(case.form_data or {}), **(fields or {})}
    fields = {k: v for k, v in merged.items() if k in properties and v is not None}
    return issue(db_session=db_session, settings=settings, licence_type_code=licence_type.code,
                 holder_person_id=case.applicant_person_id,
                 holder_enterprise_id=None if case.applicant_person_id else
                 case.applicant_enterprise_id,
                 fields=fields, issuer_department_id=case.department_id, case_id=case.id,
                 valid_from=today_in_china(decided_at), actor=actor, issued_at=decided_at)


# --- reading ------------------------------------------------------------------------

def today_in_china(now: datetime | None = None) -> date:
    """The legal date (Asia/Shanghai) of `now`."""
    return (now or utcnow()).astimezone(_CHINA).date()


def find_by_identifier(*, db_session: Session, identifier: str) -> Licence | None:
    """The licence with this identifier, or None (no permission check: internal)."""
    return db_session.scalar(select(Licence).where(Licence.identifier == identifier.strip()))


def get_licence(*, db_session: Session, identifier: str) -> Licence:
    """The licence with this identifier, or NotFound (identifier checked first)."""
    parse_or_invalid(identifier)
    licence = find_by_identifier(db_session=db_session, identifier=identifier)
    if licence is None:
        raise NotFound("未找到该证照 / no such licence",
                       details={"field": "identifier", "value": identifier})
    return licence


def _is_holder(actor: Actor, licence: Licence) -> bool:
    return (licence.holder_person_id is not None and actor.person_id == licence.holder_person_id
            ) or (licence.holder_enterprise_id is not None
                  and actor.enterprise_id == licence.holder_enterprise_id)


def _covers(actor: Actor, department: Department) -> bool:
    return actor.is_staff and actor.covers(department.region_code, department.id)


def _check_scope(actor: Actor, department: Department) -> None:
    if actor.account_id is not None and not _covers(actor, department):
        raise Forbidden("该证照的颁发部门不在您的管辖范围内 / the issuing department is outside "
                        "your scope", details={"department_id": str(department.id)})


def view_licence(*, db_session: Session, actor: Actor, identifier: str) -> Licence:
    """A licence for its holder, or for staff whose scope covers the issuing department."""
    licence = get_licence(db_session=db_session, identifier=identifier)
    department = keys.get_department(db_session=db_session,
                                     department_id=licence.issuer_department_id)
    if not (_is_holder(actor, licence) or _covers(actor, department)):
        raise Forbidden("无权查看该证照 / you may not view this licence",
                        details={"identifier": identifier})
    return licence


def view_with_history(*, db_session: Session, actor: Actor, identifier: str
                      ) -> tuple[Licence, list[LicenceStatusChange]]:
    """A licence (as view_licence allows) with its status history."""
    licence = view_licence(db_session=db_session, actor=actor, identifier=identifier)
    return licence, history(db_session=db_session, licence_id=licence.id)


def list_mine(*, db_session: Session, actor: Actor) -> list[Licence]:
    """The signed-in person's or enterprise's licences, newest first."""
    conditions = []
    if actor.person_id is not None:
        conditions.append(Licence.holder_person_id == actor.person_id)
    if actor.enterprise_id is not None:
        conditions.append(Licence.holder_enterprise_id == actor.enterprise_id)
    if not conditions:
        return []
    stmt = select(Licence).where(or_(*conditions)).order_by(Licence.issued_at.desc())
    return list(db_session.scalars(stmt))


def find_valid_licence(*, db_session: Session, holder_person_id: uuid.UUID | None = None,
                       holder_enterprise_id: uuid.UUID | None = None, licence_type_code: str,
                       on: date | None = None) -> Licence | None:
    """一证通办: the holder's newest licence of this type that is valid today, or None."""
    if (holder_person_id is None) == (holder_enterprise_id is None):
        raise InvalidInput("须且只能指定一个持证主体 / give exactly one holder",
                           details={"field": "holder"})
    day = on or today_in_china()
    licence_type = get_type(db_session=db_session, code=licence_type_code)
    holder = (Licence.holder_person_id == holder_person_id if holder_person_id
              else Licence.holder_enterprise_id == holder_enterprise_id)
    stmt = (select(Licence).where(
        holder, Licence.type_code == licence_type.code, Licence.status == LicenceStatus.valid,
        Licence.valid_from <= day,
        or_(Licence.valid_until.is_(None), Licence.valid_until >= day))
        .order_by(Licence.issued_at.desc()).limit(1))
    return db_session.scalar(stmt)


def _held_valid(holder: Any) -> Any:
    return (select(Licence).join(LicenceType, LicenceType.code == Licence.type_code).where(
        holder, or_(LicenceType.code == bindparam("type"), LicenceType.name == bindparam("type")),
        Licence.status == LicenceStatus.valid, Licence.valid_from <= bindparam("day"),
        or_(Licence.valid_until.is_(None), Licence.valid_until >= bindparam("day")))
        .order_by(Licence.issued_at.desc()).limit(1))


_HELD_VALID_BY_PERSON = _held_valid(Licence.holder_person_id == bindparam("holder"))
_HELD_VALID_BY_ENTERPRISE = _held_valid(Licence.holder_enterprise_id == bindparam("holder"))


def held_valid_licence(*, db_session: Session, holder_person_id: uuid.UUID | None,
                       holder_enterprise_id: uuid.UUID | None, type_code_or_name: str,
                       on: date) -> Licence | None:
    """一证通办 on application: find_valid_licence in one statement, the type named by its
    code or (as a guide names it) its name; None too when this node's catalog has no such
    type (a guide may name a paper one)."""
    if (holder_person_id is None) == (holder_enterprise_id is None):
        raise InvalidInput("须且只能指定一个持证主体 / give exactly one holder",
                           details={"field": "holder"})
    stmt = _HELD_VALID_BY_PERSON if holder_person_id else _HELD_VALID_BY_ENTERPRISE
    return db_session.scalar(stmt, {"holder": holder_person_id or holder_enterprise_id,
                                    "type": type_code_or_name, "day": on})


# Read on every decision (the applicant is told of what it issued): built once.
_ISSUED_FOR_CASE = (select(Licence).where(Licence.case_id == bindparam("case_id"))
                    .order_by(Licence.issued_at, Licence.id))


def issued_for_case(*, db_session: Session, case_id: uuid.UUID) -> list[Licence]:
    """The licences issued on a case's decision, oldest first."""
    return list(db_session.scalars(_ISSUED_FOR_CASE, {"case_id": case_id}))


def history(*, db_session: Session, licence_id: uuid.UUID) -> list[LicenceStatusChange]:
    """The status changes of a licence, oldest first."""
    stmt = (select(LicenceStatusChange).where(LicenceStatusChange.licence_id == licence_id)
            .order_by(LicenceStatusChange.at, LicenceStatusChange.id))
    return list(db_session.scalars(stmt))


def status_changes_since(*, db_session: Session, since: datetime, limit: int = 5000
                         ) -> list[tuple[LicenceStatusChange, Licence]]:
    """Status changes recorded at or after `since` with their licences, oldest first (for
    telling holders: tongban.notify.licence_watch)."""
    stmt = (select(LicenceStatusChange, Licence)
            .join(Licence, Licence.id == LicenceStatusChange.licence_id)
            .where(LicenceStatusChange.at >= since)
            .order_by(LicenceStatusChange.at, LicenceStatusChange.id).limit(limit))
    return [(change, licence) for change, licence in db_session.execute(stmt)]


# --- status changes -----------------------------------------------------------------


def change_status(*, db_session: Session, actor: Actor, identifier: str, status: str,
                  reason: str) -> Licence:
    """Move a licence to `status` if TRANSITIONS allows it for the actor's role, with a
    reason; appended to its history, the audit trail and the ledger."""
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("变更证照状态须填写理由 / a reason is required",
                           details={"field": "reason"})
    if status not in STATUS_NAMES:
        raise InvalidInput("证照状态代码无效 / unknown status code",
                           details={"field": "status", "allowed": sorted(STATUS_NAMES)})
    licence = get_licence(db_session=db_session, identifier=identifier)
    roles = TRANSITIONS.get((licence.status, status))
    if roles is None:
        raise Conflict(
            f"证照状态不能从{STATUS_NAMES[licence.status]}变为{STATUS_NAMES[status]} / cannot "
            f"change status {licence.status} -> {status}",
            details={"field": "status", "from": licence.status, "to": status})
    if not actor.has(*roles):
        raise Forbidden("您的角色无权进行此状态变更 / your role may not make this change",
                        details={"required_roles": sorted(roles)})
    department = keys.get_department(db_session=db_session,
                                     department_id=licence.issuer_department_id)
    _check_scope(actor, department)
    _set_status(db_session, actor, licence, status, reason)
    db_session.flush()
    return licence


def _set_status(db_session: Session, actor: Actor, licence: Licence, status: str,
                reason: str, replaced_by: str | None = None) -> None:
    """Write one status change: the row, its history, the ledger and the audit trail (the
    status list is built from the row, so it follows in the same transaction)."""
    previous, licence.status = licence.status, status
    db_session.add(LicenceStatusChange(licence_id=licence.id, from_status=previous,
                                       to_status=status, reason=reason,
                                       actor_id=actor.account_id, actor_name=actor.name))
    record_act(db_session=db_session, kind="licence.status_changed", payload={
        "licence_id": str(licence.id), "identifier": licence.identifier,
        "from": previous, "to": status, "replaced_by": replaced_by,
        "reason_sha256": hashlib.sha256(reason.encode("utf-8")).hexdigest(),
    })
    _audit(db_session, actor, "licence.status", licence.id, identifier=licence.identifier,
           from_status=previous, to_status=status, reason=reason)


# Statuses a licence can still leave: 有效 and 暂扣 (the others are final).
IN_FORCE = frozenset({LicenceStatus.valid, LicenceStatus.suspended})


def end_for_case(*, db_session: Session, actor: Actor, case_id: uuid.UUID, status: str,
                 reason: str) -> list[Licence]:
    """A decision undone takes its licences with it: every licence the case issued that is
    still in force moves to `status` (撤销 for a revoked approval), with the reason; the
    decision's own checks (role, scope) were the case engine's."""
    ended = [licence for licence in issued_for_case(db_session=db_session, case_id=case_id)
             if licence.status in IN_FORCE]
    for licence in ended:
        _set_status(db_session, actor, licence, status, reason)
    db_session.flush()
    return ended


# --- replacement (补领/换领) ------------------------------------------------------------


class Replacement(StrEnum):
    """Why a licence is replaced by a new one of the same kind for the same holder."""

    reissue = "reissue"  # 补领: lost or damaged
    renewal = "renewal"  # 换领: expiring, or its particulars changed


REPLACEMENT_NAMES = {Replacement.reissue: "补领", Replacement.renewal: "换领"}
_REPLACERS = _DEPT | {Role.clerk}  # the issuing department's window, reviewers and head


def _held(db_session: Session, licence_type: LicenceType, person_id: uuid.UUID | None,
          enterprise_id: uuid.UUID | None) -> list[Licence]:
    """The licences in force a new one of a held-once kind replaces; a suspended one
    (暂扣) blocks it: a new licence must not lift a suspension by the back door."""
    if not licence_type.held_once:
        return []
    holder = (Licence.holder_person_id == person_id if person_id is not None
              else Licence.holder_enterprise_id == enterprise_id)
    held = list(db_session.scalars(select(Licence).where(
        holder, Licence.type_code == licence_type.code, Licence.status.in_(IN_FORCE))
        .order_by(Licence.issued_at).with_for_update()))
    suspended = [x.identifier for x in held if x.status == LicenceStatus.suspended]
    if suspended:
        raise Conflict(f"持证人的{licence_type.name}已被暂扣,不能签发新证 / the holder's "
                       f"licence of this kind is suspended: no new one can be issued",
                       code="licence_suspended", details={"suspended": suspended})
    return held


def _end_replaced(db_session: Session, actor: Actor, old: Licence, new: Licence,
                  kind: Replacement, reason: str) -> None:
    """The replaced licence lapses (05 失效), naming its successor and why."""
    old.replaced_by = new.identifier
    _set_status(db_session, actor, old, LicenceStatus.lapsed,
                f"{REPLACEMENT_NAMES[kind]}:由 {new.identifier} 取代 / {kind.value}: "
                f"replaced by {new.identifier}. {reason}", replaced_by=new.identifier)


def replace(*, db_session: Session, settings: Settings, actor: Actor, identifier: str,
            kind: str, reason: str, fields: dict[str, Any] | None = None) -> Licence:
    """补领/换领: issue the holder a new licence of the same kind (the old fields with any
    changes given, valid from today) and end the old one as replaced, in one transaction."""
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("补领/换领须填写理由 / a reason is required",
                           details={"field": "reason"})
    if kind not in REPLACEMENT_NAMES:
        raise InvalidInput("补领或换领 / kind is reissue (补领) or renewal (换领)",
                           details={"field": "kind", "allowed": sorted(REPLACEMENT_NAMES)})
    old = get_licence(db_session=db_session, identifier=identifier)
    if not actor.has(*_REPLACERS):
        raise Forbidden("您的角色无权补领/换领证照 / your role may not replace licences",
                        details={"required_roles": sorted(_REPLACERS)})
    _check_scope(actor, keys.get_department(db_session=db_session,
                                            department_id=old.issuer_department_id))
    if old.status != LicenceStatus.valid or old.imported:
        raise Conflict(f"只有本平台签发的有效证照可以补领/换领(当前:{STATUS_NAMES[old.status]})"
                       f" / only a valid licence issued here can be replaced",
                       code="not_replaceable", details={"status": old.status})
    new = issue(db_session=db_session, settings=settings, licence_type_code=old.type_code,
                holder_person_id=old.holder_person_id,
                holder_enterprise_id=old.holder_enterprise_id,
                fields={**old.fields, **(fields or {})},
                issuer_department_id=old.issuer_department_id, case_id=old.case_id,
                valid_from=today_in_china(), actor=actor,
                replacing=(old, Replacement(kind), reason))
    return new


# --- PDF ----------------------------------------------------------------------------


def licence_pdf(*, db_session: Session, settings: Settings, actor: Actor, identifier: str
                ) -> bytes:
    """The sealed PDF of a licence (made on first request, then kept)."""
    licence = view_licence(db_session=db_session, actor=actor, identifier=identifier)
    stored = db_session.get(LicencePdf, licence.id)
    if stored is not None:
        return stored.content
    from tongban.licences.pdf import render_sealed_pdf

    department = keys.get_department(db_session=db_session,
                                     department_id=licence.issuer_department_id)
    seal_key = keys.current_key(db_session=db_session, settings=settings,
                                department_id=department.id, purpose=KeyPurpose.pdf)
    content = render_sealed_pdf(
        document=licence.document, field_schema=get_type(
            db_session=db_session, code=licence.type_code).field_schema,
        verify_url=verification_url(settings, licence.identifier),
        seal_name=department.name,
        key_pem=keys.private_pem(settings=settings, key=seal_key),
        cert_pem=seal_key.public_key.encode("ascii"))
    db_session.add(LicencePdf(licence_id=licence.id, content=content,
                              sha256=hashlib.sha256(content).hexdigest()))
    _audit(db_session, actor, "licence.pdf", licence.id, seal_kid=seal_key.kid)
    db_session.flush()
    return content


def verification_url(settings: Settings, identifier: str) -> str:
    """The QR payload: the public verification page with the identifier."""
    return f"{public_url(settings)}/licences/verify?identifier={identifier}"


def counts_by_status(*, db_session: Session) -> dict[str, int]:
    """How many licences are in each status (for dashboards)."""
    rows = db_session.execute(select(Licence.status, func.count()).group_by(Licence.status))
    return {status: count for status, count in rows}

