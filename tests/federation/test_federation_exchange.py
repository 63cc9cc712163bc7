"""The exchange path end to end between in-process nodes: send, deliver, verify, store,
receipt, log on both sides, ledger entries, retries and duplicates."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.federation.harness import Federation
from tongban.federation import service, transport
from tongban.federation.models import InboxEnvelope, Message
from tongban.outbox.models import OutboxMessage


def _outbox(s: Session, envelope_id: uuid.UUID) -> OutboxMessage:
    row = s.scalar(select(OutboxMessage).where(OutboxMessage.id == envelope_id))
    assert row is not None
    return row


def _ping(fed: Federation, note: str = "hello") -> uuid.UUID:
    with fed.sc.session() as s:
        envelope = service.send(db_session=s, settings=fed.sc.settings, receiver="310000",
                                kind="ping", payload={"note": note})
    return envelope.id


def test_a_ping_is_delivered_receipted_and_logged_on_both_sides(fed: Federation) -> None:
    envelope_id = _ping(fed)
    fed.pump()
    with fed.sc.read() as s:
        out = s.scalar(select(Message).where(Message.envelope_id == envelope_id))
        assert out is not None and out.direction == "out" and out.status == "delivered"
        assert out.receipt is not None
        row = _outbox(s, envelope_id)
        assert row.delivered_at is not None
        acts = [m.kind for m in s.scalars(select(OutboxMessage).where(
            OutboxMessage.topic == "ledger")) if m.payload.get("envelope_id") == str(envelope_id)]
        assert acts == ["federation.envelope_receipted"]
    with fed.sh.read() as s:
        inbound = s.scalar(select(Message).where(Message.envelope_id == envelope_id))
        assert inbound is not None and inbound.direction == "in"
        assert inbound.body_sha256 == out.body_sha256  # both sides logged the same bytes
        inbox = s.get(InboxEnvelope, envelope_id)
        assert inbox is not None and inbox.outcome == "pong"
        acts = [m.kind for m in s.scalars(select(OutboxMessage).where(
            OutboxMessage.topic == "ledger")) if m.payload.get("envelope_id") == str(envelope_id)]
        assert acts == ["federation.envelope_accepted"]


def test_an_unreachable_peer_gets_retries_with_backoff_then_exactly_one_delivery(
        fed: Federation) -> None:
    fed.router.blocked.add("310000.test")
    try:
        envelope_id = _ping(fed, "while blocked")
        fed.step(fed.sc)
        with fed.sc.read() as s:
            row = _outbox(s, envelope_id)
            assert row.delivered_at is None
            assert row.attempts == 1 and row.next_attempt_at is not None
            assert "unreachable" in (row.last_error or "")
        fed.step(fed.sc)  # not due yet: no second attempt
        with fed.sc.read() as s:
            assert _outbox(s, envelope_id).attempts == 1
    finally:
        fed.router.blocked.discard("310000.test")
    fed.due_now()
    fed.pump()
    assert fed.sh.count(InboxEnvelope, InboxEnvelope.envelope_id == envelope_id) == 1
    with fed.sc.read() as s:
        assert _outbox(s, envelope_id).delivered_at is not None


def test_a_lost_receipt_is_recovered_from_the_duplicate_answer(fed: Federation) -> None:
    envelope_id = _ping(fed, "receipt lost")
    with fed.sc.read() as s:
        token = service.open_token(fed.sc.settings, _outbox(s, envelope_id).payload["token"])
    # The receiver got it, but the sender never saw the answer (crash, timeout).
    first = fed.sh.client.post("/api/v1/federation/envelopes", content=token)
    assert first.status_code == 201
    fed.pump()
    with fed.sc.read() as s:
        out = s.scalar(select(Message).where(Message.envelope_id == envelope_id))
        assert out is not None and out.status == "delivered"
        assert out.receipt == first.json()["receipt"]
    assert fed.sh.count(InboxEnvelope, InboxEnvelope.envelope_id == envelope_id) == 1


def test_nothing_leaves_a_node_whose_registry_has_expired(fed: Federation) -> None:
    from tests.federation.harness import now_plus

    envelope_id = _ping(fed, "expired")
    with transport.use_client(fed.http), fed.sc.session() as s:
        report = transport.deliver_pending(db_session=s, settings=fed.sc.settings,
                                           now=now_plus(days=3))
    assert report.delivered == 0 and "过期" in report.errors[0]
    with fed.sc.read() as s:
        assert _outbox(s, envelope_id).attempts == 0
    fed.pump()
