"""Supervision metrics benchmark: a report over ten million cases on PostgreSQL, read from
the materialised monthly cells, beside the same question asked in plain SQL of the raw
case events (nothing materialised) in the same run. Goal (issue 12): the report < 1 s.

    .venv/bin/python bench/supervision_metrics.py [--cases 10000000] [--keep]

The rows are generated in the database (generate_series, INSERT ... SELECT, no ORM) into
TONGBAN_BENCH_PG_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/
tongban_bench_supb), which is dropped and made afresh unless --keep reuses it. Each case
has 3-5 events (submit, accept, sometimes a pause or an extension, a decision, sometimes a
window pickup) across 24 months, 31 provinces, 93 departments and 120 items.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import time
from typing import Any

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from tongban.cases.service import WORKER_ACTOR
from tongban.db import Base, import_all_models, make_engine, make_sessionmaker
from tongban.identity.crypto import Vault
from tongban.node.keyring import KeyRing
from tongban.sealed import seal
from tongban.supervision.metrics import facts, service
from tongban.supervision.metrics.definitions import CASE_COUNTERS, fact_rules

PG_URL = os.environ.get("TONGBAN_BENCH_PG_URL",
                        "postgresql+psycopg://postgres@127.0.0.1:5432/tongban_bench_supb")
GOAL_SECONDS = 1.0
WORK_MEM = "256MB"  # for the bulk steps: building keys, and the plain-SQL peer
PROVINCES = ["110000", "120000", "130000", "140000", "150000", "210000", "220000", "230000",
             "310000", "320000", "330000", "340000", "350000", "360000", "370000", "410000",
             "420000", "430000", "440000", "450000", "460000", "500000", "510000", "520000",
             "530000", "540000", "610000", "620000", "630000", "640000", "650000"]
FIRST, LAST = "2025-01", "2026-12"


def fresh_database(url: str) -> None:
    admin = create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    name = make_url(url).database
    assert name and name.startswith("tongban_bench_"), "only a tongban_bench_* database"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()


# One statement each; :n is the number of cases.
SEED_SQL = [
    # regions: the root, 31 provinces, one city each
    """INSERT INTO catalog_regions (code, name, level, parent_code) VALUES
       ('100000', '全国', 1, NULL)""",
    """INSERT INTO catalog_regions (code, name, level, parent_code)
       SELECT p, 'P' || p, 2, '100000' FROM unnest(CAST(:provinces AS text[])) AS p""",
    """INSERT INTO catalog_regions (code, name, level, parent_code)
       SELECT substr(p, 1, 2) || '0100', 'C' || p, 3, p
       FROM unnest(CAST(:provinces AS text[])) AS p""",
    # three departments per city
    """INSERT INTO catalog_departments (id, created_at, name, region_code, credit_code, kind,
                                        level)
       SELECT md5('dept' || r.code || k)::uuid, now(), '部门' || r.code || '-' || k, r.code,
              '11' || r.code || lpad(k::text, 9, '0') || 'X', '局', 3
       FROM catalog_regions r, generate_series(1, 3) k WHERE r.level = 3""",
    """INSERT INTO catalog_items (id, created_at, basic_code, name, item_type, use_levels,
                                  legal_basis, description, topics, name_pinyin,
                                  name_initials)
       SELECT md5('item' || i)::uuid, now(), lpad(i::text, 12, '0'), '事项' || i, '行政许可',
              '[3]', '', '', '[]', '', ''
       FROM generate_series(1, 120) i""",
    # each department implements 40 of the items (depth and visits vary by item)
    """INSERT INTO catalog_implementations (id, created_at, implementation_code, item_id,
                                            department_id, region_code,
                                            current_version_id)
       SELECT md5('impl' || d.id || i)::uuid, now(),
              substr(d.credit_code, 1, 18) || '3' || lpad(i::text, 12, '0'),
              md5('item' || i)::uuid, d.id, d.region_code, md5('ver' || d.id || i)::uuid
       FROM catalog_departments d,
            generate_series(1, 120) i
       WHERE i % 3 = (ascii(right(d.name, 1)) % 3)""",
    """INSERT INTO catalog_implementation_versions (id, created_at, implementation_id,
                                                    version, state, name, guide,
                                                    form_schema, legal_days, promised_days)
       SELECT md5('ver' || im.department_id || ltrim(right(im.implementation_code, 12), '0'))
              ::uuid, now(), im.id, 1, 'published', '事项',
              jsonb_build_object('online_depth', 2 + (hashtext(im.implementation_code) & 3) % 3,
                                 'visits', (hashtext(im.implementation_code) >> 4) & 1),
              '{}', 20, 10
       FROM catalog_implementations im""",
]

CASES_SQL = """
INSERT INTO cases (id, created_at, number, kind, workflow, implementation_version_id,
  implementation_code, item_code, item_name, department_id, region_code,
  receiving_region_code, applicant_name, channel, state, version, form_data,
  submitted_at, legal_days, promised_days, due_provisional, paused, paused_days_total,
  extension_days_total, warning_level, deemed_accepted, deficient_materials, last_event_seq)
SELECT md5('case' || g)::uuid, now(), 'B' || g, 'single',
  CASE WHEN g % 10 = 0 THEN 'immediate' ELSE 'promised' END,
  im.current_version_id, im.implementation_code, right(im.implementation_code, 12), '事项',
  im.department_id, im.region_code,
  CASE WHEN g % 25 = 0 THEN '110100' ELSE im.region_code END,
  '申请人', (ARRAY['online', 'window', 'mobile'])[1 + g % 3], 'approved', 1, '{}',
  timestamptz '2025-01-01 01:00+00' + (g % 720) * interval '1 day' + (g % 7) * interval '1 hour',
  20, CASE WHEN g % 10 = 0 THEN 0 ELSE 10 END, false, false, 0, 0, 'none', false, '[]',
  CASE WHEN g % 10 = 0 THEN 2 WHEN g % 7 = 0 THEN 6 WHEN g % 5 = 0 THEN 4 ELSE 3 END
FROM generate_series(1, :n) g
JOIN (SELECT row_number() OVER (ORDER BY implementation_code) - 1 AS k, *
      FROM catalog_implementations) im ON im.k = g % :impls
"""

# Events: submit; accept (+1 day); for 1 in 7 a pause of 3 working days; for 1 in 5 an
# extension; the decision 3-17 days after acceptance; immediate items decide at acceptance.
EVENTS_SQL = """
INSERT INTO case_events (case_id, seq, at, actor_name, actor_role, action, from_state,
                         to_state, data, facts)
SELECT c.id, e.seq, c.submitted_at + e.after, :actor, 'clerk', e.action, e.from_state,
       e.to_state, s.sealed, e.data - 'pause_kind'
FROM cases c
CROSS JOIN LATERAL (
  SELECT * FROM (VALUES
    (1, interval '0', 'submit', NULL, 'submitted',
     jsonb_build_object('channel', c.channel), true),
    (2, interval '1 day', 'accept', 'submitted',
     CASE WHEN c.workflow = 'immediate' THEN 'approved' ELSE 'accepted' END,
     '{}'::jsonb, true),
    (3, interval '3 days', 'start_special_procedure', 'accepted', 'paused',
     '{"pause_kind": "expert_review"}'::jsonb, c.last_event_seq = 6),
    (4, interval '7 days', 'end_special_procedure', 'paused', 'accepted',
     '{"paused_working_days": 3}'::jsonb, c.last_event_seq = 6),
    (CASE WHEN c.last_event_seq = 6 THEN 5 ELSE 3 END, interval '8 days', 'extend',
     'accepted', 'accepted', '{"days": 5}'::jsonb, c.last_event_seq IN (4, 6)),
    (c.last_event_seq, (CASE WHEN c.last_event_seq > 3 THEN 9 ELSE 2 END
                        + (hashtext(c.number) & 15)) * interval '1 day',
     CASE WHEN hashtext(c.number) & 31 = 0 THEN 'deny' ELSE 'approve' END, 'accepted',
     CASE WHEN hashtext(c.number) & 31 = 0 THEN 'denied' ELSE 'approved' END,
     '{}'::jsonb, c.workflow <> 'immediate')
  ) AS v(seq, after, action, from_state, to_state, data, present)
  WHERE present
) e
JOIN bench_sealed s ON s.plain = e.data
"""

# The few distinct event payloads above, each sealed once as the node seals case_events.data
# (the metrics read only the plain `facts`; a sealed column is stored, never read, here).
PAYLOADS = [{"channel": c} for c in ("online", "window", "mobile")] + [
    {}, {"pause_kind": "expert_review"}, {"paused_working_days": 3}, {"days": 5}]


def _seal_payloads(conn: Any) -> bytes:
    """A temp table of the sealed payloads; returns the sealed actor name."""
    vault = Vault(KeyRing(data=(secrets.token_bytes(32),), index=b"", csrf=(), node=(),
                          authority=None, source="bench"))
    conn.execute(text("CREATE TEMP TABLE bench_sealed (plain jsonb PRIMARY KEY, sealed bytea)"))
    conn.execute(text("INSERT INTO bench_sealed VALUES (CAST(:p AS jsonb), :s)"),
                 [{"p": json.dumps(p), "s": seal(vault, p, "case_events.data")}
                  for p in PAYLOADS])
    return seal(vault, "bench", "case_events.actor_name")


def load() -> str:
    """The 1, 5 and 15 minute load averages (the machine is shared: read figures with it)."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def timed(label: str, fn: Any) -> Any:
    started = time.perf_counter()
    result = fn()
    print(f"  {label}: {time.perf_counter() - started:.2f} s", flush=True)
    return result


LOADED = ("cases", "case_events")


def _strip_for_load(conn: Any) -> list[str]:
    """Drop every index and constraint of the loaded tables and make them UNLOGGED, as a
    bulk import would: a random-order UUID primary key maintained row by row is what made
    the 10M load take 23 minutes. Returns the DDL that puts the keys back after the load.

    Unique and primary keys come back as they were; the secondary indexes and the foreign
    keys do not (no query of the benchmark uses them, and permanent tables may not point
    at unlogged ones). UNLOGGED changes how rows are written, not how they are read."""
    restore = []
    tables = list(LOADED)
    for name, table, definition, kind in conn.execute(text(
            "SELECT c.conname, c.conrelid::regclass::text, pg_get_constraintdef(c.oid), "
            "c.contype FROM pg_constraint c WHERE c.contype IN ('f', 'p', 'u') AND "
            "(c.conrelid::regclass::text = ANY(:t) OR c.confrelid::regclass::text = ANY(:t)) "
            "ORDER BY c.contype = 'f' DESC"), {"t": tables}):
        conn.execute(text(f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"'))
        if kind in ("p", "u"):
            restore.append(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}')
    for table in tables:
        for (index,) in conn.execute(text(
                "SELECT indexname FROM pg_indexes WHERE tablename = :t"), {"t": table}):
            conn.execute(text(f'DROP INDEX "{index}"'))
        conn.execute(text(f'ALTER TABLE "{table}" SET UNLOGGED'))
    return restore


def generate(engine: Engine, n: int) -> None:
    """Catalog, cases and events, made in the database by INSERT ... SELECT."""
    import_all_models()
    Base.metadata.create_all(engine)
    with engine.begin() as conn:
        for sql in SEED_SQL:
            conn.execute(text(sql), {"provinces": PROVINCES})
        impls = conn.execute(text("SELECT count(*) FROM catalog_implementations")).scalar_one()
        restore = _strip_for_load(conn)
    with engine.begin() as conn:
        timed(f"{n:,} cases", lambda: conn.execute(text(CASES_SQL),
                                                   {"n": n, "impls": impls}))
        actor = _seal_payloads(conn)
        timed("their events", lambda: conn.execute(text(EVENTS_SQL), {"actor": actor}))
        conn.execute(text(f"SET maintenance_work_mem = '{WORK_MEM}'"))
        timed("primary and unique keys", lambda: [conn.execute(text(s)) for s in restore])
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        timed("vacuum analyze", lambda: conn.execute(text("VACUUM ANALYZE")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000_000)
    parser.add_argument("--keep", action="store_true", help="reuse the generated database")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"load average at the start: {load()}", flush=True)
    engine = make_engine(PG_URL)
    if not args.keep:
        fresh_database(PG_URL)
        engine = make_engine(PG_URL)
        print(f"generating into {make_url(PG_URL).database}:", flush=True)
        generate(engine, args.cases)
        factory = make_sessionmaker(engine)
        with factory() as session:
            session.execute(text(f"SET work_mem = '{WORK_MEM}'"))
            r = timed("facts and cells from the events (rebuild)",
                      lambda: service.refresh(db_session=session, rebuild=True))
            session.commit()
        print(f"  {r.facts:,} facts", flush=True)
    factory = make_sessionmaker(engine)
    with factory() as session:
        # The peer's fastest honest mode: memory for its hash aggregates and joins (the
        # server's 4 MB default sends them to disk). The cells need none of it.
        session.execute(text(f"SET work_mem = '{WORK_MEM}'"))
        events = session.execute(text("SELECT count(*) FROM case_events")).scalar_one()
        cells = session.execute(text("SELECT count(*) FROM supervision_metric_cells")
                                ).scalar_one()
        print(f"{events:,} events, {cells:,} cells", flush=True)
        query = service.MetricQuery(from_month=FIRST, to_month=LAST, by="month")
        best: dict[str, float] = {}
        for _ in range(args.repeat):
            for by in ("month", "province", "department", "item"):
                started = time.perf_counter()
                service.report(db_session=session, actor=WORKER_ACTOR, query=(
                    service.MetricQuery(from_month=FIRST, to_month=LAST, by=by)))
                best[by] = min(best.get(by, float("inf")), time.perf_counter() - started)
        best_raw = float("inf")
        for _ in range(max(1, args.repeat - 2)):
            started = time.perf_counter()
            raw = session.execute(facts.raw_by_month(fact_rules(), FIRST, LAST)).all()
            best_raw = min(best_raw, time.perf_counter() - started)
        counted = dict(service.counters(db_session=session, actor=WORKER_ACTOR, query=query))
        assert {r.month: {n: int(getattr(r, n)) for n in CASE_COUNTERS} for r in raw} \
            == {m: {n: sums[n] for n in CASE_COUNTERS} for m, sums in counted.items()}, \
            "the cells and the raw events disagree"
        by_month = service.report(db_session=session, actor=WORKER_ACTOR, query=query)
        on_time = next(v for v in by_month.total.values if v.definition.id == "on_time_rate")
        print(f"on-time rate over {on_time.denominator:,} decided cases: {on_time.value:.4f} "
              "(the same from the cells and from the raw events)")
        for by, seconds in best.items():
            print(f"report by {by} ({FIRST}..{LAST}, all ten metrics) from the cells: "
                  f"{seconds:.3f} s (goal < {GOAL_SECONDS} s: "
                  f"{'met' if seconds < GOAL_SECONDS else 'NOT met'})")
        print(f"the same counters by month, plain SQL over the raw events: {best_raw:.2f} s")
        print(f"ratio raw / cells (by month): {best_raw / best['month']:.0f}x")
    print(f"load average at the end: {load()}")


if __name__ == "__main__":
    main()
