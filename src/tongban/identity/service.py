"""Identity rules: people, enterprises, accounts, login sessions, agent authorisations.

Every function is keyword-only and never commits; the caller (request or CLI command) owns
the transaction. Every write appends an audit entry in the same transaction.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import bindparam, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from tongban.audit.service import record
from tongban.config import Settings
from tongban.db import utcnow
from tongban.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthenticated
from tongban.identity import actor_cache, crypto
from tongban.identity.actor import Actor, Scope, region_covers
from tongban.identity.ids import (
    IdentifierError,
    mask_id_number,
    normalise,
    parse_resident_id,
    validate_uscc,
)
from tongban.identity.models import (
    STAFF_ROLES,
    Account,
    AccountRole,
    AgentAuthorisation,
    Enterprise,
    LoginSession,
    Person,
    Role,
    StaffScope,
)
from tongban.node.root import wiring

ID_NUMBER_COLUMN = "identity_people.id_number"
PHONE_COLUMN = "identity_people.phone"

# Who may do what, as data: the API's role checks read these sets.
LOOKUP_PERSON_ROLES = frozenset({Role.clerk, Role.reviewer, Role.operator})
VIEW_PERSON_ROLES = frozenset({Role.clerk, Role.reviewer, Role.operator, Role.supervisor})
CREATE_PERSON_ROLES = frozenset({Role.clerk, Role.operator})
REVEAL_ROLES = frozenset({Role.clerk, Role.reviewer})
CREATE_ENTERPRISE_ROLES = frozenset({Role.clerk, Role.operator})
MANAGE_ACCOUNT_ROLES = frozenset({Role.operator})
WINDOW_ROLES = frozenset({Role.clerk})
LIST_ANY_AUTHORISATION_ROLES = frozenset(
    {Role.clerk, Role.reviewer, Role.supervisor, Role.operator}
)
# Roles that need a person or an enterprise behind the account.
PRINCIPAL_ROLES = frozenset({Role.applicant})

_USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}$")
_PHONE_RE = re.compile(r"^\+?[0-9]{5,20}$")
_ITEM_CODE_RE = re.compile(r"^[0-9A-Z]{12}$")
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 256

_hasher = PasswordHasher()  # Argon2id, RFC 9106 low-memory profile
_dummy_hash: str | None = None


def use_password_hasher(hasher: PasswordHasher) -> PasswordHasher:
    """Swap the Argon2id parameters (tests use a cheap profile); returns the previous one."""
    global _hasher, _dummy_hash
    previous, _hasher, _dummy_hash = _hasher, hasher, None
    return previous


def _field_error(field: str, message: str, **extra: Any) -> InvalidInput:
    return InvalidInput(message, details={"field": field, **extra})


def _audit(db_session: Session, actor: Actor, action: str, entity: str, entity_id: Any,
           **details: Any) -> None:
    record(db_session=db_session, actor_id=actor.account_id, actor_name=actor.name,
           action=action, entity=entity, entity_id=str(entity_id), details=details)


def _insert(db_session: Session, row: Any, conflict: str, field: str) -> None:
    """Add and flush; a unique-key race lost to a concurrent request is a 409, not a 500
    (the transaction is then spoilt, and the caller's rollback undoes everything)."""
    db_session.add(row)
    try:
        db_session.flush()
    except IntegrityError as exc:
        raise Conflict(conflict, details={"field": field}) from exc


def _must_exist(db_session: Session, model: Any, row_id: uuid.UUID | None, field: str) -> None:
    """A referenced row named in the input must exist (422 naming the field)."""
    if row_id is not None and db_session.get(model, row_id) is None:
        raise _field_error(field, "引用的对象不存在 / no such record", id=str(row_id))


def _clean_name(value: str, field: str = "name", max_length: int = 100) -> str:
    name = (value or "").strip()
    if not name or len(name) > max_length:
        raise _field_error(field, f"名称不能为空且不超过{max_length}字 / {field} must be 1-"
                                  f"{max_length} characters")
    return name


def _region_exists(db_session: Session, code: str) -> bool:
    """True if `code` is in the node's GB/T 2260 table (the catalog's regions)."""
    from tongban.catalog import service as catalog

    try:
        catalog.ensure_region_exists(db_session=db_session, region_code=code)
    except NotFound:
        return False
    return True


def _department_exists(db_session: Session, department_id: uuid.UUID) -> bool:
    from tongban.catalog import service as catalog

    try:
        catalog.get_department(db_session=db_session, department_id=department_id)
    except NotFound:
        return False
    return True


# --- people -------------------------------------------------------------------------


def _normalise_phone(phone: str) -> str:
    cleaned = re.sub(r"[\s-]", "", phone)
    if not _PHONE_RE.match(cleaned):
        raise _field_error("phone", "电话号码格式不正确 / phone number is malformed")
    return cleaned


def create_person(
    *, db_session: Session, settings: Settings, actor: Actor, name: str, id_number: str,
    phone: str | None = None,
) -> Person:
    """Register a person; the ID number is kept only encrypted, hashed and masked."""
    try:
        parsed = parse_resident_id(id_number)
    except IdentifierError as exc:
        raise _field_error("id_number", str(exc)) from exc
    clean_name = _clean_name(name)
    number_hash = crypto.keyed_hash(settings=settings, value=parsed.number)
    if db_session.scalar(select(Person.id).where(Person.id_number_hash == number_hash)):
        raise Conflict("该公民身份号码已登记 / a person with this ID number already exists",
                       details={"field": "id_number"})
    person = Person(
        name=clean_name,
        id_number_enc=crypto.encrypt(settings=settings, value=parsed.number,
                                     column=ID_NUMBER_COLUMN),
        id_number_hash=number_hash,
        id_number_masked=mask_id_number(parsed.number),
        gender=parsed.gender,
        birth_date=parsed.birth_date,
        home_region=parsed.region_code,
        phone_enc=(crypto.encrypt(settings=settings, value=_normalise_phone(phone),
                                  column=PHONE_COLUMN) if phone else None),
    )
    _insert(db_session, person, "该公民身份号码已登记 / a person with this ID number already "
            "exists", "id_number")
    _audit(db_session, actor, "person.create", "person", person.id,
           id_number_masked=person.id_number_masked)
    return person


# Session.get builds its statement (and cache key) on every miss; notify reads the
# applicant on every case transition.
_PERSON_BY_ID = select(Person).where(Person.id == bindparam("id"))


def get_person(*, db_session: Session, person_id: uuid.UUID) -> Person:
    """One person by id (from the session when already loaded), or NotFound."""
    person = db_session.identity_map.get(identity_key(Person, person_id))
    if person is None:
        person = db_session.scalar(_PERSON_BY_ID, {"id": person_id})
    if person is None:
        raise NotFound("未找到该人员 / no such person", details={"person_id": str(person_id)})
    return person


def find_person_by_id_number(
    *, db_session: Session, settings: Settings, id_number: str
) -> Person | None:
    """The person with this ID number (found by keyed hash), or None."""
    try:
        number = parse_resident_id(id_number).number
    except IdentifierError as exc:
        raise _field_error("id_number", str(exc)) from exc
    number_hash = crypto.keyed_hash(settings=settings, value=number)
    return db_session.scalar(select(Person).where(Person.id_number_hash == number_hash))


def lookup_person(*, db_session: Session, settings: Settings, actor: Actor, id_number: str,
                  purpose: str) -> Person | None:
    """find_person_by_id_number for staff at a window: every look-up is audited, a miss
    too (who probed which number, masked, and why)."""
    person = find_person_by_id_number(db_session=db_session, settings=settings,
                                      id_number=id_number)
    _audit(db_session, actor, "person.lookup", "person", person.id if person else "-",
           purpose=purpose, found=person is not None,
           id_number_masked=mask_id_number(normalise(id_number)))
    return person


def can_view_person(*, actor: Actor, person: Person) -> bool:
    """The masked record is for the person and for staff who serve people at any window."""
    return actor.person_id == person.id or actor.has(*VIEW_PERSON_ROLES)


def view_person(*, db_session: Session, actor: Actor, person_id: uuid.UUID) -> Person:
    """A person's (masked) record, if the actor may see it."""
    person = get_person(db_session=db_session, person_id=person_id)
    if not can_view_person(actor=actor, person=person):
        raise Forbidden("无权查看该人员信息 / you may not view this person")
    return person


class CaseHandlerCheck(Protocol):
    """Answers: is `actor` handling a case of this person (optionally: this case)?"""

    def __call__(self, *, db_session: Session, actor: Actor, person_id: uuid.UUID,
                 case_id: uuid.UUID | None) -> bool: ...


def _reveal_basis(db_session: Session, actor: Actor, person: Person,
                  case_id: uuid.UUID | None) -> str | None:
    """Why the actor may see the full number ("self", "scope", "case"), or None."""
    if actor.person_id is not None and actor.person_id == person.id:
        return "self"
    if not actor.has(*REVEAL_ROLES):
        return None
    if any(region_covers(s.region_code, person.home_region) for s in actor.scopes):
        return "scope"
    # The cases domain's check, registered by the root (identity must not import cases).
    for check in wiring().case_handler_checks:
        if check(db_session=db_session, actor=actor, person_id=person.id, case_id=case_id):
            return "case"
    return None


def check_purpose(purpose: str | None) -> str:
    """The stated purpose of a reveal, trimmed; 422 unless it says something (2-200)."""
    purpose = (purpose or "").strip()
    if len(purpose) < 2 or len(purpose) > 200:
        raise _field_error("purpose", "请说明查看目的(2-200字) / state the purpose (2-200 chars)")
    return purpose


def reveal_id_number(
    *, db_session: Session, settings: Settings, actor: Actor, person_id: uuid.UUID,
    purpose: str, case_id: uuid.UUID | None = None,
) -> str:
    """The full ID number, for the person or a clerk/reviewer who needs it; always audited."""
    purpose = check_purpose(purpose)
    person = get_person(db_session=db_session, person_id=person_id)
    basis = _reveal_basis(db_session, actor, person, case_id)
    if basis is None:
        raise Forbidden(
            "无权查看完整身份号码:须本人,或辖区内/经办该件的窗口或审核人员 / only the person, "
            "or a clerk/reviewer whose scope covers them or who handles their case, may see it",
            details={"person_id": str(person_id)},
        )
    number = crypto.decrypt(settings=settings, blob=person.id_number_enc,
                            column=ID_NUMBER_COLUMN)
    _audit(db_session, actor, "person.reveal_id_number", "person", person.id,
           purpose=purpose, basis=basis, case_id=str(case_id) if case_id else None)
    return number


def reveal_phone(*, settings: Settings, person: Person) -> str | None:
    """The person's phone number in clear (for notify); callers decide who may see it."""
    return open_phone(settings=settings, phone_enc=person.phone_enc)


def open_phone(*, settings: Settings, phone_enc: bytes | None) -> str | None:
    """A person's sealed phone column in clear, read without its row (notify's addresses
    read it in the same statement as the preferences)."""
    if phone_enc is None:
        return None
    return crypto.decrypt(settings=settings, blob=phone_enc, column=PHONE_COLUMN)


# --- enterprises --------------------------------------------------------------------


def _enterprise_region(db_session: Session, credit_code: str, region_code: str | None) -> str:
    """The given region (must be known), else the code's own, else its nearest known parent."""
    if region_code is not None:
        if not _region_exists(db_session, region_code):
            raise _field_error("region_code", "行政区划代码不存在 / unknown region code",
                               region_code=region_code)
        return region_code
    embedded = credit_code[2:8]
    for candidate in (embedded, embedded[:4] + "00", embedded[:2] + "0000"):
        if _region_exists(db_session, candidate):
            return candidate
    raise _field_error("region_code", "信用代码中的区划代码未知,请指定所属区划 / the credit "
                                      "code's region is unknown here; give region_code",
                       region_code=embedded)


def create_enterprise(
    *, db_session: Session, actor: Actor, name: str, credit_code: str,
    region_code: str | None = None, legal_representative_id: uuid.UUID | None = None,
) -> Enterprise:
    """Register an enterprise (any GB 32100 code, letter-first ones too)."""
    try:
        code = validate_uscc(credit_code)
    except IdentifierError as exc:
        raise _field_error("credit_code", str(exc)) from exc
    clean_name = _clean_name(name, max_length=200)
    if db_session.scalar(select(Enterprise.id).where(Enterprise.credit_code == code)):
        raise Conflict("该统一社会信用代码已登记 / an enterprise with this credit code exists",
                       details={"field": "credit_code"})
    _must_exist(db_session, Person, legal_representative_id, "legal_representative_id")
    enterprise = Enterprise(
        name=clean_name, credit_code=code,
        region_code=_enterprise_region(db_session, code, region_code),
        legal_representative_id=legal_representative_id,
    )
    _insert(db_session, enterprise, "该统一社会信用代码已登记 / an enterprise with this credit "
            "code exists", "credit_code")
    _audit(db_session, actor, "enterprise.create", "enterprise", enterprise.id,
           credit_code=code)
    return enterprise


def get_enterprise(*, db_session: Session, enterprise_id: uuid.UUID) -> Enterprise:
    """One enterprise by id, or NotFound."""
    enterprise = db_session.get(Enterprise, enterprise_id)
    if enterprise is None:
        raise NotFound("未找到该企业 / no such enterprise",
                       details={"enterprise_id": str(enterprise_id)})
    return enterprise


def find_enterprise_by_credit_code(*, db_session: Session, credit_code: str) -> Enterprise | None:
    """The enterprise with this credit code, or None."""
    try:
        code = validate_uscc(credit_code)
    except IdentifierError as exc:
        raise _field_error("credit_code", str(exc)) from exc
    return db_session.scalar(select(Enterprise).where(Enterprise.credit_code == code))


# --- accounts -----------------------------------------------------------------------


def _check_password(password: str, username: str) -> None:
    """Long enough, two kinds of character, not the username: the rest is Argon2id's job."""
    if not password or len(password) < MIN_PASSWORD_LENGTH:
        raise _field_error("password", f"密码至少{MIN_PASSWORD_LENGTH}位 / password must have "
                                       f"at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise _field_error("password", "密码过长 / password is too long")
    kinds = sum(
        any(test(c) for c in password)
        for test in (str.islower, str.isupper, str.isdigit, lambda c: not c.isalnum())
    )
    if kinds < 2:
        raise _field_error("password", "密码须包含至少两类字符(字母、数字、符号) / password "
                                       "must mix at least two kinds of characters")
    if username.lower() in password.lower():
        raise _field_error("password", "密码不能包含用户名 / password must not contain the "
                                       "username")


def _clean_roles(roles: Iterable[str]) -> list[Role]:
    known = {r.value for r in Role}
    wanted = list(dict.fromkeys(roles))
    unknown = [r for r in wanted if r not in known]
    if unknown or not wanted:
        raise _field_error("roles", "角色为空或未知 / roles are empty or unknown",
                           unknown=unknown, allowed=sorted(known))
    return [Role(r) for r in wanted]


def _clean_scopes(
    db_session: Session, scopes: Iterable[tuple[str, uuid.UUID | None]]
) -> list[tuple[str, uuid.UUID | None]]:
    cleaned = list(dict.fromkeys((r.strip(), d) for r, d in scopes))
    for region_code, department_id in cleaned:
        if not _region_exists(db_session, region_code):
            raise _field_error("scopes", "行政区划代码不存在 / unknown region code",
                               region_code=region_code)
        if department_id is not None and not _department_exists(db_session, department_id):
            raise _field_error("scopes", "部门不存在 / unknown department",
                               department_id=str(department_id))
    return cleaned


def department_scope(*, db_session: Session, credit_code: str) -> tuple[str, uuid.UUID]:
    """The scope (region, department) of a department named by its credit code."""
    from tongban.catalog import service as catalog

    try:
        department = catalog.get_department_by_credit_code(db_session=db_session,
                                                           credit_code=credit_code)
    except NotFound as exc:
        raise _field_error("department", "部门不存在 / no department with this credit code",
                           credit_code=credit_code) from exc
    return department.region_code, department.id


# (broken, field, message): the account rules, checked in order.
_AccountFacts = dict[str, Any]
ACCOUNT_RULES: Sequence[tuple[Callable[[_AccountFacts], bool], str, str]] = (
    (lambda f: f["principal_role"] and not (f["person_id"] or f["enterprise_id"]),
     "person_id", "申请人账号须关联自然人或企业 / an applicant account belongs to a person "
                  "or an enterprise"),
    (lambda f: bool(f["person_id"] and f["enterprise_id"]),
     "enterprise_id", "账号只能关联自然人或企业之一 / an account belongs to a person or an "
                      "enterprise, not both"),
    (lambda f: f["staff_role"] and not f["scopes"],
     "scopes", "工作人员账号至少需要一个管辖范围 / staff roles need at least one scope"),
    (lambda f: not f["staff_role"] and bool(f["scopes"]),
     "scopes", "只有工作人员账号有管辖范围 / only staff accounts have scopes"),
)


def create_account(
    *, db_session: Session, actor: Actor, username: str, password: str, display_name: str,
    roles: Iterable[str], scopes: Iterable[tuple[str, uuid.UUID | None]] = (),
    person_id: uuid.UUID | None = None, enterprise_id: uuid.UUID | None = None,
) -> Account:
    """Open a login with its roles and scopes, after checking every account rule."""
    name = (username or "").strip().lower()
    if not _USERNAME_RE.match(name):
        raise _field_error("username", "用户名须为3-64位小写字母、数字或 . _ - / username must "
                                       "be 3-64 of a-z 0-9 . _ -")
    _check_password(password, name)
    clean_display = _clean_name(display_name, "display_name")
    role_list = _clean_roles(roles)
    scope_list = _clean_scopes(db_session, scopes)
    facts = {
        "principal_role": any(r in PRINCIPAL_ROLES for r in role_list),
        "staff_role": any(r in STAFF_ROLES for r in role_list),
        "scopes": scope_list, "person_id": person_id, "enterprise_id": enterprise_id,
    }
    for broken, field, message in ACCOUNT_RULES:
        if broken(facts):
            raise _field_error(field, message)
    _must_exist(db_session, Person, person_id, "person_id")
    _must_exist(db_session, Enterprise, enterprise_id, "enterprise_id")
    if db_session.scalar(select(Account.id).where(Account.username == name)):
        raise Conflict("用户名已被使用 / username is taken", details={"field": "username"})
    account = Account(
        username=name, password_hash=_hasher.hash(password), display_name=clean_display,
        person_id=person_id, enterprise_id=enterprise_id,
        roles=[AccountRole(role=r.value) for r in role_list],
        scopes=[StaffScope(region_code=r, department_id=d) for r, d in scope_list],
    )
    _insert(db_session, account, "用户名已被使用 / username is taken", "username")
    _audit(db_session, actor, "account.create", "account", account.id, username=name,
           roles=[r.value for r in role_list],
           scopes=[{"region_code": r, "department_id": str(d) if d else None}
                   for r, d in scope_list])
    return account


def get_account(*, db_session: Session, account_id: uuid.UUID) -> Account:
    """One account by id, or NotFound."""
    account = db_session.get(Account, account_id)
    if account is None:
        raise NotFound("未找到该账号 / no such account", details={"account_id": str(account_id)})
    return account


def view_account(*, db_session: Session, actor: Actor, account_id: uuid.UUID) -> Account:
    """An account, for itself or an operator."""
    if actor.account_id != account_id and not actor.has(*MANAGE_ACCOUNT_ROLES):
        raise Forbidden("无权查看该账号 / you may not view this account")
    return get_account(db_session=db_session, account_id=account_id)


def list_accounts(*, db_session: Session) -> list[Account]:
    """Every account, by username (for operators and the CLI)."""
    return list(db_session.scalars(select(Account).order_by(Account.username)))


def find_account_by_username(*, db_session: Session, username: str) -> Account | None:
    """The account with this username (case-insensitive), or None."""
    return db_session.scalar(
        select(Account).where(Account.username == (username or "").strip().lower())
    )


def account_roles(account: Account) -> list[str]:
    """The account's role names, sorted."""
    return sorted(r.role for r in account.roles)


# --- login sessions -----------------------------------------------------------------


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _verify_password(account: Account | None, password: str) -> bool:
    """Argon2id verification; an unknown user costs the same as a wrong password."""
    global _dummy_hash
    if account is None:
        _dummy_hash = _dummy_hash or _hasher.hash(secrets.token_urlsafe(16))
        target = _dummy_hash
    else:
        target = account.password_hash
    try:
        return _hasher.verify(target, password) and account is not None
    except (VerificationError, InvalidHashError):
        return False


def login(
    *, db_session: Session, settings: Settings, username: str, password: str,
    now: datetime | None = None,
) -> tuple[str, LoginSession]:
    """Check the password and open a session; returns the bearer token (shown once)."""
    now = now or utcnow()
    account = find_account_by_username(db_session=db_session, username=username)
    if not _verify_password(account, password or "") or account is None or not account.active:
        raise Unauthenticated("用户名或密码错误 / wrong username or password")
    if _hasher.check_needs_rehash(account.password_hash):
        account.password_hash = _hasher.hash(password)
    token = secrets.token_urlsafe(32)
    session = LoginSession(token_hash=_token_hash(token), account_id=account.id,
                           created_at=now, expires_at=now + timedelta(days=settings.session_days))
    db_session.add(session)
    db_session.flush()
    record(db_session=db_session, actor_id=account.id, actor_name=account.display_name,
           action="account.login", entity="account", entity_id=str(account.id),
           details={"expires_at": session.expires_at.isoformat()})
    return token, session


def logout(*, db_session: Session, token: str, now: datetime | None = None) -> None:
    """Revoke the session of `token` (idempotent: an unknown token is already gone)."""
    session = db_session.get(LoginSession, _token_hash(token))
    if session is None or session.revoked_at is not None:
        return
    session.revoked_at = now or utcnow()
    actor_cache.forget(session.token_hash)
    account = db_session.get(Account, session.account_id)
    record(db_session=db_session, actor_id=session.account_id,
           actor_name=account.display_name if account else "", action="account.logout",
           entity="account", entity_id=str(session.account_id))


def actor_from_account(account: Account, acting_for: uuid.UUID | None = None) -> Actor:
    """The Actor an account acts as (roles and scopes resolved)."""
    return Actor(
        account_id=account.id, name=account.display_name,
        roles=frozenset(r.role for r in account.roles),
        scopes=tuple(Scope(s.region_code, s.department_id) for s in account.scopes),
        person_id=account.person_id, enterprise_id=account.enterprise_id,
        acting_for_authorisation_id=acting_for, extra={"username": account.username},
    )


def _resolve_token(
    db_session: Session, token_hash: str, now: datetime
) -> tuple[Actor, datetime] | None:
    """The actor of a live session and the session's expiry, in ONE query (session,
    account, roles and scopes joined; an agent's authorisation is a second one)."""
    stmt = (
        select(LoginSession.expires_at, LoginSession.revoked_at,
               LoginSession.acting_for_authorisation_id, Account.id, Account.display_name,
               Account.active, Account.person_id, Account.enterprise_id, Account.username,
               AccountRole.role, StaffScope.id, StaffScope.region_code,
               StaffScope.department_id)
        .join(Account, Account.id == LoginSession.account_id)
        .outerjoin(AccountRole, AccountRole.account_id == Account.id)
        .outerjoin(StaffScope, StaffScope.account_id == Account.id)
        .where(LoginSession.token_hash == token_hash)
        .order_by(StaffScope.id)
    )
    rows = db_session.execute(stmt).all()
    if not rows:
        return None
    first = rows[0]
    expires_at, revoked_at, acting_for = first[0], first[1], first[2]
    if revoked_at is not None or expires_at <= now or not first.active:
        return None
    if acting_for is not None:
        auth = db_session.get(AgentAuthorisation, acting_for)
        if auth is None or _authorisation_state(auth, now) != "valid":
            acting_for = None
    scopes: dict[uuid.UUID, Scope] = {}
    for row in rows:
        if row[10] is not None:
            scopes.setdefault(row[10], Scope(row.region_code, row.department_id))
    actor = Actor(
        account_id=first[3], name=first.display_name,
        roles=frozenset(r.role for r in rows if r.role is not None),
        scopes=tuple(scopes.values()), person_id=first.person_id,
        enterprise_id=first.enterprise_id, acting_for_authorisation_id=acting_for,
        extra={"username": first.username},
    )
    return actor, expires_at


def actor_for_token(
    *, db_session: Session, token: str, now: datetime | None = None
) -> Actor | None:
    """The caller behind a bearer token; None when unknown, expired, revoked or inactive."""
    found = _resolve_token(db_session, _token_hash(token), now or utcnow())
    return found[0] if found else None


def remembered_actor(*, token: str, now: datetime | None = None) -> Actor | None:
    """The actor this process remembers for `token` (no database read; None if not)."""
    return actor_cache.get(_token_hash(token), now or utcnow())


def cached_actor_for_token(
    *, db_session: Session, token: str, now: datetime | None = None
) -> Actor | None:
    """actor_for_token, remembered per process for a few seconds: the hot path of every
    request (see identity.actor_cache for the revocation bound)."""
    now = now or utcnow()
    token_hash = _token_hash(token)
    actor = actor_cache.get(token_hash, now)
    if actor is not None:
        return actor
    found = _resolve_token(db_session, token_hash, now)
    if found is None:
        return None
    actor, expires_at = found
    if actor.acting_for_authorisation_id is None:
        actor_cache.put(token_hash, actor, expires_at)
    return actor


def _live_session(db_session: Session, token: str, now: datetime) -> LoginSession:
    session = db_session.get(LoginSession, _token_hash(token))
    if session is None or session.revoked_at is not None or session.expires_at <= now:
        raise Unauthenticated("请先登录 / please sign in")
    return session


def act_for(
    *, db_session: Session, token: str, authorisation_id: uuid.UUID,
    now: datetime | None = None,
) -> LoginSession:
    """Let an agent's session act for a principal, under an authorisation valid now."""
    now = now or utcnow()
    session = _live_session(db_session, token, now)
    auth = get_agent_authorisation(db_session=db_session, authorisation_id=authorisation_id)
    if auth.agent_account_id != session.account_id:
        raise Forbidden("该代办授权不是授予您的 / this authorisation is not yours",
                        code="agent_not_authorised", details={"reason": "not_the_agent"})
    state = _authorisation_state(auth, now)
    if state != "valid":
        raise Forbidden(AUTHORISATION_REASONS[state], code="agent_not_authorised",
                        details={"reason": state, "authorisation_id": str(auth.id)})
    session.acting_for_authorisation_id = auth.id
    actor_cache.forget(session.token_hash)
    record(db_session=db_session, actor_id=session.account_id,
           actor_name=session.account.display_name, action="account.act_for",
           entity="agent_authorisation", entity_id=str(auth.id))
    return session


def stop_acting(*, db_session: Session, token: str, now: datetime | None = None) -> LoginSession:
    """The agent's session acts for nobody again."""
    session = _live_session(db_session, token, now or utcnow())
    session.acting_for_authorisation_id = None
    actor_cache.forget(session.token_hash)
    return session


# --- agent authorisations -----------------------------------------------------------


def _authorisation_state(auth: AgentAuthorisation, at: datetime) -> str:
    """valid / revoked / not_yet_valid / expired at time `at`."""
    if auth.revoked_at is not None and auth.revoked_at <= at:
        return "revoked"
    if at < auth.valid_from:
        return "not_yet_valid"
    if at >= auth.valid_until:
        return "expired"
    return "valid"


AUTHORISATION_REASONS = {
    "none": "未找到代办授权 / no authorisation for this agent and principal",
    "item_not_covered": "代办授权不包含该事项 / the authorisation does not cover this item",
    "revoked": "代办授权已撤销 / the authorisation was revoked",
    "not_yet_valid": "代办授权尚未生效 / the authorisation is not yet valid",
    "expired": "代办授权已过期 / the authorisation has expired",
}


def _principal_filter(person_id: uuid.UUID | None, enterprise_id: uuid.UUID | None) -> Any:
    if (person_id is None) == (enterprise_id is None):
        raise _field_error("principal", "须且只能指定一个被代理人(自然人或企业) / give exactly "
                                        "one principal: a person or an enterprise")
    if person_id is not None:
        return AgentAuthorisation.principal_person_id == person_id
    return AgentAuthorisation.principal_enterprise_id == enterprise_id


def _is_principal(actor: Actor, auth: AgentAuthorisation) -> bool:
    return (
        (auth.principal_person_id is not None and actor.person_id == auth.principal_person_id)
        or (auth.principal_enterprise_id is not None
            and actor.enterprise_id == auth.principal_enterprise_id)
    )


def _clean_item_codes(codes: Iterable[str]) -> list[str]:
    cleaned = sorted({c.strip().upper() for c in codes})
    bad = [c for c in cleaned if not _ITEM_CODE_RE.match(c)]
    if bad:
        raise _field_error("item_codes", "事项基本编码应为12位字母数字 / item codes are 12 "
                                         "letters or digits", invalid=bad)
    return cleaned


def create_agent_authorisation(
    *, db_session: Session, actor: Actor, agent_account_id: uuid.UUID,
    valid_until: datetime, principal_person_id: uuid.UUID | None = None,
    principal_enterprise_id: uuid.UUID | None = None, item_codes: Iterable[str] = (),
    valid_from: datetime | None = None, now: datetime | None = None,
) -> AgentAuthorisation:
    """Record that the principal lets the agent act for them (by them, or at a window)."""
    now = now or utcnow()
    _principal_filter(principal_person_id, principal_enterprise_id)
    auth = AgentAuthorisation(
        agent_account_id=agent_account_id, principal_person_id=principal_person_id,
        principal_enterprise_id=principal_enterprise_id,
        item_codes=_clean_item_codes(item_codes), valid_from=valid_from or now,
        valid_until=valid_until, created_by=actor.account_id,
    )
    if not (_is_principal(actor, auth) or actor.has(*WINDOW_ROLES)):
        raise Forbidden("只有被代理人本人或窗口人员可以登记代办授权 / only the principal or a "
                        "window clerk may record an authorisation")
    if auth.valid_until <= auth.valid_from or auth.valid_until <= now:
        raise _field_error("valid_until", "有效期截止须晚于开始时间和当前时间 / valid_until "
                                          "must be after valid_from and now")
    _must_exist(db_session, Person, principal_person_id, "principal_person_id")
    _must_exist(db_session, Enterprise, principal_enterprise_id, "principal_enterprise_id")
    agent = db_session.get(Account, agent_account_id)
    if agent is None or not agent.active or Role.agent not in {r.role for r in agent.roles}:
        raise _field_error("agent_account_id", "代办人须为有效的代办账号 / the agent must be an "
                                               "active account with the agent role")
    if principal_person_id is not None and agent.person_id == principal_person_id:
        raise _field_error("agent_account_id", "不能授权本人代办自己 / an agent cannot act for "
                                               "themself")
    db_session.add(auth)
    db_session.flush()
    _audit(db_session, actor, "agent_authorisation.create", "agent_authorisation", auth.id,
           agent_account_id=str(agent_account_id), item_codes=auth.item_codes,
           principal_person_id=str(principal_person_id) if principal_person_id else None,
           principal_enterprise_id=(str(principal_enterprise_id)
                                    if principal_enterprise_id else None),
           valid_from=auth.valid_from.isoformat(), valid_until=auth.valid_until.isoformat())
    return auth


def get_agent_authorisation(*, db_session: Session, authorisation_id: uuid.UUID
                            ) -> AgentAuthorisation:
    """One authorisation by id, or NotFound."""
    auth = db_session.get(AgentAuthorisation, authorisation_id)
    if auth is None:
        raise NotFound("未找到该代办授权 / no such authorisation",
                       details={"authorisation_id": str(authorisation_id)})
    return auth


def authorisation_in_force(*, db_session: Session, authorisation_id: uuid.UUID,
                           at: datetime) -> AgentAuthorisation | None:
    """The authorisation if it is valid at `at` (not revoked, begun, not expired)."""
    auth = db_session.get(AgentAuthorisation, authorisation_id)
    return auth if auth is not None and _authorisation_state(auth, at) == "valid" else None


def revoke_agent_authorisation(
    *, db_session: Session, actor: Actor, authorisation_id: uuid.UUID, reason: str = "",
    now: datetime | None = None,
) -> AgentAuthorisation:
    """End an authorisation now (by the principal, the agent, or a window clerk)."""
    auth = get_agent_authorisation(db_session=db_session, authorisation_id=authorisation_id)
    may = (_is_principal(actor, auth) or actor.account_id == auth.agent_account_id
           or actor.has(*WINDOW_ROLES))
    if not may:
        raise Forbidden("无权撤销该代办授权 / you may not revoke this authorisation")
    if auth.revoked_at is not None:
        raise Conflict("该代办授权已撤销 / the authorisation is already revoked",
                       details={"revoked_at": auth.revoked_at.isoformat()})
    auth.revoked_at = now or utcnow()
    _audit(db_session, actor, "agent_authorisation.revoke", "agent_authorisation", auth.id,
           reason=reason.strip())
    return auth


def list_agent_authorisations(
    *, db_session: Session, actor: Actor, agent_account_id: uuid.UUID | None = None,
    principal_person_id: uuid.UUID | None = None,
    principal_enterprise_id: uuid.UUID | None = None,
) -> list[AgentAuthorisation]:
    """Authorisations the actor may see: their own (as agent or principal), or any for staff."""
    stmt = select(AgentAuthorisation).order_by(AgentAuthorisation.created_at.desc())
    if not actor.has(*LIST_ANY_AUTHORISATION_ROLES):
        own = [AgentAuthorisation.agent_account_id == actor.account_id]
        if actor.person_id is not None:
            own.append(AgentAuthorisation.principal_person_id == actor.person_id)
        if actor.enterprise_id is not None:
            own.append(AgentAuthorisation.principal_enterprise_id == actor.enterprise_id)
        stmt = stmt.where(or_(*own))
    for column, value in (
        (AgentAuthorisation.agent_account_id, agent_account_id),
        (AgentAuthorisation.principal_person_id, principal_person_id),
        (AgentAuthorisation.principal_enterprise_id, principal_enterprise_id),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    return list(db_session.scalars(stmt))


def check_agent_authorisation(
    *, db_session: Session, agent_account_id: uuid.UUID,
    principal_person_id: uuid.UUID | None = None,
    principal_enterprise_id: uuid.UUID | None = None, item_code: str, at: datetime,
) -> AgentAuthorisation:
    """The authorisation that lets the agent act for the principal on this item at `at`;
    Forbidden with the reason (none, item not covered, revoked, not yet valid, expired)."""
    stmt = (
        select(AgentAuthorisation)
        .where(AgentAuthorisation.agent_account_id == agent_account_id,
               _principal_filter(principal_person_id, principal_enterprise_id))
        .order_by(AgentAuthorisation.created_at.desc(), AgentAuthorisation.id.desc())
    )
    candidates = list(db_session.scalars(stmt))
    code = item_code.strip().upper()
    covering = [a for a in candidates if not a.item_codes or code in a.item_codes]
    for auth in covering:
        if _authorisation_state(auth, at) == "valid":
            return auth
    if not candidates:
        reason = "none"
    elif not covering:
        reason = "item_not_covered"
    else:
        reason = _authorisation_state(covering[0], at)
    raise Forbidden(
        AUTHORISATION_REASONS[reason], code="agent_not_authorised",
        details={"reason": reason, "item_code": code,
                 "authorisation_id": str(covering[0].id) if covering else None},
    )
