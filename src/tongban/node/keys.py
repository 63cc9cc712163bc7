"""The node's own Ed25519 signing key and its C2SP signed-note identity.

The node key signs what the node as a whole vouches for (ledger checkpoints, the trust
list of its issuers, envelopes to peers); department (issuer) keys are separate. It comes
from the node's key ring (tongban.node.keyring), like every other key of the node.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from tongban.config import Settings
from tongban.node.keyring import KeyRing, keyring

ED25519_TYPE = b"\x01"  # C2SP signed-note signature type of Ed25519
_NAME_BAD = re.compile(r"[\s+]")


@dataclass(frozen=True)
class NodeKey:
    """The node's signing key with its signed-note name and 4-byte key id."""

    name: str
    private_key: Ed25519PrivateKey

    @property
    def public_bytes(self) -> bytes:
        """The raw 32-byte public key (RFC 8032 encoding)."""
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    @property
    def key_id(self) -> bytes:
        """The C2SP key id of this key under its name."""
        return key_id(self.name, self.public_bytes)

    @property
    def verifier_key(self) -> str:
        """The text a verifier is configured with: `<name>+<hex id>+<base64(0x01||pub)>`."""
        return verifier_key(self.name, self.public_bytes)

    def sign(self, message: bytes) -> bytes:
        """An Ed25519 signature over `message`."""
        return self.private_key.sign(message)


def key_name(settings: Settings) -> str:
    """The node's key name, also its log origin: `tongban/<region>/<node name>`."""
    name = f"tongban/{settings.node_region}/{settings.node_name}"
    return _NAME_BAD.sub("-", name)


def key_id(name: str, public_key: bytes) -> bytes:
    """SHA-256(key name || 0x0A || 0x01 || public key)[:4], as c2sp.org/signed-note says."""
    return hashlib.sha256(name.encode() + b"\n" + ED25519_TYPE + public_key).digest()[:4]


def verifier_key(name: str, public_key: bytes) -> str:
    """The verifier key string of Go's sumdb/note, understood by C2SP tooling."""
    encoded = base64.b64encode(ED25519_TYPE + public_key).decode()
    return f"{name}+{key_id(name, public_key).hex()}+{encoded}"


def parse_verifier_key(vkey: str) -> tuple[str, bytes, Ed25519PublicKey]:
    """(name, key id, public key) of a verifier key string; ValueError if malformed."""
    parts = vkey.split("+", 2)  # base64 may itself contain "+"
    if len(parts) != 3 or not parts[0]:
        raise ValueError("a verifier key is <name>+<hex key id>+<base64 key>")
    name, hex_id, encoded = parts
    raw = base64.b64decode(encoded, validate=True)
    if len(raw) != 33 or raw[:1] != ED25519_TYPE:
        raise ValueError("only Ed25519 verifier keys (type 0x01) are supported")
    if bytes.fromhex(hex_id) != key_id(name, raw[1:]):
        raise ValueError("the key id does not match the name and key")
    return name, bytes.fromhex(hex_id), Ed25519PublicKey.from_public_bytes(raw[1:])


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """Read an unencrypted PKCS#8 Ed25519 key from a PEM file."""
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} does not hold an Ed25519 key")
    return key


def node_key(settings: Settings) -> NodeKey:
    """The node's signing key in use (tongban.node.keyring: from the key file or settings)."""
    return node_keys(settings)[0]


def node_keys(settings: Settings) -> tuple[NodeKey, ...]:
    """The node's key in use, then its retired ones (they verify what they signed)."""
    ring = keyring(settings)
    name = key_name(settings)
    hit = _named.get((id(ring), name))
    if hit is None or hit[0] is not ring:
        if len(_named) > 64:
            _named.clear()
        hit = _named[(id(ring), name)] = (ring, tuple(NodeKey(name, k) for k in ring.node))
    return hit[1]


_named: dict[tuple[int, str], tuple[KeyRing, tuple[NodeKey, ...]]] = {}
