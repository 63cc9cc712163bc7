"""Token Status List encoding (draft-ietf-oauth-status-list) and JWS signing."""

from __future__ import annotations

import base64
import random
import zlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tongban.licences import signing
from tongban.licences import status_list as sl


def test_lists_hold_at_least_100000_entries_of_4_bits() -> None:
    assert sl.LIST_SIZE >= 100_000
    assert sl.BITS == 4
    assert len(sl.pack({}, size=sl.LIST_SIZE)) == sl.LIST_SIZE // 2


def test_every_status_code_has_its_own_value_and_valid_is_zero() -> None:
    assert sl.STATUS_VALUES["01"] == 0
    assert sl.STATUS_VALUES["03"] == 0x01  # INVALID
    assert sl.STATUS_VALUES["02"] == 0x02  # SUSPENDED
    assert len(set(sl.STATUS_VALUES.values())) == len(sl.STATUS_VALUES)


def test_encode_decode_round_trip_at_random_positions() -> None:
    rng = random.Random(7)
    positions = rng.sample(range(sl.LIST_SIZE), 2_000)
    values = {idx: rng.choice([1, 2, 0xC, 0xD, 0xE]) for idx in positions}
    claim = sl.encode(sl.pack(values, size=sl.LIST_SIZE))
    raw, bits = sl.decode(claim)
    assert bits == 4
    for idx, value in values.items():
        assert sl.value_at(raw, idx) == value
    untouched = next(i for i in range(sl.LIST_SIZE) if i not in values)
    assert sl.value_at(raw, untouched) == 0


def test_bit_order_is_least_significant_first_as_in_the_draft() -> None:
    # The draft's 2-bit example: statuses [1, 2, 0, 3, 0, 1, 0, 1, 1, 2, 3, 3] -> c9 44 f9
    statuses = [1, 2, 0, 3, 0, 1, 0, 1, 1, 2, 3, 3]
    raw = sl.pack(dict(enumerate(statuses)), size=12, bits=2)
    assert raw.hex() == "c944f9"
    # and the compressed form is plain ZLIB, base64url without padding
    lst = sl.encode(raw, bits=2)["lst"]
    assert "=" not in lst
    assert zlib.decompress(base64.urlsafe_b64decode(lst + "==")) == raw


def test_a_mostly_valid_list_compresses_small() -> None:
    values = {i * 997 % sl.LIST_SIZE: 1 for i in range(100)}  # 0.08 % revoked
    assert len(sl.encode(sl.pack(values, size=sl.LIST_SIZE))["lst"]) < 2_000


@pytest.mark.parametrize("bad", [{"bits": 3, "lst": "eNo"}, {"bits": 4, "lst": "not zlib"},
                                 {"bits": 4}])
def test_malformed_lists_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(sl.StatusListError):
        sl.decode(bad)


def test_positions_outside_the_list_are_refused() -> None:
    raw = sl.pack({}, size=16)
    with pytest.raises(sl.StatusListError):
        sl.value_at(raw, 16)
    with pytest.raises(sl.StatusListError):
        sl.pack({16: 1}, size=16)


def test_jws_signs_the_canonical_form_and_detects_any_change() -> None:
    key = Ed25519PrivateKey.generate()
    token = signing.sign({"b": 1, "a": "证照"}, key=key, kid="k1", typ="licence+jws")
    parsed = signing.parse(token)
    assert parsed.header == {"alg": "EdDSA", "kid": "k1", "typ": "licence+jws"}
    assert parsed.payload_bytes == '{"a":"证照","b":1}'.encode()
    assert parsed.payload_is_canonical
    assert parsed.verify(key.public_key())
    head, _body, sig = token.split(".")
    other = signing.b64url(signing.canonical({"a": "证照", "b": 2}))
    assert not signing.parse(f"{head}.{other}.{sig}").verify(key.public_key())
    assert not parsed.verify(Ed25519PrivateKey.generate().public_key())


@pytest.mark.parametrize("token", ["a.b", "..", "e30.e30.AA", "not a jws at all",
                                   "eyJhbGciOiJub25lIn0.e30.AA"])
def test_malformed_or_unsigned_jws_is_refused(token: str) -> None:
    with pytest.raises(signing.JwsFormatError):
        signing.parse(token)


ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


@pytest.mark.parametrize("tamper", [
    lambda sig: sig[:10] + "!!!!" + sig[10:],  # characters outside the alphabet
    lambda sig: sig[:20] + "~~~~" + sig[20:],
    # the last character of a 64-byte signature carries 4 unused bits: flip one
    lambda sig: sig[:-1] + ALPHABET[ALPHABET.index(sig[-1]) ^ 1],
    lambda sig: sig + "A",  # one character too many (length 1 mod 4)
    lambda sig: sig + "==",  # padded
], ids=["bangs", "tildes", "trailing-bits", "dangling", "padded"])
def test_a_tampered_spelling_of_the_signature_is_refused_not_decoded_to_the_same_bytes(
        tamper: object) -> None:
    key = Ed25519PrivateKey.generate()
    token = signing.sign({"a": 1}, key=key, kid="k1", typ="licence+jws")
    head, body, sig = token.split(".")
    altered = tamper(sig)  # type: ignore[operator]
    assert altered != sig
    try:
        parsed = signing.parse(f"{head}.{body}.{altered}")
    except signing.JwsFormatError:
        return
    assert not parsed.verify(key.public_key())


def test_strict_base64url_round_trips_every_length() -> None:
    for n in range(70):
        data = bytes(range(n))
        assert signing.b64url_decode(signing.b64url(data)) == data
