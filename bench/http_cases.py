"""HTTP benchmark of the cases API on PostgreSQL with a million cases loaded.

    .venv/bin/python bench/http_cases.py [--cases 1000000] [--reuse] [--duration 15]
        [--api-processes 1,2] [--lifecycle-only] [--database NAME] [--profile FILE]

Loads N realistic cases (and two events each) with COPY into a scratch database
(tongban_bench_http on TONGBAN_BENCH_PG_URL, default the local server; `--database`
names another), gives the applicant 张三 a 居民身份证 (imported under the police's
signature: 一证通办 attaches it to each application, so the clerk may accept), serves the
app with uvicorn (the in-process worker off) and measures, with wrk (Debian's) at 16
connections on loopback, each run after 3 s of the same load that is not counted:
- GET /api/v1/cases as a province supervisor: the first page and a keyset page from the
  middle of the data;
- GET /api/v1/cases/{number} for numbers drawn at random from the loaded cases;
- the full lifecycle (apply, accept, approve) in cases per second, with 1 and with 2 API
  processes (`--api-processes`; the scaling factor is printed): each wrk connection
  applies as the applicant, accepts as the window clerk and approves as the department's
  reviewer, in a loop.
Beside the lifecycle, in the same run, two floors (bench/floor_app.py, the same
uvicorn and FastAPI): the framework floor (one statement per request) and the statement
floor (the lifecycle's own paths, each request running tongban's count of reads, writes
and commits and nothing else): the most lifecycles/s that plan of statements allows
through this stack, whatever tongban's Python does.
It also prints the SQL statements and commits of each lifecycle request, counted in
process on every engine (the same app and database): what one request costs the
database, whatever the machine's load, and the CPU time the API processes and their
PostgreSQL backends spent per lifecycle (from /proc: on a shared machine the cost that
matters, where wall time depends on what else runs). `--profile` records the API
processes of the last lifecycle run with py-spy (speedscope format), sampling only the
thread that holds the GIL: where Python spends CPU, not where it waits.
Goals (issues 3 and 10): p99 < 100 ms for list and detail; >= 300 lifecycles/s on 2
cores. The machine is shared: compare runs of two versions back to back (e.g. main's
`src` on PYTHONPATH, then this one), not absolute numbers. `EXPLAIN ANALYZE` of the list
queries is printed with `--explain`.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from floor_app import CREATE_TABLE, FLOOR_TABLE  # bench/, on the path as a script
from serving import NODE_APP, serve
from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import make_url

from tongban.cases.access import visible_clause
from tongban.cases.models import Case, CaseEvent, event_facts
from tongban.cases.queries import encode_cursor
from tongban.catalog import service as catalog
from tongban.catalog.models import Department, Region
from tongban.catalog.schemas import DepartmentIn, ImplementationIn, ItemIn
from tongban.config import Settings
from tongban.db import Base, import_all_models, make_engine, make_sessionmaker
from tongban.identity import service as identity
from tongban.identity.actor import SYSTEM_ACTOR
from tongban.identity.ids import make_resident_id, make_uscc
from tongban.licences import service as licences
from tongban.licences.identifiers import make_identifier
from tongban.node.keyring import keyring
from tongban.sealed import seal, vault_of

PG_URL = os.environ.get("TONGBAN_BENCH_PG_URL",
                        "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
DB_NAME = "tongban_bench_http"
PASSWORD = "Bench-Pass-42"
KEYS = {"data_key": base64.urlsafe_b64encode(b"d" * 32).decode(),
        "index_key": base64.urlsafe_b64encode(b"i" * 32).decode()}
P99_GOAL_MS = 100.0
LIFECYCLE_GOAL = 300.0
REGIONS = [("100000", "全国", 1, None), ("510000", "四川省", 2, "100000"),
           ("510100", "成都市", 3, "510000"), ("510104", "锦江区", 4, "510100"),
           ("510107", "武侯区", 4, "510100"), ("110000", "北京市", 2, "100000"),
           ("110101", "东城区", 4, "110000")]
# key, department name, region, org body, basic code, item name
ITEMS = [("market", "成都市锦江区市场监督管理局", "510104", "MB300001", "000501004001",
          "个体工商户设立登记"),
         ("health", "成都市武侯区卫生健康局", "510107", "MB300002", "000601006000",
          "公共场所卫生许可"),
         ("police", "成都市公安局锦江区分局", "510104", "MB300003", "000302001000", "出生登记"),
         ("beijing", "北京市东城区市场监督管理局", "110101", "MB300004", "000501004002",
          "个体工商户变更登记")]
FORM = {"type": "object", "additionalProperties": False,
        "required": ["applicant_name", "phone"],
        "properties": {"applicant_name": {"type": "string", "minLength": 2, "maxLength": 30},
                       "phone": {"type": "string", "pattern": "^1[3-9][0-9]{9}$"},
                       "shop_name": {"type": "string", "maxLength": 50}}}
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英"
STATES = [("accepted", 0.25), ("approved", 0.35), ("delivered", 0.2), ("submitted", 0.08),
          ("pre_review", 0.05), ("denied", 0.03), ("withdrawn", 0.02), ("paused", 0.02)]


def _guide() -> dict[str, Any]:
    return {"item_kind": "promised", "applicant_types": ["person"], "materials": [
        {"code": "ID", "name": "居民身份证", "source": "licence", "licence_type": "居民身份证",
         "form": "electronic"}],
        "legal_days": 20, "promised_days": 10, "fees": [],
        "handling_forms": ["window", "online"], "online_depth": 4,
        "result": {"name": "结果", "kind": "document"}}


# ------------------------------------------------------------------------ set-up


def scratch_url(db_name: str = DB_NAME) -> str:
    return make_url(PG_URL).set(database=db_name).render_as_string(hide_password=False)


def recreate_database(db_name: str = DB_NAME) -> None:
    admin = create_engine(make_url(PG_URL).set(database="postgres"),
                          isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{db_name}"'))
    admin.dispose()


def seed_world(engine: Engine, settings: Settings) -> dict[str, Any]:
    """Regions, four departments with a published implementation each, and accounts."""
    factory = make_sessionmaker(engine)
    world: dict[str, Any] = {"impls": []}
    with factory() as s:
        for code, name, level, parent in REGIONS:
            s.add(Region(code=code, name=name, level=level, parent_code=parent))
            s.flush()
        for key, dept_name, region, body, basic, item in ITEMS:
            credit = make_uscc("1", "1", region, body)
            dept = catalog.create_department(db_session=s, actor=SYSTEM_ACTOR, data=DepartmentIn(
                name=dept_name, region_code=region, credit_code=credit, kind=key, level=4))
            catalog.create_item(db_session=s, actor=SYSTEM_ACTOR, data=ItemIn(
                basic_code=basic, name=item, item_type="行政许可", use_levels=[4]))
            v = catalog.create_draft(db_session=s, actor=SYSTEM_ACTOR, data=ImplementationIn(
                basic_code=basic, department_credit_code=credit, region_code=region, level=4,
                name=item, guide=_guide(), form_schema=FORM))
            catalog.publish(db_session=s, actor=SYSTEM_ACTOR,
                            implementation_code=v.implementation_code)
            world["impls"].append({"key": key, "code": v.implementation_code, "version": v.id,
                                   "basic": basic, "name": item, "region": region,
                                   "department": dept.id})
        market = world["impls"][0]
        person = identity.create_person(db_session=s, settings=settings, actor=SYSTEM_ACTOR,
                                        name="张三", id_number=make_resident_id(
                                            "510104", date(1990, 1, 1), 11))
        world["person"] = person.id
        for username, roles, scopes, owner in (
            ("applicant", ["applicant"], [], {"person_id": person.id}),
            ("clerk", ["clerk"], [("510100", None)], {}),
            ("reviewer", ["reviewer"], [("510104", market["department"])], {}),
            ("supervisor", ["supervisor"], [("510000", None)], {}),
        ):
            account = identity.create_account(db_session=s, actor=SYSTEM_ACTOR,
                                              username=username, password=PASSWORD,
                                              display_name=username, roles=roles,
                                              scopes=scopes, **owner)
            world[username] = account.id
        s.commit()
    return world


ID_CARD = "1110000000000006XJ001"  # 居民身份证 in the shipped 证照目录 (reference-only)


def ensure_id_card(engine: Engine, settings: Settings, world: dict[str, Any]) -> None:
    """张三 holds a valid 居民身份证 (imported under the police's signature, as an ID card
    issued outside tongban is): 一证通办 attaches it to every application, so the
    guide's required ID material is there when the clerk accepts."""
    factory = make_sessionmaker(engine)
    with factory() as s:
        licences.load_licence_types(db_session=s)
        if licences.find_valid_licence(db_session=s, holder_person_id=world["person"],
                                       licence_type_code=ID_CARD) is None:
            police = next(i for i in world["impls"] if i["key"] == "police")
            credit = s.get(Department, uuid.UUID(str(police["department"]))).credit_code
            licences.import_existing(
                db_session=s, settings=settings, licence_type_code=ID_CARD,
                identifier=str(make_identifier(type_code=ID_CARD, issuer_code=credit,
                                               serial="20200000001")),
                holder_person_id=world["person"], issuer_department_id=police["department"],
                issued_at=datetime(2020, 1, 1, tzinfo=UTC), valid_from=date(2020, 1, 1),
                actor=SYSTEM_ACTOR,
                fields={"name": "张三", "gender": "男", "ethnicity": "汉",
                        "birth_date": "1990-01-01", "address": "四川省成都市锦江区春熙路1号",
                        "issuing_authority": "成都市公安局锦江区分局"})
        s.commit()


def uuid7_at(ts: datetime, rng: random.Random) -> uuid.UUID:
    """A UUIDv7 for a given moment (ids sort like submission times, as in production)."""
    ms = int(ts.timestamp() * 1000)
    rand = rng.getrandbits(74)
    value = (ms << 80) | (0x7 << 76) | ((rand >> 62) << 64) | (0b10 << 62) | (rand & (2**62 - 1))
    return uuid.UUID(int=value)


def _row(i: int, rng: random.Random, world: dict[str, Any], start: datetime,
         seqs: dict[tuple[str, date], int]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    impl = world["impls"][3] if rng.random() < 0.1 else rng.choice(world["impls"][:3])
    submitted = start + timedelta(seconds=i * 60 + rng.randrange(60))
    day = (submitted + timedelta(hours=8)).date()
    key = (impl["region"], day)
    seqs[key] = seqs.get(key, 0) + 1
    state = rng.choices([s for s, _ in STATES], [w for _, w in STATES])[0]
    accepted = submitted + timedelta(hours=rng.randrange(1, 72)) \
        if state not in ("submitted", "pre_review", "withdrawn") else None
    decided = accepted + timedelta(days=rng.randrange(1, 12)) \
        if accepted and state in ("approved", "delivered", "denied") else None
    name = rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN)
    warning = "none"
    if state in ("accepted",) and rng.random() < 0.1:
        warning = rng.choice(["yellow", "red"])
    mine = rng.random() < 0.001
    row = {
        "id": uuid7_at(submitted, rng), "created_at": submitted,
        "number": f"{impl['region']}{day:%Y%m%d}{seqs[key]:06d}", "kind": "single",
        "workflow": "promised", "implementation_version_id": impl["version"],
        "implementation_code": impl["code"], "item_code": impl["basic"],
        "item_name": impl["name"], "department_id": impl["department"],
        "region_code": impl["region"], "receiving_region_code": impl["region"],
        "applicant_person_id": world["person"] if mine else None,
        "applicant_account_id": world["applicant"] if mine else None,
        "applicant_name": name, "channel": rng.choice(["online", "window", "mobile"]),
        "state": state, "version": 2 if accepted else 1,
        "form_data": {"applicant_name": name,
                      "phone": f"1{rng.randrange(3, 10)}{rng.randrange(10**9):09d}",
                      "shop_name": f"{name}小吃店"},  # sealed as the node seals it, below
        "submitted_at": submitted, "accepted_at": accepted, "decided_at": decided,
        "decision": "approved" if state in ("approved", "delivered") else
        ("denied" if state == "denied" else None),
        "legal_days": 20, "promised_days": 10,
        "legal_due_date": (accepted + timedelta(days=28)).date() if accepted else None,
        "promised_due_date": (accepted + timedelta(days=14)).date() if accepted else None,
        "due_provisional": False, "paused": state == "paused", "paused_days_total": 0,
        "extension_days_total": 0, "warning_level": warning, "deemed_accepted": False,
        "deficient_materials": "[]", "last_event_seq": 2 if accepted else 1,
    }
    events = [{"case_id": row["id"], "seq": 1, "at": submitted, "actor_name": name,
               "actor_role": "applicant", "action": "submit", "from_state": None,
               "to_state": "submitted", "data": {"channel": row["channel"]}}]
    if accepted:
        events.append({"case_id": row["id"], "seq": 2, "at": accepted, "actor_name": "综合窗口",
                       "actor_role": "clerk", "action": "accept", "from_state": "submitted",
                       "to_state": "accepted", "data": {}})
    return row, events


def _sealed_event(vault: Any, event: dict[str, Any]) -> dict[str, Any]:
    """An event row as the node stores it: name and data sealed, the metric facts plain."""
    return {**event, "facts": json.dumps(event_facts(event["data"])),
            "actor_name": seal(vault, event["actor_name"], "case_events.actor_name"),
            "data": seal(vault, event["data"], "case_events.data")}


def load_cases(engine: Engine, world: dict[str, Any], n: int) -> float:
    """COPY n cases and their events; returns seconds taken."""
    start = datetime(2026, 9, 1, tzinfo=UTC) - timedelta(minutes=n)
    case_cols = [c.name for c in Case.__table__.columns]
    event_cols = [c.name for c in CaseEvent.__table__.columns if c.name != "id"]
    vault = vault_of(engine)  # the node's keys (make_engine keys=)
    started = time.perf_counter()
    raw = engine.raw_connection()
    try:
        conn = raw.driver_connection
        assert conn is not None
        # Two passes over the same seeded rows: cases first, then their events.
        for table, cols in (("cases", case_cols), ("case_events", event_cols)):
            rng = random.Random(42)
            seqs: dict[tuple[str, date], int] = {}
            with conn.cursor() as cur, cur.copy(
                    f"COPY {table} ({', '.join(cols)}) FROM STDIN") as copy:
                for i in range(n):
                    row, events = _row(i, rng, world, start, seqs)
                    if table == "cases":
                        row["form_data"] = seal(vault, row["form_data"], "cases.form_data")
                        copy.write_row([row.get(c) for c in cols])
                    else:
                        for e in events:
                            sealed = _sealed_event(vault, e)
                            copy.write_row([sealed.get(c) for c in cols])
                    if i % 200_000 == 0 and i:
                        print(f"  {table}: {i:,} …", file=sys.stderr)
        conn.commit()
    finally:
        raw.close()
    with engine.begin() as c:
        c.execute(text("ANALYZE cases"))
        c.execute(text("ANALYZE case_events"))
    return time.perf_counter() - started


# ------------------------------------------------------------------------ serving and wrk


def login(base: str, username: str) -> str:
    resp = httpx.post(f"{base}/api/v1/auth/login",
                      json={"username": username, "password": PASSWORD})
    resp.raise_for_status()
    token: str = resp.json()["token"]
    return token


DETAIL_LUA = """
local numbers = {}
for line in io.lines(os.getenv("NUMBERS_FILE")) do numbers[#numbers + 1] = line end
math.randomseed(os.time())
request = function()
  local n = numbers[math.random(#numbers)]
  return wrk.format("GET", "/api/v1/cases/" .. n)
end
"""

LIFECYCLE_LUA = """
local headers = {["Content-Type"] = "application/json"}
local tokens = {os.getenv("APPLICANT_TOKEN"), os.getenv("CLERK_TOKEN"),
                os.getenv("REVIEWER_TOKEN")}
local apply_body = '{"implementation_code":"' .. os.getenv("IMPL_CODE") ..
  '","channel":"window","form_data":{"applicant_name":"张三","phone":"13800138000"}}'
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) step = 0; number = nil; completed = 0; failed = 0 end
request = function()
  headers["Authorization"] = "Bearer " .. tokens[step + 1]
  if step == 0 then return wrk.format("POST", "/api/v1/cases", headers, apply_body) end
  local action = step == 1 and "accept" or "approve"
  return wrk.format("POST", "/api/v1/cases/" .. number .. "/actions/" .. action, headers, "{}")
end
response = function(status, hdrs, body)
  if step == 0 and status == 201 then
    number = string.match(body, '"number":"(%d+)"'); step = 1
  elseif step == 1 and status == 200 then step = 2
  elseif step == 2 and status == 200 then completed = completed + 1; step = 0
  else
    failed = failed + 1; step = 0
    if os.getenv("SHOW_FAILURES") then io.write(status, " ", string.sub(body, 1, 300), "\\n") end
  end
end
function done(summary, latency, requests)
  local c, f = 0, 0
  for _, t in ipairs(threads) do c = c + t:get("completed"); f = f + t:get("failed") end
  io.write(string.format("LIFECYCLES %d FAILED %d SECONDS %.3f\\n", c, f,
                         summary.duration / 1e6))
end
"""


WARMUP_SECONDS = 3
FLOOR_APP = ("floor_app:app", "--app-dir", str(Path(__file__).parent))


def wrk(url: str, *, token: str | None, duration: int, connections: int = 16,
        threads: int = 4, script: Path | None = None,
        env: dict[str, str] | None = None,
        on_measure: Callable[[], None] | None = None) -> dict[str, Any]:
    """One measured wrk run, after WARMUP_SECONDS of the same load that are not counted
    (the servers' pooled connections opened, their statements prepared: steady state);
    `on_measure` is called between the two (to start counting CPU time)."""
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", "--latency", "--timeout", "10s"]
    if token:
        cmd += ["-H", f"Authorization: Bearer {token}"]
    if script:
        cmd += ["-s", str(script)]
    run_env = {**os.environ, **(env or {})}
    subprocess.run([*cmd, f"-d{WARMUP_SECONDS}s", url], capture_output=True, check=True,
                   env=run_env)
    if on_measure is not None:
        on_measure()
    out = subprocess.run([*cmd, f"-d{duration}s", url], capture_output=True, text=True,
                         check=True, env=run_env).stdout
    return {"raw": out, "p50": _pct(out, "50%"), "p99": _pct(out, "99%"),
            "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
            "non2xx": int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)",
                                                           out)) else 0}


def _pct(out: str, label: str) -> float:
    m = re.search(rf"^\s+{re.escape(label)}\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    if m is None:
        return float("nan")
    value, unit = float(m.group(1)), m.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


# ------------------------------------------------------------------------ EXPLAIN


def explain_list(engine: Engine, world: dict[str, Any], cursor_id: uuid.UUID) -> list[str]:
    """EXPLAIN ANALYZE of the list query as the supervisor sees it (first and keyset page)."""
    factory = make_sessionmaker(engine)
    out = []
    with factory() as s:
        account = identity.get_account(db_session=s, account_id=world["supervisor"])
        actor = identity.actor_from_account(account)
        base = select(Case).where(visible_clause(actor))
        for label, stmt in (("first page", base),
                            ("keyset page", base.where(Case.id < cursor_id))):
            sql = stmt.order_by(Case.id.desc()).limit(51).compile(
                dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True})
            plan = s.execute(text(f"EXPLAIN (ANALYZE, BUFFERS) {sql}".replace("%%", "%"))
                             ).scalars().all()
            out.append(f"{label}:\n    " + "\n    ".join(plan))
    return out


# ------------------------------------------------------------------------ main


def _ratio_line(name: str, value: float, goal: float, lower_is_better: bool,
                unit: str) -> str:
    ratio = goal / value if lower_is_better else value / goal
    met = ratio >= 1
    sign = "<" if lower_is_better else ">="
    return (f"  {name:<34} {value:9.1f} {unit:<5} goal {sign} {goal:g} {unit}: "
            f"{'met' if met else 'NOT met'} (x{ratio:.2f} of the goal)")


def statements_per_request(settings: Settings, tokens: dict[str, str],
                           impl_code: str) -> dict[str, tuple[int, int, int]]:
    """SQL statements, commits and reads (SELECTs) of each lifecycle request, counted in
    process (the same app, database and tokens as the served one): what one request costs
    the database."""
    from fastapi.testclient import TestClient
    from sqlalchemy import event

    from tongban.app import create_app

    app = create_app(settings)
    engine = app.state.engine
    counts = {"statements": 0, "commits": 0, "reads": 0}

    show = os.environ.get("TONGBAN_BENCH_SHOW_SQL") == "1"

    def on_execute(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        counts["statements"] += 1
        counts["reads"] += statement.lstrip().upper().startswith("SELECT")
        if show:  # what each request runs, to see which statements a change saves
            print("   ", " ".join(statement.split())[:160])

    def on_commit(*_: Any) -> None:
        counts["commits"] += 1

    # Every engine (case numbers are allocated on a small pool of their own).
    event.listen(Engine, "before_cursor_execute", on_execute)
    event.listen(Engine, "commit", on_commit)
    found: dict[str, tuple[int, int, int]] = {}
    with TestClient(app) as client:
        def call(label: str, user: str, path: str, body: dict[str, Any]) -> Any:
            if show:
                print(f"  {label}:")
            counts.update(statements=0, commits=0, reads=0)
            resp = client.post(path, json=body,
                               headers={"Authorization": f"Bearer {tokens[user]}"})
            resp.raise_for_status()
            found[label] = (counts["statements"], counts["commits"], counts["reads"])
            return resp.json()

        for _ in range(2):  # the second lifecycle is counted: caches warm, as when serving
            number = call("apply", "applicant", "/api/v1/cases", {
                "implementation_code": impl_code, "channel": "window",
                "form_data": {"applicant_name": "张三", "phone": "13800138000"}})["number"]
            call("accept", "clerk", f"/api/v1/cases/{number}/actions/accept", {})
            call("approve", "reviewer", f"/api/v1/cases/{number}/actions/approve", {})
    event.remove(Engine, "before_cursor_execute", on_execute)
    event.remove(Engine, "commit", on_commit)
    engine.dispose()
    return found


def _py_spy() -> str | None:
    """py-spy on PATH or beside this interpreter (a virtualenv's bin)."""
    return shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))


_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pids: list[int]) -> dict[int, float]:
    """User + system CPU seconds of each live process in `pids` (from /proc)."""
    found = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        found[pid] = (int(fields[11]) + int(fields[12])) / _TICK
    return found


def _descendants(pid: int) -> list[int]:
    """`pid` and every process under it (uvicorn's workers)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        out.append(todo.pop())
        todo.extend(parents.get(out[-1], []))
    return out


def _backends(url: str) -> list[int]:
    """The PostgreSQL backends connected to the bench database (the API's pools)."""
    engine = create_engine(url)
    with engine.connect() as c:
        pids = c.scalars(text(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND backend_type = 'client backend' AND pid <> pg_backend_pid()")).all()
    engine.dispose()
    return list(pids)


class CpuMeter:
    """CPU seconds the API processes and their PostgreSQL backends spend while measured:
    on a shared machine, the cost of a lifecycle whatever the others run (wall time is
    not). Backends opened after the start are counted whole."""

    def __init__(self, url: str, api_pid: int) -> None:
        self.url, self.api_pid = url, api_pid
        self.api: dict[int, float] = {}
        self.db: dict[int, float] = {}
        self.load = 0.0

    def start(self) -> None:
        self.load = os.getloadavg()[0]
        self.api = _cpu_seconds(_descendants(self.api_pid))
        self.db = _cpu_seconds(_backends(self.url))

    def stop(self) -> tuple[float, float]:
        """(API, database) CPU seconds since start."""
        api = _cpu_seconds(_descendants(self.api_pid))
        db = _cpu_seconds(_backends(self.url))
        return (sum(v - self.api.get(k, 0.0) for k, v in api.items()),
                sum(v - self.db.get(k, 0.0) for k, v in db.items()))


def lifecycle_run(url: str, tmp: Path, port: int, processes: int, duration: int,
                  life_env: dict[str, str], profile: Path | None,
                  server_env: dict[str, str] | None = None,
                  app: tuple[str, ...] = NODE_APP) -> dict[str, Any]:
    """Lifecycles per second with `processes` API processes (py-spy on them if asked), and
    the CPU time they and the database spent per lifecycle (of the node, or of `app`)."""
    proc = serve(url, tmp / "var", port, keys=KEYS, processes=processes, extra=server_env,
                 app=app)
    meter = CpuMeter(url, proc.pid)
    spy = None
    try:
        if profile is not None:
            spy = subprocess.Popen(
                [_py_spy() or "py-spy", "record", "--pid", str(proc.pid), "--subprocesses",
                 "--nonblocking", "--gil", "-d", str(duration + WARMUP_SECONDS), "-f", "speedscope",
                 "-o", str(profile)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        life = wrk(f"http://127.0.0.1:{port}/", token=None, duration=duration, threads=16,
                   script=tmp / "lifecycle.lua", env=life_env, on_measure=meter.start)
        life["cpu_api"], life["cpu_db"] = meter.stop()
        life["load"] = meter.load
    finally:
        if spy is not None:
            spy.wait(timeout=60)
        proc.terminate()
        proc.wait(timeout=30)
    m = re.search(r"LIFECYCLES (\d+) FAILED (\d+) SECONDS ([\d.]+)", life["raw"])
    assert m is not None, life["raw"]
    life.update(lifecycles=int(m.group(1)), failed=int(m.group(2)), seconds=float(m.group(3)))
    life["rate"] = life["lifecycles"] / life["seconds"]
    done = max(life["lifecycles"], 1)
    life["ms_api"], life["ms_db"] = (1000 * life["cpu_api"] / done,
                                     1000 * life["cpu_db"] / done)
    return life


def statement_floor_run(url: str, tmp: Path, port: int, processes: int, duration: int,
                        life_env: dict[str, str],
                        statements: dict[str, tuple[int, int, int]]) -> dict[str, Any]:
    """The lifecycle run against the statement floor (bench/floor_app.py), each step
    running as many reads, writes and commits as tongban's (`statements`)."""
    engine = create_engine(url)
    with engine.begin() as c:
        c.execute(CREATE_TABLE)
        c.execute(text(f"TRUNCATE {FLOOR_TABLE}"))
    engine.dispose()
    plan = {step: [reads, n - reads, commits]
            for step, (n, commits, reads) in statements.items()}
    return lifecycle_run(url, tmp, port, processes, duration, life_env, None,
                         {"FLOOR_PLAN": json.dumps(plan)}, app=FLOOR_APP)


FLOOR_LUA = """
wrk.method = "POST"
wrk.body = "{}"
wrk.headers["Content-Type"] = "application/json"
"""


def floor_run(url: str, tmp: Path, port: int, processes: int, duration: int
              ) -> dict[str, Any]:
    """The framework floor (bench/floor_app.py) in `processes` processes, as the lifecycle
    is run: requests/s and the CPU time of each; a lifecycle is three requests."""
    proc = serve(url, tmp / "var", port, keys=KEYS, processes=processes, app=FLOOR_APP)
    meter = CpuMeter(url, proc.pid)
    try:
        run = wrk(f"http://127.0.0.1:{port}/floor", token=None, duration=duration,
                  script=tmp / "floor.lua", on_measure=meter.start)
        cpu_api, cpu_db = meter.stop()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    requests = max(run["rps"] * duration, 1)
    run.update(load=meter.load, ms_api=1000 * cpu_api / requests,
               ms_db=1000 * cpu_db / requests)
    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", type=int, default=1_000_000)
    ap.add_argument("--reuse", action="store_true",
                    help="keep an already loaded scratch database")
    ap.add_argument("--database", default=DB_NAME, help="the scratch database's name")
    ap.add_argument("--duration", type=int, default=15, help="seconds per wrk run")
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--api-processes", default="1,2",
                    help="API process counts of the lifecycle runs (the scaling factor)")
    ap.add_argument("--api-threads", default="40",
                    help="handler thread counts (TONGBAN_API_THREADS) of more lifecycle "
                         "runs with the fewest API processes, against the node's default "
                         "(40: anyio's own; a count named twice runs twice, to see the "
                         "machine's noise)")
    ap.add_argument("--lifecycle-only", action="store_true",
                    help="skip the list and detail runs")
    ap.add_argument("--profile", type=Path, metavar="FILE",
                    help="py-spy (speedscope) of the API processes during the last "
                         "lifecycle run")
    ap.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE plans")
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing: apt-get install -y wrk")
    if args.profile and _py_spy() is None:
        sys.exit("py-spy is missing: pip install py-spy")
    processes = [int(n) for n in args.api_processes.split(",")]
    import_all_models()
    url = scratch_url(args.database)
    world_file = Path(tempfile.gettempdir(), f"{args.database}-world.json")
    tmp = Path(tempfile.mkdtemp(prefix="tongban-http-"))
    settings = Settings(database_url=url, var_dir=tmp / "var", run_worker_in_process=False,
                        **KEYS)
    engine = make_engine(url, keys=keyring(settings)) if args.reuse else None
    loaded = 0
    if engine is not None:
        try:
            with engine.connect() as c:
                loaded = c.scalar(select(func.count()).select_from(Case)) or 0
        except Exception:
            loaded = 0
    if loaded < args.cases or not world_file.exists():
        if engine is not None:
            engine.dispose()
        recreate_database(args.database)
        engine = make_engine(url, keys=keyring(settings))
        Base.metadata.create_all(engine)
        world = seed_world(engine, settings)
        secs = load_cases(engine, world, args.cases)
        world_file.write_text(json.dumps(world, default=str))
        print(f"loaded {args.cases:,} cases (+ events) in {secs:.0f} s")
    else:
        world = json.loads(world_file.read_text())
        for k in ("person", "applicant", "clerk", "reviewer", "supervisor"):
            world[k] = uuid.UUID(world[k])
        print(f"reusing {loaded:,} cases")
    assert engine is not None
    for impl in world["impls"]:
        impl["department"] = uuid.UUID(str(impl["department"]))
    ensure_id_card(engine, settings, world)
    with engine.connect() as c:
        total = c.scalar(select(func.count()).select_from(Case)) or 0
        numbers = c.scalars(text("SELECT number FROM cases TABLESAMPLE SYSTEM (1) "
                                 "WHERE region_code LIKE '51%' LIMIT 5000")).all()
        mid = c.scalar(select(Case.id).order_by(Case.id).offset(total // 2).limit(1))
    assert mid is not None
    numbers_file = tmp / "numbers.txt"
    numbers_file.write_text("\n".join(numbers) + "\n")
    (tmp / "detail.lua").write_text(DETAIL_LUA)
    (tmp / "lifecycle.lua").write_text(LIFECYCLE_LUA)
    (tmp / "floor.lua").write_text(FLOOR_LUA)
    if args.explain:
        print("\n".join(explain_list(engine, world, mid)))
    engine.dispose()
    base = f"http://127.0.0.1:{args.port}"
    runs: dict[str, dict[str, Any]] = {}
    proc = serve(url, tmp / "var", args.port, keys=KEYS, processes=max(processes))
    try:
        tokens = {u: login(base, u) for u in ("applicant", "clerk", "reviewer", "supervisor")}
        staff = tokens["supervisor"]
        if not args.lifecycle_only:
            first = httpx.get(f"{base}/api/v1/cases",
                              headers={"Authorization": f"Bearer {staff}"})
            first.raise_for_status()
            assert len(first.json()["items"]) == 50
            cursor = encode_cursor(mid)
            runs = {
                "GET /cases (first page)": wrk(f"{base}/api/v1/cases", token=staff,
                                               duration=args.duration),
                "GET /cases?cursor= (keyset page)": wrk(
                    f"{base}/api/v1/cases?cursor={cursor}", token=staff,
                    duration=args.duration),
                "GET /cases/{number}": wrk(f"{base}/api/v1/cases", token=staff,
                                           duration=args.duration, script=tmp / "detail.lua",
                                           env={"NUMBERS_FILE": str(numbers_file)}),
            }
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    impl_code = world["impls"][0]["code"]
    statements = statements_per_request(settings, tokens, impl_code)
    life_env = {"APPLICANT_TOKEN": tokens["applicant"], "CLERK_TOKEN": tokens["clerk"],
                "REVIEWER_TOKEN": tokens["reviewer"], "IMPL_CODE": impl_code}
    lives = {n: lifecycle_run(url, tmp, args.port, n, args.duration, life_env,
                              args.profile if n == processes[-1] else None)
             for n in processes}
    threaded = [(t, lifecycle_run(url, tmp, args.port, min(processes), args.duration,
                                  life_env, None, {"TONGBAN_API_THREADS": str(t)}))
                for t in [int(x) for x in args.api_threads.split(",") if x]]
    floor = floor_run(url, tmp, args.port, min(processes), args.duration)
    plain = {n: statement_floor_run(url, tmp, args.port, n, args.duration, life_env,
                                    statements) for n in processes}
    print(f"\nPostgreSQL, {total:,} cases; wrk 16 connections, {args.duration} s each after "
          f"{WARMUP_SECONDS} s of warm-up; {os.cpu_count()} CPUs; load average before the "
          f"runs {os.getloadavg()[0]:.1f}")
    for name, r in runs.items():
        print(f"{name} ({max(processes)} API processes): {r['rps']:.0f} req/s, "
              f"p50 {r['p50']:.1f} ms, non-2xx {r['non2xx']}")
        print(_ratio_line("  p99", r["p99"], P99_GOAL_MS, True, "ms"))
    print("SQL statements (commits, reads) per request: " + ", ".join(
        f"{label} {n} ({c}, {r})" for label, (n, c, r) in statements.items()))
    for n, life in lives.items():
        print(f"lifecycle (apply, accept, approve), {n} API process(es): "
              f"{life['lifecycles']} cases in {life['seconds']:.1f} s, {life['failed']} "
              f"failed steps, p50 {life['p50']:.1f} ms, p99 {life['p99']:.1f} ms per request; "
              f"load average {life['load']:.1f} at its start")
        print(f"  CPU per lifecycle: API processes {life['ms_api']:.1f} ms, PostgreSQL "
              f"backends {life['ms_db']:.1f} ms (on {os.cpu_count()} CPUs these alone allow "
              f"{1000 * (os.cpu_count() or 1) / (life['ms_api'] + life['ms_db']):.0f} "
              "cases/s)")
        print(_ratio_line("  cases/s", life["rate"], LIFECYCLE_GOAL, False, "/s"))
    default = lives[min(processes)]
    for t, life in threaded:  # a list: a count named twice is run twice
        print(f"  the same, {min(processes)} API process(es) with {t} handler threads (default "
              f"{Settings().api_threads}): {life['rate']:.1f} cases/s (default x"
              f"{default['rate'] / life['rate']:.2f}), API CPU {life['ms_api']:.1f} ms, "
              f"PostgreSQL {life['ms_db']:.1f} ms per lifecycle, p99 {life['p99']:.0f} ms; "
              f"load average {life['load']:.1f} at its start")
    ceiling = floor["rps"] / 3
    print(f"framework floor (bench/floor_app.py: FastAPI sync POST, one statement, commit, "
          f"{min(processes)} process(es)): {floor['rps']:.0f} req/s, CPU per request "
          f"{floor['ms_api']:.2f} ms API + {floor['ms_db']:.2f} ms PostgreSQL; load average "
          f"{floor['load']:.1f} at its start\n  three of these, the most lifecycles/s so "
          f"many processes could do: "
          f"{ceiling:.0f}; tongban does x{default['rate'] / ceiling:.2f} of it "
          f"(API CPU per lifecycle x{default['ms_api'] / (3 * floor['ms_api']):.1f}"
          " of three floor requests)")
    for n, run in plain.items():
        print(f"statement floor (bench/floor_app.py: the lifecycle's paths, each request "
              f"running tongban's count of statements, one-row reads and INSERTs, and "
              f"commits, nothing else), {n} API process(es): {run['rate']:.0f} "
              f"lifecycles/s, CPU per lifecycle {run['ms_api']:.1f} ms API + "
              f"{run['ms_db']:.1f} ms PostgreSQL; load average {run['load']:.1f} at its "
              f"start; tongban does x{lives[n]['rate'] / run['rate']:.2f} of it")
        print(_ratio_line("  statement floor lifecycles/s", run["rate"], LIFECYCLE_GOAL,
                          False, "/s"))
    if len(processes) > 1:
        lo, hi = min(processes), max(processes)
        print(f"scaling {lo} -> {hi} API processes: x{lives[hi]['rate'] / lives[lo]['rate']:.2f}")
    if args.profile:
        print(f"py-spy profile of the {processes[-1]}-process run: {args.profile} "
              "(open in speedscope)")


if __name__ == "__main__":
    main()
