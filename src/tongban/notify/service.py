"""Telling people: one interface (`notify`) for every domain, and the in-app inbox.

`notify` writes the message in the caller's transaction and never commits: a case
decision and the news of it commit together or not at all. The caller's `key` names the
event ("case-event:<id>", "policy:<code>:<person>"); a second call with the same key
does nothing, also when two transactions race (INSERT .. ON CONFLICT DO NOTHING on the
key's unique hash), so nothing is written, and so nothing sent, twice. The message goes
into the recipient's inbox at once, and gets one delivery row per external channel the
recipient wants and has an address for (the delivery job sends them, tongban.notify.
delivery).

Staff are told with `notify_staff`: one staff account, or the staff of a department (or
of a region) holding a role (`Staff`), resolved to their accounts when the message is
written, one message per account (so each reads and marks their own). It seals and
hashes with the keys the session's engine carries (tongban.sealed.seal_engine), so a
domain's service function tells staff without being handed the node's settings.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, bindparam, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, make_transient_to_detached

from tongban.config import Settings
from tongban.db import new_id, utcnow
from tongban.errors import InvalidInput, NotFound
from tongban.identity import crypto
from tongban.identity.actor import Actor, region_covers
from tongban.identity.models import Account, AccountRole, StaffScope
from tongban.node.keyring import KeyRing, keyring
from tongban.notify import preferences, templates
from tongban.notify.models import Channel, Delivery, Notification, RecipientKind

CONTENT_COLUMN = "notify_notifications.content"
ADDRESS_COLUMN = "notify_deliveries.address"
MAX_KEY = 500
MAX_STAFF = 500  # accounts one staff message fans out to, at most


@dataclass(frozen=True)
class Recipient:
    """Who a message is for: a person, an enterprise, or one account. An account sees the
    messages of its person and enterprise as well as its own."""

    kind: RecipientKind
    id: uuid.UUID

    @classmethod
    def person(cls, person_id: uuid.UUID) -> Recipient:
        return cls(RecipientKind.person, person_id)

    @classmethod
    def enterprise(cls, enterprise_id: uuid.UUID) -> Recipient:
        return cls(RecipientKind.enterprise, enterprise_id)

    @classmethod
    def account(cls, account_id: uuid.UUID) -> Recipient:
        return cls(RecipientKind.account, account_id)

    @classmethod
    def applicant(cls, *, person_id: uuid.UUID | None,
                  enterprise_id: uuid.UUID | None) -> Recipient | None:
        """The applicant of a case or holder of a licence: the person, else the enterprise."""
        if person_id is not None:
            return cls.person(person_id)
        return cls.enterprise(enterprise_id) if enterprise_id is not None else None


@dataclass(frozen=True)
class InboxEntry:
    id: uuid.UUID
    kind: str
    title: dict[str, str]
    body: dict[str, str]
    link: str | None
    created_at: datetime
    read_at: datetime | None


@dataclass(frozen=True)
class Staff:
    """The staff holding one of `roles` of a department (`department_id`), or of a region
    (`department_id` None: accounts scoped to the whole region or one above it).

    A department's staff are the accounts scoped to that very department; when it has
    none and `or_region` is set, the region-wide staff covering it are told instead, so a
    message for a department nobody is scoped to still reaches someone who can act."""

    region_code: str
    roles: tuple[str, ...]
    department_id: uuid.UUID | None = None
    or_region: bool = True


def key_hash(*, settings: Settings, key: str) -> str:
    """The stored form of a dedupe key (keyed: a key may name a person)."""
    return _key_hash(keyring(settings), key)


def _key_hash(ring: KeyRing, key: str) -> str:
    return crypto.keyed_hash_with(ring, value=key, purpose="notify_key")


def _seal(settings: Settings, value: Any, column: str) -> bytes:
    return _seal_with(keyring(settings), value, column)


def _seal_with(ring: KeyRing, value: Any, column: str) -> bytes:
    return crypto.encrypt_with(ring, value=json.dumps(value, ensure_ascii=False), column=column)


def _open(settings: Settings, blob: bytes, column: str) -> Any:
    return json.loads(crypto.decrypt(settings=settings, blob=blob, column=column))


# Built once per dialect and recipient kind (a statement built per call costs its cache
# key every time): the key is taken by the INSERT itself, so two calls with one key write
# one row; it returns the new row's id and what `returning` names of the recipient.
_INSERT_ONCE: dict[tuple[str, Any], Any] = {}
_DIALECTS = {"postgresql": postgresql, "sqlite": sqlite}
_BY_KEY = select(Notification).where(Notification.key_hash == bindparam("key_hash"))


def _insert_once(db_session: Session, row: dict[str, Any],
                 returning: RecipientKind | None) -> Any:
    """Insert the notification unless its key is taken; the returned values (the id,
    then the ADDRESS_COLUMNS of recipient kind `returning`, if any) if this call wrote
    it, else None."""
    conn = db_session.connection()
    key = (conn.dialect.name, returning)
    statement = _INSERT_ONCE.get(key)
    if statement is None:
        table = Notification.__table__
        statement = _INSERT_ONCE[key] = (
            _DIALECTS[conn.dialect.name].insert(table)
            .on_conflict_do_nothing(index_elements=["key_hash"])
            .returning(table.c.id, *(preferences.ADDRESS_COLUMNS[returning]
                                     if returning is not None else ())))
    return conn.execute(statement, row).first()


def notify(
    *, db_session: Session, settings: Settings, kind: str, to: Recipient,
    params: dict[str, Any], key: str, now: datetime | None = None,
) -> Notification:
    """Tell `to` about `kind` (rendered from `params`), once per `key`, in the caller's
    transaction: an inbox entry now, a pending delivery per wanted external channel."""
    ring = keyring(settings)
    return _write(db_session, ring, kind, to, templates.render(kind, params), _checked(key),
                  now or utcnow(), lambda values: preferences.addresses_from(
                      settings=settings, kind=kind, values=values), with_addresses=True)


def _checked(key: str) -> str:
    key = (key or "").strip()
    if not key or len(key) > MAX_KEY:
        raise InvalidInput("消息去重键无效 / a notification needs a key (1-500 characters)",
                           code="bad_key", details={"field": "key"})
    return key


def _write(db_session: Session, ring: KeyRing, kind: str, to: Recipient,
           content: dict[str, Any], key: str, now: datetime,
           addresses: Callable[[Sequence[Any]], dict[str, str]], *,
           with_addresses: bool = False) -> Notification:
    """The message once per key, and, when this call wrote it, its deliveries to
    `addresses(values)`: the values are the recipient's ADDRESS_COLUMNS, returned by the
    INSERT, `with_addresses`; else none."""
    hashed = _key_hash(ring, key)
    row = {"id": new_id(), "key_hash": hashed, "kind": kind,
           "recipient_kind": to.kind.value, "recipient_id": to.id,
           "content_enc": _seal_with(ring, content, CONTENT_COLUMN), "created_at": now}
    inserted = _insert_once(db_session, row, to.kind if with_addresses else None)
    if inserted is None:  # told before (a retry, a second hook run)
        found = db_session.scalar(_BY_KEY, {"key_hash": hashed})
        assert found is not None  # the call that took the key wrote it
        return found
    for channel, address in addresses(tuple(inserted)[1:]).items():
        db_session.add(Delivery(
            notification_id=row["id"], channel=channel, next_attempt_at=now,
            address_enc=crypto.encrypt_with(ring, value=address, column=ADDRESS_COLUMN)))
    # The row just written, in the session as if loaded: no query reads it back.
    written = Notification(**row, read_at=None)
    make_transient_to_detached(written)
    db_session.add(written)
    return written


# --- staff -----------------------------------------------------------------------------------


def _ancestors(region_code: str) -> list[str]:
    """The region and every region above it (GB/T 2260), the nation included."""
    codes = {region_code, "100000"}
    if len(region_code) == 6 and region_code.isdigit():
        codes |= {region_code[:4] + "00", region_code[:2] + "0000"}
    return sorted(c for c in codes if region_covers(c, region_code))


def staff_accounts(*, db_session: Session, to: Staff) -> list[uuid.UUID]:
    """The active accounts `to` names (see Staff), at most MAX_STAFF, by id."""
    def scoped(department: Any) -> list[uuid.UUID]:
        stmt = (select(Account.id).join(AccountRole, AccountRole.account_id == Account.id)
                .join(StaffScope, StaffScope.account_id == Account.id)
                .where(Account.active.is_(True), AccountRole.role.in_(to.roles),
                       StaffScope.region_code.in_(_ancestors(to.region_code)), department)
                .distinct().order_by(Account.id).limit(MAX_STAFF))
        return list(db_session.scalars(stmt))

    if to.department_id is not None:
        found = scoped(StaffScope.department_id == to.department_id)
        if found or not to.or_region:
            return found
    return scoped(StaffScope.department_id.is_(None))


def notify_staff(*, db_session: Session, kind: str, to: Staff | uuid.UUID,
                 params: dict[str, Any], key: str,
                 now: datetime | None = None) -> list[Notification]:
    """Tell one staff account (`to` an account id) or every account of `to` (Staff) about
    `kind`, once per `key` and account, in the caller's transaction: an inbox entry on
    the workbench, and a delivery per channel the account's own preferences give."""
    from tongban.sealed import keyring_of

    key = _checked(key)
    content = templates.render(kind, params)
    ring = keyring_of(db_session.get_bind().engine)
    accounts = [to] if isinstance(to, uuid.UUID) else staff_accounts(db_session=db_session,
                                                                      to=to)
    now = now or utcnow()

    def own(recipient: Recipient) -> Callable[[Sequence[Any]], dict[str, str]]:
        return lambda _: preferences.own_addresses(db_session=db_session, ring=ring,
                                                   recipient=recipient, kind=kind)

    written = []
    for account_id in accounts:
        recipient = Recipient.account(account_id)
        written.append(_write(db_session, ring, kind, recipient, content,
                              f"{key}:{account_id}", now, own(recipient)))
    return written


# --- the inbox -------------------------------------------------------------------------------


def recipients_of(actor: Actor) -> list[Recipient]:
    """Every recipient whose messages this signed-in account reads."""
    found = []
    if actor.account_id is not None:
        found.append(Recipient.account(actor.account_id))
    if actor.person_id is not None:
        found.append(Recipient.person(actor.person_id))
    if actor.enterprise_id is not None:
        found.append(Recipient.enterprise(actor.enterprise_id))
    return found


def _mine(actor: Actor) -> Any:
    mine = [(Notification.recipient_kind == r.kind.value) & (Notification.recipient_id == r.id)
            for r in recipients_of(actor)]
    return or_(*mine) if mine else Notification.id.is_(None)


def _entry(settings: Settings, n: Notification) -> InboxEntry:
    content = _open(settings, n.content_enc, CONTENT_COLUMN)
    return InboxEntry(id=n.id, kind=n.kind, title=content["title"], body=content["body"],
                      link=content.get("link"), created_at=n.created_at, read_at=n.read_at)


def inbox(*, db_session: Session, settings: Settings, actor: Actor, unread_only: bool = False,
          limit: int = 50, offset: int = 0) -> list[InboxEntry]:
    """The caller's messages, newest first, opened for reading."""
    stmt: Select[Notification] = select(Notification).where(_mine(actor))
    if unread_only:
        stmt = stmt.where(Notification.read_at.is_(None))
    stmt = stmt.order_by(Notification.created_at.desc(), Notification.id.desc())
    rows = db_session.scalars(stmt.limit(max(1, min(limit, 200))).offset(max(0, offset)))
    return [_entry(settings, n) for n in rows]


def unread_count(*, db_session: Session, actor: Actor) -> int:
    """How many of the caller's messages are unread (the badge on every portal page)."""
    return db_session.scalar(select(func.count()).select_from(Notification).where(
        _mine(actor), Notification.read_at.is_(None))) or 0


def mark_read(*, db_session: Session, actor: Actor, notification_id: uuid.UUID,
              now: datetime | None = None) -> Notification:
    """Mark one of the caller's messages read (again is harmless); others' are not found."""
    found = db_session.scalar(select(Notification).where(
        Notification.id == notification_id, _mine(actor)))
    if found is None:
        raise NotFound("消息不存在 / no such notification",
                       details={"notification_id": str(notification_id)})
    if found.read_at is None:
        found.read_at = now or utcnow()
        db_session.flush()
    return found


def mark_all_read(*, db_session: Session, actor: Actor, now: datetime | None = None) -> int:
    """Mark every unread message of the caller read; how many were."""
    result = db_session.execute(update(Notification).where(
        _mine(actor), Notification.read_at.is_(None)).values(read_at=now or utcnow())
        .execution_options(synchronize_session=False))
    return int(result.rowcount)  # type: ignore[attr-defined]


def deliveries_of(*, db_session: Session, notification_id: uuid.UUID) -> list[Delivery]:
    """The external deliveries of one notification, by channel."""
    return list(db_session.scalars(select(Delivery).where(
        Delivery.notification_id == notification_id).order_by(Delivery.channel)))


__all__ = ["Channel", "InboxEntry", "Recipient", "Staff", "deliveries_of", "inbox", "key_hash",
           "mark_all_read", "mark_read", "notify", "notify_staff", "recipients_of",
           "staff_accounts", "unread_count"]
