"""Jobs under claims: how fast N workers drain a backlog of outbox messages on PostgreSQL.

    .venv/bin/python bench/queue_claims.py [--backlogs 3000,30000] [--workers 1,4]
        [--database NAME] [--repeat 3] [--long-reader]

For each backlog size and worker count, a scratch database (tongban_bench_queue) holds
200,000 delivered messages of history and the backlog of pending ones; N worker
processes, started together at a barrier, drain it through the node's own claim path
(`outbox.claim_pending` with the worker's ClaimCursor, FOR UPDATE SKIP LOCKED batches of
100, then `mark_all_delivered`, one transaction a batch), and, in the same run, through the bare
peer: one `UPDATE … WHERE seq IN (SELECT … FOR UPDATE SKIP LOCKED LIMIT 100)` statement a
batch over raw psycopg with the same predicate (so over the same partial index), the
fastest honest form of the same claim. Every run checks that each message was delivered
exactly once (attempts = 1). Each case runs `--repeat` times (the median is kept) and
every worker is connected, its claim compiled, before the clock starts, as the peer's
is. Printed: messages per second, the ratio to the peer, and the ratio of throughput at
the largest backlog to the smallest (the goal: it does not fall as the backlog grows).
"""

from __future__ import annotations

import argparse
import base64
import multiprocessing as mp
import os
import statistics
import time
from typing import Any

import psycopg
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tongban.config import Settings
from tongban.db import make_engine, make_sessionmaker
from tongban.node.keyring import keyring
from tongban.outbox import service as outbox
from tongban.outbox.models import OutboxMessage
from tongban.sealed import seal, vault_of

PG_URL = os.environ.get("TONGBAN_BENCH_PG_URL",
                        "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
DB_NAME = "tongban_bench_queue"
HISTORY = 200_000
BATCH = 100
TOPIC = "bench"
# The bench node's keys: outbox payloads are sealed (tongban.sealed) with its data key.
_KEY = base64.urlsafe_b64encode(b"q" * 32).decode()
KEYS = keyring(Settings(data_key=_KEY, index_key=_KEY, csrf_key=_KEY, node_key=_KEY))


def scratch_url() -> str:
    return make_url(PG_URL).set(database=DB_NAME).render_as_string(hide_password=False)


def _use_database(name: str) -> None:
    """Run on the scratch database `name` (two runs on one server must not share one:
    each drops and refills it)."""
    global DB_NAME
    DB_NAME = name


def recreate() -> None:
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{DB_NAME}"'))
    admin.dispose()
    engine = make_engine(scratch_url())
    OutboxMessage.__table__.create(engine)  # type: ignore[attr-defined]
    engine.dispose()


def fill(backlog: int) -> None:
    """History (delivered) and the backlog (pending), inserted server-side."""
    engine = make_engine(scratch_url(), keys=KEYS)
    payload = seal(vault_of(engine), {"job": "bench"}, "outbox_messages.payload")
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE outbox_messages"))
        for delivered, count in ((True, HISTORY), (False, backlog)):
            conn.execute(text(
                "INSERT INTO outbox_messages (id, topic, kind, payload, created_at,"
                " delivered_at, attempts) SELECT gen_random_uuid(), :topic, 'bench.job',"
                " :payload, now(), CASE WHEN :done THEN now() END,"
                " CASE WHEN :done THEN 1 ELSE 0 END FROM generate_series(1, :n) g"),
                {"topic": TOPIC, "done": delivered, "n": count, "payload": payload})
    with engine.connect() as conn:
        conn.execute(text("ANALYZE outbox_messages"))
    engine.dispose()


def _ours(barrier: Any, done: Any) -> None:
    """A node worker's shared job: claim a batch (from its cursor), handle it, mark it,
    commit."""
    engine = make_engine(scratch_url(), pool_size=1, keys=KEYS)
    sessions = make_sessionmaker(engine)
    cursor = outbox.ClaimCursor()
    with sessions() as db_session:  # connected and the claim compiled before the clock
        outbox.claim_pending(db_session=db_session, topic=TOPIC, limit=1)  # (starts, as
        db_session.rollback()  # the peer's connection is): a warm-up, claiming nothing
    barrier.wait()
    handled = 0
    while True:
        with sessions() as db_session:
            batch = outbox.claim_pending(db_session=db_session, topic=TOPIC, limit=BATCH,
                                         cursor=cursor)
            if not batch:
                break
            outbox.mark_all_delivered(db_session=db_session, messages=batch)
            db_session.commit()
            handled += len(batch)
    engine.dispose()
    done.put(handled)


# The same claim predicate as the node's (pending = not delivered and not given up), so
# the peer walks the same partial index: without `failed_at IS NULL` it cannot use it and
# scans the delivered history on every claim (slower, and falling as the backlog grows).
PEER_CLAIM = (
    "UPDATE outbox_messages SET delivered_at = now(), attempts = attempts + 1"
    " WHERE seq IN (SELECT seq FROM outbox_messages WHERE topic = %s"
    " AND delivered_at IS NULL AND failed_at IS NULL"
    " AND (next_attempt_at IS NULL OR next_attempt_at <= now())"
    " ORDER BY seq LIMIT %s FOR UPDATE SKIP LOCKED) RETURNING seq")


def _peer(barrier: Any, done: Any) -> None:
    """The bare loop: one claiming UPDATE per batch over raw psycopg."""
    handled = 0
    with psycopg.connect(_dsn()) as conn:
        barrier.wait()
        while True:
            with conn.transaction():
                rows = conn.execute(PEER_CLAIM, (TOPIC, BATCH)).fetchall()
            if not rows:
                break
            handled += len(rows)
    done.put(handled)


def _dsn() -> str:
    return make_url(scratch_url()).set(drivername="postgresql").render_as_string(
        hide_password=False)


def drain(target: Any, workers: int, long_reader: bool = False) -> tuple[float, int]:
    """Seconds to drain the backlog with `workers` processes, and messages handled; with
    `long_reader`, a REPEATABLE READ transaction (a report, a pg_dump) stays open on the
    database meanwhile, so no delivered row's index entry can be marked dead: a claim
    that starts from the head of the topic visits every one of them again."""
    reader = psycopg.connect(_dsn()) if long_reader else None
    if reader is not None:
        reader.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        reader.execute("SELECT count(*) FROM outbox_messages WHERE seq < 0")
    try:
        return _drain(target, workers)
    finally:
        if reader is not None:
            reader.close()


def _drain(target: Any, workers: int) -> tuple[float, int]:
    ctx = mp.get_context("fork")
    barrier, done = ctx.Barrier(workers + 1), ctx.Queue()
    procs = [ctx.Process(target=target, args=(barrier, done)) for _ in range(workers)]
    for p in procs:
        p.start()
    barrier.wait()
    started = time.perf_counter()
    handled = sum(done.get() for _ in procs)
    elapsed = time.perf_counter() - started
    for p in procs:
        p.join()
    return elapsed, handled


def exactly_once(backlog: int) -> None:
    engine = make_engine(scratch_url())
    with engine.connect() as conn:
        left, twice = conn.execute(text(
            "SELECT count(*) FILTER (WHERE delivered_at IS NULL),"
            " count(*) FILTER (WHERE attempts <> 1) FROM outbox_messages")).one()
    engine.dispose()
    if left or twice:
        raise SystemExit(f"backlog {backlog}: {left} left undelivered, {twice} not once")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--backlogs", default="3000,30000")
    ap.add_argument("--workers", default="1,4")
    ap.add_argument("--database", default=DB_NAME, help="the scratch database's name")
    ap.add_argument("--repeat", type=int, default=3,
                    help="runs of each case; the median is kept (a drain of a small backlog "
                         "takes well under a second: one run on a shared machine is noise)")
    ap.add_argument("--long-reader", action="store_true",
                    help="keep a REPEATABLE READ transaction open during each drain")
    args = ap.parse_args()
    _use_database(args.database)
    backlogs = [int(b) for b in args.backlogs.split(",")]
    counts = [int(w) for w in args.workers.split(",")]
    recreate()
    rates: dict[tuple[str, int, int], float] = {}
    print(f"{'claim path':<10} {'backlog':>8} {'workers':>8} {'msg/s':>10}   (median of "
          f"{args.repeat})")
    for backlog in backlogs:
        for workers in counts:
            for name, target in (("tongban", _ours), ("bare", _peer)):
                runs = []
                for _ in range(args.repeat):
                    fill(backlog)
                    elapsed, handled = drain(target, workers, args.long_reader)
                    if handled != backlog:
                        raise SystemExit(f"{name}: handled {handled} of {backlog}")
                    exactly_once(backlog)
                    runs.append(backlog / elapsed)
                rates[(name, backlog, workers)] = statistics.median(runs)
                print(f"{name:<10} {backlog:>8} {workers:>8} "
                      f"{rates[(name, backlog, workers)]:>10.0f}   "
                      f"(runs: {', '.join(f'{r:.0f}' for r in runs)}; "
                      f"load {os.getloadavg()[0]:.1f})")
    print()
    big, small = max(backlogs), min(backlogs)
    for workers in counts:
        ours, peer = rates[("tongban", big, workers)], rates[("bare", big, workers)]
        print(f"{workers} worker(s), backlog {big}: tongban / bare SKIP LOCKED = "
              f"{ours / peer:.2f}")
        if big != small:
            keep = ours / rates[("tongban", small, workers)]
            print(f"{workers} worker(s): throughput at backlog {big} / at {small} = "
                  f"{keep:.2f} (goal: >= 0.9, it does not fall)")
    if len(counts) > 1:
        lo, hi = min(counts), max(counts)
        print(f"scaling {lo} -> {hi} workers at backlog {big}: "
              f"{rates[('tongban', big, hi)] / rates[('tongban', big, lo)]:.2f}x")


if __name__ == "__main__":
    main()
