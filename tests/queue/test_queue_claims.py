"""Shared jobs split their rows: concurrent transactions claim different batches of the
outbox, and a claim dies with the transaction that held it."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tongban.db import make_sessionmaker
from tongban.outbox import service as outbox


def _queue(db_session: Session, n: int) -> None:
    for i in range(n):
        outbox.enqueue(db_session=db_session, topic="test", kind="k", payload={"i": i})
    db_session.commit()


def test_two_workers_claim_different_batches_of_one_topic(
    engine: Engine, db_session: Session
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer: there is no second concurrent claim")
    _queue(db_session, 10)
    factory = make_sessionmaker(engine)
    with factory() as first, factory() as second:
        a = outbox.claim_pending(db_session=first, topic="test", limit=4)
        b = outbox.claim_pending(db_session=second, topic="test", limit=100)
        assert len(a) == 4 and len(b) == 6
        assert not {m.seq for m in a} & {m.seq for m in b}
        assert [m.payload["i"] for m in a] == [0, 1, 2, 3]  # oldest first


def test_a_claim_ends_with_its_transaction(engine: Engine, db_session: Session) -> None:
    _queue(db_session, 3)
    factory = make_sessionmaker(engine)
    with factory() as crashed:
        assert len(outbox.claim_pending(db_session=crashed, topic="test")) == 3
        crashed.rollback()  # as when the worker's connection dies mid-batch
    with factory() as next_worker:
        claimed = outbox.claim_pending(db_session=next_worker, topic="test")
        assert [m.payload["i"] for m in claimed] == [0, 1, 2]


def test_a_batch_marked_delivered_in_one_statement_is_never_claimed_again(
    engine: Engine, db_session: Session
) -> None:
    _queue(db_session, 5)
    factory = make_sessionmaker(engine)
    with factory() as worker:
        batch = outbox.claim_pending(db_session=worker, topic="test", limit=3)
        outbox.mark_all_delivered(db_session=worker, messages=batch)
        assert {(m.attempts, m.delivered_at is not None) for m in batch} == {(1, True)}
        worker.commit()
    with factory() as later:
        rest = outbox.claim_pending(db_session=later, topic="test")
        assert [m.payload["i"] for m in rest] == [3, 4]
        assert len(outbox.pending(db_session=later, topic="test")) == 2  # only these


def test_a_cursor_claims_past_its_last_batch_then_wraps_to_rows_it_passed(
    engine: Engine, db_session: Session
) -> None:
    _queue(db_session, 7)
    factory = make_sessionmaker(engine)
    cursor = outbox.ClaimCursor()
    with factory() as worker:
        first = outbox.claim_pending(db_session=worker, topic="test", limit=3, cursor=cursor)
        assert [m.payload["i"] for m in first] == [0, 1, 2]
        assert cursor.after == first[-1].seq  # the next claim starts past them
        outbox.mark_all_delivered(db_session=worker, messages=first[:2])
        worker.commit()  # message 2 stays pending: handed back, say, after a failure
    with factory() as worker:
        second = outbox.claim_pending(db_session=worker, topic="test", limit=3, cursor=cursor)
        assert [m.payload["i"] for m in second] == [3, 4, 5]
        outbox.mark_all_delivered(db_session=worker, messages=second)
        worker.commit()
    with factory() as worker:
        # The tail (6) is short: the batch is filled from below the cursor (2), and the
        # cursor starts over from the beginning; nothing is ever claimed twice at once.
        third = outbox.claim_pending(db_session=worker, topic="test", limit=3, cursor=cursor)
        assert [m.payload["i"] for m in third] == [2, 6]
        assert cursor.after == 0
        outbox.mark_all_delivered(db_session=worker, messages=third)
        worker.commit()
    with factory() as worker:
        assert outbox.claim_pending(db_session=worker, topic="test", cursor=cursor) == []
        assert outbox.pending(db_session=worker, topic="test") == []


def test_a_cursor_skips_nothing_another_worker_still_holds(
    engine: Engine, db_session: Session
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer: there is no second concurrent claim")
    _queue(db_session, 6)
    factory = make_sessionmaker(engine)
    mine, theirs = outbox.ClaimCursor(), outbox.ClaimCursor()
    with factory() as a, factory() as b:
        held = outbox.claim_pending(db_session=a, topic="test", limit=2, cursor=theirs)
        got = outbox.claim_pending(db_session=b, topic="test", limit=2, cursor=mine)
        assert [m.payload["i"] for m in held] == [0, 1] and [m.payload["i"] for m in got] == [2, 3]
        outbox.mark_all_delivered(db_session=b, messages=got)
        b.commit()
        a.rollback()  # the other worker died: its rows are below my cursor, pending again
    with factory() as b:
        rest = outbox.claim_pending(db_session=b, topic="test", limit=10, cursor=mine)
        assert [m.payload["i"] for m in rest] == [0, 1, 4, 5]
