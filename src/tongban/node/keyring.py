"""Every secret key of a node, from its configuration: the same on every machine.

A node has five kinds of key: the data key (AES-256-GCM of personal data at rest and of
stored envelopes), the index key (HMAC look-up hashes of ID numbers), the CSRF key (page
tokens), the node's Ed25519 signing key (checkpoints, trust lists, envelopes) and, on a
registry authority only, the authority key. Department (issuer) keys live in the
database, sealed with the data key, so they follow it.

They come from the settings (`TONGBAN_DATA_KEY`, `TONGBAN_INDEX_KEY`, `TONGBAN_CSRF_KEY`,
`TONGBAN_NODE_KEY`: 32 bytes base64url each) or from the key file `TONGBAN_KEY_FILE` that
`tongban keys init` writes once (JSON, mode 0600), a setting winning over the file. Every
process of the node, on every machine, reads the same file or the same settings. A node
in production mode (`TONGBAN_PRODUCTION=1`) refuses to start without them; only a
development node makes its own, once, into `<var_dir>/keys.json`.

Rotation (`tongban keys rotate data|csrf|node`) appends a key to the file and retires the
one in use; retired keys stay, for reading only: old rows still decrypt, old tokens and
old checkpoints still verify. The index key is not rotated in place: every stored look-up
hash would have to be recomputed (a re-index), and a hash under a key nobody holds finds
nothing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
import threading
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tongban.config import Settings
from tongban.node.registry import ConfigurationError

FORMAT = "tongban-keys/1"
KEY_BYTES = 32
DEV_FILE = "keys.json"
LEGACY_NODE_FILE = "node_ed25519.pem"  # where nodes before the key file kept their key
KINDS = ("data", "index", "csrf", "node")
ROTATABLE = ("data", "csrf", "node")
OPTIONAL = ("authority",)


class KeyError_(ConfigurationError):
    """A key is missing or malformed: the node must not start."""


@dataclass(frozen=True)
class KeyRing:
    """The node's keys; of each kind the one in use first, then the retired ones."""

    data: tuple[bytes, ...]
    index: bytes
    csrf: tuple[bytes, ...]
    node: tuple[Ed25519PrivateKey, ...]
    authority: Ed25519PrivateKey | None
    source: str  # where they came from, for `tongban keys show` and errors


def encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(value: str, name: str) -> bytes:
    """A 32-byte key from base64url; a clear configuration error otherwise."""
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError) as exc:
        raise KeyError_(f"{name} is not base64url") from exc
    if len(raw) != KEY_BYTES:
        raise KeyError_(f"{name} must decode to {KEY_BYTES} bytes, got {len(raw)}")
    return raw


def _ed25519(raw: bytes) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(raw)


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def _entry() -> dict[str, Any]:
    return {"key": encode(secrets.token_bytes(KEY_BYTES)), "created_at": _now(),
            "retired_at": None}


def new_document(*, authority: bool = False) -> dict[str, Any]:
    """A fresh key file's content: one key of each kind (and an authority key if asked)."""
    doc: dict[str, Any] = {"format": FORMAT}
    for kind in KINDS + (OPTIONAL if authority else ()):
        doc[kind] = [_entry()]
    return doc


def _write_new(path: Path, doc: dict[str, Any]) -> bool:
    """Write `doc` to `path` only if no file is there (O_EXCL, mode 0600): two processes
    never write different keys. False if the file existed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(doc, handle, indent=2)
        handle.flush()
        os.fsync(handle.fileno())
    return True


def _replace(path: Path, doc: dict[str, Any]) -> None:
    """Rewrite the key file atomically (a reader sees the old file or the new one)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(doc, handle, indent=2)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def read_document(path: Path) -> dict[str, Any]:
    """The parsed key file; a configuration error naming the file if it is unusable."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise KeyError_(f"key file {path} does not exist: run `tongban keys init`") from None
    except (OSError, ValueError) as exc:
        raise KeyError_(f"key file {path} is unreadable: {exc}") from exc
    if not isinstance(doc, dict):
        raise KeyError_(f"key file {path} is not a JSON object")
    return doc


def _entries(doc: dict[str, Any], kind: str, where: str) -> list[bytes]:
    """The keys of one kind, the one in use (the last unretired) first."""
    listed = doc.get(kind) or []
    if not isinstance(listed, list):
        raise KeyError_(f"{where}: '{kind}' must be a list of keys")
    keys = [decode(str(e.get("key", "")), f"{where}: {kind} key") for e in listed]
    current = [i for i, e in enumerate(listed) if not e.get("retired_at")]
    if keys and not current:
        raise KeyError_(f"{where}: every {kind} key is retired")
    if not keys:
        return []
    first = current[-1]
    return [keys[first], *(k for i, k in reversed(list(enumerate(keys))) if i != first)]


def _one(raw: bytes) -> list[dict[str, Any]]:
    return [{"key": encode(raw), "created_at": None, "retired_at": None}]


def _legacy_node_key(var_dir: Path, *, create: bool) -> bytes | None:
    """The raw node key of node_ed25519.pem, where nodes kept it before the key file."""
    pem = var_dir / LEGACY_NODE_FILE
    if not pem.exists():
        if not create:
            return None
        fresh = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption())
        _write_new_bytes(pem, fresh)
    key = serialization.load_pem_private_key(pem.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyError_(f"{pem} does not hold an Ed25519 key")
    return key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                             serialization.NoEncryption())


def _write_new_bytes(path: Path, data: bytes) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _legacy_csrf(index_key: bytes) -> bytes:
    """The CSRF key nodes derived from their index key before it had its own (their
    pages' tokens stay valid)."""
    return hmac.new(index_key, b"tongban csrf token v1", hashlib.sha256).digest()


def _dev_document(var_dir: Path) -> tuple[dict[str, Any], str]:
    """A development node's key file, made once on first use (never in production).

    A node made before the key file keeps its keys: `{data_key, index_key}` in keys.json
    and node_ed25519.pem are read as they are."""
    path = var_dir / DEV_FILE
    if not path.exists():
        doc = new_document()
        old_node = _legacy_node_key(var_dir, create=False)
        if old_node is not None:
            doc["node"] = _one(old_node)
        _write_new(path, doc)
    doc = read_document(path)
    if "format" not in doc and "data_key" in doc:
        index = decode(str(doc.get("index_key", "")), "index_key")
        node = _legacy_node_key(var_dir, create=True)
        assert node is not None
        doc = {"format": FORMAT, "data": _one(decode(str(doc["data_key"]), "data_key")),
               "index": _one(index), "csrf": _one(_legacy_csrf(index)), "node": _one(node)}
    return doc, f"development key file {path}"


def _document(settings: Settings) -> tuple[dict[str, Any], str]:
    if settings.key_file is not None:
        path = Path(settings.key_file)
        return read_document(path), f"key file {path}"
    given = [settings.data_key, settings.index_key, settings.csrf_key, settings.node_key]
    if settings.production:
        if not all(given):
            missing = [f"TONGBAN_{k.upper()}_KEY" for k, v in zip(KINDS, given, strict=True)
                       if not v]
            raise KeyError_("production mode needs the node's keys: set TONGBAN_KEY_FILE "
                            "(made by `tongban keys init`) or " + ", ".join(missing))
        return {"format": FORMAT}, "settings"
    if all(given):
        return {"format": FORMAT}, "settings"
    return _dev_document(Path(settings.var_dir).resolve())


def load(settings: Settings) -> KeyRing:
    """The node's keys from its settings and key file (see the module docstring)."""
    doc, source = _document(settings)
    if doc.get("format", FORMAT) != FORMAT:
        raise KeyError_(f"{source}: unknown format {doc.get('format')!r}")
    found = {kind: _entries(doc, kind, source) for kind in KINDS}
    given = {"data": settings.data_key, "index": settings.index_key,
             "csrf": settings.csrf_key, "node": settings.node_key}
    for kind, value in given.items():
        if value:  # a setting wins; the file's keys of that kind stay for reading
            raw = decode(value, f"TONGBAN_{kind.upper()}_KEY")
            found[kind] = [raw, *(k for k in found[kind] if k != raw)]
    missing = [kind for kind in KINDS if not found[kind]]
    if missing:
        raise KeyError_(f"{source} has no {', '.join(missing)} key")
    authority = _entries(doc, "authority", source)
    return KeyRing(data=tuple(found["data"]), index=found["index"][0],
                   csrf=tuple(found["csrf"]), node=tuple(_ed25519(k) for k in found["node"]),
                   authority=_ed25519(authority[0]) if authority else None, source=source)


_lock = threading.Lock()
_cache: dict[tuple[Any, ...], KeyRing] = {}
_by_settings: dict[int, tuple[weakref.ref[Settings], KeyRing]] = {}


def _cache_key(settings: Settings) -> tuple[Any, ...]:
    return (str(Path(settings.var_dir).resolve()), str(settings.key_file), settings.data_key,
            settings.index_key, settings.csrf_key, settings.node_key, settings.production)


def keyring(settings: Settings) -> KeyRing:
    """The node's keys, read once per process: every process of the node starts from
    the same file or settings (restart them after distributing a rotated file)."""
    hit = _by_settings.get(id(settings))
    if hit is not None and hit[0]() is settings:
        return hit[1]
    key = _cache_key(settings)
    with _lock:
        found = _cache.get(key)
        if found is None:
            found = load(settings)
            if len(_cache) > 64:
                _cache.clear()
            _cache[key] = found
        if len(_by_settings) > 256:
            _by_settings.clear()
        _by_settings[id(settings)] = (weakref.ref(settings), found)
    return found


def forget() -> None:
    """Read the keys again on next use (tests; `tongban keys rotate` in this process)."""
    with _lock:
        _cache.clear()
        _by_settings.clear()


def init_file(path: Path, *, authority: bool = False) -> dict[str, Any]:
    """Create a key file with one key of each kind; refuse to touch an existing one."""
    doc = new_document(authority=authority)
    if not _write_new(path, doc):
        raise KeyError_(f"key file {path} exists already: its keys are the node's; use "
                        "`tongban keys rotate` to replace one")
    forget()
    return doc


def rotate_file(path: Path, kind: str) -> dict[str, Any]:
    """Put a new key of `kind` in use; the previous one stays, retired, for reading."""
    if kind not in ROTATABLE:
        raise KeyError_(f"only {', '.join(ROTATABLE)} keys rotate in place"
                        + (" (the index key needs a re-index)" if kind == "index" else ""))
    doc = read_document(path)
    listed = doc.setdefault(kind, [])
    now = _now()
    for entry in listed:
        entry["retired_at"] = entry.get("retired_at") or now
    listed.append(_entry())
    _replace(path, doc)
    forget()
    return doc


def add_authority(path: Path) -> dict[str, Any]:
    """Give the node in this key file a registry authority key (once)."""
    doc = read_document(path)
    if doc.get("authority"):
        raise KeyError_(f"key file {path} already holds an authority key")
    doc["authority"] = [_entry()]
    _replace(path, doc)
    forget()
    return doc
