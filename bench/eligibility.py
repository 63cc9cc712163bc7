"""Eligibility benchmark on PostgreSQL: a population screened by the vectorised rules,
beside the same rules as one plain SQL query (the limit) and a one-subject-at-a-time
loop (the naive peer), in the same run; and the single check over HTTP.

    .venv/bin/python bench/eligibility.py [--people 1000000] [--naive 200] [--http 300]

Loads N people over the 10 person registries the three person rule sets read
(household, residence, death, annual income, property, vehicles, civil assistance,
pension, medical insurance, housing fund) with COPY into tongban_bench_elig on
TONGBAN_BENCH_PG_URL (the local server by default): subject keys and sealed subjects
made as the node makes them, values drawn around the rules' thresholds. Then, for each
of 最低生活保障, 临时救助 and 住房保障:
- vectorised: `screening.screen` (grant checks, one COPY read per dataset, polars),
  timed without and with the access log of the eligible subjects;
- limit: `sqlform.query` run as one statement on the server (count of eligible; no
  rows to the client);
- naive peer: `service.check` per subject (purpose-bound read per registry, access
  log, ledger act), on a sample, extrapolated to N (labelled as such).
Single check over HTTP: uvicorn (1 worker) serving the app, sequential
POST /api/v1/eligibility/checks for random people; p50/p99, beside its floor (a
one-row GET of the same client and server, interleaved) and its limit (the same rules as
one SQL statement for one subject, in process).
Goals (issue 11): 1M people x 10 registries batch < 60 s; single check p99 < 50 ms.
"""

from __future__ import annotations

import argparse
import base64
import os
import random
import re
import statistics
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from serving import free_port, serve  # bench/, on the path when run as a script
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import make_url
from sqlalchemy.schema import CreateIndex

from tongban.catalog.models import Region
from tongban.config import Settings
from tongban.db import Base, import_all_models, make_engine, make_sessionmaker
from tongban.eligibility import screening, service, sqlform, vector
from tongban.eligibility.demo import seed_eligibility
from tongban.identity import crypto
from tongban.identity import service as identity
from tongban.identity.actor import SYSTEM_ACTOR
from tongban.identity.ids import make_resident_id
from tongban.node.keyring import keyring
from tongban.sharing import registries
from tongban.sharing.catalog_data import build_catalog
from tongban.sharing.demo import owner_departments
from tongban.sharing.models import Record

PG_URL = os.environ.get("TONGBAN_BENCH_PG_URL",
                        "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
DB_NAME = os.environ.get("TONGBAN_BENCH_ELIG_DB", "tongban_bench_elig")
PASSWORD = "Bench-Pass-42"
KEYS = {"data_key": base64.urlsafe_b64encode(b"d" * 32).decode(),
        "index_key": base64.urlsafe_b64encode(b"i" * 32).decode(),
        "csrf_key": base64.urlsafe_b64encode(b"c" * 32).decode(),
        "node_key": base64.urlsafe_b64encode(b"n" * 32).decode()}
PERSON_RULE_SETS = ("minimum_living", "temporary_assistance", "housing_security")
BATCH_GOAL_S, P99_GOAL_MS = 60.0, 50.0
AS_OF = datetime(2026, 11, 30, tzinfo=UTC)


def fresh_database() -> str:
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{DB_NAME}"'))
    admin.dispose()
    return make_url(PG_URL).set(database=DB_NAME).render_as_string(hide_password=False)


# Each dataset's records, generated on the server from the person's number i with the
# draws the rules' thresholds need (the same shares as the registries' demo mix):
# `u(i, salt)` is a uniform draw in [0, 1), `pick(i, salt, ARRAY[...])` one of a list.
# {rk:<value>} marks a record key, replaced by its keyed hash (made as the node makes it).
DRAWS = """
CREATE FUNCTION pg_temp.u(i int, salt text) RETURNS float8 IMMUTABLE LANGUAGE sql AS
  $$ SELECT ('x' || substr(md5(i::text || ':' || salt), 1, 8))::bit(32)::bigint
            / 4294967296.0 $$;
CREATE FUNCTION pg_temp.pick(i int, salt text, options text[]) RETURNS text IMMUTABLE
  LANGUAGE sql AS $$ SELECT options[1 + floor(pg_temp.u(i, salt)
                                               * cardinality(options))::int] $$;
"""
RECORDS: dict[str, str] = {
    "population.household": """SELECT p.i, '', jsonb_build_object('name', '人' || p.i,
        'household_region', pg_temp.pick(p.i, 'hh', '{510104,510107,320102,500103}'))
        FROM bench_people p""",
    "population.residence": """SELECT p.i, '', jsonb_build_object('residence_region',
        pg_temp.pick(p.i, 'rr', '{510104,500103}'), 'registered_on', '2024-01-01')
        FROM bench_people p WHERE pg_temp.u(p.i, 'res') < 0.2""",
    "population.death": """SELECT p.i, '', '{"died_on": "2026-01-01"}'::jsonb
        FROM bench_people p WHERE pg_temp.u(p.i, 'dead') < 0.01""",
    "income_tax.annual": """SELECT p.i, CASE y WHEN 2024 THEN '{rk:2024}' ELSE '{rk:2025}'
        END, jsonb_build_object('year', y, 'annual_income', pg_temp.pick(p.i, 'inc' || y,
        '{0,9600,12960,25920,48000,60000,126000,216000}'))
        FROM bench_people p CROSS JOIN (VALUES (2024), (2025)) AS t(y)
        WHERE pg_temp.u(p.i, 'has' || y) < 0.8""",
    "real_estate.property": """SELECT p.i, CASE j WHEN 0 THEN '{rk:c0}' ELSE '{rk:c1}' END,
        jsonb_build_object('use', pg_temp.pick(p.i, 'use' || j, '{住宅,住宅,商业}'))
        FROM bench_people p CROSS JOIN (VALUES (0), (1)) AS t(j)
        WHERE j < pg_temp.pick(p.i, 'homes', '{0,0,1,1,2}')::int""",
    "vehicle.registration": """SELECT p.i, '{rk:p}', jsonb_build_object('status',
        pg_temp.pick(p.i, 'vs', '{正常,注销}'))
        FROM bench_people p WHERE pg_temp.u(p.i, 'car') < 0.3""",
    "civil_assistance.recipient": """SELECT i, CASE kind WHEN '最低生活保障'
        THEN '{rk:最低生活保障}' ELSE '{rk:临时救助}' END, jsonb_build_object('status',
        pg_temp.pick(i, 'cs', '{在保,停保}'), 'assistance_type', kind)
        FROM (SELECT p.i, pg_temp.pick(p.i, 'ck', '{最低生活保障,临时救助}') AS kind
              FROM bench_people p WHERE pg_temp.u(p.i, 'civ') < 0.05) AS c""",
    "social_insurance.pension": """SELECT p.i, '', jsonb_build_object('status',
        pg_temp.pick(p.i, 'ps', '{正常参保,正常参保,暂停缴费,终止参保}'),
        'months_contributed', pg_temp.pick(p.i, 'pm', '{0,6,12,120}')::int)
        FROM bench_people p WHERE pg_temp.u(p.i, 'pen') < 0.8""",
    "social_insurance.medical": """SELECT p.i, '', jsonb_build_object('scheme',
        '城乡居民基本医疗保险', 'status', '正常', 'insured_region',
        pg_temp.pick(p.i, 'mr', '{510100,320100}'))
        FROM bench_people p WHERE pg_temp.u(p.i, 'med') < 0.7""",
    "housing_fund.deposit": """SELECT p.i, '', jsonb_build_object('status', '正常',
        'has_loan', pg_temp.u(p.i, 'loan') < 0.3)
        FROM bench_people p WHERE pg_temp.u(p.i, 'hf') < 0.5""",
}


def person_ids(people: int) -> list[str]:
    """The ID numbers of the population, the same every run."""
    return [make_resident_id("510104", date(1950, 1, 1) + timedelta(days=i // 999),
                             i % 999 + 1) for i in range(people)]


def _seed_node(engine: Any, settings: Settings) -> dict[str, str]:
    """The catalog, rule sets, grants and the bench account, through the services;
    the dataset ids by code."""
    session = make_sessionmaker(engine)()
    for code, name, level, parent in (("100000", "全国", 1, None),
                                      ("510000", "四川省", 2, "100000"),
                                      ("510100", "成都市", 3, "510000")):
        session.add(Region(code=code, name=name, level=level, parent_code=parent))
    session.flush()
    owners = owner_departments(session)
    registries.load_catalog(db_session=session, actor=SYSTEM_ACTOR, doc=build_catalog(owners))
    seed_eligibility(db_session=session, settings=settings)
    civil = owners["civil"]
    dept = session.scalar(text("SELECT id FROM catalog_departments WHERE credit_code = :c"
                               ).bindparams(c=civil))
    identity.create_account(db_session=session, actor=SYSTEM_ACTOR, username="bench.civil",
                            password=PASSWORD, display_name="民政核对员", roles=["reviewer"],
                            scopes=[("510100", dept)])
    dataset_ids = {d.code: str(d.id) for d in registries.list_datasets(db_session=session)}
    session.commit()
    session.close()
    return dataset_ids


def _record_keys(settings: Settings, code: str, sql: str) -> str:
    """The SQL with each {rk:value} replaced by that record key's keyed hash."""
    return re.sub(r"\{rk:([^}]+)\}", lambda m: registries.record_key_hash(
        settings=settings, dataset_code=code, value=m.group(1)), sql)


def load(url: str, settings: Settings, people: int) -> tuple[list[str], float]:
    """The catalog, rule sets and grants through the services; then the people: each
    one's subject key (HMAC) and sealed ID number (AES-GCM) made in Python as the node
    makes them and sent with COPY, and their records generated on the server, one
    INSERT ... SELECT per dataset (a registry's records arrive together, as an import
    writes them), the indexes built after. Returns the ID numbers and the load time."""
    import_all_models()
    engine = make_engine(url, keys=keyring(settings))
    Base.metadata.create_all(engine)
    dataset_ids = _seed_node(engine, settings)
    started = time.perf_counter()
    ids, ring = person_ids(people), keyring(settings)
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cur:  # type: ignore[attr-defined]
            cur.execute("CREATE TEMP TABLE bench_people (i int PRIMARY KEY, key text, "
                        "sealed bytea)")
            with cur.copy("COPY bench_people (i, key, sealed) FROM STDIN") as copy:
                for i, number in enumerate(ids):
                    copy.write_row((i, crypto.keyed_hash_with(ring, value=number),
                                    crypto.encrypt_with(ring, value=number,
                                                        column=registries.SUBJECT_COLUMN)))
            cur.execute(DRAWS)
            cur.execute("DROP INDEX ix_sharing_records_current, ix_sharing_records_subject")
            for code, sql in RECORDS.items():
                cur.execute(
                    "INSERT INTO sharing_records (id, dataset_id, subject_key, subject_enc, "
                    "subject_masked, record_key, values, digest, source, as_of, "
                    f"recorded_at) SELECT gen_random_uuid(), '{dataset_ids[code]}', p.key, "
                    f"p.sealed, '510104**********', r.rk, r.v, repeat('0', 64), 'bench', "
                    f"%(at)s, %(at)s FROM ({_record_keys(settings, code, sql)}) AS r(i, rk, v) "
                    "JOIN bench_people p ON p.i = r.i", {"at": AS_OF})
            for index in Record.__table__.indexes:
                cur.execute(str(CreateIndex(index).compile(dialect=postgresql.dialect())))
            cur.execute("ANALYZE sharing_records")
        raw.commit()
    finally:
        raw.close()
    engine.dispose()
    return ids, time.perf_counter() - started


class Clock:
    """Wall time, this process's CPU and the database backend's CPU (read from /proc:
    the server is local) of one phase. Parallel query workers are not counted."""

    def __init__(self, session: Any) -> None:
        self.pid = int(session.scalar(text("SELECT pg_backend_pid()")))

    def _backend_cpu(self) -> float:
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return float("nan")
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def __enter__(self) -> Clock:
        self.t, self.c, self.b = time.perf_counter(), time.process_time(), self._backend_cpu()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.wall = time.perf_counter() - self.t
        self.cpu = time.process_time() - self.c
        self.db_cpu = self._backend_cpu() - self.b

    def __str__(self) -> str:
        return (f"{self.wall:.2f} s (CPU: client {self.cpu:.2f} s, database "
                f"{self.db_cpu:.2f} s)")


def _sql_limit(session: Any, bound: Any) -> int:
    stmt = sqlform.query(db_session=session, rule_set=bound).subquery()
    return int(session.scalar(select(func.count()).select_from(stmt).where(stmt.c.eligible))
               or 0)


def batch(url: str, settings: Settings, ids: list[str], naive: int) -> dict[str, Any]:
    """The nightly screening of the three person rule sets (each registry read once for
    all of them), without and with the access log, beside the SQL limit and the naive
    peer."""
    engine = make_engine(url, keys=keyring(settings))
    maker = make_sessionmaker(engine)
    out: dict[str, Any] = {"rule_sets": []}
    with maker() as s:
        bound = {code: service.bound_rule_set(db_session=s, rule_set=service.current_rule_set(
            db_session=s, code=code)) for code in PERSON_RULE_SETS}
        with Clock(s) as read:
            frames = vector.read_datasets(db_session=s, wanted=vector.wanted_fields(
                list(bound.values())))
        eligible = {}
        with Clock(s) as evaluated:
            for code, b in bound.items():
                eligible[code] = int(vector.evaluate(b, frames)["eligible"].sum())
        out.update(read=read, eval=evaluated, datasets=len(frames),
                   population=frames["population.household"].height)
    del frames
    with maker() as s:
        counts = text("SELECT (SELECT count(*) FROM sharing_accesses), "
                      "(SELECT count(*) FROM sharing_bulk_subjects)")
        before = s.execute(counts).one()
        s.rollback()
        with Clock(s) as logged:
            done = screening.screen_many(db_session=s, settings=settings, actor=SYSTEM_ACTOR,
                                         codes=PERSON_RULE_SETS)
            s.commit()
        out["logged"] = logged
        after = s.execute(counts).one()
        out["access_rows"], out["bulk_subjects"] = (after[0] - before[0],
                                                    after[1] - before[1])
    for code in PERSON_RULE_SETS:
        screened = done[code]
        assert not isinstance(screened, service.Refused), screened
        assert len(screened.eligible_keys) == eligible[code], code
        with maker() as s, Clock(s) as limit:
            count = _sql_limit(s, bound[code])
        assert count == eligible[code], (code, count, eligible[code])
        sample = random.Random(5).sample(ids, min(naive, len(ids)))
        with maker() as s:
            t5 = time.perf_counter()
            for number in sample:
                service.check(db_session=s, settings=settings, actor=SYSTEM_ACTOR, code=code,
                              identifier=number)
            s.rollback()
            per_subject = (time.perf_counter() - t5) / len(sample)
        out["rule_sets"].append({
            "rule_set": code, "eligible": eligible[code], "datasets": len(bound[code].datasets),
            "limit": limit, "naive_per_subject_ms": per_subject * 1000,
            "naive_extrapolated_s": per_subject * out["population"]})
    engine.dispose()
    return out


def _percentiles(times: list[float]) -> dict[str, float]:
    times = sorted(times)
    return {"n": len(times), "p50_ms": statistics.median(times),
            "p99_ms": times[max(0, int(len(times) * 0.99) - 1)]}


def http_checks(url: str, ids: list[str], n: int) -> dict[str, dict[str, float]]:
    """The check over HTTP, interleaved with its floor on the same server: a request of
    the same client that reads one row (the rule set), so load from other processes
    weighs on both alike."""
    port = free_port()
    checks, floor = [], []
    with tempfile.TemporaryDirectory() as var:
        proc = serve(url, Path(var), port, keys=KEYS)
        try:
            base = f"http://127.0.0.1:{port}"
            with httpx.Client(base_url=base, timeout=30) as client:
                token = client.post("/api/v1/auth/login", json={
                    "username": "bench.civil", "password": PASSWORD}).json()["token"]
                headers = {"Authorization": f"Bearer {token}"}
                rng = random.Random(3)
                for i in range(n + 20):
                    # the two policies 民政 runs (住房保障 is the housing bureau's)
                    code = PERSON_RULE_SETS[i % 2]
                    body = {"rule_set": code, "subject": rng.choice(ids)}
                    t0 = time.perf_counter()
                    resp = client.post("/api/v1/eligibility/checks", json=body,
                                       headers=headers)
                    t1 = time.perf_counter()
                    assert resp.status_code == 200, resp.text
                    assert client.get(f"/api/v1/eligibility/rule-sets/{code}",
                                      headers=headers).status_code == 200
                    t2 = time.perf_counter()
                    if i >= 20:  # the first 20 warm the server
                        checks.append((t1 - t0) * 1000)
                        floor.append((t2 - t1) * 1000)
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    return {"check": _percentiles(checks), "floor": _percentiles(floor)}


def sql_single(url: str, settings: Settings, ids: list[str], n: int) -> dict[str, float]:
    """The limit of one check: the same rules as one SQL statement for one subject
    (`sqlform.query` with its key: no grant, no log, no HTTP), in process."""
    engine = make_engine(url, keys=keyring(settings))
    maker = make_sessionmaker(engine)
    rng = random.Random(3)
    times = []
    with maker() as s:
        bound = {code: service.bound_rule_set(db_session=s, rule_set=service.current_rule_set(
            db_session=s, code=code)) for code in PERSON_RULE_SETS[:2]}
        for i in range(n + 20):
            key = crypto.keyed_hash(settings=settings, value=rng.choice(ids),
                                    purpose="id_number")
            # built first (it looks up each dataset's id): the limit is the one statement
            stmt = sqlform.query(db_session=s, rule_set=bound[PERSON_RULE_SETS[i % 2]],
                                 keys=[key])
            t0 = time.perf_counter()
            s.execute(stmt).all()
            if i >= 20:
                times.append((time.perf_counter() - t0) * 1000)
    engine.dispose()
    return _percentiles(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--naive", type=int, default=200, help="naive-peer sample size")
    parser.add_argument("--http", type=int, default=300, help="HTTP single checks")
    parser.add_argument("--http-only", action="store_true",
                        help="only the single check, over the population a previous run "
                             "loaded (same --people)")
    parser.add_argument("--reuse", action="store_true",
                        help="the population a previous run loaded (same --people), not a "
                             "fresh one")
    args = parser.parse_args()
    if args.http_only:
        url = make_url(PG_URL).set(database=DB_NAME).render_as_string(hide_password=False)
        single_check(url, person_ids(args.people), args.http)
        return
    with tempfile.TemporaryDirectory() as var:
        if args.reuse:
            url = make_url(PG_URL).set(database=DB_NAME).render_as_string(hide_password=False)
            settings = Settings(database_url=url, var_dir=Path(var), **KEYS)
            ids = person_ids(args.people)
        else:
            url = fresh_database()
            settings = Settings(database_url=url, var_dir=Path(var), **KEYS)
            cpu = time.process_time()
            ids, load_s = load(url, settings, args.people)
            print(f"loaded {args.people:,} people over 10 registries in {load_s:.1f} s "
                  f"(client CPU {time.process_time() - cpu:.1f} s; {_load()})")
        results = batch(url, settings, ids, args.naive)
    report(args.people, args.naive, results)
    single_check(url, ids, args.http)


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


def report(people: int, naive: int, r: dict[str, Any]) -> None:
    """The batch figures, with the ratios to the limit and the naive peer."""
    limit = sum(x["limit"].wall for x in r["rule_sets"])
    limit_db = sum(x["limit"].db_cpu for x in r["rule_sets"])
    naive_s = sum(x["naive_extrapolated_s"] for x in r["rule_sets"])
    vec = r["read"].wall + r["eval"].wall
    print(f"\nPostgreSQL, {people:,} people, {r['datasets']} registries read once for the "
          f"three person rule sets; {_load()}")
    print(f"{'rule set':<22}{'eligible':>9}{'datasets':>9}{'SQL limit s':>12}"
          f"{'naive/subj ms':>14}{'naive (extrap.) s':>18}")
    for x in r["rule_sets"]:
        print(f"{x['rule_set']:<22}{x['eligible']:>9,}{x['datasets']:>9}"
              f"{x['limit'].wall:>12.2f}{x['naive_per_subject_ms']:>14.2f}"
              f"{x['naive_extrapolated_s']:>18,.0f}")
    print(f"read (COPY, one per registry): {r['read']}")
    print(f"evaluate (polars, three rule sets): {r['eval']}")
    print(f"nightly screening with the access log (screen_many: grants, read, evaluate, "
          f"{r['access_rows']:,} access rows naming {r['bulk_subjects']:,} subject keys + audit "
          f"+ ledger, committed): {r['logged']}")
    print(f"SQL limit (three statements, count only): {limit:.2f} s (database CPU "
          f"{limit_db:.2f} s, parallel workers not counted)")
    print(f"batch at {people:,}: with access log {r['logged'].wall:.1f} s (goal < "
          f"{BATCH_GOAL_S:.0f} s at 1M; / goal = {r['logged'].wall / BATCH_GOAL_S:.2f}); "
          f"vectorised without log {vec:.1f} s")
    print(f"ratios: screening with log / SQL limit = {r['logged'].wall / limit:.2f}; "
          f"vectorised / SQL limit = {vec / limit:.2f}; naive peer ({naive} per rule set, "
          f"extrapolated {naive_s:,.0f} s) / screening with log = "
          f"{naive_s / r['logged'].wall:,.0f}x")


def single_check(url: str, ids: list[str], n: int) -> None:
    """The single check over HTTP beside its floor and its limit, with the load."""
    if n:
        h = http_checks(url, ids, n)
        with tempfile.TemporaryDirectory() as var:
            limit = sql_single(url, Settings(database_url=url, var_dir=Path(var), **KEYS),
                               ids, n)
        c, f = h["check"], h["floor"]
        print(f"\nsingle check over HTTP (uvicorn 1 worker, sequential, {c['n']} checks, one "
              f"purpose-bound read of 7 registries each): p50 {c['p50_ms']:.1f} ms, "
              f"p99 {c['p99_ms']:.1f} ms (goal < {P99_GOAL_MS:.0f} ms); "
              f"p99 / goal = {c['p99_ms'] / P99_GOAL_MS:.2f}")
        print(f"  floor, same server, interleaved (GET one rule set): p50 {f['p50_ms']:.1f} ms, "
              f"p99 {f['p99_ms']:.1f} ms; check / floor: p50 {c['p50_ms'] / f['p50_ms']:.2f}, "
              f"p99 {c['p99_ms'] / f['p99_ms']:.2f}")
        print(f"  limit, the same rules as one SQL statement for one subject (in process, "
              f"no grant, no log): p50 {limit['p50_ms']:.1f} ms, p99 {limit['p99_ms']:.1f} ms; "
              f"check / limit: p50 {c['p50_ms'] / limit['p50_ms']:.2f}")
    print(_load())


if __name__ == "__main__":
    main()
