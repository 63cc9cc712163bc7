"""C2SP signed notes (c2sp.org/signed-note) and tlog checkpoints (c2sp.org/tlog-checkpoint).

A checkpoint is the text "<origin>\\n<tree size>\\n<base64 root>\\n", a blank line, and
signature lines "— <key name> <base64(4-byte key id || Ed25519 signature)>\\n".
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from tongban.node.keys import NodeKey

DASH = "\u2014"
_SIZE = re.compile(r"^(0|[1-9][0-9]*)$")
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")


class NoteError(ValueError):
    """A note is malformed, or its signature does not verify."""


@dataclass(frozen=True)
class NoteSignature:
    key_name: str
    key_id: bytes
    signature: bytes


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    tree_size: int
    root_hash: bytes


def checkpoint_text(origin: str, tree_size: int, root_hash: bytes) -> str:
    """The note text of a checkpoint (no extension lines)."""
    return f"{origin}\n{tree_size}\n{base64.b64encode(root_hash).decode()}\n"


def sign_note(text: str, key: NodeKey) -> str:
    """The signed note: text, blank line, one signature line by `key`."""
    signature = key.sign(text.encode())
    encoded = base64.b64encode(key.key_id + signature).decode()
    return f"{text}\n{DASH} {key.name} {encoded}\n"


def split_note(note: str) -> tuple[str, list[NoteSignature]]:
    """(text, signatures) of a signed note; NoteError if it is not well formed."""
    if _CONTROL.search(note):
        raise NoteError("a note must not contain control characters other than newline")
    cut = note.rfind("\n\n")
    if cut < 0 or not note.endswith("\n"):
        raise NoteError("a signed note is text, a blank line and signature lines")
    text, sig_block = note[: cut + 1], note[cut + 2 :]
    signatures = []
    for line in sig_block[:-1].split("\n"):
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != DASH or not parts[1]:
            raise NoteError(f"malformed signature line: {line!r}")
        try:
            raw = base64.b64decode(parts[2], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise NoteError("a signature is not base64") from exc
        if len(raw) < 5:
            raise NoteError("a signature is too short")
        signatures.append(NoteSignature(parts[1], raw[:4], raw[4:]))
    if not signatures:
        raise NoteError("a signed note needs at least one signature")
    return text, signatures


def parse_checkpoint(text: str) -> Checkpoint:
    """The origin, size and root of a checkpoint's note text."""
    lines = text.split("\n")
    if len(lines) < 4 or lines[-1] != "" or any(not line for line in lines[:-1]):
        raise NoteError("a checkpoint has at least three non-empty lines")
    origin, size, root = lines[0], lines[1], lines[2]
    if not _SIZE.match(size):
        raise NoteError("the tree size is not a decimal without leading zeros")
    try:
        root_hash = base64.b64decode(root, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise NoteError("the root hash is not base64") from exc
    if len(root_hash) != 32:
        raise NoteError("the root hash is not 32 bytes")
    return Checkpoint(origin=origin, tree_size=int(size), root_hash=root_hash)


def open_note(
    note: str, *, key_name: str, key_id: bytes, public_key: Ed25519PublicKey
) -> str:
    """The text of a note signed by the given key; NoteError if that signature is absent
    or does not verify (signatures of other keys, e.g. witnesses, are ignored)."""
    text, signatures = split_note(note)
    mine = [s for s in signatures if s.key_name == key_name and s.key_id == key_id]
    if not mine:
        raise NoteError(f"the note carries no signature of {key_name}")
    for sig in mine:
        try:
            public_key.verify(sig.signature, text.encode())
        except InvalidSignature as exc:
            raise NoteError(f"the signature of {key_name} does not verify") from exc
    return text
