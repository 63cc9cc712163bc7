"""Envelopes and receipts: JWS (RFC 7515, EdDSA) over RFC 8785 canonical JSON.

An envelope is `{"v", "id", "sender", "receiver", "type", "case_id", "user_id",
"created_at", "payload"}` signed by the sending node's key; its JWS `kid` names that key
(`tongban/<region>/<name>+<key id>`, as on the node's trust list and checkpoints). A
receipt is the receiving node's signature over the SHA-256 of the exact bytes it received,
so the sender can prove what was delivered (X-Road's request hash, AS4's signed receipt).

Every way an envelope can be refused has one code here, with its HTTP status and a
message a person can read; the receiver names the first check that failed.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tongban.errors import DomainError
from tongban.ledger import canonical
from tongban.licences import signing

ENVELOPE_TYP = "tongban-envelope+jws"
RECEIPT_TYP = "tongban-receipt+jws"
VERSION = 1
FIELDS = ("v", "id", "sender", "receiver", "type", "case_id", "user_id", "created_at",
          "payload")
_REGION = re.compile(r"^[0-9]{6}$")
_TYPE = re.compile(r"^[a-z][a-z0-9_.]{1,39}$")
_REF = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")

# code -> (HTTP status, message). Order of checks is in service.receive.
REJECTIONS: dict[str, tuple[int, str]] = {
    "registry_missing": (503, "本节点尚未加入联邦(无注册表) / this node has no federation "
                              "registry"),
    "registry_expired": (503, "联邦注册表已过期,停止收发 / the federation registry has expired: "
                              "no envelope is sent or accepted until it is refreshed"),
    "empty_body": (400, "信封为空 / the envelope body is empty"),
    "too_large": (413, "信封超过大小上限 / the envelope is larger than this node accepts"),
    "malformed": (400, "信封不是有效的 JWS / the envelope is not a valid compact JWS"),
    "bad_header": (400, "信封头部无效(须 alg=EdDSA、typ 正确) / invalid envelope header"),
    "bad_json": (400, "信封内容不是 JSON 对象 / the envelope payload is not a JSON object"),
    "not_canonical": (400, "信封内容不是 RFC 8785 规范化 JSON / the signed payload is not "
                           "RFC 8785 canonical JSON"),
    "invalid_envelope": (422, "信封字段缺失或格式错误 / envelope fields are missing or malformed"),
    "unknown_sender": (403, "发送节点不在联邦注册表中 / the sender is not a registered node"),
    "unknown_key": (403, "签名密钥不是该节点登记的密钥 / the signing key is not the sender's "
                         "registered node key"),
    "sender_mismatch": (403, "信封声明的发送方与签名密钥不符 / the envelope's sender is not the "
                             "key's node"),
    "bad_signature": (403, "信封签名无效 / the envelope signature does not verify"),
    "wrong_receiver": (421, "信封的接收方不是本节点 / the envelope is addressed to another node"),
    "unknown_type": (422, "未知的信封类型 / unknown envelope type"),
    "clock_skew": (422, "信封时间超前于本节点时钟 / the envelope's time is too far in the future"),
    "too_old": (422, "信封已超过可接受时限 / the envelope is older than this node accepts"),
    "duplicate": (409, "该信封已接收(重复投递),回执见详情 / this envelope was already "
                       "received; its receipt is in the details"),
    "replayed_id": (409, "信封编号已被使用且内容不同(重放) / this envelope id was already used "
                         "for different content (replay)"),
}


# Refusals that sending the same bytes again can never turn into a receipt: the sender
# gives up at once and shows a person why. Every other code is temporary (the peer's
# registry or clock may catch up, a concurrent twin may settle) and is retried with
# backoff, a bounded number of times.
PERMANENT = frozenset({
    "empty_body", "too_large", "malformed", "bad_header", "bad_json", "not_canonical",
    "invalid_envelope", "sender_mismatch", "bad_signature", "wrong_receiver", "unknown_type",
    "too_old", "replayed_id"})
assert set(REJECTIONS) >= PERMANENT


class EnvelopeRejected(DomainError):
    """An envelope refused at the door; `code` is a key of REJECTIONS."""

    def __init__(self, code: str, *, details: Any = None, message: str | None = None) -> None:
        status, text = REJECTIONS[code]
        super().__init__(message or text, code=code, details=details)
        self.status = status


def now_utc() -> datetime:
    """The current time, aware UTC."""
    return datetime.now(UTC)


def rfc3339(moment: datetime) -> str:
    """Milliseconds, UTC, `Z`: one spelling per instant, so signatures are stable."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + \
        f"{moment.astimezone(UTC).microsecond // 1000:03d}Z"


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 instant, or None if it is not one."""
    if not isinstance(value, str) or not value.endswith("Z"):
        return None
    try:
        moment = datetime.fromisoformat(value[:-1] + "+00:00")
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sign_json(document: dict[str, Any], *, key: Ed25519PrivateKey, kid: str, typ: str) -> str:
    """A compact JWS over the canonical JSON of `document` (fast RFC 8785 path)."""
    header = canonical.dumps({"alg": signing.ALG, "kid": kid, "typ": typ})
    signing_input = f"{signing.b64url(header)}.{signing.b64url(canonical.dumps(document))}"
    return f"{signing_input}.{signing.b64url(key.sign(signing_input.encode('ascii')))}"


@dataclass(frozen=True)
class Envelope:
    """The fields of a verified (or about to be signed) envelope."""

    id: uuid.UUID
    sender: str
    receiver: str
    type: str
    case_id: str | None
    user_id: str | None
    created_at: datetime
    payload: dict[str, Any]

    def document(self) -> dict[str, Any]:
        return {"v": VERSION, "id": str(self.id), "sender": self.sender,
                "receiver": self.receiver, "type": self.type, "case_id": self.case_id,
                "user_id": self.user_id, "created_at": rfc3339(self.created_at),
                "payload": self.payload}


def seal(envelope: Envelope, *, key: Ed25519PrivateKey, kid: str) -> str:
    """Sign an envelope as the sending node."""
    return sign_json(envelope.document(), key=key, kid=kid, typ=ENVELOPE_TYP)


def parse(token: str) -> signing.Jws:
    """Split and decode a compact JWS envelope, or reject it as malformed."""
    try:
        jws = signing.parse(token)
    except signing.JwsFormatError as exc:
        text = str(exc)
        if any(mark in text for mark in ("头部", "crit", "JWS header")):
            raise EnvelopeRejected("bad_header", details={"reason": text}) from exc
        if "JWS payload" in text:
            raise EnvelopeRejected("bad_json", details={"reason": text}) from exc
        raise EnvelopeRejected("malformed", details={"reason": text}) from exc
    if jws.header.get("typ") != ENVELOPE_TYP:
        raise EnvelopeRejected("bad_header", details={"typ": jws.header.get("typ"),
                                                      "expected": ENVELOPE_TYP})
    return jws


def _field_problem(doc: dict[str, Any]) -> dict[str, Any] | None:
    """The first malformed field of an envelope document, as error details."""
    missing = [f for f in FIELDS if f not in doc]
    extra = sorted(set(doc) - set(FIELDS))
    if missing or extra:
        return {"missing": missing, "unexpected": extra}
    checks: list[tuple[str, bool]] = [
        ("v", doc["v"] == VERSION),
        ("id", isinstance(doc["id"], str) and _uuid7(doc["id"])),
        ("sender", isinstance(doc["sender"], str) and bool(_REGION.match(doc["sender"]))),
        ("receiver", isinstance(doc["receiver"], str) and bool(_REGION.match(doc["receiver"]))),
        ("type", isinstance(doc["type"], str) and bool(_TYPE.match(doc["type"]))),
        ("case_id", doc["case_id"] is None or (isinstance(doc["case_id"], str)
                                                and bool(_REF.match(doc["case_id"])))),
        ("user_id", doc["user_id"] is None or (isinstance(doc["user_id"], str)
                                                and bool(_REF.match(doc["user_id"])))),
        ("created_at", parse_time(doc["created_at"]) is not None),
        ("payload", isinstance(doc["payload"], dict)),
    ]
    for name, ok in checks:
        if not ok:
            return {"field": name, "value": str(doc.get(name))[:100]}
    return None


def _uuid7(text: str) -> bool:
    try:
        value = uuid.UUID(text)
    except ValueError:
        return False
    return value.version == 7 and str(value) == text


def envelope_of(jws: signing.Jws) -> Envelope:
    """The envelope in a parsed JWS whose fields are well formed, else invalid_envelope."""
    problem = _field_problem(jws.payload)
    if problem is not None:
        raise EnvelopeRejected("invalid_envelope", details=problem)
    doc = jws.payload
    created = parse_time(doc["created_at"])
    assert created is not None
    return Envelope(id=uuid.UUID(doc["id"]), sender=doc["sender"], receiver=doc["receiver"],
                    type=doc["type"], case_id=doc["case_id"], user_id=doc["user_id"],
                    created_at=created, payload=doc["payload"])


def is_canonical(jws: signing.Jws) -> bool:
    """Whether the signed payload bytes are exactly RFC 8785 canonical JSON."""
    try:
        return canonical.dumps(jws.payload) == jws.payload_bytes
    except (canonical.CanonicalizationError, TypeError, ValueError):
        return False


def receipt_claims(envelope: Envelope, body_sha256: str, received_at: datetime
                   ) -> dict[str, Any]:
    """What a receipt says: this node accepted these exact bytes at this time."""
    return {"envelope_id": str(envelope.id), "sender": envelope.sender,
            "receiver": envelope.receiver, "type": envelope.type, "sha256": body_sha256,
            "received_at": rfc3339(received_at), "status": "accepted"}
