"""The PII vault: AES-256-GCM for ID and phone numbers at rest, HMAC-SHA256 for look-up.

A stored value is `nonce (12 bytes) || ciphertext+tag`, with the column name as associated
data, so a ciphertext copied into another column does not decrypt. Look-up uses a keyed
hash (never a plain SHA-256: ID numbers are few enough to enumerate). Both keys are 32
bytes, base64url, from the settings; a node without them generates them once into
`<var_dir>/keys.json` (mode 0600) and reuses them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tongban.config import Settings

NONCE_BYTES = 12
KEY_BYTES = 32
KEYS_FILE = "keys.json"


class VaultKeyError(RuntimeError):
    """The node's keys are missing, malformed, or do not open a stored value."""


@dataclass(frozen=True)
class VaultKeys:
    data_key: bytes
    index_key: bytes


def _decode_key(value: str, name: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError) as exc:
        raise VaultKeyError(f"{name} is not base64url") from exc
    if len(raw) != KEY_BYTES:
        raise VaultKeyError(f"{name} must decode to {KEY_BYTES} bytes, got {len(raw)}")
    return raw


def _encode_key(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _read_or_create_key_file(path: Path) -> dict[str, str]:
    """Generate the key file once (O_EXCL, so two processes never write different keys)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fresh = {
        "data_key": _encode_key(secrets.token_bytes(KEY_BYTES)),
        "index_key": _encode_key(secrets.token_bytes(KEY_BYTES)),
    }
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        loaded: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
        return loaded
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(fresh, handle)
    return fresh


@lru_cache(maxsize=32)
def _keys(var_dir: str, data_key: str | None, index_key: str | None) -> VaultKeys:
    if data_key is None or index_key is None:
        stored = _read_or_create_key_file(Path(var_dir) / KEYS_FILE)
        data_key = data_key or stored["data_key"]
        index_key = index_key or stored["index_key"]
    return VaultKeys(
        data_key=_decode_key(data_key, "data_key"),
        index_key=_decode_key(index_key, "index_key"),
    )


def vault_keys(settings: Settings) -> VaultKeys:
    """The node's keys: from the settings, else from (or newly into) var_dir/keys.json."""
    return _keys(str(Path(settings.var_dir).resolve()), settings.data_key, settings.index_key)


def encrypt(*, settings: Settings, value: str, column: str) -> bytes:
    """Encrypt `value` for `column`; a fresh random nonce each time."""
    nonce = secrets.token_bytes(NONCE_BYTES)
    sealed = AESGCM(vault_keys(settings).data_key).encrypt(
        nonce, value.encode("utf-8"), column.encode("utf-8")
    )
    return nonce + sealed


def decrypt(*, settings: Settings, blob: bytes, column: str) -> str:
    """Open a value sealed by `encrypt` for the same column; fails loudly on tampering."""
    nonce, sealed = bytes(blob[:NONCE_BYTES]), bytes(blob[NONCE_BYTES:])
    try:
        plain = AESGCM(vault_keys(settings).data_key).decrypt(
            nonce, sealed, column.encode("utf-8")
        )
    except InvalidTag as exc:
        raise VaultKeyError(f"stored {column} does not open with this node's data key") from exc
    return plain.decode("utf-8")


def normalise(value: str) -> str:
    """The form every look-up hashes: trimmed, upper-case (a trailing x is an X)."""
    return value.strip().upper()


def keyed_hash(*, settings: Settings, value: str, purpose: str = "id_number") -> str:
    """HMAC-SHA256 (hex) of the normalised value; `purpose` separates hash spaces."""
    message = f"{purpose}\x00{normalise(value)}".encode()
    return hmac.new(vault_keys(settings).index_key, message, hashlib.sha256).hexdigest()
