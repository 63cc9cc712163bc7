"""Delivery over HTTP: the worker posts queued envelopes to peers in batches, every
peer at once and each within bounded time, and keeps each receipt; members pull the
registry. A refusal is classified: a permanent one (envelopes.PERMANENT, a 4xx) ends the
envelope at once, a temporary one (unreachable, timeout, 5xx, the peer's registry behind)
is retried with exponential backoff, at most LIMITS.max_delivery_attempts times. A given-up
envelope is recorded (outbox, message log, audit) and its type's consequence runs
(`Wiring.undeliverable`: a forwarded case fails with the reason, for staff to see).

The HTTP client is swappable (`use_client`) so tests can route several in-process nodes
to each other; the default is one keep-alive httpx client per process.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.orm import Session

from tongban.audit.service import record as audit
from tongban.config import Settings
from tongban.db import utcnow
from tongban.federation import registry, service
from tongban.federation.envelopes import PERMANENT, REJECTIONS, EnvelopeRejected
from tongban.federation.models import Message
from tongban.node.root import wiring
from tongban.outbox import service as outbox
from tongban.outbox.models import OutboxMessage

API = "/api/v1/federation"
BATCH = 200
TIMEOUT = httpx.Timeout(10.0, connect=3.0)
# Peers posted to at once (one thread each), and how long one round may spend on a peer.
MAX_PEERS_AT_ONCE = 16
PEER_BUDGET_SECONDS = 30.0
log = logging.getLogger(__name__)

_override: list[httpx.Client] = []
_default: httpx.Client | None = None
_default_lock = threading.Lock()


def client() -> httpx.Client:
    """The HTTP client federation traffic goes through (default: one shared per process)."""
    if _override:
        return _override[-1]
    global _default
    with _default_lock:
        if _default is None:
            _default = httpx.Client(timeout=TIMEOUT, headers={"User-Agent": "tongban-node"})
        return _default


@contextmanager
def use_client(http: httpx.Client) -> Iterator[httpx.Client]:
    """Route this process's federation traffic through `http` (tests, the benchmark)."""
    _override.append(http)
    try:
        yield http
    finally:
        _override.remove(http)


@dataclass
class DeliveryReport:
    delivered: int = 0
    failed: int = 0
    gave_up: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Failure:
    """Why an attempt got no receipt, and whether sending the same bytes again can help
    (`permanent`: it cannot; the sender gives up at once)."""

    code: str
    error: str
    permanent: bool = False


Result = dict[str, Any] | Failure
# HTTP statuses of a whole batch that say "later" rather than "never".
TEMPORARY_STATUSES = frozenset({408, 409, 425, 429})


def _http_failure(response: httpx.Response) -> Failure:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return Failure(f"http_{response.status_code}", f"HTTP {response.status_code}: not JSON")
    code = str(body.get("error") or f"http_{response.status_code}")
    permanent = code in PERMANENT or (
        400 <= response.status_code < 500 and response.status_code not in TEMPORARY_STATUSES
        and code not in REJECTIONS)
    return Failure(code, f"HTTP {response.status_code}: {code}: {body.get('message')}",
                   permanent)


def _post_batch(http: httpx.Client, endpoint: str, tokens: list[str]) -> list[Result]:
    """One result per token of one batch POST. A batch the peer finds too large is
    split in halves; a lone envelope too large for the peer is refused for good."""
    try:
        response = http.post(f"{endpoint}{API}/envelopes/batch", json={"envelopes": tokens},
                             timeout=TIMEOUT)
    except httpx.HTTPError as exc:
        code = "timeout" if isinstance(exc, httpx.TimeoutException) else "unreachable"
        return [Failure(code, f"transport: {type(exc).__name__}: {exc}")] * len(tokens)
    if response.status_code == 413 and len(tokens) > 1:
        half = len(tokens) // 2
        return (_post_batch(http, endpoint, tokens[:half])
                + _post_batch(http, endpoint, tokens[half:]))
    if response.status_code == 413:
        return [Failure("too_large", f"HTTP 413: the peer refuses a {len(tokens[0])}-byte "
                                     "envelope as too large", permanent=True)]
    if response.status_code != 200:
        return [_http_failure(response)] * len(tokens)
    try:
        results = response.json().get("results")
    except (ValueError, AttributeError):
        results = None
    if not isinstance(results, list) or len(results) != len(tokens) or \
            not all(isinstance(r, dict) for r in results):
        return [Failure("malformed_result", "peer answered with a malformed batch result")
                ] * len(tokens)
    return results


def _chunks(tokens: list[str], count: int, size: int) -> Iterator[list[str]]:
    """Consecutive batches of at most `count` envelopes and `size` bytes (one envelope
    larger than `size` goes alone, for the peer to judge)."""
    chunk: list[str] = []
    used = 0
    for token in tokens:
        if chunk and (len(chunk) >= count or used + len(token) + 4 > size):
            yield chunk
            chunk, used = [], 0
        chunk.append(token)
        used += len(token) + 4
    if chunk:
        yield chunk


def _deliver_to_peer(http: httpx.Client, endpoint: str, tokens: list[str], *, batch: int,
                     batch_bytes: int, budget: float) -> list[Result]:
    """Post one peer's envelopes in batches, in order. A peer that times out or cannot
    be reached gets no further batch this round, nor one once `budget` seconds are
    spent: the rest wait for the next round (they are not attempted now)."""
    results: list[Result] = []
    deadline = time.monotonic() + budget
    stop: Failure | None = None
    for chunk in _chunks(tokens, batch, batch_bytes):
        if stop is None and time.monotonic() > deadline:
            stop = Failure("timeout", f"the peer took longer than {budget:.0f} s this round")
        if stop is not None:
            results += [stop] * len(chunk)
            continue
        answered = _post_batch(http, endpoint, chunk)
        results += answered
        first = answered[0]
        if isinstance(first, Failure) and first.code in ("timeout", "unreachable"):
            stop = first
    return results


def _retry_later(db_session: Session, message: OutboxMessage, failure: Failure,
                 now: datetime, report: DeliveryReport, logged: Message | None) -> None:
    message.attempts += 1
    delay = service.backoff(message.attempts)
    jitter = timedelta(seconds=random.uniform(0, delay.total_seconds() / 10))
    message.next_attempt_at = now + delay + jitter
    message.last_error = failure.error[:2000]
    service.record_failure(db_session=db_session,
                           envelope_id=uuid.UUID(message.payload["envelope_id"]),
                           error=failure.error, message=logged)
    report.failed += 1
    report.errors.append(failure.error)


def _give_up(db_session: Session, settings: Settings, message: OutboxMessage,
             failure: Failure, now: datetime, report: DeliveryReport,
             logged: Message | None) -> None:
    """Never try this envelope again; the message log, the audit trail and the envelope
    type's own consequence (a forwarded case fails) say why."""
    message.attempts += 1
    reason = failure.error if failure.permanent else (
        f"gave up after {message.attempts} attempts: {failure.error}")
    envelope_id = uuid.UUID(message.payload["envelope_id"])
    outbox.mark_failed(db_session=db_session, message=message, error=reason, now=now)
    service.record_failure(db_session=db_session, envelope_id=envelope_id, error=reason,
                           message=logged, gave_up=True)
    receiver = str(message.payload["receiver"])
    audit(db_session=db_session, actor_id=None, actor_name="federation",
          action="federation.envelope_undeliverable", entity="federation_envelope",
          entity_id=str(envelope_id), details={"type": message.kind, "receiver": receiver,
                                               "case_ref": message.payload.get("case_ref"),
                                               "code": failure.code, "reason": reason})
    log.warning("federation: gave up on envelope %s (%s) to %s: %s", envelope_id,
                message.kind, receiver, reason)
    consequence = wiring().undeliverable.find(message.kind)
    if consequence is not None:
        consequence(db_session=db_session, settings=settings, envelope_id=envelope_id,
                    case_ref=message.payload.get("case_ref"), receiver=receiver,
                    code=failure.code, reason=reason, now=now)
    report.gave_up += 1
    report.errors.append(reason)


def _failed(db_session: Session, settings: Settings, message: OutboxMessage,
            failure: Failure, now: datetime, report: DeliveryReport,
            logged: Message | None) -> None:
    """Permanent, or temporary too often: give up; else retry with backoff."""
    if failure.permanent or message.attempts + 1 >= service.LIMITS.max_delivery_attempts:
        _give_up(db_session, settings, message, failure, now, report, logged)
    else:
        _retry_later(db_session, message, failure, now, report, logged)


def _settle(db_session: Session, settings: Settings, entry: registry.NodeEntry,
            message: OutboxMessage, token: str, result: dict[str, Any], now: datetime,
            report: DeliveryReport, logged: Message | None) -> None:
    """Mark one envelope delivered if its receipt proves it; else classify the refusal."""
    receipt = result.get("receipt")
    if receipt is None and result.get("error") == "duplicate":
        receipt = (result.get("details") or {}).get("receipt")
    if not isinstance(receipt, str):
        code = str(result.get("error"))
        _failed(db_session, settings, message,
                Failure(code, f"{code}: {result.get('message')}", code in PERMANENT),
                now, report, logged)
        return
    envelope_id = message.payload["envelope_id"]
    try:
        claims = service.check_receipt(receipt=receipt, entry=entry, envelope_id=envelope_id,
                                       sent=token.encode("ascii"))
    except service.ReceiptInvalid as exc:
        _failed(db_session, settings, message, Failure("bad_receipt", f"receipt: {exc}"),
                now, report, logged)
        return
    outbox.mark_delivered(db_session=db_session, message=message)
    message.last_error = None
    service.record_receipt(db_session=db_session, envelope_id=uuid.UUID(envelope_id),
                           receipt=receipt, claims=claims, now=now, message=logged)
    report.delivered += 1


Outcome = tuple[registry.NodeEntry | None, OutboxMessage, str, Result]


def _post_all(settings: Settings, reg: registry.Registry, pending: list[OutboxMessage],
              now: datetime, batch: int) -> list[Outcome]:
    """Every pending envelope's result: each peer's batches posted by its own thread, all
    peers at once, so a hung peer delays only its own envelopes (and only by the
    transport's timeouts)."""
    groups: dict[str, list[OutboxMessage]] = defaultdict(list)
    outcomes: list[Outcome] = []
    oldest = now - timedelta(seconds=service.LIMITS.max_age_seconds)
    for message in pending:
        if message.created_at < oldest:  # every receiver refuses it as too_old
            outcomes.append((None, message, "", Failure(
                "too_old", "older than a peer accepts: undeliverable", permanent=True)))
        else:
            groups[message.payload["receiver"]].append(message)
    work: dict[str, tuple[registry.NodeEntry, list[OutboxMessage], list[str]]] = {}
    for receiver, messages in groups.items():
        entry = reg.node(receiver)
        if entry is None:
            outcomes += [(None, m, "", Failure("unknown_receiver", f"receiver {receiver} is "
                                               "not in the registry")) for m in messages]
        else:
            work[receiver] = (entry, messages, [service.open_token(settings, m.payload["token"])
                                                for m in messages])
    if not work:
        return outcomes
    http = client()
    with ThreadPoolExecutor(max_workers=min(MAX_PEERS_AT_ONCE, len(work)),
                            thread_name_prefix="federation-deliver") as pool:
        futures = {receiver: pool.submit(
            _deliver_to_peer, http, entry.endpoint, tokens, batch=batch,
            batch_bytes=service.batch_body_limit(settings), budget=PEER_BUDGET_SECONDS)
            for receiver, (entry, _m, tokens) in work.items()}
    for receiver, future in futures.items():
        entry, messages, tokens = work[receiver]
        outcomes += [(entry, m, t, r) for m, t, r in zip(messages, tokens, future.result(),
                                                          strict=True)]
    return outcomes


def deliver_pending(*, db_session: Session, settings: Settings, now: datetime | None = None,
                    limit: int = 2000, batch: int = BATCH) -> DeliveryReport:
    """Post due envelopes to their receivers; nothing leaves on an expired registry.

    All HTTP happens before the first write, so this transaction never holds the
    database's write lock while it waits on a peer (which may be waiting on us)."""
    now = now or utcnow()
    report = DeliveryReport()
    pending = outbox.pending(db_session=db_session, topic=service.TOPIC, limit=limit, now=now)
    if not pending:
        return report
    try:
        reg = registry.current(db_session=db_session, now=now)
    except EnvelopeRejected as exc:
        report.errors.append(exc.message)
        return report  # fail closed: they stay queued, unattempted
    outcomes = _post_all(settings, reg, pending, now, batch)
    logged = service.out_messages(db_session=db_session, envelope_ids=[
        uuid.UUID(m.payload["envelope_id"]) for _e, m, _t, _r in outcomes])
    with db_session.no_autoflush:
        for entry, message, token, result in outcomes:
            row = logged.get(uuid.UUID(message.payload["envelope_id"]))
            if entry is None or isinstance(result, Failure):
                failure = result if isinstance(result, Failure) else Failure("unknown", "?")
                _failed(db_session, settings, message, failure, now, report, row)
            else:
                _settle(db_session, settings, entry, message, token, result, now, report,
                        row)
    db_session.flush()
    return report


def pull_registry(*, db_session: Session, now: datetime | None = None) -> bool:
    """Fetch the registry from the anchor's URL and keep it if newer; True if stored."""
    now = now or utcnow()
    url = registry.anchor_url(db_session=db_session)
    if url is None:
        return False
    try:
        response = client().get(url, timeout=TIMEOUT)
    except httpx.HTTPError:
        response = None
    registry.mark_pulled(db_session=db_session, now=now)  # written after the HTTP wait
    if response is None or response.status_code != 200:
        return False
    _reg, new = registry.store_token(db_session=db_session, token=response.text.strip())
    return new


def fetch_text(url: str) -> str | None:
    """GET a peer's public document (trust list, status list, checkpoint); None on error."""
    try:
        response = client().get(url, timeout=TIMEOUT)
    except httpx.HTTPError:
        return None
    return response.text if response.status_code == 200 else None


def fetch_json(url: str) -> Any:
    """GET a peer's JSON document; None on error."""
    text = fetch_text(url)
    if text is None:
        return None
    try:
        import json

        return json.loads(text)
    except ValueError:
        return None
