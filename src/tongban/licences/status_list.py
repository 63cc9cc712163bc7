"""IETF Token Status List (draft-ietf-oauth-status-list): the bitstring, pure functions.

Each licence owns one position `idx` in one list; the list stores `bits` bits per
position, least significant bits first within each byte, ZLIB (DEFLATE) compressed at
the highest level and base64url encoded as `lst`. tongban uses 4 bits per entry so that
a verifier learns the exact legal status from the list alone:

| status (code)  | value | draft meaning                 |
| -------------- | ----- | ----------------------------- |
| 01 有效 valid     | 0x0   | VALID                         |
| 03 撤销 annulled  | 0x1   | INVALID                       |
| 02 暂扣 suspended | 0x2   | SUSPENDED                     |
| 04 注销 cancelled | 0xC   | application-specific (invalid) |
| 05 失效 lapsed    | 0xD   | application-specific (invalid) |
| 07 吊销 revoked   | 0xE   | application-specific (invalid) |

A generic verifier that knows only the draft's values treats every non-zero value as
"not valid", which is right for all six. Lists hold 2**17 = 131,072 entries (more than
the 100,000 of the EUDI guidance, and the W3C minimum), positions are drawn at random so
that a position says nothing about issue order, and a list is closed when half full.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from typing import Any

from tongban.licences.signing import b64url, b64url_decode

BITS = 4
LIST_SIZE = 2**17
FILL_LIMIT = LIST_SIZE // 2
TOKEN_TYP = "statuslist+jwt"
TTL_SECONDS = 60
TOKEN_LIFETIME_SECONDS = 24 * 3600

STATUS_VALUES: dict[str, int] = {
    "01": 0x0, "03": 0x1, "02": 0x2, "04": 0xC, "05": 0xD, "07": 0xE,
}
VALUE_STATUSES = {value: code for code, value in STATUS_VALUES.items()}


class StatusListError(ValueError):
    """A status list or a position in it is malformed."""


def _check_bits(bits: int) -> None:
    if bits not in (1, 2, 4, 8):
        raise StatusListError(f"bits must be 1, 2, 4 or 8, got {bits}")


def pack(values: Mapping[int, int], *, size: int, bits: int = BITS) -> bytes:
    """The raw byte array of a list of `size` entries with `values` at their positions."""
    _check_bits(bits)
    if size * bits % 8:
        raise StatusListError("size * bits must be a whole number of bytes")
    raw = bytearray(size * bits // 8)
    mask = (1 << bits) - 1
    for idx, value in values.items():
        if not 0 <= idx < size:
            raise StatusListError(f"index {idx} outside a list of {size}")
        if not 0 <= value <= mask:
            raise StatusListError(f"value {value} does not fit in {bits} bits")
        bit = idx * bits
        raw[bit // 8] |= value << (bit % 8)
    return bytes(raw)


def value_at(raw: bytes, idx: int, *, bits: int = BITS) -> int:
    """The value stored at position `idx` of a raw byte array."""
    _check_bits(bits)
    bit = idx * bits
    if idx < 0 or bit // 8 >= len(raw):
        raise StatusListError(f"index {idx} is outside the status list")
    return (raw[bit // 8] >> (bit % 8)) & ((1 << bits) - 1)


def encode(raw: bytes, *, bits: int = BITS) -> dict[str, Any]:
    """The `status_list` claim: {"bits", "lst"} with lst = base64url(zlib(raw))."""
    _check_bits(bits)
    return {"bits": bits, "lst": b64url(zlib.compress(raw, 9))}


def decode(status_list: Mapping[str, Any]) -> tuple[bytes, int]:
    """Inverse of `encode`: (raw byte array, bits)."""
    bits = status_list.get("bits")
    lst = status_list.get("lst")
    if not isinstance(bits, int) or not isinstance(lst, str):
        raise StatusListError("status_list needs integer bits and string lst")
    _check_bits(bits)
    try:
        raw = zlib.decompress(b64url_decode(lst))
    except (zlib.error, ValueError) as exc:
        raise StatusListError("lst is not base64url ZLIB data") from exc
    return raw, bits


def token_claims(*, uri: str, raw: bytes, iat: int, bits: int = BITS) -> dict[str, Any]:
    """The claims of a Status List Token for the list at `uri`, issued at `iat`."""
    return {
        "sub": uri,
        "iat": iat,
        "exp": iat + TOKEN_LIFETIME_SECONDS,
        "ttl": TTL_SECONDS,
        "status_list": encode(raw, bits=bits),
    }
