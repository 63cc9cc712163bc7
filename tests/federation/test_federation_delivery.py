"""Delivery that fails is classified and ends: a permanent refusal is given up at once and
the forwarded case fails with its reason (API and page); a temporary failure is retried
with backoff a bounded number of times; a hung peer delays only its own envelopes; a
material that may be uploaded can be forwarded; a poisoned inbox envelope is parked and
the inbox goes on; an application signed again under a new envelope id opens no second
case."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tests.federation.harness import Federation, Node, b64
from tests.federation.test_federation_modes import API, GJJ_SH, PDF, code_of, form, view
from tests.web.test_web_crossregion import _signed_in
from tongban.federation import service, transport
from tongban.federation.models import CaseLink, ForwardedCase, InboxEnvelope, Message
from tongban.licences import signing
from tongban.outbox.models import OutboxMessage


def _forward(fed: Federation, material: bytes = PDF) -> str:
    response = fed.sc.client.post(f"{API}/cases", headers=fed.sc.token("zhangwei"), json={
        "implementation_code": code_of(fed.sc, GJJ_SH), "mode": "fully_online",
        "form_data": form("zhangwei", GJJ_SH),
        "materials": [{"code": "application_form", "filename": "申请表.pdf",
                       "content_base64": b64(material)}]})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _outbox_row(node: Node, fc_id: str) -> OutboxMessage:
    with node.read() as s:
        # The payload is sealed at rest: SQL cannot look inside it, the node can.
        rows = s.scalars(select(OutboxMessage).where(OutboxMessage.kind == "case.apply"))
        row = next((r for r in rows if r.payload.get("case_ref") == fc_id), None)
        assert row is not None
        return row


def _message(node: Node, fc_id: str) -> Message:
    with node.read() as s:
        row = s.scalar(select(Message).where(Message.case_ref == fc_id,
                                             Message.type == "case.apply"))
        assert row is not None
        return row


def _deliver(fed: Federation, node: Node) -> transport.DeliveryReport:
    with transport.use_client(fed.http), node.session() as s:
        return transport.deliver_pending(db_session=s, settings=node.settings)


def test_an_envelope_the_peer_refuses_for_good_is_given_up_and_the_case_fails_with_why(
        fed: Federation, monkeypatch: pytest.MonkeyPatch) -> None:
    fed.pump()
    fc_id = _forward(fed)
    monkeypatch.setattr(service.LIMITS, "max_envelope_bytes", 512)  # the peer: too large
    report = _deliver(fed, fed.sc)
    assert report.gave_up == 1 and report.delivered == 0
    row = _outbox_row(fed.sc, fc_id)
    assert row.failed_at is not None and row.attempts == 1 and "too_large" in row.last_error
    assert _message(fed.sc, fc_id).status == "failed"
    seen = view(fed.sc, fc_id, "clerk")
    assert seen["state"] == "failed"
    assert seen["problem"]["code"] == "too_large" and seen["problem"]["final"] is True
    assert "too_large" in seen["problem"]["reason"]
    assert [e["action"] for e in seen["events"]][-2:] == ["undeliverable", "purged"]
    page = _signed_in(fed.sc, fed.sc.usernames["clerk"]).get(f"/workbench/forwarded/{fc_id}")
    assert page.status_code == 200
    assert 'id="forwarding-problem"' in page.text and "转办失败" in page.text
    assert "too_large" in page.text
    calls = fed.router.calls
    monkeypatch.undo()
    fed.due_now()
    assert _deliver(fed, fed.sc).delivered == 0 and fed.router.calls == calls  # never again


def test_a_temporary_failure_is_retried_with_backoff_then_given_up_after_the_bound(
        fed: Federation, monkeypatch: pytest.MonkeyPatch) -> None:
    fed.pump()
    fc_id = _forward(fed)
    monkeypatch.setattr(service.LIMITS, "max_delivery_attempts", 3)
    fed.router.blocked.add(fed.sh.host)
    try:
        first = _deliver(fed, fed.sc)
        assert first.failed == 1 and first.gave_up == 0
        row = _outbox_row(fed.sc, fc_id)
        assert row.failed_at is None and row.next_attempt_at is not None
        assert _deliver(fed, fed.sc).failed == 0  # not due yet: backoff
        seen = view(fed.sc, fc_id, "zhangwei")
        assert seen["state"] == "forwarding"
        assert seen["problem"]["code"] == "retrying" and seen["problem"]["final"] is False
        assert "unreachable" in seen["problem"]["reason"]
        fed.due_now()
        assert _deliver(fed, fed.sc).failed == 1
        fed.due_now()
        assert _deliver(fed, fed.sc).gave_up == 1
    finally:
        fed.router.blocked.discard(fed.sh.host)
    row = _outbox_row(fed.sc, fc_id)
    assert row.failed_at is not None and row.attempts == 3
    seen = view(fed.sc, fc_id, "zhangwei")
    assert seen["state"] == "failed" and seen["problem"]["final"] is True
    assert seen["problem"]["reason"].startswith("gave up after 3 attempts")


def test_a_material_at_the_upload_limit_is_forwarded_and_opened_at_the_handler(
        fed: Federation, monkeypatch: pytest.MonkeyPatch) -> None:
    fed.pump()
    for node in (fed.sc, fed.sh):  # 6 MiB: more than the 8 MiB envelope of old could carry
        monkeypatch.setattr(node.settings, "max_upload_bytes", 6 * 1024 * 1024)
    material = PDF + b"0" * (fed.sc.settings.max_upload_bytes - len(PDF))
    fc_id = _forward(fed, material)
    fed.pump()
    seen = view(fed.sc, fc_id, "zhangwei")
    assert seen["problem"] is None and seen["remote_case_number"], seen["problem"]
    with fed.sh.read() as s:
        link = s.scalar(select(CaseLink).where(CaseLink.peer_case_ref == fc_id))
        assert link is not None


def test_an_envelope_no_peer_would_accept_is_refused_at_the_door_and_nothing_is_sent(
        fed: Federation, monkeypatch: pytest.MonkeyPatch) -> None:
    before = fed.sc.count(OutboxMessage)
    monkeypatch.setattr(service.LIMITS, "max_envelope_bytes", 4096)
    response = fed.sc.client.post(f"{API}/cases", headers=fed.sc.token("zhangwei"), json={
        "implementation_code": code_of(fed.sc, GJJ_SH), "mode": "fully_online",
        "form_data": form("zhangwei", GJJ_SH),
        "materials": [{"code": "application_form", "filename": "a.pdf",
                       "content_base64": b64(PDF + b"0" * 8192)}]})
    assert response.status_code == 413, response.text
    assert response.json()["error"] == "envelope_too_large"
    assert fed.sc.count(OutboxMessage) == before


class HungPeer:
    """A real HTTP peer on loopback that accepts connections and never answers. It
    notes whether another peer was served while its own request was still open."""

    def __init__(self, other_served: threading.Event, wait: float) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = int(self.sock.getsockname()[1])
        self.other_served = other_served
        self.wait = wait
        self.saw_other_while_open: bool | None = None
        self.accepted = 0
        self.conns: list[socket.socket] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            self.conns.append(conn)
            conn.recv(65536)
            if self.saw_other_while_open is None:
                self.saw_other_while_open = self.other_served.wait(self.wait)

    def close(self) -> None:
        self.sock.close()
        for conn in self.conns:
            conn.close()


class Via(httpx.BaseTransport):
    """The harness's in-process router, except one host, sent to a real loopback peer;
    it marks when the other peers have been served."""

    def __init__(self, fed: Federation, host: str, port: int, served: threading.Event
                 ) -> None:
        self.fed, self.host, self.port, self.served = fed, host, port, served
        self.real = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.host != self.host:
            response = self.fed.router.handle_request(request)
            self.served.set()
            return response
        real = httpx.Request(request.method, request.url.copy_with(
            host="127.0.0.1", port=self.port), headers=request.headers,
            content=request.read(), extensions=request.extensions)  # with its timeouts
        return self.real.handle_request(real)


@pytest.fixture
def hung_cq(fed: Federation, monkeypatch: pytest.MonkeyPatch
            ) -> Iterator[tuple[HungPeer, httpx.Client]]:
    served = threading.Event()
    read_timeout = 3.0
    monkeypatch.setattr(transport, "TIMEOUT", httpx.Timeout(read_timeout, connect=1.0))
    peer = HungPeer(served, wait=read_timeout)
    http = httpx.Client(transport=Via(fed, fed.cq.host, peer.port, served))
    try:
        yield peer, http
    finally:
        http.close()
        peer.close()


def _ping(node: Node, receiver: str) -> uuid.UUID:
    with node.session() as s:
        return service.send(db_session=s, settings=node.settings, receiver=receiver,
                            kind="ping", payload={}).id


def test_a_hung_peer_delays_only_its_own_envelopes_and_only_for_bounded_time(
        fed: Federation, hung_cq: tuple[HungPeer, httpx.Client]) -> None:
    peer, http = hung_cq
    fed.pump()
    to_cq = _ping(fed.sc, fed.cq.region)  # queued first: a serial sender would wait on it
    to_sh = _ping(fed.sc, fed.sh.region)
    started = time.monotonic()
    with transport.use_client(http), fed.sc.session() as s:
        report = transport.deliver_pending(db_session=s, settings=fed.sc.settings)
    elapsed = time.monotonic() - started
    assert peer.accepted == 1 and peer.saw_other_while_open is True
    assert report.delivered == 1 and report.failed == 1
    assert elapsed < 3 * 3.0  # the read timeout bounds the round (generous on 2 cores)
    with fed.sc.read() as s:
        cq = s.scalar(select(OutboxMessage).where(OutboxMessage.id == to_cq))
        sh = s.scalar(select(OutboxMessage).where(OutboxMessage.id == to_sh))
        assert sh is not None and sh.delivered_at is not None
        assert cq is not None and cq.delivered_at is None and cq.failed_at is None
        assert cq.next_attempt_at is not None and "Timeout" in (cq.last_error or "")


def test_a_malformed_inbox_envelope_is_parked_and_reported_and_the_inbox_goes_on(
        fed: Federation) -> None:
    fed.pump()
    with fed.sc.session() as s:  # validly signed, but not an application a handler reads
        poison = service.send(db_session=s, settings=fed.sc.settings,
                              receiver=fed.sh.region, kind="case.apply",
                              case_id=str(uuid.uuid4()), payload={"mode": "fully_online"}).id
    behind = _ping(fed.sc, fed.sh.region)
    fed.pump()
    with fed.sh.read() as s:
        parked = s.get(InboxEnvelope, poison)
        after = s.get(InboxEnvelope, behind)
        assert parked is not None and parked.parked_at is not None
        assert parked.processed_at is None and "KeyError" in (parked.last_error or "")
        assert after is not None and after.outcome == "pong"
    operator = fed.sh.token("operator")
    listed = fed.sh.client.get(f"{API}/inbox/parked", headers=operator)
    assert listed.status_code == 200
    assert str(poison) in {p["envelope_id"] for p in listed.json()}
    health = fed.sh.client.get("/api/v1/health").json()
    assert health["queue"]["inbox_parked"] >= 1
    assert any("parked" in p for p in health["problems"])
    clerk = fed.sh.token("clerk")
    assert fed.sh.client.get(f"{API}/inbox/parked", headers=clerk).status_code == 403


def _apply_payload(node: Node, fc_id: str) -> dict[str, Any]:
    """The application as the sender signed it (opened from its sealed outbox copy)."""
    row = _outbox_row(node, fc_id)
    token = service.open_token(node.settings, row.payload["token"])
    return dict(signing.parse(token).payload["payload"])


def test_an_application_signed_again_under_a_new_envelope_id_opens_no_second_case(
        fed: Federation) -> None:
    fed.pump()
    fc_id = _forward(fed)
    fed.pump()
    with fed.sc.session() as s:
        again = service.send(db_session=s, settings=fed.sc.settings, receiver=fed.sh.region,
                             kind="case.apply", case_id=fc_id,
                             payload=_apply_payload(fed.sc, fc_id)).id
    fed.pump()
    with fed.sh.read() as s:
        links = list(s.scalars(select(CaseLink).where(CaseLink.peer_case_ref == fc_id)))
        row = s.get(InboxEnvelope, again)
        assert len(links) == 1 and row is not None and row.outcome == "already opened"
    with fed.sc.read() as s:
        fc = s.get(ForwardedCase, uuid.UUID(fc_id))
        assert fc is not None and fc.state != "failed"
