"""Per-recipient preferences: addresses (sealed) and, per kind, the external channels.

The inbox always holds every message (it is the record of what the node told whom); the
preferences choose which kinds also go out by e-mail or SMS. A kind not named in them
goes to every external channel the recipient has an address for. A person's phone comes
from identity unless the preferences give another.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from tongban.config import Settings
from tongban.db import utcnow
from tongban.errors import InvalidInput
from tongban.identity import crypto
from tongban.identity import service as identity
from tongban.identity.actor import Actor
from tongban.node.keyring import KeyRing
from tongban.notify import templates
from tongban.notify.models import Channel, Preference, RecipientKind

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


def _identity_phone(db_session: Session, settings: Settings, recipient: Recipient) -> str | None:
    person_id: uuid.UUID | None = None
    if recipient.kind == RecipientKind.person:
        person_id = recipient.id
    elif recipient.kind == RecipientKind.account:
        account = identity.get_account(db_session=db_session, account_id=recipient.id)
        person_id = account.person_id
    if person_id is None:
        return None
    person = identity.get_person(db_session=db_session, person_id=person_id)
    return identity.reveal_phone(settings=settings, person=person)


def _wanted(pref: Preference | None, kind: str) -> list[str]:
    if pref is not None and kind in (pref.channels or {}):
        return [c for c in pref.channels[kind] if c in EXTERNAL]
    return [c.value for c in EXTERNAL]


def addresses_for(*, db_session: Session, settings: Settings, recipient: Recipient,
                  kind: str) -> dict[str, str]:
    """The external channels a message of `kind` goes to, with the address on each."""
    pref = _find(db_session, recipient)
    wanted = _wanted(pref, kind)
    found: dict[str, str] = {}
    if Channel.email in wanted and pref is not None and pref.email_enc is not None:
        found[Channel.email.value] = crypto.decrypt(settings=settings, blob=pref.email_enc,
                                                    column=EMAIL_COLUMN)
    if Channel.sms in wanted:
        phone = (_open(settings, pref.phone_enc, PHONE_COLUMN) if pref is not None else None
                 ) or _identity_phone(db_session, settings, recipient)
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
