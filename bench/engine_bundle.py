"""Case engine benchmark: the same 3-department parallel 一件事 run to completion N times in
tongban and in SpiffWorkflow, in one run, both persisting to a SQLite file.

    .venv/bin/python bench/engine_bundle.py [--n 300] [--spiff-n 300] [--profile]

tongban (in process, service calls, one transaction = one commit per call, SQLite WAL file
with the node's settings): apply for the bundle (bundle case + 3 task cases), then each
task accepted by the window clerk and approved by its department's reviewer; the bundle
engine accepts the bundle at the first acceptance and approves it at the last approval.
That is 7 transactions per instance, each with its events, audit entries and (for accept
and approve) ledger outbox rows.

SpiffWorkflow (PyPI `spiffworkflow`, dev dependency): a BPMN process with a parallel
gateway (split and join) around three user tasks, one per department; the workflow is
serialised (BpmnWorkflowSerializer JSON) and saved to SQLite after every step: start, and
each user task completed (4 saves per instance; the workflow object stays in memory, which
favours SpiffWorkflow).

Goal (issue 3): tongban >= 20x SpiffWorkflow's instances per second. The run also measures
the ceiling of any engine that commits each of the 7 steps (bare sqlite3, nothing else),
as a multiple of SpiffWorkflow: the goal cannot exceed it.
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import io
import pstats
import sqlite3
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tongban.bundles import service as bundles
from tongban.bundles.schemas import BundleIn, MemberIn
from tongban.cases import service as cases
from tongban.cases.models import Case
from tongban.catalog import service as catalog
from tongban.catalog.models import Region
from tongban.catalog.schemas import DepartmentIn, ImplementationIn, ItemIn
from tongban.config import Settings
from tongban.db import Base, import_all_models, make_engine, make_sessionmaker
from tongban.identity import service as identity
from tongban.identity.actor import SYSTEM_ACTOR, Actor
from tongban.identity.ids import make_resident_id, make_uscc
from tongban.node.keyring import keyring

GOAL = 20.0
SORT = "cumulative"
DEPARTMENTS = (
    ("health", "成都市锦江区卫生健康局", "MB200001", "000608001001", "出生医学证明首次签发"),
    ("police", "成都市公安局锦江区分局", "MB200002", "000302001000", "出生登记"),
    ("medical", "成都市锦江区医疗保障局", "MB200003", "000808001000", "基本医疗保险参保登记"),
)
FORM = {"type": "object", "additionalProperties": False, "required": ["applicant_name", "phone"],
        "properties": {"applicant_name": {"type": "string", "minLength": 2},
                       "phone": {"type": "string", "pattern": "^1[3-9][0-9]{9}$"},
                       "child_name": {"type": "string", "minLength": 1}}}
DATA = {"applicant_name": "张三", "phone": "13800138000", "child_name": "张小宝"}

# ------------------------------------------------------------------------ tongban


@dataclass
class World:
    factory: sessionmaker[Session]
    settings: Settings
    applicant: Actor
    clerk: Actor
    reviewers: dict[str, Actor]  # implementation code -> its department's reviewer


def _guide() -> dict[str, Any]:
    return {"item_kind": "promised", "applicant_types": ["person"], "materials": [
        {"code": "ID", "name": "居民身份证", "source": "licence", "licence_type": "居民身份证",
         "form": "electronic"}],
        "legal_days": 20, "promised_days": 5, "fees": [], "handling_forms": ["window", "online"],
        "online_depth": 4, "result": {"name": "结果", "kind": "document"}}


def setup_tongban(db_path: Path) -> World:
    """A node with three departments, their implementations, accounts and one bundle."""
    import_all_models()
    url = f"sqlite:///{db_path}"
    settings = Settings(database_url=url, var_dir=db_path.parent / "var",
                        data_key=base64.urlsafe_b64encode(b"d" * 32).decode(),
                        index_key=base64.urlsafe_b64encode(b"i" * 32).decode(),
                        run_worker_in_process=False)
    engine = make_engine(url, keys=keyring(settings))
    Base.metadata.create_all(engine)
    factory = make_sessionmaker(engine)
    with factory() as s:
        for code, name, level, parent in (("100000", "全国", 1, None),
                                          ("510000", "四川省", 2, "100000"),
                                          ("510100", "成都市", 3, "510000"),
                                          ("510104", "锦江区", 4, "510100")):
            s.add(Region(code=code, name=name, level=level, parent_code=parent))
            s.flush()
        codes, reviewers = [], {}
        for key, name, body, basic, item in DEPARTMENTS:
            credit = make_uscc("1", "1", "510104", body)
            dept = catalog.create_department(db_session=s, actor=SYSTEM_ACTOR, data=DepartmentIn(
                name=name, region_code="510104", credit_code=credit, kind=key, level=4))
            catalog.create_item(db_session=s, actor=SYSTEM_ACTOR, data=ItemIn(
                basic_code=basic, name=item, item_type="公共服务", use_levels=[4]))
            v = catalog.create_draft(db_session=s, actor=SYSTEM_ACTOR, data=ImplementationIn(
                basic_code=basic, department_credit_code=credit, region_code="510104", level=4,
                name=item, guide=_guide(), form_schema=FORM))
            catalog.publish(db_session=s, actor=SYSTEM_ACTOR,
                            implementation_code=v.implementation_code)
            codes.append(v.implementation_code)
            account = identity.create_account(
                db_session=s, actor=SYSTEM_ACTOR, username=f"reviewer.{key}",
                password="Bench-Pass-42", display_name=name, roles=["reviewer"],
                scopes=[("510104", dept.id)])
            reviewers[v.implementation_code] = identity.actor_from_account(account)
        person = identity.create_person(db_session=s, settings=settings, actor=SYSTEM_ACTOR,
                                        name="张三", id_number=make_resident_id(
                                            "510104", datetime(1990, 1, 1).date(), 11))
        applicant = identity.actor_from_account(identity.create_account(
            db_session=s, actor=SYSTEM_ACTOR, username="applicant", password="Bench-Pass-42",
            display_name="张三", roles=["applicant"], scopes=[], person_id=person.id))
        clerk = identity.actor_from_account(identity.create_account(
            db_session=s, actor=SYSTEM_ACTOR, username="clerk", password="Bench-Pass-42",
            display_name="综合窗口", roles=["clerk"], scopes=[("510100", None)]))
        bundles.save_draft(db_session=s, actor=SYSTEM_ACTOR, data=BundleIn(
            code="BENCH", name="新生儿出生一件事", region_code="510100", legal_days=30,
            promised_days=10, members=[MemberIn(implementation_code=c) for c in codes]))
        bundles.publish(db_session=s, actor=SYSTEM_ACTOR, bundle_code="BENCH")
        s.commit()
    return World(factory, settings, applicant, clerk, reviewers)


def run_tongban_instance(w: World, i: int, now: datetime) -> None:
    """One bundle from application to decision: 7 service calls, each committed."""
    with w.factory() as s:
        bundle = bundles.apply(db_session=s, settings=w.settings, actor=w.applicant,
                               bundle_code="BENCH", form_data=DATA, channel="window",
                               idempotency_key=f"bench-{i}", now=now)
        s.commit()
        tasks, _ = cases.list_cases(db_session=s, actor=cases.WORKER_ACTOR,
                                    filters=cases.CaseFilters(parent_case_id=bundle.id))
        numbers = [(t.number, t.implementation_code or "") for t in tasks]
        s.commit()
    for number, _ in numbers:
        with w.factory() as s:
            cases.act(db_session=s, settings=w.settings, actor=w.clerk, case_number=number,
                      action="accept", now=now)
            s.commit()
    for number, code in numbers:
        with w.factory() as s:
            cases.act(db_session=s, settings=w.settings, actor=w.reviewers[code],
                      case_number=number, action="approve", now=now)
            s.commit()


def bench_tongban(w: World, n: int, profile: bool) -> float:
    now = datetime(2026, 9, 21, 2, tzinfo=UTC)
    run_tongban_instance(w, -1, now)  # warm caches (calendar, merged form, imports)
    prof = cProfile.Profile() if profile else None
    started = time.perf_counter()
    if prof:
        prof.enable()
    for i in range(n):
        run_tongban_instance(w, i, now)
    if prof:
        prof.disable()
    elapsed = time.perf_counter() - started
    with w.factory() as s:
        done = s.scalar(select(func.count()).select_from(Case).where(
            Case.kind == "bundle", Case.state == "approved"))
    assert done == n + 1, f"only {done} of {n + 1} bundles approved"
    if prof:
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats(SORT).print_stats(35)
        print(out.getvalue())
    return n / elapsed


# ------------------------------------------------------------------------ SpiffWorkflow

BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    id="d" targetNamespace="http://tongban.example/bench">
  <bpmn:process id="bundle" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f0</bpmn:outgoing></bpmn:startEvent>
    <bpmn:parallelGateway id="split"><bpmn:incoming>f0</bpmn:incoming>
      <bpmn:outgoing>fa</bpmn:outgoing><bpmn:outgoing>fb</bpmn:outgoing>
      <bpmn:outgoing>fc</bpmn:outgoing></bpmn:parallelGateway>
    <bpmn:userTask id="health" name="出生医学证明"><bpmn:incoming>fa</bpmn:incoming>
      <bpmn:outgoing>ja</bpmn:outgoing></bpmn:userTask>
    <bpmn:userTask id="police" name="出生登记"><bpmn:incoming>fb</bpmn:incoming>
      <bpmn:outgoing>jb</bpmn:outgoing></bpmn:userTask>
    <bpmn:userTask id="medical" name="医保参保"><bpmn:incoming>fc</bpmn:incoming>
      <bpmn:outgoing>jc</bpmn:outgoing></bpmn:userTask>
    <bpmn:parallelGateway id="join"><bpmn:incoming>ja</bpmn:incoming>
      <bpmn:incoming>jb</bpmn:incoming><bpmn:incoming>jc</bpmn:incoming>
      <bpmn:outgoing>f9</bpmn:outgoing></bpmn:parallelGateway>
    <bpmn:endEvent id="end"><bpmn:incoming>f9</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f0" sourceRef="start" targetRef="split"/>
    <bpmn:sequenceFlow id="fa" sourceRef="split" targetRef="health"/>
    <bpmn:sequenceFlow id="fb" sourceRef="split" targetRef="police"/>
    <bpmn:sequenceFlow id="fc" sourceRef="split" targetRef="medical"/>
    <bpmn:sequenceFlow id="ja" sourceRef="health" targetRef="join"/>
    <bpmn:sequenceFlow id="jb" sourceRef="police" targetRef="join"/>
    <bpmn:sequenceFlow id="jc" sourceRef="medical" targetRef="join"/>
    <bpmn:sequenceFlow id="f9" sourceRef="join" targetRef="end"/>
  </bpmn:process>
</bpmn:definitions>
"""


def bench_spiff(db_path: Path, n: int) -> float:
    from lxml import etree
    from SpiffWorkflow.bpmn import BpmnWorkflow
    from SpiffWorkflow.bpmn.parser import BpmnParser
    from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
    from SpiffWorkflow.util.task import TaskState

    parser = BpmnParser()
    parser.add_bpmn_xml(etree.fromstring(BPMN.encode()), filename="bundle.bpmn")
    spec = parser.get_spec("bundle")
    serializer = BpmnWorkflowSerializer()
    db = sqlite3.connect(db_path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE TABLE IF NOT EXISTS workflows (id INTEGER PRIMARY KEY, state TEXT)")

    def save(i: int, wf: BpmnWorkflow) -> None:
        db.execute("INSERT OR REPLACE INTO workflows (id, state) VALUES (?, ?)",
                   (i, serializer.serialize_json(wf)))
        db.commit()

    started = time.perf_counter()
    for i in range(n):
        wf = BpmnWorkflow(spec)
        wf.do_engine_steps()
        save(i, wf)
        for _ in range(3):
            task = wf.get_tasks(state=TaskState.READY, manual=True)[0]
            task.run()
            wf.do_engine_steps()
            save(i, wf)
        assert wf.completed, "the Spiff workflow did not complete"
    elapsed = time.perf_counter() - started
    db.close()
    return n / elapsed


def bench_commit_floor(db_path: Path, n: int) -> float:
    """The ceiling of any engine that commits each of a bundle's 7 steps to SQLite (the
    node's pragmas): 7 one-row transactions per instance through bare sqlite3, no ORM,
    no events, no audit. No such engine can run more instances per second than this."""
    db = sqlite3.connect(db_path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE TABLE IF NOT EXISTS steps (id INTEGER PRIMARY KEY, state TEXT)")
    started = time.perf_counter()
    for i in range(n):
        for step in range(7):
            db.execute("BEGIN")
            db.execute("INSERT OR REPLACE INTO steps (id, state) VALUES (?, ?)", (i, str(step)))
            db.execute("COMMIT")
    elapsed = time.perf_counter() - started
    db.close()
    return n / elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=300, help="tongban instances")
    ap.add_argument("--spiff-n", type=int, default=300, help="SpiffWorkflow instances")
    ap.add_argument("--profile", action="store_true", help="cProfile the tongban run")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        world = setup_tongban(Path(tmp) / "tongban.db")
        tongban_rate = bench_tongban(world, args.n, args.profile)
        spiff_rate = bench_spiff(Path(tmp) / "spiff.db", args.spiff_n)
        floor_rate = bench_commit_floor(Path(tmp) / "floor.db", max(args.spiff_n, 2000))
    ratio = tongban_rate / spiff_rate
    print(f"tongban        {tongban_rate:9.1f} bundles/s  ({args.n} instances, 7 committed "
          "service calls each)")
    print(f"SpiffWorkflow  {spiff_rate:9.1f} instances/s ({args.spiff_n} instances, 4 saves each)")
    print(f"ratio          {ratio:9.2f}x   goal >= {GOAL:.0f}x: "
          f"{'met' if ratio >= GOAL else 'NOT met'} ({ratio / GOAL:.3f} of the goal)")
    print(f"commit ceiling {floor_rate:9.1f} instances/s (7 bare sqlite3 commits each) = "
          f"{floor_rate / spiff_rate:.1f}x SpiffWorkflow: an engine that commits every step "
          f"{'can' if floor_rate / spiff_rate >= GOAL else 'can NOT'} reach {GOAL:.0f}x here")


if __name__ == "__main__":
    main()
