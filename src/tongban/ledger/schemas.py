"""API shapes of the transparency log. Hashes are standard base64, as in checkpoints."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict


class KeyOut(BaseModel):
    """The node's checkpoint-signing key, as a verifier configures it."""

    key_name: str
    key_id: str  # 8 hex digits
    algorithm: Literal["Ed25519"] = "Ed25519"
    public_key: str  # base64 of the raw 32 bytes
    verifier_key: str  # <name>+<hex id>+<base64(0x01 || key)>


class CheckpointOut(BaseModel):
    """A signed tree head: the C2SP note and its parsed fields."""

    origin: str
    tree_size: int
    root_hash: str
    note: str
    created_at: datetime
    key: KeyOut


class EntryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    index: int
    leaf_hash: str
    kind: str
    payload: dict[str, Any]
    source_id: uuid.UUID
    acted_at: datetime
    created_at: datetime


class EntriesOut(BaseModel):
    start: int
    end: int  # exclusive
    tree_size: int
    entries: list[EntryOut]


class InclusionProofOut(BaseModel):
    """RFC 9162 inclusion proof; `checkpoint` is the signed note when one has this size."""

    leaf_index: int
    tree_size: int
    leaf_hash: str
    root_hash: str
    audit_path: list[str]
    checkpoint: str | None = None


class ConsistencyProofOut(BaseModel):
    first: int
    second: int
    first_root: str
    second_root: str
    proof: list[str]


class Problem(BaseModel):
    """The first thing `verify` found that does not match."""

    kind: Literal["entry", "node", "checkpoint", "head"]
    index: int | None = None  # entry index (entry), first leaf covered (node)
    tree_size: int | None = None  # checkpoint size (checkpoint, head)
    message: str


class VerifyReport(BaseModel):
    ok: bool
    entries: int
    checkpoints: int
    tree_size: int
    root_hash: str
    problem: Problem | None = None


class RunResult(BaseModel):
    appended: int
    checkpoint: int | None  # size of the checkpoint signed in this run, if any
