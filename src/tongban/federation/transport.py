"""Delivery over HTTP: the worker posts queued envelopes to peers in batches, with
retries and exponential backoff, and keeps each receipt; members pull the registry.

The HTTP client is swappable (`use_client`) so tests can route several in-process nodes
to each other; the default is one keep-alive httpx client per process.
"""

from __future__ import annotations

import random
import threading
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.orm import Session

from tongban.config import Settings
from tongban.db import utcnow
from tongban.federation import registry, service
from tongban.federation.envelopes import EnvelopeRejected
from tongban.federation.models import Message
from tongban.outbox import service as outbox
from tongban.outbox.models import OutboxMessage

API = "/api/v1/federation"
BATCH = 200
TIMEOUT = httpx.Timeout(10.0, connect=3.0)

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
    errors: list[str] = field(default_factory=list)


def _retry_later(db_session: Session, message: OutboxMessage, error: str, now: datetime,
                 report: DeliveryReport, logged: Message | None = None) -> None:
    message.attempts += 1
    delay = service.backoff(message.attempts)
    jitter = timedelta(seconds=random.uniform(0, delay.total_seconds() / 10))
    message.next_attempt_at = now + delay + jitter
    message.last_error = error[:2000]
    service.record_failure(db_session=db_session,
                           envelope_id=uuid.UUID(message.payload["envelope_id"]), error=error,
                           message=logged)
    report.failed += 1
    report.errors.append(error)


def _post_batch(http: httpx.Client, endpoint: str, tokens: list[str]
                ) -> list[dict[str, Any]] | str:
    """The per-envelope results of one batch POST, or an error text."""
    try:
        response = http.post(f"{endpoint}{API}/envelopes/batch", json={"envelopes": tokens},
                             timeout=TIMEOUT)
    except httpx.HTTPError as exc:
        return f"transport: {type(exc).__name__}: {exc}"
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}: not JSON"
    if response.status_code != 200:
        return f"HTTP {response.status_code}: {body.get('error')}: {body.get('message')}"
    results = body.get("results") if isinstance(body, dict) else None
    if not isinstance(results, list) or len(results) != len(tokens):
        return "peer answered with a malformed batch result"
    return results


def _settle(db_session: Session, entry: registry.NodeEntry, message: OutboxMessage,
            token: str, result: dict[str, Any], now: datetime, report: DeliveryReport,
            logged: Message | None) -> None:
    """Mark one envelope delivered if its receipt proves it; else retry later."""
    receipt = result.get("receipt")
    if receipt is None and result.get("error") == "duplicate":
        receipt = (result.get("details") or {}).get("receipt")
    if not isinstance(receipt, str):
        _retry_later(db_session, message, f"{result.get('error')}: {result.get('message')}",
                     now, report, logged)
        return
    envelope_id = message.payload["envelope_id"]
    try:
        claims = service.check_receipt(receipt=receipt, entry=entry, envelope_id=envelope_id,
                                       sent=token.encode("ascii"))
    except service.ReceiptInvalid as exc:
        _retry_later(db_session, message, f"receipt: {exc}", now, report, logged)
        return
    outbox.mark_delivered(db_session=db_session, message=message)
    message.last_error = None
    service.record_receipt(db_session=db_session, envelope_id=uuid.UUID(envelope_id),
                           receipt=receipt, claims=claims, now=now, message=logged)
    report.delivered += 1


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
    groups: dict[str, list[OutboxMessage]] = defaultdict(list)
    for message in pending:
        groups[message.payload["receiver"]].append(message)
    http = client()
    outcomes: list[tuple[registry.NodeEntry | None, OutboxMessage, str, dict[str, Any] | str]]
    outcomes = []
    for receiver, messages in groups.items():
        entry = reg.node(receiver)
        if entry is None:
            outcomes += [(None, m, "", f"receiver {receiver} is not in the registry")
                         for m in messages]
            continue
        for start in range(0, len(messages), batch):
            chunk = messages[start:start + batch]
            tokens = [service.open_token(settings, m.payload["token"]) for m in chunk]
            results = _post_batch(http, entry.endpoint, tokens)
            if isinstance(results, str):
                outcomes += [(entry, m, t, results) for m, t in zip(chunk, tokens, strict=True)]
            else:
                outcomes += list(zip([entry] * len(chunk), chunk, tokens, results, strict=True))
    logged = service.out_messages(db_session=db_session, envelope_ids=[
        uuid.UUID(m.payload["envelope_id"]) for _e, m, _t, _r in outcomes])
    with db_session.no_autoflush:
        for entry, message, token, result in outcomes:
            row = logged.get(uuid.UUID(message.payload["envelope_id"]))
            if entry is None or isinstance(result, str):
                _retry_later(db_session, message, str(result), now, report, row)
            else:
                _settle(db_session, entry, message, token, result, now, report, row)
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
