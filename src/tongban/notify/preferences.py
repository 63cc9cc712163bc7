"""Per-recipient preferences: addresses (sealed) and, per kind, the external channels.

The inbox always holds every message (it is the record of what the node told whom); the
preferences choose which kinds also go out by e-mail or SMS. A kind not named in them
goes to every external channel the recipient has an address for. A person's phone comes
from identity unless the preferences give another.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, literal_column, null, select
from sqlalchemy.orm import Session

from tongban.config import Settings
from tongban.db import utcnow
from tongban.errors import InvalidInput
from tongban.identity import crypto
from tongban.identity import service as identity
from tongban.identity.actor import Actor
from tongban.identity.models import Account, Person
from tongban.node.keyring import KeyRing
from tongban.notify import templates
from tongban.notify.models import Channel, Notification, Preference, RecipientKind

if TYPE_CHECKING:
    from tongban.notify.service import Recipient

EMAIL_COLUMN = "notify_preferences.email"
PHONE_COLUMN = "notify_preferences.phone"
EXTERNAL = (Channel.email, Channel.sms)
# Deliberately plain: one @, a dotted domain, no spaces or angle brackets (RFC 5321 length).
_EMAIL_RE = re.compile(r"^[^@\s<>,;]{1,64}@[^@\s<>,;]+\.[^@\s<>,;.]{2,}$")
_PHONE_RE = re.compile(r"^1[3-9][0-9]{9}$")


@dataclass(frozen=True)
class PreferenceView:
    email: str | None
    phone: str | None  # the one set here; identity's is used when this is None
    channels: dict[str, list[str]]  # every kind, with what applies to it now


# Read for every notification (each case transition tells its applicant): built once.
_PREFERENCE_OF = select(Preference).where(Preference.recipient_kind == bindparam("kind"),
                                          Preference.recipient_id == bindparam("id"))


def _find(db_session: Session, recipient: Recipient) -> Preference | None:
    return db_session.scalar(_PREFERENCE_OF, {"kind": recipient.kind.value,
                                              "id": recipient.id})


def _open(settings: Settings, blob: bytes | None, column: str) -> str | None:
    return None if blob is None else crypto.decrypt(settings=settings, blob=blob, column=column)


def _told(column: str) -> Any:
    """A column of the notification row being inserted, as its RETURNING clause sees it
    (named in full: SQLAlchemy neither correlates a subquery there nor qualifies names)."""
    return literal_column(f"{Notification.__tablename__}.{column}")


def _pref_column(column: Any) -> Any:
    return select(column).where(Preference.recipient_kind == _told("recipient_kind"),
                                Preference.recipient_id == _told("recipient_id")
                                ).scalar_subquery()


def _phone_of(person_id: Any) -> Any:
    return select(Person.phone_enc).where(Person.id == person_id).scalar_subquery()


# What a notification needs of its recipient, returned by the INSERT of the notification
# itself (each case transition tells its applicant: no round trip of its own): the
# preferences' columns and identity's phone, each a scalar subquery on the row written,
# so a recipient without preferences still gets them (as None). The phone is a person's,
# an account's person's, or none (an enterprise).
_PREF_COLUMNS = [_pref_column(c) for c in (Preference.email_enc, Preference.phone_enc,
                                           Preference.channels)]
ADDRESS_COLUMNS = {
    RecipientKind.person: (*_PREF_COLUMNS, _phone_of(_told("recipient_id"))),
    RecipientKind.account: (*_PREF_COLUMNS, _phone_of(
        select(Account.person_id).where(Account.id == _told("recipient_id"))
        .scalar_subquery())),
    RecipientKind.enterprise: (*_PREF_COLUMNS, null().label("identity_phone")),
}


def _wanted(pref: Preference | None, kind: str) -> list[str]:
    return _wanted_of(pref.channels if pref is not None else None, kind)


def _wanted_of(channels: dict[str, list[str]] | None, kind: str) -> list[str]:
    if channels and kind in channels:
        return [c for c in channels[kind] if c in EXTERNAL]
    return [c.value for c in EXTERNAL]


def addresses_from(*, settings: Settings, kind: str, values: Sequence[Any]) -> dict[str, str]:
    """The external channels a message of `kind` goes to, with the address on each, from
    the values of its recipient's ADDRESS_COLUMNS."""
    email_enc, phone_enc, channels, identity_phone_enc = tuple(values)
    wanted = _wanted_of(channels, kind)
    found: dict[str, str] = {}
    if Channel.email in wanted and email_enc is not None:
        found[Channel.email.value] = crypto.decrypt(settings=settings, blob=email_enc,
                                                    column=EMAIL_COLUMN)
    if Channel.sms in wanted:
        phone = (_open(settings, phone_enc, PHONE_COLUMN)
                 or identity.open_phone(settings=settings, phone_enc=identity_phone_enc))
        if phone:
            found[Channel.sms.value] = phone
    return found


def own_addresses(*, db_session: Session, ring: KeyRing, recipient: Recipient,
                  kind: str) -> dict[str, str]:
    """The external channels a message of `kind` goes to by the recipient's own
    preferences only (a staff account: no identity phone is looked up)."""
    pref = _find(db_session, recipient)
    if pref is None:
        return {}
    wanted = _wanted(pref, kind)
    found: dict[str, str] = {}
    for channel, blob, column in ((Channel.email, pref.email_enc, EMAIL_COLUMN),
                                  (Channel.sms, pref.phone_enc, PHONE_COLUMN)):
        if channel in wanted and blob is not None:
            found[channel.value] = crypto.decrypt_with(ring, blob=blob, column=column)
    return found


def primary_recipient(actor: Actor) -> Recipient:
    """Whose preferences an account edits: its person's, else its enterprise's, else its own."""
    from tongban.notify.service import Recipient

    if actor.person_id is not None:
        return Recipient.person(actor.person_id)
    if actor.enterprise_id is not None:
        return Recipient.enterprise(actor.enterprise_id)
    assert actor.account_id is not None
    return Recipient.account(actor.account_id)


def view(*, db_session: Session, settings: Settings, actor: Actor) -> PreferenceView:
    """The caller's addresses and the channels each kind goes to."""
    pref = _find(db_session, primary_recipient(actor))
    return PreferenceView(
        email=_open(settings, pref.email_enc, EMAIL_COLUMN) if pref else None,
        phone=_open(settings, pref.phone_enc, PHONE_COLUMN) if pref else None,
        channels={kind: _wanted(pref, kind) for kind in templates.TEMPLATES})


def _clean_email(value: str | None) -> str | None:
    value = (value or "").strip()
    if not value:
        return None
    if len(value) > 254 or not _EMAIL_RE.match(value):
        raise InvalidInput("电子邮箱格式不正确 / the e-mail address is malformed",
                           details=[{"field": "email", "message": "格式不正确 / malformed"}])
    return value


def _clean_phone(value: str | None) -> str | None:
    value = re.sub(r"[\s-]", "", value or "")
    if not value:
        return None
    if not _PHONE_RE.match(value):
        raise InvalidInput("手机号码格式不正确 / the mobile number is malformed",
                           details=[{"field": "phone", "message": "格式不正确 / malformed"}])
    return value


def _clean_channels(channels: dict[str, list[str]]) -> dict[str, list[str]]:
    problems = [{"field": f"channels.{kind}", "message": "未知的消息类型 / unknown kind"}
                for kind in channels if kind not in templates.TEMPLATES]
    problems += [{"field": f"channels.{kind}", "message": f"未知渠道 / unknown channel {c}"}
                 for kind, chosen in channels.items() for c in chosen
                 if c not in [e.value for e in EXTERNAL]]
    if problems:
        raise InvalidInput("通知设置有误 / the preferences are invalid", details=problems)
    return {kind: sorted(set(chosen)) for kind, chosen in channels.items()}


def update(*, db_session: Session, settings: Settings, actor: Actor, email: str | None,
           phone: str | None, channels: dict[str, list[str]],
           now: datetime | None = None) -> PreferenceView:
    """Replace the caller's addresses and channel choices (checked first: all or nothing)."""
    clean_email, clean_phone = _clean_email(email), _clean_phone(phone)
    clean_channels = _clean_channels(channels)
    recipient = primary_recipient(actor)
    pref = _find(db_session, recipient)
    if pref is None:
        pref = Preference(recipient_kind=recipient.kind.value, recipient_id=recipient.id)
        db_session.add(pref)
    pref.email_enc = (crypto.encrypt(settings=settings, value=clean_email, column=EMAIL_COLUMN)
                      if clean_email else None)
    pref.phone_enc = (crypto.encrypt(settings=settings, value=clean_phone, column=PHONE_COLUMN)
                      if clean_phone else None)
    pref.channels = clean_channels
    pref.updated_at = now or utcnow()
    db_session.flush()
    return view(db_session=db_session, settings=settings, actor=actor)
