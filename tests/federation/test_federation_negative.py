"""The negative suite of the exchange path, as data: every forged, tampered, replayed,
misaddressed, malformed, oversize or untimely envelope is refused with a clear error
(status, code, a Chinese and English message) and logged, and nothing is stored.

Each case builds the exact bytes posted to 上海 (310000) by, or in the name of, 四川
(510000). Signed cases use 四川's real node key unless the case is about keys."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select

from tests.federation.harness import Federation
from tongban.db import new_id, utcnow
from tongban.federation import envelopes, service
from tongban.federation.models import InboxEnvelope, Rejection
from tongban.licences import keys as licence_keys
from tongban.licences import signing
from tongban.licences.signing import b64url

STRANGER = Ed25519PrivateKey.generate()


def _b64json(value: Any, *, pretty: bool = False) -> str:
    text = json.dumps(value, ensure_ascii=False, indent=2 if pretty else None,
                      sort_keys=not pretty, separators=None if pretty else (",", ":"))
    return b64url(text.encode())


@dataclass
class Forge:
    """Builds envelopes as 四川 would (or as a forger would)."""

    fed: Federation

    @property
    def key(self) -> Ed25519PrivateKey:
        return licence_keys.node_key(self.fed.sc.settings).private_key

    @property
    def kid(self) -> str:
        return licence_keys.node_kid(self.fed.sc.settings)

    def doc(self, **over: Any) -> dict[str, Any]:
        doc = {"v": 1, "id": str(new_id()), "sender": "510000", "receiver": "310000",
               "type": "ping", "case_id": None, "user_id": None,
               "created_at": envelopes.rfc3339(utcnow()), "payload": {"note": "forged"}}
        for name, value in over.items():
            if value is DROP:
                doc.pop(name, None)
            else:
                doc[name] = value
        return doc

    def sign(self, doc: dict[str, Any] | None = None, *, key: Ed25519PrivateKey | None = None,
             kid: str | None = None, header: dict[str, Any] | None = None,
             payload_b64: str | None = None) -> bytes:
        head = {"alg": "EdDSA", "kid": kid or self.kid, "typ": envelopes.ENVELOPE_TYP}
        head.update(header or {})
        head = {k: v for k, v in head.items() if v is not DROP}
        signing_input = f"{_b64json(head)}.{payload_b64 or _b64json(doc or self.doc())}"
        signature = (key or self.key).sign(signing_input.encode())
        return f"{signing_input}.{b64url(signature)}".encode()

    def good(self, **over: Any) -> bytes:
        return self.sign(self.doc(**over))


DROP = object()
Build = Callable[[Forge], bytes]


def _swap_part(token: bytes, index: int, value: str) -> bytes:
    parts = token.decode().split(".")
    parts[index] = value
    return ".".join(parts).encode()


def _tamper_payload(f: Forge) -> bytes:
    token = f.good()
    doc = json.loads(base64.urlsafe_b64decode(token.split(b".")[1] + b"=="))
    doc["payload"] = {"note": "changed after signing"}
    return _swap_part(token, 1, _b64json(doc))


def _tamper_header(f: Forge) -> bytes:
    token = f.good()
    head = {"alg": "EdDSA", "kid": f.kid, "typ": envelopes.ENVELOPE_TYP, "x5u": "http://evil"}
    return _swap_part(token, 0, _b64json(head))


def _flip_signature(f: Forge) -> bytes:
    token = f.good().decode().split(".")
    raw = bytearray(base64.urlsafe_b64decode(token[2] + "=="))
    raw[0] ^= 0x01
    token[2] = b64url(bytes(raw))
    return ".".join(token).encode()


def _other_signature(f: Forge) -> bytes:
    other = f.good().decode().split(".")[2]
    return _swap_part(f.good(), 2, other)


def _truncate_signature(f: Forge) -> bytes:
    """A well-formed but short signature: three bytes fewer, in canonical base64url."""
    head, body, sig = f.good().decode().split(".")
    return f"{head}.{body}.{signing.b64url(signing.b64url_decode(sig)[:-3])}".encode()


def _cut_signature_text(f: Forge) -> bytes:
    """Four characters cut off the signature's text: its last character then carries
    bits no encoder writes (Python's lenient decoder used to accept it)."""
    return f.good()[:-4]


def _truncate_payload(f: Forge) -> bytes:
    parts = f.good().decode().split(".")
    cut = parts[1][: (len(parts[1]) // 2) // 4 * 4]
    return ".".join([parts[0], cut, parts[2]]).encode()


def _oversize(f: Forge) -> bytes:
    return f.good(payload={"blob": "x" * (LIMIT + 10)})


def _replayed(fed: Federation, f: Forge, change: dict[str, Any]) -> bytes:
    doc = f.doc()
    first = f.sign(doc)
    assert fed.sh.client.post(URL, content=first).status_code == 201
    return f.sign({**doc, **change})


def _duplicate(fed: Federation, f: Forge) -> bytes:
    token = f.good()
    assert fed.sh.client.post(URL, content=token).status_code == 201
    return token


URL = "/api/v1/federation/envelopes"
LIMIT = 64 * 1024
NOW = envelopes.rfc3339


def _at(**delta: float) -> str:
    return envelopes.rfc3339(utcnow() + timedelta(**delta))


# (name, builder, HTTP status, error code)
CASES: list[tuple[str, Build, int, str]] = [
    # the body itself
    ("empty body", lambda f: b"", 400, "empty_body"),
    ("whitespace only", lambda f: b"   \n", 400, "malformed"),
    ("plain text", lambda f: b"hello federation", 400, "malformed"),
    ("two parts", lambda f: b"abc.def", 400, "malformed"),
    ("four parts", lambda f: f.good() + b".extra", 400, "malformed"),
    ("empty signature part", lambda f: _swap_part(f.good(), 2, ""), 400, "malformed"),
    ("not ASCII", lambda f: "信封".encode() + f.good(), 400, "malformed"),
    ("bad base64 in payload", lambda f: _swap_part(f.good(), 1, "ab+c/d=="), 400, "malformed"),
    ("truncated payload", _truncate_payload, 400, "bad_json"),
    ("truncated signature", _truncate_signature, 403, "bad_signature"),
    ("signature text cut mid-character", _cut_signature_text, 400, "malformed"),
    ("oversize body", _oversize, 413, "too_large"),
    ("oversize garbage", lambda f: b"a" * (LIMIT + 1), 413, "too_large"),
    # the JWS header
    ("header not JSON", lambda f: _swap_part(f.good(), 0, b64url(b"{nope")), 400, "bad_header"),
    ("alg none", lambda f: f.sign(header={"alg": "none"}), 400, "bad_header"),
    ("alg HS256", lambda f: f.sign(header={"alg": "HS256"}), 400, "bad_header"),
    ("no kid", lambda f: f.sign(header={"kid": DROP}), 400, "bad_header"),
    ("kid not a string", lambda f: f.sign(header={"kid": 7}), 400, "bad_header"),
    ("typ JWT", lambda f: f.sign(header={"typ": "JWT"}), 400, "bad_header"),
    ("no typ", lambda f: f.sign(header={"typ": DROP}), 400, "bad_header"),
    ("crit header", lambda f: f.sign(header={"crit": ["exp"]}), 400, "bad_header"),
    # the payload as JSON
    ("payload is an array", lambda f: f.sign(payload_b64=b64url(b"[1,2]")), 400, "bad_json"),
    ("payload not JSON", lambda f: f.sign(payload_b64=b64url(b"{payload")), 400, "bad_json"),
    ("payload pretty-printed", lambda f: f.sign(payload_b64=_b64json(f.doc(), pretty=True)),
     400, "not_canonical"),
    ("payload keys unsorted", lambda f: f.sign(payload_b64=b64url(json.dumps(
        dict(reversed(list(f.doc().items()))), separators=(",", ":")).encode())),
     400, "not_canonical"),
    # keys and senders
    ("unregistered sender", lambda f: f.sign(f.doc(sender="110000"), key=STRANGER,
                                             kid="tongban/110000/beijing+0011aabb"),
     403, "unknown_sender"),
    ("stranger claims a registered sender", lambda f: f.sign(
        key=STRANGER, kid="tongban/510000/sichuan+deadbeef"), 403, "unknown_key"),
    ("registered kid, stranger's signature", lambda f: f.sign(key=STRANGER), 403,
     "bad_signature"),
    ("another node's kid", lambda f: f.sign(kid=licence_keys.node_kid(f.fed.sh.settings)),
     403, "bad_signature"),
    ("tampered payload", _tamper_payload, 403, "bad_signature"),
    ("tampered header", _tamper_header, 403, "bad_signature"),
    ("flipped signature bit", _flip_signature, 403, "bad_signature"),
    ("signature of another envelope", _other_signature, 403, "bad_signature"),
    ("sender is not the key's node", lambda f: f.good(sender="500000"), 403,
     "sender_mismatch"),
    # the envelope's fields (validly signed)
    ("missing id", lambda f: f.good(id=DROP), 422, "invalid_envelope"),
    ("id not a UUID", lambda f: f.good(id="42"), 422, "invalid_envelope"),
    ("id a UUIDv4", lambda f: f.good(id=str(uuid.uuid4())), 422, "invalid_envelope"),
    ("id upper-case", lambda f: f.good(id=str(new_id()).upper()), 422, "invalid_envelope"),
    ("version 2", lambda f: f.good(v=2), 422, "invalid_envelope"),
    ("unexpected field", lambda f: f.good(extra="x"), 422, "invalid_envelope"),
    ("missing payload", lambda f: f.good(payload=DROP), 422, "invalid_envelope"),
    ("payload a list", lambda f: f.good(payload=[1]), 422, "invalid_envelope"),
    ("sender not a region code", lambda f: f.good(sender="51"), 422, "invalid_envelope"),
    ("receiver not a string", lambda f: f.good(receiver=310000), 422, "invalid_envelope"),
    ("type upper-case", lambda f: f.good(type="PING"), 422, "invalid_envelope"),
    ("created_at without zone", lambda f: f.good(created_at="2026-09-21T10:00:00"), 422,
     "invalid_envelope"),
    ("created_at not a time", lambda f: f.good(created_at="yesterday"), 422,
     "invalid_envelope"),
    ("case_id with spaces", lambda f: f.good(case_id="a b"), 422, "invalid_envelope"),
    ("user_id too long", lambda f: f.good(user_id="u" * 65), 422, "invalid_envelope"),
    # addressing, type, time
    ("addressed to another node", lambda f: f.good(receiver="500000"), 421, "wrong_receiver"),
    ("addressed to an unregistered region", lambda f: f.good(receiver="110000"), 421,
     "wrong_receiver"),
    ("addressed to the sender", lambda f: f.good(receiver="510000"), 421, "wrong_receiver"),
    ("unknown type", lambda f: f.good(type="case.delete"), 422, "unknown_type"),
    ("near-miss type", lambda f: f.good(type="pingg"), 422, "unknown_type"),
    ("ten minutes ahead", lambda f: f.good(created_at=_at(minutes=10)), 422, "clock_skew"),
    ("a day ahead", lambda f: f.good(created_at=_at(days=1)), 422, "clock_skew"),
    ("eight days old", lambda f: f.good(created_at=_at(days=-8)), 422, "too_old"),
    ("from 1970", lambda f: f.good(created_at="1970-01-01T00:00:00.000Z"), 422, "too_old"),
]

# Cases that first send a legitimate envelope, then the attack.
REPLAYS: list[tuple[str, Callable[[Federation, Forge], bytes], int, str]] = [
    ("exact duplicate", _duplicate, 409, "duplicate"),
    ("same id, other payload", lambda fed, f: _replayed(fed, f, {"payload": {"n": 2}}), 409,
     "replayed_id"),
    ("same id, other type", lambda fed, f: _replayed(fed, f, {"case_id": "other"}), 409,
     "replayed_id"),
    ("same id, later time", lambda fed, f: _replayed(fed, f, {"created_at": _at(seconds=1)}),
     409, "replayed_id"),
]


def _rejections(fed: Federation, body: bytes) -> list[Rejection]:
    """Rejections logged for `body` (an oversize body is hashed as far as it was read)."""
    digest = hashlib.sha256(body[: service.envelope_limit(fed.sh.settings) + 1]).hexdigest()
    with fed.sh.read() as s:
        return list(s.scalars(select(Rejection).where(Rejection.body_sha256 == digest)))


def _assert_refused(fed: Federation, body: bytes, status: int, code: str) -> None:
    inbox_before = fed.sh.count(InboxEnvelope)
    response = fed.sh.client.post(URL, content=body,
                                  headers={"Content-Type": "application/jose"})
    assert response.status_code == status, response.text
    error = response.json()
    assert error["error"] == code
    assert " / " in error["message"]  # Chinese first, then English
    logged = _rejections(fed, body)
    assert [r.error for r in logged][-1:] == [code]
    assert fed.sh.count(InboxEnvelope) == inbox_before  # nothing stored


@pytest.fixture
def forge(fed: Federation, monkeypatch: pytest.MonkeyPatch) -> Forge:
    monkeypatch.setattr(service.LIMITS, "max_envelope_bytes", LIMIT)
    return Forge(fed)


@pytest.mark.parametrize(("name", "build", "status", "code"), CASES,
                         ids=[c[0] for c in CASES])
def test_a_bad_envelope_is_refused_clearly_and_logged(
        fed: Federation, forge: Forge, name: str, build: Build, status: int, code: str
) -> None:
    _assert_refused(fed, build(forge), status, code)


@pytest.mark.parametrize(("name", "attack", "status", "code"), REPLAYS,
                         ids=[c[0] for c in REPLAYS])
def test_a_replay_is_refused_and_logged_and_never_processed_twice(
        fed: Federation, forge: Forge, name: str,
        attack: Callable[[Federation, Forge], bytes], status: int, code: str) -> None:
    body = attack(fed, forge)
    _assert_refused(fed, body, status, code)


def test_the_duplicate_answer_carries_the_original_receipt(fed: Federation,
                                                           forge: Forge) -> None:
    token = forge.good()
    first = fed.sh.client.post(URL, content=token).json()["receipt"]
    again = fed.sh.client.post(URL, content=token).json()
    assert again["details"]["receipt"] == first


@pytest.mark.parametrize("days", [3, 30])
def test_a_node_with_an_expired_registry_accepts_nothing_and_logs_why(
        fed: Federation, forge: Forge, days: int) -> None:
    body = forge.good(created_at=_at(days=days))
    with fed.sh.session() as s:
        [outcome] = service.receive(db_session=s, settings=fed.sh.settings, bodies=[body],
                                    now=utcnow() + timedelta(days=days))
    assert isinstance(outcome, service.Refused)
    assert outcome.error.code == "registry_expired" and outcome.error.status == 503
    assert [r.error for r in _rejections(fed, body)] == ["registry_expired"]


def test_in_a_batch_each_envelope_gets_its_own_answer(fed: Federation, forge: Forge) -> None:
    good, bad = forge.good(), forge.good(receiver="500000")
    response = fed.sh.client.post(f"{URL}/batch", json={"envelopes": [good.decode(),
                                                                      bad.decode()]})
    assert response.status_code == 200
    first, second = response.json()["results"]
    assert first["receipt"] and second["error"] == "wrong_receiver"
    assert [r.error for r in _rejections(fed, bad)] == ["wrong_receiver"]


def test_the_negative_suite_has_at_least_fifty_cases() -> None:
    assert len(CASES) + len(REPLAYS) >= 50


def test_every_rejection_code_has_a_bilingual_message() -> None:
    for status, message in envelopes.REJECTIONS.values():
        assert 400 <= status < 600 and " / " in message


def test_the_rejection_log_is_readable_by_operators(fed: Federation, forge: Forge) -> None:
    fed.sh.client.post(URL, content=b"nonsense")
    rows = fed.sh.client.get("/api/v1/federation/rejections",
                             headers=fed.sh.token("operator")).json()
    assert rows and rows[0]["error"] and rows[0]["body_sha256"]
    denied = fed.sh.client.get("/api/v1/federation/rejections",
                               headers=fed.sh.token("clerk"))
    assert denied.status_code == 403
    with fed.sh.read() as s:
        assert s.scalar(select(func.count()).select_from(Rejection)) >= 1
