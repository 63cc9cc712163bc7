"""Catalog search benchmark: p50/p99 per query on 100k published implementations, on SQLite
and PostgreSQL, against a named limit.

    .venv/bin/python bench/catalog_search.py [--n 100000] [--runs 50] [--limit-ms 100]

The catalog is synthetic but shaped like a real one: ~100 standard items (住房公积金提取,
社会保障卡申领, 营业执照 …) claimed by the matching department of every county in the shipped
GB/T 2260 table until --n implementations exist, each named "<item>(<county>)" with its
search entry built by the same code the service uses (Chinese text, full pinyin,
initials) and its postings in the search index (catalog_search_tokens, loaded in bulk:
set-up, not timed). Queries go through `catalog.service.search` (SQL + ORM + Pydantic), so
the figures are what the API pays before HTTP.

Limit: 100 ms p99 per search (an interactive search box; the portal budget of issue 2).
The ratio column prints measured p99 / limit (below 1.0 is within budget).

PostgreSQL: TONGBAN_BENCH_PG_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/
postgres) names the server; a scratch database is created and dropped.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, insert, text
from sqlalchemy.engine import make_url

from tongban.catalog import search as search_sql
from tongban.catalog import service
from tongban.catalog.models import (
    Department,
    Implementation,
    Region,
    SearchEntry,
    SearchToken,
    ServiceItem,
)
from tongban.db import Base, import_all_models, make_engine, make_sessionmaker, new_id, utcnow
from tongban.identity.ids import make_uscc

PG_URL = os.environ.get("TONGBAN_BENCH_PG_URL",
                        "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
LIMIT_MS = 100.0

# (department kind, item names): the departments that handle them in every county.
ITEMS: dict[str, list[str]] = {
    "住房公积金管理中心": ["住房公积金提取", "住房公积金贷款", "住房公积金缴存登记",
                  "住房公积金转移接续", "住房公积金个人证明", "住房公积金部分提前还款"],
    "人力资源和社会保障局": ["社会保障卡申领", "社会保障卡挂失", "养老保险关系转移",
                    "失业保险金申领", "就业创业证申领", "职业资格证书查询",
                    "工伤认定申请", "城乡居民养老保险参保登记", "企业职工退休申请",
                    "医疗保险关系转移接续"],
    "公安局": ["居住证申领", "出生登记", "户口迁移", "身份证换领", "临时身份证申领",
            "户籍证明开具", "驾驶证换证", "机动车行驶证补领", "无犯罪记录证明开具",
            "出入境通行证办理"],
    "市场监督管理局": ["营业执照设立登记", "营业执照变更登记", "营业执照注销登记",
                "个体工商户设立登记", "食品经营许可", "特种设备使用登记",
                "农民专业合作社设立登记", "企业名称自主申报"],
    "民政局": ["婚姻登记", "最低生活保障申请", "特困人员认定", "殡葬服务申请",
            "社会团体成立登记", "残疾人两项补贴申请", "临时救助申请"],
    "卫生健康委员会": ["出生医学证明办理", "医师执业注册", "护士执业注册",
                "医疗机构执业登记", "公共场所卫生许可", "计划生育家庭奖励扶助"],
    "交通运输局": ["道路运输经营许可", "出租汽车驾驶员从业资格", "船员适任证书",
              "超限运输车辆行驶公路许可", "网络预约出租汽车运输证"],
    "税务局": ["个人所得税汇算清缴", "发票领用", "税务登记", "完税证明开具",
            "契税申报", "车辆购置税申报"],
    "教育局": ["教师资格认定", "中小学入学登记", "学历证明办理", "民办学校办学许可"],
    "医疗保障局": ["异地就医备案", "医保参保登记", "门诊慢特病认定", "生育保险待遇申领"],
}

QUERIES: list[tuple[str, str | None, str]] = [
    # (query, region filter, what it exercises)
    ("公积金", None, "Chinese substring, common"),
    ("住房公积金提取", None, "Chinese, full item name"),
    ("出生医学证明", None, "Chinese, one kind of item"),
    ("户口", None, "Chinese, 2 characters (no trigram)"),
    ("gjj", None, "pinyin initials"),
    ("gongjijin", None, "full pinyin"),
    ("zfgjjtq", None, "initials of a whole name"),
    ("公积金 成都", None, "two terms"),
    ("公积金", "510000", "Chinese + province filter"),
    ("gjj", "510000", "initials + province filter"),
    ("gongjijin", "510107", "full pinyin + county filter"),
    ("营业执照", "310000", "Chinese + city-level province filter"),
    ("", "510100", "browse a city (no text)"),
]


def _regions(session: Any) -> None:
    service.load_regions(db_session=session)


def _populate(engine: Engine, n: int, seed: int = 7) -> int:
    """Regions, departments, items and `n` published-looking implementations."""
    rng = random.Random(seed)
    factory = make_sessionmaker(engine)
    with factory() as session:
        _regions(session)
        session.commit()
        names = {r.code: r.name for r in session.query(Region)}
        parents = {r.code: r.parent_code for r in session.query(Region)}
        counties = sorted(r.code for r in session.query(Region).filter(Region.level == 4))
    # Sichuan, Chongqing and Shanghai first so the filtered queries find something.
    counties.sort(key=lambda c: (c[:2] not in ("51", "50", "31"), c))
    items, item_rows, n_item = [], [], 0
    for kind, item_names in ITEMS.items():
        for name in item_names:
            n_item += 1
            basic = f"{n_item:06d}{rng.randrange(10**6):06d}"
            item_id = new_id()
            full, initials = search_sql.pinyin_of(name)
            item_rows.append({"id": item_id, "basic_code": basic, "name": name,
                              "item_type": "公共服务", "use_levels": [4], "legal_basis": "",
                              "description": "", "topics": [], "name_pinyin": full,
                              "name_initials": initials, "created_at": utcnow()})
            items.append((item_id, basic, name, kind))
    per_county = len(items)
    needed = -(-n // per_county)
    depts, impls, entries = [], [], []
    made = 0
    for c_index, county in enumerate(counties[:needed]):
        chain, code = [], county
        while code:
            if names[code] not in ("全国", "市辖区", "县"):
                chain.append(names[code])
            code = parents.get(code) or ""
        chain.reverse()
        dept_ids: dict[str, tuple[uuid.UUID, str, str]] = {}
        for k_index, kind in enumerate(ITEMS):
            credit = make_uscc("1", "1", county, f"B{c_index:05d}{k_index:02d}")
            dept_name = f"{names[county]}{kind}"
            dept_id = new_id()
            dept_ids[kind] = (dept_id, credit, dept_name)
            depts.append({"id": dept_id, "name": dept_name, "region_code": county,
                          "credit_code": credit, "kind": kind, "level": 4,
                          "created_at": utcnow()})
        for item_id, basic, item_name, kind in items:
            if made >= n:
                break
            dept_id, credit, dept_name = dept_ids[kind]
            impl_id, code = new_id(), f"{credit}4{basic}"
            name = f"{item_name}({names[county]})"
            impls.append({"id": impl_id, "implementation_code": code, "item_id": item_id,
                          "department_id": dept_id, "region_code": county,
                          "created_at": utcnow()})
            text_, pinyin, initials = search_sql.segments([name, item_name, dept_name, *chain])
            entries.append({
                "doc": made + 1, "implementation_id": impl_id, "implementation_code": code,
                "version_id": new_id(), "region_code": county, "department_id": dept_id,
                "item_type": "公共服务", "applicant_types": "person", "name": name,
                "basic_code": basic, "item_name": item_name, "department_name": dept_name,
                "region_name": names[county], "text": text_, "pinyin": pinyin,
                "initials": initials, "popularity": rng.randrange(1000),
            })
            made += 1
    postings = [(token, int(str(e["doc"]))) for e in entries
                for token in search_sql.tokens.entry_tokens(str(e["text"]))]
    with engine.begin() as conn:
        for table, rows in ((ServiceItem, item_rows), (Department, depts),
                            (Implementation, impls), (SearchEntry, entries)):
            for start in range(0, len(rows), 5000):
                conn.execute(insert(table), rows[start:start + 5000])
        _load_postings(conn, postings)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        # PostgreSQL: VACUUM sets the visibility map, so counting postings is index-only
        conn.execute(text("VACUUM ANALYZE" if engine.dialect.name == "postgresql"
                          else "ANALYZE"))
    print(f"  {len(postings):,} postings ({len(postings) / max(made, 1):.0f} per entry)")
    return made


def _load_postings(conn: Any, postings: list[tuple[str, int]]) -> None:
    """The search index in bulk (COPY on PostgreSQL): set-up, not timed."""
    table = SearchToken.__tablename__
    raw = conn.connection.driver_connection
    if conn.dialect.name == "postgresql":
        with raw.cursor().copy(f"COPY {table} (token, doc) FROM STDIN") as copy:
            for row in postings:
                copy.write_row(row)
    else:
        postings.sort()
        raw.executemany(f"INSERT INTO {table} (token, doc) VALUES (?, ?)", postings)


def _measure(engine: Engine, runs: int) -> list[tuple[str, str | None, str, float, float, int]]:
    factory = make_sessionmaker(engine)
    out = []
    with factory() as session:
        for q, region, what in QUERIES:
            def once(q: str = q, region: str | None = region) -> int:
                return len(service.search(db_session=session, q=q or None,
                                          region_code=region, limit=20).items)

            hits = once()  # warm the caches and plans
            timings = []
            for _ in range(runs):
                start = time.perf_counter()
                once()
                timings.append((time.perf_counter() - start) * 1000)
            timings.sort()
            p50 = statistics.median(timings)
            p99 = timings[min(len(timings) - 1, round(0.99 * (len(timings) - 1)))]
            out.append((q or "(none)", region, what, p50, p99, hits))
    return out


@contextmanager
def _sqlite() -> Iterator[Engine]:
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'bench.db'}")
        try:
            yield engine
        finally:
            engine.dispose()


@contextmanager
def _postgres() -> Iterator[Engine | None]:
    name = f"tongban_bench_catalog_{os.getpid()}"
    try:
        admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # no server: say so and run SQLite only
        print(f"PostgreSQL unreachable at {PG_URL}: {exc.__class__.__name__}; skipped")
        yield None
        return
    engine = make_engine(make_url(PG_URL).set(database=name).render_as_string(
        hide_password=False), pool_size=2)
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _report(backend: str, rows: list[tuple[str, str | None, str, float, float, int]],
            limit_ms: float) -> None:
    print(f"\n{backend}: p50/p99 in ms, limit {limit_ms:.0f} ms p99 (ratio = p99/limit)")
    print(f"{'query':<14} {'region':<7} {'p50':>8} {'p99':>8} {'ratio':>6} {'hits':>5}  what")
    for q, region, what, p50, p99, hits in rows:
        print(f"{q:<14} {region or '-':<7} {p50:8.2f} {p99:8.2f} {p99 / limit_ms:6.2f} "
              f"{hits:5d}  {what}")
    worst = max(r[4] for r in rows)
    print(f"worst p99 {worst:.2f} ms = {worst / limit_ms:.2f} x limit "
          f"({'within' if worst <= limit_ms else 'OVER'} budget)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="implementations")
    parser.add_argument("--runs", type=int, default=50, help="timed runs per query")
    parser.add_argument("--limit-ms", type=float, default=LIMIT_MS, help="p99 budget")
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    import_all_models()
    backends = {"sqlite": _sqlite, "postgresql": _postgres}
    for backend in args.backends.split(","):
        with backends[backend]() as engine:
            if engine is None:
                continue
            Base.metadata.create_all(engine)
            start = time.perf_counter()
            made = _populate(engine, args.n)
            print(f"{backend}: {made} implementations loaded in "
                  f"{time.perf_counter() - start:.1f} s")
            _report(backend, _measure(engine, args.runs), args.limit_ms)


if __name__ == "__main__":
    main()
