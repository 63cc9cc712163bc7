"""The exchange: queue signed envelopes, receive and check them, receipt them, log both
sides, and process the inbox by envelope type.

Sending writes the signed envelope to the outbox (topic "federation") in the caller's
transaction, so a change and the envelope it causes commit together; transport.py
delivers it. Receiving checks, in order: registry current, size, JWS form, known sender
and key, signature, canonical JSON, fields, sender, receiver, type, time window, replay;
an accepted envelope is stored once (its id is the seen-ids key), logged in the message
log and the ledger, and answered with a receipt over the SHA-256 of the received bytes.
Every refusal is logged with its reason.
"""

from __future__ import annotations

import base64
import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import insert, or_, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from tongban.audit.service import record as audit
from tongban.config import Settings
from tongban.db import new_id, utcnow
from tongban.errors import Conflict, DomainError, InvalidInput, TooLarge
from tongban.federation import envelopes, registry
from tongban.federation.envelopes import Envelope, EnvelopeRejected
from tongban.federation.models import InboxEnvelope, Message, Rejection
from tongban.identity import crypto
from tongban.ledger.service import record_act
from tongban.licences import keys as licence_keys
from tongban.licences import signing
from tongban.node.root import wiring
from tongban.outbox import service as outbox

TOPIC = "federation"
log = logging.getLogger(__name__)
TOKEN_COLUMN = "federation.envelope_token"


class FederationSettings(BaseSettings):
    """Exchange limits (TONGBAN_FEDERATION_*)."""

    model_config = SettingsConfigDict(env_prefix="TONGBAN_FEDERATION_", extra="ignore")

    # None: derived from the node's upload limit (envelope_limit), so every application
    # the forwarding API accepts fits in an envelope every node accepts.
    max_envelope_bytes: int | None = None
    max_batch_envelopes: int = 500
    # An envelope may be at most this far in the future (clock skew) ...
    max_skew_seconds: int = 300
    # ... and this old (retries across an outage); seen ids are kept at least this long.
    max_age_seconds: int = 7 * 24 * 3600
    # Temporary delivery failures are retried with backoff (1 s ... 5 min) this many
    # times (about a day), then the sender gives up and shows a person why.
    max_delivery_attempts: int = 300
    # An inbox envelope whose handler keeps failing (or deferring) is parked after this
    # many attempts (about eight hours at the five-minute ceiling).
    max_inbox_attempts: int = 100


LIMITS = FederationSettings()
MIN_BATCH_BYTES = 64 * 1024 * 1024
ENVELOPE_OVERHEAD = 64 * 1024  # header, signature, applicant, checks and the other fields


def envelope_limit(settings: Settings) -> int:
    """The largest envelope this node sends or accepts. A forwarded application carries
    its materials base64 in the JSON, and the JWS carries that JSON base64url: so the
    largest forwarding request (tongban.body_limits) is the unit, once more in base64."""
    if LIMITS.max_envelope_bytes is not None:
        return LIMITS.max_envelope_bytes
    from tongban.body_limits import FORWARDING_API, base64_size, limit_for

    return base64_size(limit_for(FORWARDING_API[0], settings)) + ENVELOPE_OVERHEAD


def batch_body_limit(settings: Settings) -> int:
    """The largest request body the envelope endpoints read (checked before reading, by
    tongban.body_limits): a batch of envelopes, at least one of the largest accepted."""
    return max(MIN_BATCH_BYTES, envelope_limit(settings) + ENVELOPE_OVERHEAD)


# --- the handler table ------------------------------------------------------------------


class Deferred(Exception):
    """A handler cannot run yet (e.g. a status for a case whose opening is still in
    flight); the inbox retries it later."""


class Handler(Protocol):
    def __call__(self, *, db_session: Session, settings: Settings, envelope: Envelope,
                 now: datetime) -> str: ...


class Undeliverable(Protocol):
    """What the sender does when it gives up on an envelope of a type (the case it was
    for fails, with the reason, for a person to see)."""

    def __call__(self, *, db_session: Session, settings: Settings, envelope_id: uuid.UUID,
                 case_ref: str | None, receiver: str, code: str, reason: str,
                 now: datetime) -> None: ...


# The inbox handler of each envelope type is registered by the root (federation.wiring,
# node.root.Wiring.envelope_handlers); a type nobody registered is refused.


def ping(*, db_session: Session, settings: Settings, envelope: Envelope, now: datetime) -> str:
    """A connectivity check; used by `federation ping` and the benchmark."""
    return "pong"


# --- sending ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _NodeKeys:
    signing_key: Ed25519PrivateKey
    kid: str
    vault: crypto.Vault


_KEYS: dict[tuple[str, str, str, str | None, str | None, str | None], _NodeKeys] = {}


def node_keys(settings: Settings) -> _NodeKeys:
    """The node key, its kid and the data key, read once per process (every envelope
    and receipt is signed, every stored envelope sealed)."""
    ident = (str(settings.var_dir), settings.node_region, settings.node_name,
             settings.data_key, settings.node_key, str(settings.key_file))
    found = _KEYS.get(ident)
    if found is None:
        node = licence_keys.node_key(settings)
        found = _KEYS[ident] = _NodeKeys(node.private_key, licence_keys.node_kid(settings),
                                         crypto.vault(settings))
    return found


def seal_bytes(settings: Settings, token: str) -> bytes:
    """An envelope sealed at rest (it may carry ID numbers): the PII vault's format,
    nonce || AES-256-GCM(token), the column name as associated data."""
    nonce = secrets.token_bytes(crypto.NONCE_BYTES)
    return nonce + node_keys(settings).vault.encrypt(nonce, token.encode(),
                                                     TOKEN_COLUMN.encode())


def seal_token(settings: Settings, token: str) -> str:
    """A sealed envelope, base64, for JSON columns (the outbox)."""
    return base64.b64encode(seal_bytes(settings, token)).decode("ascii")


def open_token(settings: Settings, sealed: str | bytes) -> str:
    blob = base64.b64decode(sealed) if isinstance(sealed, str) else bytes(sealed)
    nonce, body = blob[:crypto.NONCE_BYTES], blob[crypto.NONCE_BYTES:]
    return node_keys(settings).vault.decrypt(nonce, body, TOKEN_COLUMN.encode()).decode()


def send(*, db_session: Session, settings: Settings, receiver: str, kind: str,
         payload: dict[str, Any], case_id: str | None = None, user_id: str | None = None,
         now: datetime | None = None, require_registry: bool = True) -> Envelope:
    """Queue a signed envelope to a peer in the caller's transaction.

    With `require_registry` the peer must be in a current registry (a person acting
    gets a clear error at once); hooks inside other domains' transactions queue anyway
    and delivery waits for a current registry (fail closed at the wire)."""
    now = now or utcnow()
    if kind not in wiring().envelope_handlers:
        raise InvalidInput("未知的信封类型 / unknown envelope type", details={"type": kind})
    if require_registry:
        current = registry.current(db_session=db_session, now=now)
        if current.node(receiver) is None:
            raise InvalidInput("接收节点不在联邦注册表中 / the receiver is not a registered node",
                               code="unknown_receiver", details={"receiver": receiver})
    envelope = Envelope(id=new_id(), sender=settings.node_region, receiver=receiver,
                        type=kind, case_id=case_id, user_id=user_id, created_at=now,
                        payload=payload)
    try:
        keys = node_keys(settings)
        token = envelopes.seal(envelope, key=keys.signing_key, kid=keys.kid)
    except (TypeError, ValueError) as exc:
        raise InvalidInput("信封内容无法规范化 / the payload cannot be canonicalised",
                           details={"reason": str(exc)}) from exc
    data = token.encode("ascii")
    limit = envelope_limit(settings)
    if len(data) > limit:  # refused here, with the change, rather than by every peer later
        raise TooLarge("信封超过联邦的大小上限,请减少或压缩材料 / the envelope would be larger "
                       "than a node accepts: send fewer or smaller materials",
                       code="envelope_too_large", details={"size": len(data), "limit": limit})
    outbox.enqueue(db_session=db_session, topic=TOPIC, kind=kind, payload={
        "envelope_id": str(envelope.id), "receiver": receiver, "case_ref": case_id,
        "token": seal_token(settings, token)},
        message_id=envelope.id)  # one id for the envelope and its outbox row
    db_session.add(Message(
        envelope_id=envelope.id, direction="out", peer_region=receiver, type=kind,
        case_ref=case_id, user_ref=user_id, created_at=now, logged_at=now,
        body_sha256=envelopes.sha256_hex(data), size=len(data), status="queued"))
    return envelope


# --- receiving -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Accepted:
    envelope: Envelope
    receipt: str
    body_sha256: str


@dataclass(frozen=True)
class Refused:
    error: EnvelopeRejected


Outcome = Accepted | Refused


def _known_sender(reg: registry.Registry, jws: signing.Jws) -> registry.NodeEntry:
    entry = reg.by_kid(jws.kid)
    if entry is not None:
        return entry
    claimed = jws.payload.get("sender")
    if isinstance(claimed, str) and reg.node(claimed) is not None:
        raise EnvelopeRejected("unknown_key", details={"kid": jws.kid, "sender": claimed})
    raise EnvelopeRejected("unknown_sender", details={"kid": jws.kid, "sender": claimed})


def _check_time(envelope: Envelope, now: datetime) -> None:
    if envelope.created_at > now + timedelta(seconds=LIMITS.max_skew_seconds):
        raise EnvelopeRejected("clock_skew", details={
            "created_at": envelope.created_at.isoformat(), "now": now.isoformat(),
            "max_skew_seconds": LIMITS.max_skew_seconds})
    if envelope.created_at < now - timedelta(seconds=LIMITS.max_age_seconds):
        raise EnvelopeRejected("too_old", details={
            "created_at": envelope.created_at.isoformat(),
            "max_age_seconds": LIMITS.max_age_seconds})


def check(*, reg: registry.Registry, me: str, body: bytes, now: datetime,
          max_bytes: int) -> tuple[Envelope, signing.Jws]:
    """Every stateless check of a received envelope; the first failure is raised."""
    limit = max_bytes
    if not body:
        raise EnvelopeRejected("empty_body")
    if len(body) > limit:
        raise EnvelopeRejected("too_large", details={"size": len(body), "limit": limit})
    try:
        token = body.decode("ascii")
    except UnicodeDecodeError as exc:
        raise EnvelopeRejected("malformed", details={"reason": "not ASCII"}) from exc
    jws = envelopes.parse(token)
    entry = _known_sender(reg, jws)
    if not jws.verify(entry.public_key):
        raise EnvelopeRejected("bad_signature", details={"kid": jws.kid})
    if not envelopes.is_canonical(jws):
        raise EnvelopeRejected("not_canonical")
    envelope = envelopes.envelope_of(jws)
    if envelope.sender != entry.region_code:
        raise EnvelopeRejected("sender_mismatch", details={
            "sender": envelope.sender, "key_of": entry.region_code})
    if envelope.receiver != me:
        raise EnvelopeRejected("wrong_receiver", details={
            "receiver": envelope.receiver, "this_node": me})
    handlers = wiring().envelope_handlers
    if envelope.type not in handlers:
        raise EnvelopeRejected("unknown_type", details={"type": envelope.type,
                                                        "known": sorted(handlers.names())})
    _check_time(envelope, now)
    return envelope, jws


def _receipt(settings: Settings, envelope: Envelope, digest: str, now: datetime) -> str:
    keys = node_keys(settings)
    return envelopes.sign_json(envelopes.receipt_claims(envelope, digest, now),
                               key=keys.signing_key, kid=keys.kid, typ=envelopes.RECEIPT_TYP)


@dataclass(frozen=True)
class _Seen:
    body_sha256: str
    receipt: str


def _seen(envelope: Envelope, digest: str, known: dict[uuid.UUID, _Seen]) -> None:
    """Refuse an id seen before: the same bytes get their receipt back (duplicate);
    other bytes under a used id are a replay."""
    row = known.get(envelope.id)
    if row is None:
        return
    if row.body_sha256 == digest:
        raise EnvelopeRejected("duplicate", details={"envelope_id": str(envelope.id),
                                                     "receipt": row.receipt})
    raise EnvelopeRejected("replayed_id", details={"envelope_id": str(envelope.id)})


@dataclass
class _Rows:
    """An accepted batch's rows, written with one INSERT per table."""

    inbox: list[dict[str, Any]]
    log: list[dict[str, Any]]

    def write(self, db_session: Session) -> None:
        if self.inbox:
            db_session.execute(insert(InboxEnvelope), self.inbox)
            db_session.execute(insert(Message), self.log)


def _store(db_session: Session, settings: Settings, envelope: Envelope, token: str,
           digest: str, size: int, now: datetime, rows: _Rows) -> str:
    """Queue the inbox and message-log rows of an accepted envelope, log the act in the
    ledger, and return its signed receipt."""
    receipt = _receipt(settings, envelope, digest, now)
    rows.inbox.append({
        "envelope_id": envelope.id, "sender": envelope.sender, "type": envelope.type,
        "case_ref": envelope.case_id, "created_at": envelope.created_at, "received_at": now,
        "body_sha256": digest, "token_enc": seal_bytes(settings, token), "receipt": receipt,
        "attempts": 0})
    rows.log.append({
        "envelope_id": envelope.id, "direction": "in", "peer_region": envelope.sender,
        "type": envelope.type, "case_ref": envelope.case_id, "user_ref": envelope.user_id,
        "created_at": envelope.created_at, "logged_at": now, "body_sha256": digest,
        "size": size, "status": "accepted", "receipt": receipt, "receipt_at": now,
        "attempts": 0})
    record_act(db_session=db_session, kind="federation.envelope_accepted", payload={
        "envelope_id": str(envelope.id), "sender": envelope.sender,
        "receiver": envelope.receiver, "type": envelope.type, "case_id": envelope.case_id,
        "sha256": digest, "received_at": envelopes.rfc3339(now)})
    return receipt


def log_rejection(*, db_session: Session, body: bytes, error: EnvelopeRejected,
                  now: datetime | None = None) -> Rejection:
    """Keep a refused envelope's hash, claimed sender and id, and the reason."""
    claimed, envelope_id = _claims(body)
    row = Rejection(at=now or utcnow(), claimed_sender=claimed, envelope_id=envelope_id,
                    error=error.code, message=error.message,
                    body_sha256=envelopes.sha256_hex(body), size=len(body),
                    details=_jsonable(error.details))
    db_session.add(row)
    return row


def _jsonable(details: Any) -> Any:
    if isinstance(details, dict):
        return {k: v for k, v in details.items() if k != "receipt"}
    return details


def _claims(body: bytes) -> tuple[str | None, str | None]:
    """Best effort: who the refused envelope claimed to be from, and its id."""
    try:
        jws = signing.parse(body[:65536].decode("ascii"))
    except (signing.JwsFormatError, UnicodeDecodeError, ValueError):
        return None, None
    sender = jws.payload.get("sender")
    ident = jws.payload.get("id")
    return (str(sender)[:200] if sender is not None else jws.kid[:200] or None,
            str(ident)[:64] if ident is not None else None)


def receive(*, db_session: Session, settings: Settings, bodies: list[bytes],
            now: datetime | None = None, max_bytes: int | None = None) -> list[Outcome]:
    """Check and store each received envelope (one request, possibly a batch); every
    refusal is logged. Nothing is raised for a bad envelope: each gets its outcome.

    The stateless checks run first; then one query finds the ids seen before, and the
    accepted envelopes are written in one flush (no per-envelope round trips)."""
    now = now or utcnow()
    try:
        reg = registry.current(db_session=db_session, now=now)
    except EnvelopeRejected as exc:
        for body in bodies:
            log_rejection(db_session=db_session, body=body, error=exc, now=now)
        return [Refused(exc) for _ in bodies]
    checked: list[Envelope | EnvelopeRejected] = []
    max_bytes = max_bytes if max_bytes is not None else envelope_limit(settings)
    for body in bodies:
        try:
            checked.append(check(reg=reg, me=settings.node_region, body=body, now=now,
                                 max_bytes=max_bytes)[0])
        except EnvelopeRejected as exc:
            checked.append(exc)
    ids = [c.id for c in checked if isinstance(c, Envelope)]
    known = {row.envelope_id: _Seen(row.body_sha256, row.receipt) for row in db_session.execute(
        select(InboxEnvelope.envelope_id, InboxEnvelope.body_sha256, InboxEnvelope.receipt)
        .where(InboxEnvelope.envelope_id.in_(ids)))} if ids else {}
    outcomes: list[Outcome] = []
    rows = _Rows([], [])
    with db_session.no_autoflush:
        for body, item in zip(bodies, checked, strict=True):
            try:
                if isinstance(item, EnvelopeRejected):
                    raise item
                digest = envelopes.sha256_hex(body)
                _seen(item, digest, known)
                receipt = _store(db_session, settings, item, body.decode("ascii"), digest,
                                 len(body), now, rows)
                known[item.id] = _Seen(digest, receipt)
                outcomes.append(Accepted(item, receipt, digest))
            except EnvelopeRejected as exc:
                log_rejection(db_session=db_session, body=body, error=exc, now=now)
                outcomes.append(Refused(exc))
    try:
        with db_session.begin_nested():
            rows.write(db_session)
    except IntegrityError as exc:  # the same envelope delivered twice at the same moment
        raise Conflict("同一信封正被并发投递,请稍后重试 / the same envelope is being delivered "
                       "concurrently; retry", code="concurrent_delivery") from exc
    db_session.flush()
    return outcomes


# --- receipts (sender side) ------------------------------------------------------------------


class ReceiptInvalid(ValueError):
    """A receipt that does not prove delivery of what was sent."""


def check_receipt(*, receipt: str, entry: registry.NodeEntry, envelope_id: str,
                  sent: bytes) -> dict[str, Any]:
    """The claims of a receipt signed by `entry` for exactly the bytes `sent`."""
    try:
        jws = signing.parse(receipt)
    except signing.JwsFormatError as exc:
        raise ReceiptInvalid(str(exc)) from exc
    if jws.header.get("typ") != envelopes.RECEIPT_TYP or jws.kid != entry.kid:
        raise ReceiptInvalid("not a receipt signed by the receiver's node key")
    if not jws.verify(entry.public_key):
        raise ReceiptInvalid("the receipt signature does not verify")
    claims = jws.payload
    if claims.get("envelope_id") != envelope_id or \
            claims.get("sha256") != envelopes.sha256_hex(sent) or \
            claims.get("receiver") != entry.region_code or claims.get("status") != "accepted":
        raise ReceiptInvalid("the receipt is for other bytes, another envelope or receiver")
    return claims


def record_receipt(*, db_session: Session, envelope_id: uuid.UUID, receipt: str,
                   claims: dict[str, Any], now: datetime, message: Message | None = None
                   ) -> None:
    """Sender: keep the receipt in the message log and the ledger."""
    if message is None:
        message = db_session.scalar(select(Message).where(
            Message.envelope_id == envelope_id, Message.direction == "out"))
    if message is not None:
        message.status, message.receipt, message.receipt_at = "delivered", receipt, now
        message.attempts += 1
        message.last_error = None
    record_act(db_session=db_session, kind="federation.envelope_receipted", payload={
        "envelope_id": str(envelope_id), "receiver": claims.get("receiver"),
        "type": claims.get("type"), "sha256": claims.get("sha256"),
        "received_at": claims.get("received_at")})


def out_messages(*, db_session: Session, envelope_ids: list[uuid.UUID]
                 ) -> dict[uuid.UUID, Message]:
    """The sender's message-log rows of these envelopes, in one query."""
    if not envelope_ids:
        return {}
    return {m.envelope_id: m for m in db_session.scalars(select(Message).where(
        Message.envelope_id.in_(envelope_ids), Message.direction == "out"))}


def record_failure(*, db_session: Session, envelope_id: uuid.UUID, error: str,
                   message: Message | None = None, gave_up: bool = False) -> None:
    """Sender: note a failed attempt in the message log (`gave_up`: the last one)."""
    if message is None:
        message = db_session.scalar(select(Message).where(
            Message.envelope_id == envelope_id, Message.direction == "out"))
    if message is not None:
        message.attempts += 1
        message.last_error = error[:2000]
        if gave_up:
            message.status = "failed"


# --- the inbox ---------------------------------------------------------------------------------


def stored_envelope(*, settings: Settings, row: InboxEnvelope) -> Envelope:
    """The envelope of an inbox row (checked when it arrived)."""
    if row.token_enc is None:
        raise DomainError("信封已清除 / the envelope was purged", code="purged")
    jws = signing.parse(open_token(settings, row.token_enc))
    return envelopes.envelope_of(jws)


def backoff(attempts: int) -> timedelta:
    """Exponential backoff: 1, 2, 4 … seconds, at most five minutes."""
    return timedelta(seconds=min(300, 2 ** min(attempts, 9)))


def process_inbox(*, db_session: Session, settings: Settings, now: datetime | None = None,
                  limit: int = 200) -> int:
    """Run each unprocessed envelope's handler once it is due; returns how many ran.

    A handler that defers or meets a domain error is retried with backoff, at most
    LIMITS.max_inbox_attempts times; one that fails otherwise (a malformed payload, a
    bug) cannot succeed by retrying: the envelope is parked at once. Parked envelopes
    are reported (log, audit, health, GET /federation/inbox/parked) and the inbox goes on
    with the ones behind them. A database failure is not the envelope's: it propagates,
    and the job's transaction is retried as a whole."""
    now = now or utcnow()
    rows = list(db_session.scalars(
        select(InboxEnvelope)
        .where(InboxEnvelope.processed_at.is_(None), InboxEnvelope.parked_at.is_(None),
               or_(InboxEnvelope.next_attempt_at.is_(None),
                   InboxEnvelope.next_attempt_at <= now))
        .order_by(InboxEnvelope.received_at, InboxEnvelope.created_at).limit(limit)))
    done = 0
    for row in rows:
        try:
            with db_session.begin_nested():
                row.outcome = _handle(db_session, settings, row, now)[:200]
            row.processed_at = now
            done += 1
        except (Deferred, DomainError, IntegrityError) as exc:
            row.attempts += 1
            row.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            if row.attempts >= LIMITS.max_inbox_attempts:
                _park(db_session, row, f"gave up after {row.attempts} attempts", now)
            else:
                row.next_attempt_at = now + backoff(row.attempts)
        except OperationalError:
            raise
        except Exception as exc:  # a malformed payload or a bug: this envelope's alone
            row.attempts += 1
            row.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            _park(db_session, row, "the handler cannot process it", now)
    db_session.flush()
    return done


def _handle(db_session: Session, settings: Settings, row: InboxEnvelope, now: datetime
            ) -> str:
    envelope = stored_envelope(settings=settings, row=row)
    handler = wiring().envelope_handlers.find(row.type)
    if handler is None:
        raise DomainError(f"no handler for {row.type}")
    return handler(db_session=db_session, settings=settings, envelope=envelope, now=now)


def _park(db_session: Session, row: InboxEnvelope, why: str, now: datetime) -> None:
    """Set an envelope aside for a person: never run again, reported, and out of the way."""
    row.parked_at = now
    log.error("federation: parked inbox envelope %s (%s from %s): %s: %s", row.envelope_id,
              row.type, row.sender, why, row.last_error)
    audit(db_session=db_session, actor_id=None, actor_name="federation",
          action="federation.envelope_parked", entity="federation_envelope",
          entity_id=str(row.envelope_id),
          details={"type": row.type, "sender": row.sender, "case_ref": row.case_ref,
                   "why": why, "error": row.last_error})


def parked(*, db_session: Session, limit: int = 100) -> list[InboxEnvelope]:
    """Parked inbox envelopes, newest first (what an operator must look at)."""
    return list(db_session.scalars(select(InboxEnvelope)
                                   .where(InboxEnvelope.parked_at.is_not(None))
                                   .order_by(InboxEnvelope.parked_at.desc())
                                   .limit(max(1, min(limit, 1000)))))


# --- reading the logs ----------------------------------------------------------------------


def messages(*, db_session: Session, case_ref: str | None = None,
             direction: str | None = None, status: str | None = None,
             limit: int = 100) -> list[Message]:
    """The message log, newest first."""
    stmt = select(Message).order_by(Message.id.desc()).limit(max(1, min(limit, 1000)))
    if case_ref:
        stmt = stmt.where(Message.case_ref == case_ref)
    if direction:
        stmt = stmt.where(Message.direction == direction)
    if status:
        stmt = stmt.where(Message.status == status)
    return list(db_session.scalars(stmt))


def rejections(*, db_session: Session, limit: int = 100) -> list[Rejection]:
    """Refused envelopes, newest first."""
    return list(db_session.scalars(select(Rejection).order_by(Rejection.at.desc())
                                   .limit(max(1, min(limit, 1000)))))
