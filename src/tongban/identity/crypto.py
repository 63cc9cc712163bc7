"""The PII vault: AES-256-GCM for ID and phone numbers at rest, HMAC-SHA256 for look-up.

A stored value is `nonce (12 bytes) || ciphertext+tag`, with the column name as associated
data, so a ciphertext copied into another column does not decrypt. Look-up uses a keyed
hash (never a plain SHA-256: ID numbers are few enough to enumerate). The keys are the
node's (tongban.node.keyring): values are sealed with the data key in use and open with
it or any retired one, so a rotated key never strands an old row.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tongban.config import Settings
from tongban.node.keyring import KeyRing, keyring

NONCE_BYTES = 12
KEY_BYTES = 32


class VaultKeyError(RuntimeError):
    """The node's keys are missing, malformed, or do not open a stored value."""


@dataclass(frozen=True)
class VaultKeys:
    data_key: bytes
    index_key: bytes


def vault_keys(settings: Settings) -> VaultKeys:
    """The data key in use and the index key."""
    ring = keyring(settings)
    return VaultKeys(data_key=ring.data[0], index_key=ring.index)


class Vault:
    """AES-256-GCM under the node's data keys: seals with the one in use, opens with
    whichever of them sealed (the AEAD tag tells them apart). AESGCM's interface."""

    def __init__(self, ring: KeyRing) -> None:
        self._ciphers = [AESGCM(k) for k in ring.data]

    def encrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes:
        return self._ciphers[0].encrypt(nonce, data, associated_data)

    def decrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes:
        for cipher in self._ciphers:
            try:
                return cipher.decrypt(nonce, data, associated_data)
            except InvalidTag:
                continue
        raise InvalidTag


_vaults: dict[int, tuple[KeyRing, Vault]] = {}


def vault(settings: Settings) -> Vault:
    """The node's vault (one per key ring, so a process builds its ciphers once)."""
    return vault_for(keyring(settings))


def vault_for(ring: KeyRing) -> Vault:
    """The vault of a key ring (cached per ring)."""
    hit = _vaults.get(id(ring))
    if hit is None or hit[0] is not ring:
        if len(_vaults) > 64:
            _vaults.clear()
        hit = _vaults[id(ring)] = (ring, Vault(ring))
    return hit[1]


def encrypt(*, settings: Settings, value: str, column: str) -> bytes:
    """Encrypt `value` for `column`; a fresh random nonce each time."""
    return encrypt_with(keyring(settings), value=value, column=column)


def encrypt_with(ring: KeyRing, *, value: str, column: str) -> bytes:
    """`encrypt` under a key ring in hand (the one a session's engine carries)."""
    nonce = secrets.token_bytes(NONCE_BYTES)
    sealed = vault_for(ring).encrypt(nonce, value.encode("utf-8"), column.encode("utf-8"))
    return nonce + sealed


def decrypt(*, settings: Settings, blob: bytes, column: str) -> str:
    """Open a value sealed by `encrypt` for the same column; fails loudly on tampering."""
    return decrypt_with(keyring(settings), blob=blob, column=column)


def decrypt_with(ring: KeyRing, *, blob: bytes, column: str) -> str:
    """`decrypt` under a key ring in hand."""
    nonce, sealed = bytes(blob[:NONCE_BYTES]), bytes(blob[NONCE_BYTES:])
    try:
        plain = vault_for(ring).decrypt(nonce, sealed, column.encode("utf-8"))
    except InvalidTag as exc:
        raise VaultKeyError(f"stored {column} does not open with this node's data key") from exc
    return plain.decode("utf-8")


def normalise(value: str) -> str:
    """The form every look-up hashes: trimmed, upper-case (a trailing x is an X)."""
    return value.strip().upper()


def keyed_hash(*, settings: Settings, value: str, purpose: str = "id_number") -> str:
    """HMAC-SHA256 (hex) of the normalised value; `purpose` separates hash spaces."""
    return keyed_hash_with(keyring(settings), value=value, purpose=purpose)


def keyed_hash_with(ring: KeyRing, *, value: str, purpose: str = "id_number") -> str:
    """`keyed_hash` under a key ring in hand."""
    message = f"{purpose}\x00{normalise(value)}".encode()
    return hmac.new(ring.index, message, hashlib.sha256).hexdigest()
