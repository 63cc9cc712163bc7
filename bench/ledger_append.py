"""Ledger benchmark: durable appends per second (outbox -> Merkle log, one commit and one
signed checkpoint per batch) against pymerkle's SqliteTree with one commit per record, plus
inclusion proof generation and verification per second.

    .venv/bin/python bench/ledger_append.py [--n 50000] [--batch 2000] [--peer-n 3000]

Runs on SQLite (WAL, the node's default settings) and, when reachable, on the local
PostgreSQL (TONGBAN_BENCH_PG_URL, default postgresql+psycopg://postgres@127.0.0.1:5432/postgres).
Goal (issue 4): >= 16,000 appends/s and >= 10x the peer.
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, insert, text
from sqlalchemy.engine import make_url

from tongban.config import Settings
from tongban.db import Base, import_all_models, make_engine, make_sessionmaker, new_id, utcnow
from tongban.ledger import merkle, service
from tongban.node.keyring import keyring
from tongban.outbox.models import OutboxMessage
from tongban.sealed import seal_engine

PG_URL = os.environ.get("TONGBAN_BENCH_PG_URL",
                        "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def act(i: int) -> dict[str, Any]:
    """A decision record like the case engine writes (ids and codes, no personal data)."""
    return {"case": f"C-2026-{i:08d}", "decision": "approved", "item": "510100-000201",
            "dept": "11510100MB1234567X", "n": i}


def fill_outbox(engine: Engine, n: int) -> None:
    """Enqueue n ledger messages (set-up, not timed)."""
    now = utcnow()
    rows = [{"id": new_id(), "topic": service.TOPIC, "kind": "case.decided", "payload": act(i),
             "created_at": now, "attempts": 0} for i in range(n)]
    with engine.begin() as conn:
        for k in range(0, n, 10_000):
            conn.execute(insert(OutboxMessage), rows[k:k + 10_000])


def drain(engine: Engine, settings: Settings, batch: int) -> tuple[int, int, float, float]:
    """Append everything pending, one transaction (and checkpoint) per batch; returns
    (appended, checkpoints, wall seconds, this process's CPU seconds)."""
    factory = make_sessionmaker(engine)
    appended = checkpoints = 0
    started, cpu = time.perf_counter(), time.process_time()
    while True:
        with factory() as session:
            result = service.run_once(db_session=session, settings=settings, limit=batch)
            session.commit()
        appended += result.appended
        checkpoints += result.checkpoint is not None
        if result.appended == 0:
            return (appended, checkpoints, time.perf_counter() - started,
                    time.process_time() - cpu)


def proofs(engine: Engine, size: int, count: int) -> tuple[float, float]:
    """Inclusion proofs per second: generated from the database, and verified."""
    rng = random.Random(9162)
    factory = make_sessionmaker(engine)
    generated = []
    with factory() as session:
        started = time.perf_counter()
        for _ in range(count):
            generated.append(service.inclusion_proof(db_session=session,
                                                     index=rng.randrange(size), tree_size=size))
        gen_rate = count / (time.perf_counter() - started)
    import base64

    decoded = [(p.leaf_index, base64.b64decode(p.leaf_hash),
                [base64.b64decode(h) for h in p.audit_path], base64.b64decode(p.root_hash))
               for p in generated]
    started = time.perf_counter()
    for index, leaf, path, root in decoded:
        merkle.verify_inclusion(index, size, leaf, path, root)
    return gen_rate, count / (time.perf_counter() - started)


def bench_backend(label: str, engine: Engine, settings: Settings, n: int, batch: int,
                  proof_count: int) -> dict[str, float]:
    seal_engine(engine, keyring(settings))  # the outbox payloads are sealed
    import_all_models()
    Base.metadata.create_all(engine)
    fill_outbox(engine, n)
    appended, checkpoints, seconds, cpu = drain(engine, settings, batch)
    assert appended == n, (appended, n)
    started = time.perf_counter()
    with make_sessionmaker(engine)() as session:
        report = service.verify(db_session=session, settings=settings)
    assert report.ok, report.problem
    verify_rate = n / (time.perf_counter() - started)
    gen, ver = proofs(engine, n, proof_count)
    rate = n / seconds
    print(f"{label:<28} {n:>8} appends in {seconds:6.2f}s = {rate:>9,.0f}/s "
          f"({checkpoints} checkpoints; {n / cpu:,.0f} per CPU-second of this process); "
          f"inclusion proofs: {gen:,.0f}/s generated, {ver:,.0f}/s verified; "
          f"`ledger verify` re-derives {verify_rate:,.0f} entries/s")
    return {"rate": rate, "gen": gen, "ver": ver}


def bench_pymerkle(path: Path, n: int, *, wal: bool) -> tuple[float, float]:
    """pymerkle 7 SqliteTree: append_entry commits each record; then proofs from disk."""
    import rfc8785
    from pymerkle import SqliteTree

    records = [rfc8785.dumps(act(i)) for i in range(n)]
    tree = SqliteTree(str(path), algorithm="sha256")
    if wal:
        tree.con.execute("PRAGMA journal_mode=WAL")
        tree.con.execute("PRAGMA synchronous=NORMAL")
    started = time.perf_counter()
    for record in records:
        tree.append_entry(record)
    rate = n / (time.perf_counter() - started)
    rng = random.Random(9162)
    count = min(n, 300)
    started = time.perf_counter()
    for _ in range(count):
        tree.prove_inclusion(rng.randint(1, n), n)
    gen = count / (time.perf_counter() - started)
    tree.close()
    return rate, gen


def _pg_engine(name: str) -> tuple[Engine, Callable[[], None]] | None:
    try:
        admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # unreachable: skip this backend
        print(f"PostgreSQL unreachable ({type(exc).__name__}); skipped")
        return None
    engine = make_engine(make_url(PG_URL).set(database=name).render_as_string(False))

    def drop() -> None:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return engine, drop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000, help="entries to append")
    parser.add_argument("--batch", type=int, default=2_000, help="entries per commit")
    parser.add_argument("--peer-n", type=int, default=3_000, help="records for pymerkle")
    parser.add_argument("--proofs", type=int, default=2_000, help="inclusion proofs")
    parser.add_argument("--no-pg", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        settings = Settings(database_url="sqlite://", var_dir=root / "var")
        results = {}
        sqlite_engine = make_engine(f"sqlite:///{root / 'ledger.db'}", keys=keyring(settings))
        results["sqlite"] = bench_backend("tongban ledger, SQLite", sqlite_engine, settings,
                                          args.n, args.batch, args.proofs)
        sqlite_engine.dispose()
        # the node's pragmas are WAL + synchronous=NORMAL; FULL also fsyncs every commit
        full_engine = make_engine(f"sqlite:///{root / 'ledger-full.db'}",
                                  keys=keyring(settings))
        event.listen(full_engine, "connect",
                     lambda conn, _rec: conn.execute("PRAGMA synchronous=FULL"))
        results["sqlite, synchronous=FULL"] = bench_backend(
            "tongban ledger, SQLite FULL", full_engine, settings, args.n, args.batch,
            args.proofs)
        full_engine.dispose()
        if not args.no_pg:
            pg = _pg_engine(f"tongban_bench_{os.getpid()}")
            if pg is not None:
                engine, drop = pg
                try:
                    results["postgresql"] = bench_backend("tongban ledger, PostgreSQL", engine,
                                                          settings, args.n, args.batch,
                                                          args.proofs)
                finally:
                    drop()
        peer_rate, peer_gen = bench_pymerkle(root / "peer.db", args.peer_n, wal=False)
        print(f"{'pymerkle SqliteTree':<28} {args.peer_n:>8} appends, one commit each "
              f"= {peer_rate:>9,.0f}/s (its defaults: rollback journal, synchronous=FULL, "
              f"an fsync per record); inclusion proofs from disk: {peer_gen:,.0f}/s")
        wal_rate, _ = bench_pymerkle(root / "peer-wal.db", args.peer_n, wal=True)
        print(f"{'pymerkle SqliteTree (WAL)':<28} {args.peer_n:>8} appends, one commit each "
              f"= {wal_rate:>9,.0f}/s (WAL + synchronous=NORMAL, the node's pragmas: no "
              f"fsync per commit)")
        print(f"sqlite {sqlite3.sqlite_version}; {os.cpu_count()} CPUs; load average "
              f"{os.getloadavg()[0]:.1f} (figures are wall-clock, shared machine)")
        for backend, figures in results.items():
            print(f"ratio {backend} / pymerkle (defaults): {figures['rate'] / peer_rate:,.1f}x "
                  f"(vs pymerkle with WAL: {figures['rate'] / wal_rate:,.1f}x); "
                  f"goal >= 16,000/s: {'met' if figures['rate'] >= 16_000 else 'NOT met'}")


if __name__ == "__main__":
    main()
