"""The ledger over a real database: exactly-once from the outbox, signed checkpoints,
proofs from stored nodes, and `verify` naming the first thing tampered with."""

from __future__ import annotations

import base64
import hashlib
import json
import stat
import threading
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from tongban.config import Settings
from tongban.db import make_sessionmaker
from tongban.errors import Conflict, InvalidInput, NotFound
from tongban.ledger import merkle, note, service
from tongban.ledger.models import LedgerCheckpoint, LedgerEntry, LedgerNode
from tongban.node import keyring, keys
from tongban.outbox.models import OutboxMessage


def record(db_session: Session, count: int, start: int = 0) -> None:
    """`count` committed acts, as the case engine would write them."""
    for i in range(start, start + count):
        service.record_act(db_session=db_session, kind="case.decided",
                           payload={"case": f"C-{i:05d}", "decision": "approved", "n": i})
    db_session.commit()


def run(db_session: Session, settings: Settings, limit: int = 1000) -> int:
    result = service.run_once(db_session=db_session, settings=settings, limit=limit)
    db_session.commit()
    return result.appended


def execute(db_session: Session, sql: str, **params: object) -> None:
    db_session.execute(text(sql), params)
    db_session.commit()


# --- recording and appending -----------------------------------------------------------


def test_record_act_goes_through_the_outbox_with_its_cause(db_session: Session) -> None:
    message_id = service.record_act(db_session=db_session, kind="licence.issued",
                                    payload={"licence": "1.2.156.3005.2.x"})
    message = db_session.scalar(select(OutboxMessage).where(OutboxMessage.id == message_id))
    assert message is not None and message.topic == "ledger"
    assert message.payload == {"licence": "1.2.156.3005.2.x"}
    db_session.rollback()  # the cause rolled back: so does its ledger entry
    assert db_session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


@pytest.mark.parametrize(("kind", "payload"), [
    ("", {"a": 1}),
    ("Case Accepted", {"a": 1}),
    ("case.accepted", {"big": 2**60}),  # beyond I-JSON's safe integers: not canonical
    ("case.accepted", {"x": float("nan")}),
    ("case.accepted", ["not", "an", "object"]),
])
def test_record_act_refuses_what_cannot_be_logged(
    db_session: Session, kind: str, payload: object
) -> None:
    with pytest.raises(InvalidInput):
        service.record_act(db_session=db_session, kind=kind, payload=payload)  # type: ignore[arg-type]


def test_append_logs_each_act_once_in_outbox_order(db_session: Session,
                                                   settings: Settings) -> None:
    record(db_session, 25)
    assert run(db_session, settings, limit=10) == 10
    assert run(db_session, settings) == 15
    assert run(db_session, settings) == 0  # re-run: nothing twice
    rows = list(db_session.scalars(select(LedgerEntry).order_by(LedgerEntry.index)))
    assert [r.index for r in rows] == list(range(25))
    assert [r.payload["n"] for r in rows] == list(range(25))
    sources = {m.id for m in db_session.scalars(select(OutboxMessage))}
    assert {r.source_id for r in rows} == sources
    assert all(m.delivered_at is not None for m in db_session.scalars(select(OutboxMessage)))


def test_a_message_already_logged_is_skipped_not_logged_again(
    db_session: Session, settings: Settings
) -> None:
    record(db_session, 3)
    run(db_session, settings)
    # a crash between logging and marking (simulated): the message looks pending again
    execute(db_session, "UPDATE outbox_messages SET delivered_at = NULL")
    assert run(db_session, settings) == 0
    assert service.tree_size(db_session=db_session) == 3
    assert service.verify(db_session=db_session, settings=settings).ok


def test_appended_entries_are_stored_as_the_orm_stores_their_sources(
    db_session: Session, settings: Settings
) -> None:
    record(db_session, 3)
    run(db_session, settings)
    rows = db_session.execute(text(
        'SELECT e.acted_at, o.created_at, e.payload FROM ledger_entries e '
        'JOIN outbox_messages o ON o.id = e.source_id ORDER BY e."index"')).all()
    assert len(rows) == 3
    assert all(acted_at == created_at for acted_at, created_at, _ in rows)
    entry = db_session.get(LedgerEntry, 2)
    assert entry is not None and entry.payload == {"case": "C-00002", "decision": "approved",
                                                   "n": 2}


def test_concurrent_workers_log_every_act_exactly_once(
    db_session: Session, settings: Settings
) -> None:
    record(db_session, 120)
    factory = make_sessionmaker(db_session.get_bind())  # type: ignore[arg-type]
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            while True:
                with factory() as session:
                    appended = service.run_once(db_session=session, settings=settings,
                                                limit=7).appended
                    session.commit()
                if appended == 0:
                    return
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    db_session.expire_all()
    indexes = list(db_session.scalars(select(LedgerEntry.index).order_by(LedgerEntry.index)))
    assert indexes == list(range(120))
    assert db_session.scalar(select(func.count(func.distinct(LedgerEntry.source_id)))) == 120
    report = service.verify(db_session=db_session, settings=settings)
    assert report.ok, report.problem


# --- checkpoints ---------------------------------------------------------------------


def test_checkpoint_is_a_c2sp_note_signed_by_the_node_key(
    db_session: Session, settings: Settings
) -> None:
    record(db_session, 5)
    run(db_session, settings)
    row = service.latest_checkpoint(db_session=db_session)
    assert row is not None and row.tree_size == 5
    body, _, sig_line = row.note.rpartition("\n\n")
    body += "\n"
    origin, size, root_b64 = body.splitlines()
    assert origin == "tongban/510000/tongban" and size == "5"
    assert base64.b64decode(root_b64) == row.root_hash
    dash, name, sig_b64 = sig_line.rstrip("\n").split(" ")
    assert dash == "\u2014" and name == origin
    raw = base64.b64decode(sig_b64)
    # verify with `cryptography` from the key file on disk, independently of our note code
    public = _node_key_on_disk(settings).public_key().public_bytes_raw()
    assert raw[:4] == hashlib.sha256(name.encode() + b"\n\x01" + public).digest()[:4]
    Ed25519PublicKey.from_public_bytes(public).verify(raw[4:], body.encode())
    # the root is the RFC 6962 head of the five leaves
    assert row.root_hash == _root_of(db_session, 5)


def _root_of(db_session: Session, size: int) -> bytes:
    tree = merkle.MemoryTree()
    for entry in db_session.scalars(select(LedgerEntry).order_by(LedgerEntry.index).limit(size)):
        tree.append(service.leaf_data(kind=entry.kind, acted_at=entry.acted_at,
                                      source_id=entry.source_id, payload=entry.payload))
    return tree.reader.root(size)


def _node_key_on_disk(settings: Settings) -> Ed25519PrivateKey:
    """The node key as configured (the test settings give it), decoded here directly."""
    assert settings.node_key is not None
    raw = base64.urlsafe_b64decode(settings.node_key + "=" * (-len(settings.node_key) % 4))
    return Ed25519PrivateKey.from_private_bytes(raw)


def test_node_key_file_is_private_and_reused(settings: Settings) -> None:
    settings = settings.model_copy(update={"node_key": None, "csrf_key": None})
    first = keys.node_key(settings)
    path = Path(settings.var_dir) / keyring.DEV_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    keyring.forget()  # a restarted process reads the same key
    assert keys.node_key(settings).public_bytes == first.public_bytes
    name, key_id, _ = keys.parse_verifier_key(first.verifier_key)
    assert (name, key_id) == (first.name, first.key_id)


def test_no_checkpoint_when_the_tree_did_not_grow(db_session: Session,
                                                  settings: Settings) -> None:
    assert service.checkpoint(db_session=db_session, settings=settings) is None
    record(db_session, 2)
    run(db_session, settings)
    assert service.checkpoint(db_session=db_session, settings=settings) is None
    record(db_session, 1, start=2)
    run(db_session, settings)
    sizes = list(db_session.scalars(select(LedgerCheckpoint.tree_size)
                                    .order_by(LedgerCheckpoint.tree_size)))
    assert sizes == [2, 3]


def test_a_node_refuses_to_sign_over_a_corrupted_tree(db_session: Session,
                                                      settings: Settings) -> None:
    record(db_session, 20)
    service.append_pending(db_session=db_session, settings=settings)
    db_session.commit()
    execute(db_session, "UPDATE ledger_nodes SET hash = :h WHERE level = 4 AND idx = 0",
            h=b"\x00" * 32)
    with pytest.raises(Conflict):
        service.checkpoint(db_session=db_session, settings=settings)


# --- proofs from the stored tree ------------------------------------------------------------


def test_proofs_from_the_database_verify_against_the_signed_root(
    db_session: Session, settings: Settings
) -> None:
    record(db_session, 37)
    run(db_session, settings, limit=20)
    run(db_session, settings)
    cp = service.describe_checkpoint(db_session=db_session, settings=settings)
    root = base64.b64decode(cp.root_hash)
    for index in (0, 16, 31, 36):
        proof = service.inclusion_proof(db_session=db_session, index=index)
        assert proof.tree_size == 37 and proof.checkpoint == cp.note
        merkle.verify_inclusion(index, 37, base64.b64decode(proof.leaf_hash),
                                [base64.b64decode(h) for h in proof.audit_path], root)
    by_hash = service.inclusion_proof(db_session=db_session, leaf_hash=proof.leaf_hash)
    assert by_hash.leaf_index == 36
    cons = service.consistency_proof(db_session=db_session, first=20, second=37)
    merkle.verify_consistency(20, 37, base64.b64decode(cons.first_root), root,
                              [base64.b64decode(h) for h in cons.proof])
    first_cp = db_session.get(LedgerCheckpoint, 20)
    assert first_cp is not None and base64.b64decode(cons.first_root) == first_cp.root_hash


def test_proofs_beyond_the_tree_size_are_refused(db_session: Session,
                                                 settings: Settings) -> None:
    record(db_session, 4)
    run(db_session, settings)
    bad = [
        dict(index=4), dict(index=0, tree_size=5), dict(index=3, tree_size=3),
        dict(index=None, leaf_hash=None), dict(index=1, leaf_hash="00" * 32),
        dict(leaf_hash="not-a-hash"),
    ]
    for kwargs in bad:
        with pytest.raises(InvalidInput):
            service.inclusion_proof(db_session=db_session, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        service.inclusion_proof(db_session=db_session, leaf_hash="ab" * 32)
    for first, second in [(1, 5), (0, 4), (4, 3)]:
        with pytest.raises(InvalidInput):
            service.consistency_proof(db_session=db_session, first=first, second=second)
    with pytest.raises(InvalidInput):
        service.entries(db_session=db_session, start=5)
    with pytest.raises(InvalidInput):
        service.entries(db_session=db_session, start=0, end=service.MAX_PAGE + 1)


# --- tampering is detected and named ---------------------------------------------------------


@pytest.fixture
def logged(db_session: Session, settings: Settings) -> Session:
    """A log of 40 entries in three checkpoints (15, 30, 40)."""
    record(db_session, 15)
    run(db_session, settings)
    record(db_session, 15, start=15)
    run(db_session, settings)
    record(db_session, 10, start=30)
    run(db_session, settings)
    report = service.verify(db_session=db_session, settings=settings)
    assert report.ok and report.entries == 40 and report.checkpoints == 3
    return db_session


def _problem(db_session: Session, settings: Settings) -> tuple[str, int | None, int | None]:
    db_session.expire_all()
    report = service.verify(db_session=db_session, settings=settings)
    assert not report.ok and report.problem is not None
    return report.problem.kind, report.problem.index, report.problem.tree_size


def _json_param(db_session: Session) -> str:
    return "CAST(:p AS JSONB)" if db_session.get_bind().dialect.name == "postgresql" else ":p"


def test_editing_an_entry_payload_is_named(logged: Session, settings: Settings) -> None:
    execute(logged, f'UPDATE ledger_entries SET payload = {_json_param(logged)} '
                    'WHERE "index" = 22', p=json.dumps({"case": "C-00022",
                                                        "decision": "refused", "n": 22}))
    assert _problem(logged, settings) == ("entry", 22, None)


def test_editing_an_entry_kind_or_time_is_named(logged: Session, settings: Settings) -> None:
    execute(logged, "UPDATE ledger_entries SET kind = 'case.withdrawn' WHERE \"index\" = 31")
    assert _problem(logged, settings) == ("entry", 31, None)


def test_editing_a_leaf_hash_is_named(logged: Session, settings: Settings) -> None:
    execute(logged, 'UPDATE ledger_entries SET leaf_hash = :h WHERE "index" = 7', h=b"\x01" * 32)
    assert _problem(logged, settings) == ("entry", 7, None)


def test_editing_the_look_up_key_of_a_leaf_hash_is_named(logged: Session,
                                                         settings: Settings) -> None:
    execute(logged, 'UPDATE ledger_entries SET leaf_key = leaf_key + 1 WHERE "index" = 9')
    assert _problem(logged, settings) == ("entry", 9, None)


def test_the_first_of_several_edits_is_named(logged: Session, settings: Settings) -> None:
    for index in (33, 9, 18):
        execute(logged, f"UPDATE ledger_entries SET kind = 'x.y' WHERE \"index\" = {index}")
    assert _problem(logged, settings) == ("entry", 9, None)


def test_deleting_an_entry_is_named(logged: Session, settings: Settings) -> None:
    execute(logged, 'DELETE FROM ledger_entries WHERE "index" = 12')
    assert _problem(logged, settings) == ("entry", 12, None)


def _rewrite(db_session: Session, index: int) -> None:
    """An attacker with the database edits an entry AND recomputes its leaf hash (and
    the hash's look-up key)."""
    entry = db_session.get(LedgerEntry, index)
    assert entry is not None
    forged = dict(entry.payload, decision="refused")
    leaf = merkle.leaf_hash(service.leaf_data(kind=entry.kind, acted_at=entry.acted_at,
                                              source_id=entry.source_id, payload=forged))
    execute(db_session, f"UPDATE ledger_entries SET payload = {_json_param(db_session)}, "
                        'leaf_hash = :h, leaf_key = :k WHERE "index" = :i', p=json.dumps(forged),
            h=leaf, k=service.leaf_key(leaf), i=index)


@pytest.mark.parametrize(("index", "expected"), [
    (3, ("checkpoint", None, 15)),  # the first signed head over it no longer matches
    (15, ("node", 0, None)),  # the stored subtree over entries 0..15 no longer matches
    (35, ("checkpoint", None, 40)),
])
def test_an_entry_rewritten_with_a_matching_leaf_hash_is_still_caught(
    logged: Session, settings: Settings, index: int, expected: tuple[str, int, int]
) -> None:
    _rewrite(logged, index)
    assert _problem(logged, settings) == expected


def test_editing_a_stored_node_is_named(logged: Session, settings: Settings) -> None:
    execute(logged, "UPDATE ledger_nodes SET hash = :h WHERE level = 4 AND idx = 1",
            h=b"\x02" * 32)
    assert _problem(logged, settings) == ("node", 16, None)


@pytest.mark.parametrize("sql", [
    "UPDATE ledger_checkpoints SET root_hash = :h WHERE tree_size = 30",
    "UPDATE ledger_checkpoints SET note = REPLACE(note, '\n30\n', '\n31\n') WHERE tree_size = 30",
    "UPDATE ledger_checkpoints SET note = REPLACE(note, ' ', '  ') WHERE tree_size = 30",
])
def test_editing_a_checkpoint_is_named(logged: Session, settings: Settings, sql: str) -> None:
    params = {"h": b"\x03" * 32} if ":h" in sql else {}
    execute(logged, sql, **params)
    assert _problem(logged, settings) == ("checkpoint", None, 30)


def test_a_checkpoint_signed_by_another_key_is_named(logged: Session, settings: Settings) -> None:
    other = keys.NodeKey(name=keys.key_name(settings),
                         private_key=Ed25519PrivateKey.generate())
    row = logged.get(LedgerCheckpoint, 15)
    assert row is not None
    forged = note.sign_note(note.checkpoint_text(other.name, 15, row.root_hash), other)
    execute(logged, "UPDATE ledger_checkpoints SET note = :n WHERE tree_size = 15", n=forged)
    assert _problem(logged, settings) == ("checkpoint", None, 15)


def test_appending_continues_a_verified_log(logged: Session, settings: Settings) -> None:
    record(logged, 300, start=40)
    run(logged, settings, limit=123)
    run(logged, settings)
    report = service.verify(db_session=logged, settings=settings, chunk=50)
    assert report.ok, report.problem
    assert report.entries == 340
    assert logged.scalar(select(func.count()).select_from(LedgerNode)) == 340 // 16 + 1
