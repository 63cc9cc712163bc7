"""The transparency log's tables: entries, stored tree nodes, signed checkpoints, the head.

Entries, nodes and checkpoints are append-only. The head row is the log's write lock and
a cache of its size and root; `verify` checks it like everything else.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Integer, LargeBinary, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tongban.db import Base, JsonType, utcnow

# A BIGINT that is SQLite's INTEGER (the rowid alias) there, so look-ups by index are fast.
Index64 = BigInteger().with_variant(Integer, "sqlite")


class LedgerEntry(Base):
    """One legal act, leaf `index` of the Merkle tree.

    The leaf hash covers the RFC 8785 canonical JSON of kind, act time, source message
    id and payload (see service.leaf_data), so editing any of them is detected.
    """

    __tablename__ = "ledger_entries"

    index: Mapped[int] = mapped_column(Index64, primary_key=True, autoincrement=False)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    # The leaf hash's first 4 bytes as a signed integer: what look-ups by hash search
    # (then compare the whole hash). Hashes are random, so every batch of appends writes
    # all over this index; 4-byte keys make it a quarter the size of an index on the
    # hashes themselves, and appends at 300k entries half as dear (bench/ledger_append.py).
    leaf_key: Mapped[int] = mapped_column(Integer, index=True)
    kind: Mapped[str] = mapped_column(String(60))
    payload: Mapped[dict[str, Any]] = mapped_column(JsonType)
    # The outbox message this entry came from: unique, so each act is logged once.
    source_id: Mapped[uuid.UUID] = mapped_column(unique=True)
    acted_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LedgerNode(Base):
    """An interior node of a complete subtree, kept at levels that are multiples of
    merkle.STRIDE so proofs need O(log n) reads instead of rehashing the log."""

    __tablename__ = "ledger_nodes"

    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class LedgerCheckpoint(Base):
    """A signed tree head: the C2SP checkpoint note signed by the node key."""

    __tablename__ = "ledger_checkpoints"

    tree_size: Mapped[int] = mapped_column(Index64, primary_key=True, autoincrement=False)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    note: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LedgerHead(Base):
    """The single row (id 1) that appenders lock; holds the current size and root."""

    __tablename__ = "ledger_head"

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    tree_size: Mapped[int] = mapped_column(BigInteger, default=0)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
