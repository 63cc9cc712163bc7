"""The transparency log: record acts, append them from the outbox, sign checkpoints,
serve proofs, and re-derive everything to detect tampering.

Every legal act (acceptance, decision, extension, licence issue or status change, data
access) is written with `record_act` in the transaction that performs it; the worker's
`run_once` appends it to the Merkle log exactly once and signs a checkpoint.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    Connection,
    Dialect,
    Table,
    Text,
    bindparam,
    cast,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from tongban.config import Settings
from tongban.db import utcnow
from tongban.errors import Conflict, InvalidInput, NotFound
from tongban.ledger import canonical, merkle, note
from tongban.ledger.models import LedgerCheckpoint, LedgerEntry, LedgerHead, LedgerNode
from tongban.ledger.schemas import (
    CheckpointOut,
    ConsistencyProofOut,
    EntriesOut,
    EntryOut,
    InclusionProofOut,
    KeyOut,
    Problem,
    RunResult,
    VerifyReport,
)
from tongban.node.keys import NodeKey, node_key, node_keys
from tongban.outbox import service as outbox
from tongban.outbox.models import OutboxMessage

TOPIC = "ledger"
MAX_PAGE = 1000
DEFAULT_BATCH = 1000
HEAD_ID = 1
_KIND = re.compile(r"^[a-z][a-z0-9_.-]{1,59}$")


def b64(value: bytes) -> str:
    """Standard base64, as C2SP checkpoints write hashes."""
    return base64.b64encode(value).decode()


# --- what a leaf is --------------------------------------------------------------------


def _canonical(value: Any, *, field: str) -> bytes:
    try:
        return canonical.dumps(value)
    except (canonical.CanonicalizationError, TypeError, ValueError) as exc:
        raise InvalidInput(
            "内容无法规范化为 JSON / the payload cannot be canonicalised (RFC 8785)",
            details={"field": field, "reason": str(exc)},
        ) from exc


def _rfc3339(moment: datetime) -> str:
    """UTC with microseconds and a Z, e.g. 2026-11-22T04:05:06.000789Z."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def _ascii_str(value: str) -> bytes:
    """A JSON string of characters that never need escaping (digits, hex, -:.TZ)."""
    return b'"' + value.encode("ascii") + b'"'


@lru_cache(maxsize=1024)
def _kind_json(kind: str) -> bytes:
    """A kind as RFC 8785 JSON (a few dozen kinds, each encoded once)."""
    return canonical.dumps(kind)


def _leaf_data_and_act(*, kind: str, acted_at: datetime, source_id: uuid.UUID,
                       payload: dict[str, Any]) -> tuple[bytes, bytes]:
    """leaf_data and, within it, the canonical payload (which append stores as is)."""
    act = _canonical(payload, field="payload")
    return b"".join((b'{"act":', act, b',"at":', _ascii_str(_rfc3339(acted_at)),
                     b',"id":', _ascii_str(str(source_id)),
                     b',"kind":', _kind_json(kind), b"}")), act


def leaf_data(*, kind: str, acted_at: datetime, source_id: uuid.UUID,
              payload: dict[str, Any]) -> bytes:
    """The bytes a leaf hashes: the RFC 8785 JSON of {"act", "at", "id", "kind"}, so any
    edit changes the hash. Written member by member (keys already in RFC 8785 order):
    this runs for every entry appended and verified."""
    return _leaf_data_and_act(kind=kind, acted_at=acted_at, source_id=source_id,
                              payload=payload)[0]


def leaf_key(leaf: bytes) -> int:
    """The index key of a leaf hash (LedgerEntry.leaf_key): its first 4 bytes, signed."""
    return int.from_bytes(leaf[:4], "big", signed=True)


def entry_leaf_hash(entry: LedgerEntry) -> bytes:
    """The leaf hash recomputed from a stored entry's content."""
    return merkle.leaf_hash(leaf_data(kind=entry.kind, acted_at=entry.acted_at,
                                      source_id=entry.source_id, payload=entry.payload))


def record_act(*, db_session: Session, kind: str, payload: dict[str, Any]) -> uuid.UUID:
    """Log a legal act in the caller's transaction, so the act and its entry commit
    together; the id of its outbox message (its ledger entry's source id).

    The log is public: the payload names ids and hashes, never personal data.
    """
    _check_act(kind, payload)
    return outbox.enqueue(db_session=db_session, topic=TOPIC, kind=kind, payload=payload)


def act_row(*, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    """The outbox row `record_act` writes, checked as it checks it, for a caller that
    writes it with the act in one statement (db.insert_together)."""
    _check_act(kind, payload)
    return outbox.message_row(topic=TOPIC, kind=kind, payload=payload)


def _check_act(kind: Any, payload: Any) -> None:
    """A kind like case.accepted and a payload that canonicalises (RFC 8785)."""
    if not isinstance(kind, str) or not _KIND.match(kind):
        raise InvalidInput("行为类型无效 / invalid act kind (e.g. case.accepted)",
                           details={"field": "kind", "value": kind})
    if not isinstance(payload, dict):
        raise InvalidInput("行为内容必须是对象 / the payload must be a JSON object",
                           details={"field": "payload"})
    _canonical(payload, field="payload")


# --- reading the stored tree -------------------------------------------------------------


_LEAVES = select(LedgerEntry.index, LedgerEntry.leaf_hash)
_LEAVES_IN = _LEAVES.where(LedgerEntry.index.in_(bindparam("ids", expanding=True)))
_LEAVES_SPAN = _LEAVES.where(LedgerEntry.index >= bindparam("lo"),
                             LedgerEntry.index < bindparam("hi"))
_NODES = select(LedgerNode.level, LedgerNode.idx, LedgerNode.hash)
_NODES_IN = _NODES.where(LedgerNode.level.in_(bindparam("levels", expanding=True)),
                         LedgerNode.idx.in_(bindparam("ids", expanding=True)))
_NODES_SPAN = _NODES.where(LedgerNode.level == bindparam("level"),
                           LedgerNode.idx >= bindparam("lo"), LedgerNode.idx < bindparam("hi"))
_IN_LIMIT = 256  # beyond this many ids, read covering spans instead of IN lists


def _fetch(db_session: Session,
           requests: Mapping[int, Sequence[tuple[int, int]]]) -> dict[merkle.Key, bytes]:
    """Stored hashes of the requested node ranges, in two cached statements when small
    (leaves; interior nodes of all levels) and one span read per level when large."""
    conn = db_session.connection()
    wanted = {level: sorted({j for a, b in spans for j in range(a, b)})
              for level, spans in requests.items()}
    wanted = {level: ids for level, ids in wanted.items() if ids}
    out: dict[merkle.Key, bytes] = {}
    leaves = wanted.pop(0, [])
    if leaves:
        rows = (conn.execute(_LEAVES_SPAN, {"lo": leaves[0], "hi": leaves[-1] + 1})
                if len(leaves) > _IN_LIMIT else conn.execute(_LEAVES_IN, {"ids": leaves}))
        out.update(((0, idx), bytes(digest)) for idx, digest in rows)
    small = {level: ids for level, ids in wanted.items() if len(ids) <= _IN_LIMIT}
    if small:
        ids = sorted({j for level_ids in small.values() for j in level_ids})
        for level, idx, digest in conn.execute(_NODES_IN, {"levels": sorted(small), "ids": ids}):
            out[(level, idx)] = bytes(digest)  # may over-read a few nodes: harmless
    for level, level_ids in wanted.items():
        if level not in small:
            params = {"level": level, "lo": level_ids[0], "hi": level_ids[-1] + 1}
            for _, idx, digest in conn.execute(_NODES_SPAN, params):
                out[(level, idx)] = bytes(digest)
    return out


def _reader(db_session: Session) -> merkle.TreeReader:
    return merkle.TreeReader(lambda requests: _fetch(db_session, requests))


def _insert_ignore(db_session: Session, values: dict[str, Any]) -> None:
    """INSERT … ON CONFLICT DO NOTHING, which both SQLite and PostgreSQL speak."""
    from sqlalchemy.dialects import sqlite

    if db_session.get_bind().dialect.name == "postgresql":
        db_session.execute(postgresql.insert(LedgerHead).values(**values)
                           .on_conflict_do_nothing())
    else:
        db_session.execute(sqlite.insert(LedgerHead).values(**values).on_conflict_do_nothing())


_LOCK_HEAD = (update(LedgerHead).where(LedgerHead.id == HEAD_ID)
              .values(updated_at=bindparam("now")))


def _lock_head(db_session: Session) -> LedgerHead:
    """Take the log's write lock (the head row) before reading anything of the tree, so
    concurrent appenders run one after the other and see each other's entries."""
    conn = db_session.connection()
    if conn.execute(_LOCK_HEAD, {"now": utcnow()}).rowcount == 0:
        _insert_ignore(db_session, {"id": HEAD_ID, "tree_size": 0,
                                    "root_hash": merkle.EMPTY_ROOT, "updated_at": utcnow()})
        conn.execute(_LOCK_HEAD, {"now": utcnow()})
    head = db_session.get(LedgerHead, HEAD_ID, populate_existing=True)
    assert head is not None
    return head


def tree_size(*, db_session: Session) -> int:
    """How many entries the log holds now."""
    size = db_session.scalar(select(LedgerHead.tree_size).where(LedgerHead.id == HEAD_ID))
    return int(size or 0)


# --- appending and checkpointing -------------------------------------------------------------


# Each pending message with the index of its entry if it was logged before (a re-run
# after a partial crash): one probe of the unique source_id index per message, in the
# same read.
_PENDING = (
    select(OutboxMessage.seq, OutboxMessage.id, OutboxMessage.kind, OutboxMessage.payload,
           OutboxMessage.created_at, LedgerEntry.index.label("logged"))
    .outerjoin(LedgerEntry, LedgerEntry.source_id == OutboxMessage.id)
    .where(OutboxMessage.topic == TOPIC, OutboxMessage.delivered_at.is_(None),
           or_(OutboxMessage.next_attempt_at.is_(None),
               OutboxMessage.next_attempt_at <= bindparam("now")))
    .order_by(OutboxMessage.seq)
    .limit(bindparam("limit"))
)


def _pending_acts(db_session: Session, limit: int) -> list[Any]:
    """Undelivered ledger messages in commit order, as plain rows.

    The ledger's narrow, bulk form of outbox.service.pending + mark_delivered: loading
    and flushing thousands of ORM objects per batch would cost more than the whole append.
    """
    return list(db_session.connection().execute(_PENDING, {"limit": limit, "now": utcnow()}))


def _mark_delivered(db_session: Session, seqs: list[int]) -> None:
    """Mark the batch delivered. The seqs (integers read from the database) are written
    into the statement: binding thousands of parameters cost more than the update."""
    listed = ",".join(str(int(seq)) for seq in seqs)
    stmt = (update(OutboxMessage).where(text(f"outbox_messages.seq IN ({listed})"))
            .values(delivered_at=bindparam("now"), attempts=OutboxMessage.attempts + 1))
    db_session.connection().execute(stmt, {"now": utcnow()})


class _EntryInsert:
    """INSERT of ledger entries as one driver-level executemany of prepared rows.

    The payload goes in as the canonical JSON text already made for the leaf hash (cast
    to JSONB on PostgreSQL) instead of being serialised again; the other values pass
    through the columns' own bind processors, so they are stored exactly as the ORM
    stores them. SQLAlchemy's per-row parameter handling cost more than the database's
    work on these rows."""

    COLUMNS = ("index", "leaf_hash", "leaf_key", "kind", "payload", "source_id",
               "acted_at", "created_at")

    def __init__(self, dialect: Dialect) -> None:
        table = LedgerEntry.__table__
        assert isinstance(table, Table)
        payload: Any = bindparam("payload", type_=Text())
        if dialect.name == "postgresql":
            payload = cast(payload, postgresql.JSONB)
        values = {name: (payload if name == "payload"
                         else bindparam(name, type_=table.c[name].type))
                  for name in self.COLUMNS}
        compiled = insert(table).values(values).compile(dialect=dialect)
        self.sql = str(compiled)
        self.order = tuple(compiled.positiontup or ()) if compiled.positional else None
        self.processors = {name: table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
                           for name in self.COLUMNS if name != "payload"}

    def processor(self, name: str) -> Callable[[Any], Any]:
        """The column's bind processor (identity when it has none)."""
        return self.processors.get(name) or _identity

    def run(self, conn: Connection, rows: list[tuple[Any, ...]]) -> None:
        """Insert rows given as tuples in COLUMNS order."""
        params: Any
        if self.order == self.COLUMNS:
            params = rows
        elif self.order is None:
            params = [dict(zip(self.COLUMNS, row, strict=True)) for row in rows]
        else:
            at = [self.COLUMNS.index(name) for name in self.order]
            params = [tuple(row[i] for i in at) for row in rows]
        conn.exec_driver_sql(self.sql, params)


def _identity(value: Any) -> Any:
    return value


@lru_cache(maxsize=4)
def _entry_insert(dialect: Dialect) -> _EntryInsert:
    return _EntryInsert(dialect)


def append_pending(*, db_session: Session, settings: Settings,
                   limit: int = DEFAULT_BATCH) -> int:
    """Append pending acts from the outbox in order, each exactly once; returns how many."""
    head = _lock_head(db_session)
    messages = _pending_acts(db_session, limit)
    if not messages:
        return 0
    conn = db_session.connection()
    frontier = merkle.Frontier.load(head.tree_size, _reader(db_session))
    writer = _entry_insert(conn.dialect)
    leaf_hash, as_bytes = merkle.leaf_hash, writer.processor("leaf_hash")
    as_id, as_time = writer.processor("source_id"), writer.processor("acted_at")
    now = writer.processor("created_at")(utcnow())
    entries: list[tuple[Any, ...]] = []
    nodes: list[dict[str, Any]] = []
    for message in messages:
        if message.logged is not None:  # logged before: skip, but mark it delivered
            continue
        data, act = _leaf_data_and_act(kind=message.kind, acted_at=message.created_at,
                                       source_id=message.id, payload=message.payload)
        leaf = leaf_hash(data)
        # in _EntryInsert.COLUMNS order
        entries.append((frontier.size, as_bytes(leaf), leaf_key(leaf), message.kind,
                        act.decode(), as_id(message.id), as_time(message.created_at), now))
        nodes.extend({"level": level, "idx": idx, "hash": digest}
                     for level, idx, digest in frontier.push(leaf))
    if entries:
        writer.run(conn, entries)
    if nodes:
        conn.execute(insert(LedgerNode), nodes)
    _mark_delivered(db_session, [m.seq for m in messages])
    head.tree_size, head.root_hash = frontier.size, frontier.root()
    db_session.flush()
    return len(entries)


def latest_checkpoint(*, db_session: Session) -> LedgerCheckpoint | None:
    """The newest signed tree head, if the log has signed one."""
    stmt = select(LedgerCheckpoint).order_by(LedgerCheckpoint.tree_size.desc()).limit(1)
    return db_session.scalars(stmt).first()


def entry_index_of(*, db_session: Session, source_id: uuid.UUID) -> int | None:
    """The index of the entry an act (its outbox message id) became, once appended."""
    return db_session.scalar(select(LedgerEntry.index)
                             .where(LedgerEntry.source_id == source_id))


def first_checkpoint_after(*, db_session: Session, index: int, not_before: datetime
                           ) -> LedgerCheckpoint | None:
    """The first checkpoint that includes entry `index` and was signed at `not_before` or
    later: a value nobody knew when that entry was written (random draws use it)."""
    stmt = (select(LedgerCheckpoint)
            .where(LedgerCheckpoint.tree_size > index,
                   LedgerCheckpoint.created_at >= not_before)
            .order_by(LedgerCheckpoint.tree_size).limit(1))
    return db_session.scalars(stmt).first()


def checkpoint(*, db_session: Session, settings: Settings) -> LedgerCheckpoint | None:
    """Sign a checkpoint of the current tree if it grew since the last one.

    The root is recomputed from stored nodes and proven consistent with the previous
    checkpoint first: a log must never sign two inconsistent heads.
    """
    head = _lock_head(db_session)
    previous = latest_checkpoint(db_session=db_session)
    if head.tree_size == 0 or (previous is not None and previous.tree_size >= head.tree_size):
        return None
    reader = _reader(db_session)
    root = reader.root(head.tree_size)
    if root != head.root_hash:
        raise Conflict("账本状态不一致 / the ledger's stored tree does not match its head; "
                       "run `tongban ledger verify`", details={"tree_size": head.tree_size})
    if previous is not None:
        try:
            merkle.verify_consistency(
                previous.tree_size, head.tree_size, previous.root_hash, root,
                reader.consistency_proof(previous.tree_size, head.tree_size))
        except merkle.ProofError as exc:
            raise Conflict("新树头与上一检查点不一致 / the tree is not consistent with the "
                           "last checkpoint", details={"tree_size": previous.tree_size}) from exc
    key = node_key(settings)
    signed = note.sign_note(note.checkpoint_text(key.name, head.tree_size, root), key)
    row = LedgerCheckpoint(tree_size=head.tree_size, root_hash=root, note=signed,
                           created_at=utcnow())
    db_session.add(row)
    db_session.flush()
    return row


def run_once(*, db_session: Session, settings: Settings,
             limit: int = DEFAULT_BATCH) -> RunResult:
    """One worker step: append a batch and sign a checkpoint over it, in one transaction."""
    appended = append_pending(db_session=db_session, settings=settings, limit=limit)
    signed = checkpoint(db_session=db_session, settings=settings)
    return RunResult(appended=appended, checkpoint=signed.tree_size if signed else None)


# --- reading for clients ------------------------------------------------------------------


def key_info(*, settings: Settings) -> KeyOut:
    """The node key that signs checkpoints, in the forms verifiers use."""
    key = node_key(settings)
    return KeyOut(key_name=key.name, key_id=key.key_id.hex(), public_key=b64(key.public_bytes),
                  verifier_key=key.verifier_key)


def describe_checkpoint(*, db_session: Session, settings: Settings) -> CheckpointOut:
    """The latest signed checkpoint with its parsed fields and the key that verifies it."""
    row = latest_checkpoint(db_session=db_session)
    if row is None:
        raise NotFound("账本尚无检查点 / the ledger has no checkpoint yet")
    text, _ = note.split_note(row.note)
    parsed = note.parse_checkpoint(text)
    return CheckpointOut(origin=parsed.origin, tree_size=parsed.tree_size,
                         root_hash=b64(parsed.root_hash), note=row.note,
                         created_at=row.created_at, key=key_info(settings=settings))


def _entry_out(entry: LedgerEntry) -> EntryOut:
    return EntryOut(index=entry.index, leaf_hash=b64(entry.leaf_hash), kind=entry.kind,
                    payload=entry.payload, source_id=entry.source_id,
                    acted_at=entry.acted_at, created_at=entry.created_at)


def _beyond(field: str, value: int, size: int) -> InvalidInput:
    return InvalidInput(f"超出账本规模 / {field} {value} is beyond the tree size {size}",
                        code="beyond_tree_size",
                        details={"field": field, "value": value, "tree_size": size})


def entries(*, db_session: Session, start: int, end: int | None = None) -> EntriesOut:
    """Entries start..end-1 (at most MAX_PAGE), for monitors that replay the log."""
    size = tree_size(db_session=db_session)
    end = min(start + MAX_PAGE, size) if end is None else end
    if start < 0 or end < start:
        raise InvalidInput("范围无效 / need 0 <= start <= end",
                           details={"field": "start", "start": start, "end": end})
    if end - start > MAX_PAGE:
        raise InvalidInput(f"一次最多 {MAX_PAGE} 条 / at most {MAX_PAGE} entries per page",
                           details={"field": "end", "max": MAX_PAGE})
    if start > size:
        raise _beyond("start", start, size)
    end = min(end, size)
    stmt = (select(LedgerEntry).where(LedgerEntry.index >= start, LedgerEntry.index < end)
            .order_by(LedgerEntry.index))
    rows = [_entry_out(e) for e in db_session.scalars(stmt)]
    return EntriesOut(start=start, end=end, tree_size=size, entries=rows)


def parse_hash(text: str, *, field: str) -> bytes:
    """A SHA-256 hash given as 64 hex digits or base64 (standard or URL-safe)."""
    value = text.strip().replace(" ", "+")
    try:
        raw = bytes.fromhex(value) if len(value) == 64 else base64.b64decode(
            value.replace("-", "+").replace("_", "/"), validate=True)
    except (ValueError, binascii.Error):
        raw = b""
    if len(raw) != merkle.HASH_SIZE:
        raise InvalidInput("哈希格式无效 / a hash is 64 hex digits or base64 of 32 bytes",
                           details={"field": field, "value": text})
    return raw


def _size_or_latest(db_session: Session, requested: int | None, field: str) -> int:
    """A tree size to prove against: the one asked for, else the latest checkpoint's."""
    size = tree_size(db_session=db_session)
    if requested is None:
        latest = latest_checkpoint(db_session=db_session)
        requested = latest.tree_size if latest is not None else size
    if requested < 1:
        raise InvalidInput("账本为空或规模无效 / the tree size must be at least 1",
                           details={"field": field, "value": requested, "tree_size": size})
    if requested > size:
        raise _beyond(field, requested, size)
    return requested


def _checkpoint_note(db_session: Session, size: int) -> str | None:
    row = db_session.get(LedgerCheckpoint, size)
    return row.note if row is not None else None


def inclusion_proof(*, db_session: Session, index: int | None = None,
                    leaf_hash: str | None = None,
                    tree_size: int | None = None) -> InclusionProofOut:
    """The audit path of one entry (by index or leaf hash) in the tree of `tree_size`."""
    if (index is None) == (leaf_hash is None):
        raise InvalidInput("请给出 index 或 leaf_hash 之一 / give exactly one of index, leaf_hash",
                           details={"field": "index"})
    size = _size_or_latest(db_session, tree_size, "tree_size")
    if leaf_hash is not None:
        wanted = parse_hash(leaf_hash, field="leaf_hash")
        index = db_session.scalar(select(LedgerEntry.index).where(
            LedgerEntry.leaf_key == leaf_key(wanted), LedgerEntry.leaf_hash == wanted)
            .order_by(LedgerEntry.index).limit(1))
        if index is None:
            raise NotFound("账本中没有该条目 / no entry has this leaf hash",
                           details={"field": "leaf_hash", "value": leaf_hash})
    assert index is not None
    if index < 0:
        raise InvalidInput("索引无效 / the index must be >= 0", details={"field": "index"})
    if index >= size:
        raise _beyond("index", index, size)
    # leaf, root and path in one batched read
    leaf, root, *path = _reader(db_session).ranges(
        [(index, index + 1), (0, size), *merkle.inclusion_ranges(index, size)])
    return InclusionProofOut(
        leaf_index=index, tree_size=size, leaf_hash=b64(leaf), root_hash=b64(root),
        audit_path=[b64(h) for h in path], checkpoint=_checkpoint_note(db_session, size))


def consistency_proof(*, db_session: Session, first: int,
                      second: int | None = None) -> ConsistencyProofOut:
    """The proof that the tree of `first` entries is a prefix of the tree of `second`."""
    second = _size_or_latest(db_session, second, "second")
    if first < 1 or first > second:
        raise InvalidInput("需要 1 <= first <= second / need 1 <= first <= second",
                           details={"field": "first", "first": first, "second": second})
    reader = _reader(db_session)
    return ConsistencyProofOut(
        first=first, second=second, first_root=b64(reader.root(first)),
        second_root=b64(reader.root(second)),
        proof=[b64(h) for h in reader.consistency_proof(first, second)])


# --- verification: re-derive everything from the stored entries ------------------------------


class _Verifier:
    """Streams the entries once, recomputing leaves, stored nodes and checkpoint roots."""

    def __init__(self, db_session: Session, keys: tuple[NodeKey, ...], chunk: int) -> None:
        self.db = db_session
        self.keys = keys  # the node's key in use, then retired ones (older checkpoints)
        self.key = keys[0]
        self.chunk = chunk
        self.frontier = merkle.Frontier()
        self.reader = _reader(db_session)
        self.checkpoints = list(db_session.scalars(
            select(LedgerCheckpoint).order_by(LedgerCheckpoint.tree_size)))
        self.next_cp = 0
        self.previous: LedgerCheckpoint | None = None

    def run(self) -> Problem | None:
        while True:
            stmt = (select(LedgerEntry).where(LedgerEntry.index >= self.frontier.size)
                    .order_by(LedgerEntry.index).limit(self.chunk))
            rows = list(self.db.scalars(stmt))
            if not rows:
                break
            problem = self._chunk(rows)
            for row in rows:
                self.db.expunge(row)
            if problem is not None:
                return problem
        if self.next_cp < len(self.checkpoints):
            cp = self.checkpoints[self.next_cp]
            return Problem(kind="checkpoint", tree_size=cp.tree_size,
                           message=f"checkpoint {cp.tree_size} claims more entries than the "
                                   f"{self.frontier.size} stored")
        return self._head()

    def _chunk(self, rows: list[LedgerEntry]) -> Problem | None:
        start, end = rows[0].index, rows[0].index + len(rows)
        stored = _fetch(self.db, {level: [(start >> level, (end >> level) + 1)]
                                     for level in range(merkle.STRIDE, end.bit_length() + 1,
                                                        merkle.STRIDE)})
        for entry in rows:
            index = self.frontier.size
            if entry.index != index:
                return Problem(kind="entry", index=index, message=f"entry {index} is missing")
            leaf = entry_leaf_hash(entry)
            if leaf != entry.leaf_hash:
                return Problem(kind="entry", index=index,
                               message=f"entry {index}: stored leaf hash does not match its "
                                       "content (kind, time, source or payload was edited)")
            if entry.leaf_key != leaf_key(leaf):
                return Problem(kind="entry", index=index,
                               message=f"entry {index}: its look-up key does not match its "
                                       "leaf hash (the index by hash was edited)")
            for level, idx, digest in self.frontier.push(leaf):
                if stored.get((level, idx)) != digest:
                    first = idx << level
                    return Problem(kind="node", index=first,
                                   message=f"stored node (level {level}, {idx}) over entries "
                                           f"{first}..{first + (1 << level) - 1} does not match")
            problem = self._checkpoints_at(self.frontier.size)
            if problem is not None:
                return problem
        return None

    def _checkpoints_at(self, size: int) -> Problem | None:
        while self.next_cp < len(self.checkpoints) and \
                self.checkpoints[self.next_cp].tree_size <= size:
            cp = self.checkpoints[self.next_cp]
            self.next_cp += 1
            reason = self._checkpoint_problem(cp, self.frontier.root())
            if reason is not None:
                since = self.previous.tree_size if self.previous is not None else 0
                return Problem(kind="checkpoint", tree_size=cp.tree_size,
                               message=f"checkpoint {cp.tree_size}: {reason} (entries "
                                       f"{since}..{cp.tree_size - 1} are suspect)")
            self.previous = cp
        return None

    def _checkpoint_problem(self, cp: LedgerCheckpoint, root: bytes) -> str | None:
        try:
            parsed = note.parse_checkpoint(self._open(cp.note))
        except note.NoteError as exc:
            return str(exc)
        checks = [
            (parsed.origin == self.key.name, "origin is not this log's"),
            (parsed.tree_size == cp.tree_size, "signed size differs from the stored size"),
            (parsed.root_hash == cp.root_hash, "signed root differs from the stored root"),
            (cp.root_hash == root, "root does not match the tree re-derived from the entries"),
        ]
        for ok, reason in checks:
            if not ok:
                return reason
        if self.previous is not None:
            try:
                merkle.verify_consistency(
                    self.previous.tree_size, cp.tree_size, self.previous.root_hash,
                    cp.root_hash, self.reader.consistency_proof(self.previous.tree_size,
                                                                cp.tree_size))
            except (merkle.ProofError, LookupError) as exc:
                return f"not consistent with checkpoint {self.previous.tree_size}: {exc}"
        return None

    def _open(self, signed: str) -> str:
        """The note's text, signed by any of the node's keys (a checkpoint signed before
        a rotation verifies under the retired key)."""
        errors: list[note.NoteError] = []
        for key in self.keys:
            try:
                return note.open_note(signed, key_name=key.name, key_id=key.key_id,
                                      public_key=key.private_key.public_key())
            except note.NoteError as exc:
                errors.append(exc)
        # A signature of one of our keys that fails says more than "no signature".
        raise next((e for e in errors if "does not verify" in str(e)), errors[0])

    def _head(self) -> Problem | None:
        head = self.db.get(LedgerHead, HEAD_ID)
        size, root = self.frontier.size, self.frontier.root()
        if head is None:
            return None if size == 0 else Problem(kind="head", tree_size=0,
                                                  message="the head row is missing")
        if head.tree_size != size or head.root_hash != root:
            return Problem(kind="head", tree_size=head.tree_size,
                           message=f"head says {head.tree_size} entries, the log re-derives "
                                   f"{size} with a different root")
        return None


def verify(*, db_session: Session, settings: Settings, chunk: int = 10_000) -> VerifyReport:
    """Re-derive the whole tree from stored entries and check every checkpoint against it,
    naming the first entry, node or checkpoint that does not match."""
    verifier = _Verifier(db_session, node_keys(settings), chunk)
    problem = verifier.run()
    return VerifyReport(ok=problem is None, entries=verifier.frontier.size,
                        checkpoints=verifier.next_cp, tree_size=verifier.frontier.size,
                        root_hash=b64(verifier.frontier.root()), problem=problem)
