"""JWS compact serialisation with EdDSA (RFC 7515, RFC 8037) over RFC 8785 canonical JSON.

The payload is the canonical JSON of the document, so the same document always gives the
same bytes to sign, and a verifier can tell a changed field from a changed signature by
re-canonicalising what it was shown. Own code over `cryptography` (a dozen lines) rather
than a JOSE library: only one algorithm is ever accepted, so `alg` confusion cannot arise.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

ALG = "EdDSA"


class JwsFormatError(ValueError):
    """The text is not a compact JWS this node accepts."""


def b64url(data: bytes) -> str:
    """base64url without padding (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


_B64URL = re.compile(r"[A-Za-z0-9_-]*")


def b64url_decode(text: str) -> bytes:
    """Inverse of b64url, strictly: only the base64url alphabet, no padding, and the one
    spelling b64url gives those bytes. (Python's decoder drops characters outside the
    alphabet and ignores unused trailing bits, so a tampered token decoded to the signed
    bytes and still verified.)"""
    if not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise JwsFormatError("base64url 编码无效 / invalid base64url")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise JwsFormatError("base64url 编码无效 / invalid base64url") from exc
    if b64url(data) != text:
        raise JwsFormatError("base64url 编码无效(非规范) / non-canonical base64url")
    return data


def canonical(document: Any) -> bytes:
    """RFC 8785 canonical JSON bytes of `document`."""
    return rfc8785.dumps(document)


def public_key_x(key: Ed25519PublicKey) -> str:
    """The JWK `x` of an Ed25519 public key (RFC 8037)."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return b64url(key.public_bytes(Encoding.Raw, PublicFormat.Raw))


def public_key_from_x(x: str) -> Ed25519PublicKey:
    """The Ed25519 public key of a JWK `x`."""
    return Ed25519PublicKey.from_public_bytes(b64url_decode(x))


def sign(payload: Mapping[str, Any], *, key: Ed25519PrivateKey, kid: str, typ: str) -> str:
    """Sign the canonical JSON of `payload`; returns header.payload.signature."""
    header = {"alg": ALG, "kid": kid, "typ": typ}
    signing_input = f"{b64url(canonical(header))}.{b64url(canonical(dict(payload)))}"
    return f"{signing_input}.{b64url(key.sign(signing_input.encode('ascii')))}"


@dataclass(frozen=True)
class Jws:
    """A parsed compact JWS; `payload` is the decoded JSON of `payload_bytes`."""

    header: dict[str, Any]
    payload_bytes: bytes
    payload: dict[str, Any]
    signing_input: bytes
    signature: bytes

    @property
    def kid(self) -> str:
        return str(self.header.get("kid", ""))

    @property
    def payload_is_canonical(self) -> bool:
        """True if the signed bytes are exactly the RFC 8785 form of the payload."""
        return canonical(self.payload) == self.payload_bytes

    def verify(self, key: Ed25519PublicKey) -> bool:
        """True if the signature is `key`'s over the signing input."""
        try:
            key.verify(self.signature, self.signing_input)
        except InvalidSignature:
            return False
        return True


def _json_object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise JwsFormatError(f"JWS {what} 不是 JSON / JWS {what} is not JSON") from exc
    if not isinstance(value, dict):
        raise JwsFormatError(f"JWS {what} 不是 JSON 对象 / JWS {what} is not a JSON object")
    return value


def parse(token: str) -> Jws:
    """Split and decode a compact JWS; only EdDSA with a `kid` is accepted."""
    parts = token.strip().split(".")
    if len(parts) != 3 or not all(parts):
        raise JwsFormatError("JWS 应为三段 header.payload.signature / a JWS has 3 parts")
    header = _json_object(b64url_decode(parts[0]), "header")
    if header.get("alg") != ALG or not isinstance(header.get("kid"), str):
        raise JwsFormatError(
            "JWS 头部应为 alg=EdDSA 并带 kid / JWS header must be alg=EdDSA with a kid"
        )
    if header.get("crit"):
        raise JwsFormatError("不支持 crit 头部 / crit headers are not supported")
    payload_bytes = b64url_decode(parts[1])
    return Jws(
        header=header,
        payload_bytes=payload_bytes,
        payload=_json_object(payload_bytes, "payload"),
        signing_input=f"{parts[0]}.{parts[1]}".encode("ascii"),
        signature=b64url_decode(parts[2]),
    )
