"""Personal data sealed at rest: JSON columns stored as AES-256-GCM under the node's data key.

Application forms, drafts, forwarded copies, case and outbox events and audit entries
carry ID numbers, phones, bank accounts and addresses. A `SealedJson` column stores its
value as `version (1 byte) || nonce (12) || ciphertext+tag`, the column's name as
associated data (a ciphertext copied into another column does not open). It seals with
the data key in use and opens with it or any retired one (identity.crypto.Vault), so
`tongban keys rotate data` never strands an old row; a row is re-sealed under the new
key whenever it is next written.

The key travels with the engine, not with the import: `seal_engine(engine, ring)` (the
composition root calls it for every node) puts the node's vault on the engine's dialect,
which is what a TypeDecorator is handed. An engine without one refuses to read or write
a sealed column rather than store plain text.

Nothing can be filtered on inside a sealed column in SQL; a value the node must find
rows by is kept beside it as a keyed hash (identity.crypto.keyed_hash), as ID numbers are.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from cryptography.exceptions import InvalidTag
from sqlalchemy import Engine, LargeBinary
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from tongban.identity.crypto import NONCE_BYTES, Vault, VaultKeyError
from tongban.node.keyring import KeyRing

FORMAT = b"\x01"  # AES-256-GCM, 96-bit random nonce, UTF-8 JSON inside
_ATTRIBUTE = "tongban_vault"
_RING = "tongban_keyring"


def seal_engine(engine: Engine, ring: KeyRing) -> Engine:
    """Give `engine` the node's data keys: its sealed columns seal and open with them."""
    setattr(engine.dialect, _ATTRIBUTE, Vault(ring))
    setattr(engine.dialect, _RING, ring)
    return engine


def keyring_of(engine: Engine) -> KeyRing:
    """The key ring `seal_engine` gave this engine: a domain that seals or hashes outside a
    column (notify's messages to staff) uses the keys the session's engine travels with."""
    found = getattr(engine.dialect, _RING, None)
    if not isinstance(found, KeyRing):
        raise VaultKeyError("this database engine was given no keys (tongban.sealed."
                            "seal_engine)")
    return found


def vault_of(engine: Engine) -> Vault:
    """The vault `seal_engine` gave this engine (bulk loaders seal rows as the ORM would)."""
    return _vault(engine.dialect, "this engine's sealed columns")


def _vault(dialect: Dialect, column: str) -> Vault:
    found = getattr(dialect, _ATTRIBUTE, None)
    if not isinstance(found, Vault):
        raise VaultKeyError(f"{column} is sealed, and this database engine was given no "
                            "data key (tongban.sealed.seal_engine)")
    return found


def seal(vault: Vault, value: Any, column: str) -> bytes:
    """The sealed form of a JSON value for `column`; a fresh random nonce each time."""
    plain = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    nonce = secrets.token_bytes(NONCE_BYTES)
    return FORMAT + nonce + vault.encrypt(nonce, plain, column.encode("utf-8"))


def unseal(vault: Vault, blob: bytes, column: str) -> Any:
    """The JSON value sealed by `seal` for the same column; loud on tampering."""
    raw = bytes(blob)
    if raw[:1] != FORMAT:
        raise VaultKeyError(f"stored {column} is not a sealed value of a known format")
    nonce, sealed = raw[1:1 + NONCE_BYTES], raw[1 + NONCE_BYTES:]
    try:
        plain = vault.decrypt(nonce, sealed, column.encode("utf-8"))
    except InvalidTag as exc:
        raise VaultKeyError(f"stored {column} does not open with this node's data keys "
                            "(tampered, or sealed by another node)") from exc
    return json.loads(plain.decode("utf-8"))


class SealedJson(TypeDecorator[Any]):
    """A JSON value sealed with the node's data key; `column` ("table.column") is bound
    into every ciphertext."""

    impl = LargeBinary
    cache_ok = True

    def __init__(self, column: str) -> None:
        super().__init__()
        self.column = column

    def process_bind_param(self, value: Any, dialect: Dialect) -> bytes | None:
        if value is None:
            return None
        return seal(_vault(dialect, self.column), value, self.column)

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        return unseal(_vault(dialect, self.column), value, self.column)
