"""一件事 bundles as specifications: one merged form, materials once, tasks in parallel
(and in series where they depend), the bundle decided when its tasks are, each deny rule,
the overall limit, and bad input that writes nothing."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.bundles.conftest import GOOD, BundleWorld, at, decide_all
from tongban.bundles import service
from tongban.bundles.schemas import BundleIn, MemberIn
from tongban.cases import service as cases
from tongban.cases import worker
from tongban.cases.models import CaseMaterial
from tongban.catalog import service as catalog
from tongban.errors import Conflict, Forbidden, InvalidInput, NotFound

REVIEWERS = {"birth_cert": "health", "birth_reg": "police", "medical": "medical",
             "social_card": "hrss"}
PARALLEL = ["birth_cert", "birth_reg", "social_card"]


# --- the merged form and materials --------------------------------------------------------


def test_merged_form_asks_shared_fields_once(bw: BundleWorld) -> None:
    bw.define("XS", PARALLEL)
    view = service.get_bundle(db_session=bw.db, bundle_code="XS")
    names = [f.name for f in view.merged.fields]
    assert sorted(names) == sorted(["applicant_name", "phone", "child_name", "birth_place",
                                    "hukou_address", "bank_account"])
    asked_by = {f.name: len(f.members) for f in view.merged.fields}
    assert asked_by == {"applicant_name": 3, "phone": 3, "child_name": 2, "birth_place": 1,
                        "hukou_address": 1, "bank_account": 1}
    assert view.merged.schema["additionalProperties"] is False
    assert set(view.merged.schema["required"]) == set(names)


def test_each_task_gets_only_its_own_part_of_the_form(bw: BundleWorld) -> None:
    bw.define("XS", PARALLEL)
    tasks = bw.tasks(bw.apply("XS"))
    assert tasks["social_card"].form_data == {"applicant_name": "张三", "phone": "13800138000",
                                              "bank_account": "6222020200112233"}
    assert set(tasks["birth_reg"].form_data) == {"applicant_name", "phone", "child_name",
                                                 "hukou_address"}


def test_materials_are_deduplicated_by_code(bw: BundleWorld) -> None:
    bw.define("XS", [*PARALLEL, "medical"])
    materials = {m.code: m for m in service.get_bundle(db_session=bw.db,
                                                       bundle_code="XS").merged.materials}
    assert list(materials) == ["ID_COPY", "DELIVERY", "HUKOU", "PHOTO"]
    shared = materials["ID_COPY"]
    assert len(shared.members) == 4 and shared.required
    assert shared.names == ("身份证复印件", "居民身份证复印件")
    assert not materials["PHOTO"].required


def test_a_material_uploaded_once_is_shared_with_every_task(bw: BundleWorld) -> None:
    bw.define("XS", PARALLEL)
    bundle = bw.apply("XS")
    row = bw.share(bundle)
    tasks = bw.tasks(bundle)
    assert sorted(row.shared_with) == sorted(t.number for t in tasks.values())
    copies = bw.db.scalars(select(CaseMaterial).where(
        CaseMaterial.case_id.in_([t.id for t in tasks.values()]))).all()
    assert len(copies) == 3 and {c.sha256 for c in copies} == {row.sha256}
    blobs = [p for p in Path(bw.settings.var_dir).rglob("*") if p.is_file()]
    assert len(blobs) == 1
    for task in tasks.values():  # every task can now be accepted: its upload is there
        bw.act("clerk", task, "accept")


def test_fields_of_different_types_cannot_share_a_name(bw: BundleWorld) -> None:
    bw.define("BAD", ["birth_cert", "clash"], publish=False)
    with pytest.raises(Conflict) as err:
        service.publish(db_session=bw.db, actor=bw["catalog_admin"], bundle_code="BAD")
    assert err.value.code == "bundle_not_publishable"
    assert err.value.details[0]["field"] == "form.child_name"


# --- tasks in parallel, the bundle decided when they are ----------------------------------


def test_applying_opens_one_bundle_case_and_a_task_per_department(bw: BundleWorld) -> None:
    bw.define("XS", PARALLEL)
    bundle = bw.apply("XS")
    assert (bundle.kind, bundle.state, bundle.workflow) == ("bundle", "in_progress", "bundle")
    tasks = bw.tasks(bundle)
    assert set(tasks) == set(PARALLEL)
    assert {t.kind for t in tasks.values()} == {"task"}
    assert {t.parent_case_id for t in tasks.values()} == {bundle.id}
    assert {t.state for t in tasks.values()} == {"submitted"}
    assert len({t.department_id for t in tasks.values()}) == 3
    assert bundle.form_data == GOOD


@pytest.mark.parametrize("order", [PARALLEL, list(reversed(PARALLEL))])
def test_departments_act_in_any_order_and_the_bundle_waits_for_all(
    bw: BundleWorld, order: list[str]
) -> None:
    bw.define("XS", PARALLEL)
    bundle = bw.apply("XS")
    bw.share(bundle)
    tasks = bw.tasks(bundle)
    for key in order:
        bw.act("clerk", tasks[key], "accept", when=at(2026, 9, 22))
    assert bw.reload(bundle).state == "accepted"
    for n, key in enumerate(order):
        assert bw.reload(bundle).decided_at is None
        bw.act(REVIEWERS[key], tasks[key], "approve", when=at(2026, 9, 23 + n))
    bundle = bw.reload(bundle)
    assert (bundle.state, bundle.decision) == ("approved", "approved")
    assert bundle.decided_at == at(2026, 9, 25)


def test_a_department_cannot_act_on_another_departments_task(bw: BundleWorld) -> None:
    bw.define("XS", PARALLEL)
    bundle = bw.apply("XS")
    bw.share(bundle)
    task = bw.tasks(bundle)["birth_reg"]
    bw.act("clerk", task, "accept")
    with pytest.raises(Forbidden):
        bw.act("health", task, "approve")


def test_each_task_has_its_own_limit_and_the_bundle_its_overall_one(bw: BundleWorld) -> None:
    bw.define("XS", PARALLEL, promised=5, legal=30, overrides={"social_card": 6})
    bundle = bw.apply("XS")
    bw.share(bundle)
    tasks = bw.tasks(bundle)
    assert {k: t.promised_days for k, t in tasks.items()} == {
        "birth_cert": 5, "birth_reg": 3, "social_card": 6}
    bw.act("clerk", tasks["birth_reg"], "accept", when=at(2026, 9, 28))  # Monday before 国庆
    bundle = bw.reload(bundle)
    assert bundle.accepted_at == at(2026, 9, 28)
    # 5 working days from 28 Sep across 国庆 (1-7 Oct off; Saturday 10 Oct a make-up day)
    assert bundle.promised_due_date == at(2026, 10, 10).date()
    assert bw.reload(tasks["birth_reg"]).promised_due_date == at(2026, 10, 8).date()


def test_the_worker_warns_when_the_bundle_passes_its_overall_limit(bw: BundleWorld) -> None:
    bw.define("XS", PARALLEL, promised=2, legal=30)
    bundle = bw.apply("XS")
    bw.share(bundle)
    bw.act("clerk", bw.tasks(bundle)["birth_cert"], "accept", when=at(2026, 9, 14))
    worker.run_once(db_session=bw.db, settings=bw.settings, now=at(2026, 9, 21))
    bw.db.commit()
    assert bw.reload(bundle).warning_level == "red"


# --- dependencies -------------------------------------------------------------------------


def test_a_dependent_task_starts_only_when_its_prerequisite_is_approved(
    bw: BundleWorld
) -> None:
    bw.define("SERIAL", ["birth_cert", "birth_reg", "medical"],
              deps={"birth_reg": ["birth_cert"], "medical": ["birth_reg"]})
    bundle = bw.apply("SERIAL")
    bw.share(bundle)  # before the later tasks exist
    assert bw.statuses(bundle) == {"birth_cert": "started", "birth_reg": "pending",
                                   "medical": "pending"}
    first = bw.tasks(bundle)["birth_cert"]
    bw.act("clerk", first, "accept")
    assert set(bw.tasks(bundle)) == {"birth_cert"}
    bw.act("health", first, "approve", when=at(2026, 9, 24))
    second = bw.tasks(bundle)["birth_reg"]
    assert second.submitted_at == at(2026, 9, 24)  # received when it can act
    assert bw.statuses(bundle)["medical"] == "pending"
    have = bw.db.scalars(select(CaseMaterial).where(CaseMaterial.case_id == second.id)).all()
    assert [m.material_code for m in have] == ["ID_COPY"]  # forwarded from the bundle
    bw.act("clerk", second, "accept", when=at(2026, 9, 25))
    bw.act("police", second, "approve", when=at(2026, 9, 25))
    third = bw.tasks(bundle)["medical"]
    bw.act("clerk", third, "accept", when=at(2026, 9, 28))
    assert bw.reload(bundle).state == "accepted"
    bw.act("medical", third, "approve", when=at(2026, 9, 28))
    assert bw.reload(bundle).state == "approved"


# --- deny rules ---------------------------------------------------------------------------


def _deny(bw: BundleWorld, task_key: str, bundle_case: object) -> None:
    task = bw.tasks(bundle_case)[task_key]  # type: ignore[arg-type]
    bw.act("clerk", task, "accept")
    bw.act(REVIEWERS[task_key], task, "deny", reason="材料与事实不符")


def test_deny_bundle_denies_at_once_and_lets_started_tasks_finish(bw: BundleWorld) -> None:
    bw.define("XS", [*PARALLEL, "medical"], rule="deny_bundle",
              deps={"medical": ["birth_reg"]})
    bundle = bw.apply("XS")
    bw.share(bundle)
    _deny(bw, "birth_cert", bundle)
    bundle = bw.reload(bundle)
    assert (bundle.state, bundle.decision) == ("denied", "denied")
    assert "出生医学证明首次签发" in (bundle.decision_reason or "")
    tasks = bw.tasks(bundle)
    assert tasks["birth_reg"].state == "submitted"  # its department still decides it
    assert bw.statuses(bundle)["medical"] == "skipped"
    bw.act("clerk", tasks["birth_reg"], "accept")
    bw.act("police", tasks["birth_reg"], "approve")
    assert bw.reload(bundle).state == "denied" and "medical" not in bw.tasks(bundle)


def test_terminate_others_denies_and_terminates_the_open_tasks(bw: BundleWorld) -> None:
    bw.define("XS", PARALLEL, rule="terminate_others")
    bundle = bw.apply("XS")
    bw.share(bundle)
    _deny(bw, "birth_reg", bundle)
    assert bw.reload(bundle).state == "denied"
    tasks = bw.tasks(bundle)
    assert {k: t.state for k, t in tasks.items()} == {
        "birth_cert": "terminated", "birth_reg": "denied", "social_card": "terminated"}
    assert tasks["birth_cert"].decision_reason is None
    events = cases.get(db_session=bw.db, actor=cases.WORKER_ACTOR,
                       case_number=tasks["social_card"].number).events
    assert events[-1].action == "terminate" and "依规则终止" in (events[-1].reason or "")


def test_continue_others_waits_for_all_and_partly_approves(bw: BundleWorld) -> None:
    bw.define("XS", [*PARALLEL, "medical"], rule="continue_others",
              deps={"medical": ["birth_cert"]})
    bundle = bw.apply("XS")
    bw.share(bundle)
    _deny(bw, "birth_cert", bundle)
    assert bw.reload(bundle).state == "accepted"  # not decided while others run
    assert bw.statuses(bundle)["medical"] == "skipped"  # its prerequisite failed
    tasks = bw.tasks(bundle)
    for key in ("birth_reg", "social_card"):
        bw.act("clerk", tasks[key], "accept")
        bw.act(REVIEWERS[key], tasks[key], "approve")
    bundle = bw.reload(bundle)
    assert (bundle.state, bundle.decision) == ("partly_approved", "partly_approved")
    assert bundle.decided_at is not None


def test_continue_others_denies_when_nothing_is_approved(bw: BundleWorld) -> None:
    bw.define("XS", ["birth_cert", "birth_reg"], rule="continue_others")
    bundle = bw.apply("XS")
    bw.share(bundle)
    _deny(bw, "birth_cert", bundle)
    bw.act("clerk", bw.tasks(bundle)["birth_reg"], "refuse", reason="不属于本机关职权范围")
    assert bw.reload(bundle).state == "denied"


def test_withdrawing_the_bundle_withdraws_its_open_tasks(bw: BundleWorld) -> None:
    bw.define("XS", ["birth_cert", "birth_reg", "medical"], deps={"medical": ["birth_reg"]})
    bundle = bw.apply("XS")
    bw.share(bundle)
    bw.act("applicant", bundle, "withdraw")
    assert bw.reload(bundle).state == "withdrawn"
    assert {t.state for t in bw.tasks(bundle).values()} == {"withdrawn"}
    assert bw.statuses(bundle)["medical"] == "skipped"


def test_an_immediate_member_decides_at_acceptance(bw: BundleWorld) -> None:
    catalog.update_draft(db_session=bw.db, actor=bw["catalog_admin"],
                         implementation_code=bw.codes["medical"], data=_immediate())
    catalog.publish(db_session=bw.db, actor=bw["catalog_admin"],
                    implementation_code=bw.codes["medical"])
    bw.define("XS", ["birth_cert", "medical"])
    bundle = bw.apply("XS")
    bw.share(bundle)
    bw.act("clerk", bw.tasks(bundle)["medical"], "accept")
    assert bw.tasks(bundle)["medical"].state == "approved"
    assert bw.reload(bundle).state == "accepted"
    decide_all(bw, bundle, REVIEWERS)
    assert bw.reload(bundle).state == "approved"


def _immediate() -> object:
    from tests.bundles.conftest import IMPLEMENTATIONS, _guide
    from tongban.catalog.schemas import DraftIn

    spec = next(i for i in IMPLEMENTATIONS if i[0] == "medical")
    return DraftIn(name=spec[3], form_schema=spec[4],
                   guide=_guide(spec[5], promised=0, legal=5, kind="immediate"))


# --- bad input ----------------------------------------------------------------------------


def test_an_unknown_bundle_is_not_found(bw: BundleWorld) -> None:
    with pytest.raises(NotFound):
        bw.apply("NOPE")


def test_an_invalid_form_is_refused_per_field_and_writes_nothing(bw: BundleWorld) -> None:
    bw.define("XS", PARALLEL)
    before = bw.counts()
    bad = {**GOOD, "phone": "12345", "bank_account": 42}
    del bad["child_name"]
    with pytest.raises(InvalidInput) as err:
        bw.apply("XS", form=bad)
    fields = sorted({d["field"] for d in err.value.details})
    assert fields == ["form_data.bank_account", "form_data.child_name", "form_data.phone"]
    assert err.value.code == "invalid_form"
    bw.db.rollback()
    assert bw.counts() == before


def test_a_member_withdrawn_after_publication_stops_new_applications(bw: BundleWorld) -> None:
    bw.define("XS", PARALLEL)
    catalog.withdraw(db_session=bw.db, actor=bw["catalog_admin"],
                     implementation_code=bw.codes["birth_reg"])
    bw.db.commit()
    with pytest.raises(Conflict) as err:
        bw.apply("XS")
    assert err.value.code == "member_not_published"
    assert err.value.details[0]["field"] == "members.1.implementation_code"


def test_a_bundle_with_an_unpublished_member_cannot_be_published(bw: BundleWorld) -> None:
    bw.define("XS", ["birth_cert", "draft"], publish=False)
    with pytest.raises(Conflict) as err:
        service.publish(db_session=bw.db, actor=bw["catalog_admin"], bundle_code="XS")
    assert err.value.details[0]["code"] == "member_not_published"
    bw.db.rollback()
    with pytest.raises(Conflict) as err:  # never published: nothing to apply for
        bw.apply("XS", form=GOOD)
    assert err.value.code == "not_published"


@pytest.mark.parametrize(("members", "field"), [
    ([("birth_cert", ["birth_reg"]), ("birth_reg", ["birth_cert"])], "members"),
    ([("birth_cert", ["birth_cert"]), ("birth_reg", [])], "members.0.depends_on"),
    ([("birth_cert", []), ("birth_cert", [])], "members.1.implementation_code"),
])
def test_dependencies_must_name_other_members_without_cycles(
    bw: BundleWorld, members: list[tuple[str, list[str]]], field: str
) -> None:
    data = BundleIn(code="CYC", name="循环一件事", region_code="510100", legal_days=10,
                    promised_days=5, members=[
                        MemberIn(implementation_code=bw.codes[m],
                                 depends_on=[bw.codes[d] for d in deps])
                        for m, deps in members])
    with pytest.raises(InvalidInput) as err:
        service.save_draft(db_session=bw.db, actor=bw["catalog_admin"], data=data)
    assert err.value.details[0]["field"] == field


def test_only_a_catalog_admin_over_the_region_defines_bundles(bw: BundleWorld) -> None:
    data = BundleIn(code="XS", name="新生儿出生", region_code="510100", legal_days=10,
                    promised_days=5, members=[MemberIn(implementation_code=bw.codes[k])
                                              for k in PARALLEL])
    for who in ("clerk", "catalog_jj"):
        with pytest.raises(Forbidden):
            service.save_draft(db_session=bw.db, actor=bw[who], data=data)


def test_a_published_bundle_version_is_immutable(bw: BundleWorld) -> None:
    bw.define("XS", PARALLEL)
    view = service.get_bundle(db_session=bw.db, bundle_code="XS")
    view.version.name = "改名"
    with pytest.raises(Conflict):
        bw.db.flush()


def test_the_same_idempotency_key_returns_the_same_bundle_case(bw: BundleWorld) -> None:
    bw.define("XS", PARALLEL)
    first = bw.apply("XS", key="k-1")
    again = bw.apply("XS", key="k-1")
    assert again.id == first.id and len(bw.tasks(first)) == 3


def test_a_channel_or_applicant_type_some_member_does_not_serve_is_refused(
    bw: BundleWorld
) -> None:
    bw.define("XS", PARALLEL)
    with pytest.raises(InvalidInput) as err:
        bw.apply("XS", channel="mobile")
    assert err.value.details[0]["field"] == "channel"


def test_a_window_clerk_files_only_for_members_within_reach(bw: BundleWorld) -> None:
    from tongban.cases.schemas import ApplicantIn

    bw.define("XS", PARALLEL)  # social_card is handled in 成都, outside 锦江区's window
    walk_in = ApplicantIn(person_id=bw.person_id)
    with pytest.raises(Forbidden):
        bw.apply("XS", who="clerk_jj", applicant=walk_in)
    bundle = bw.apply("XS", who="clerk", applicant=walk_in)
    assert bundle.submitted_by_account_id == bw["clerk"].account_id


def test_materials_not_in_the_bundle_or_after_it_closed_are_refused(bw: BundleWorld) -> None:
    bw.define("XS", ["birth_cert", "birth_reg"])
    bundle = bw.apply("XS")
    with pytest.raises(InvalidInput):
        bw.share(bundle, "PASSPORT")
    bw.db.rollback()
    bw.act("applicant", bundle, "withdraw")
    with pytest.raises(Conflict):
        bw.share(bundle)


# --- concurrency -------------------------------------------------------------------------


def test_two_departments_approving_at_once_still_decide_the_bundle(bw: BundleWorld) -> None:
    """The second approval waits for the first (row lock on the bundle and its tasks) and
    then sees it, so the last one decides the bundle. PostgreSQL: SQLite has one writer."""
    import threading

    from tongban.db import make_sessionmaker

    if bw.db.get_bind().dialect.name != "postgresql":
        pytest.skip("SQLite serialises writers; the race needs concurrent writers")
    bw.define("XS", ["birth_cert", "birth_reg"])
    bundle = bw.apply("XS")
    bw.share(bundle)
    tasks = bw.tasks(bundle)
    for task in tasks.values():
        bw.act("clerk", task, "accept")
    cases.act(db_session=bw.db, settings=bw.settings, actor=bw["health"],
              case_number=tasks["birth_cert"].number, action="approve", now=at(2026, 9, 23))
    errors: list[BaseException] = []

    def second() -> None:
        with make_sessionmaker(bw.db.get_bind())() as other:  # type: ignore[arg-type]
            try:
                cases.act(db_session=other, settings=bw.settings, actor=bw["police"],
                          case_number=tasks["birth_reg"].number, action="approve",
                          now=at(2026, 9, 23))
                other.commit()
            except BaseException as exc:
                errors.append(exc)

    thread = threading.Thread(target=second)
    thread.start()
    thread.join(timeout=0.5)  # blocked on the first transaction's locks
    bw.db.commit()
    thread.join(timeout=30)
    assert not thread.is_alive() and errors == []
    assert bw.reload(bundle).state == "approved"


def test_two_departments_approving_in_the_same_instant_do_not_deadlock(
        bw: BundleWorld) -> None:
    """Two real transactions, each held at a barrier just after it wrote its own task
    (where, locking task first and bundle second, each would wait for the other's task:
    a deadlock PostgreSQL breaks by failing one). Locking the bundle first, the second
    waits at the bundle until the first commits, and both approvals stand."""
    import threading

    from sqlalchemy import event

    from tongban.db import make_engine, make_sessionmaker
    from tongban.node.keyring import keyring

    if bw.db.get_bind().dialect.name != "postgresql":
        pytest.skip("SQLite serialises writers; the race needs concurrent writers")
    bw.define("XD", ["birth_cert", "birth_reg"])
    bundle = bw.apply("XD")
    bw.share(bundle)
    tasks = bw.tasks(bundle)
    for task in tasks.values():
        bw.act("clerk", task, "accept")
    bw.db.commit()
    engine = make_engine(bw.db.get_bind().url.render_as_string(hide_password=False),
                         pool_size=2, lock_timeout_ms=20_000, keys=keyring(bw.settings))
    barrier = threading.Barrier(2)
    held = threading.local()

    @event.listens_for(engine, "after_cursor_execute")
    def wait_after_own_write(_conn, _cursor, statement, *_args):  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("UPDATE CASES") and \
                not getattr(held, "waited", False):
            held.waited = True
            # the other one is here too (old order), or queued behind us at the bundle
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait(timeout=3)

    errors: list[BaseException] = []

    def approve(department: str, member: str) -> None:
        with make_sessionmaker(engine)() as session:
            try:
                cases.act(db_session=session, settings=bw.settings, actor=bw[department],
                          case_number=tasks[member].number, action="approve",
                          now=at(2026, 9, 23))
                session.commit()
            except BaseException as exc:
                errors.append(exc)

    threads = [threading.Thread(target=approve, args=("health", "birth_cert")),
               threading.Thread(target=approve, args=("police", "birth_reg"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    engine.dispose()
    assert errors == [], errors
    bw.db.expire_all()
    assert {bw.reload(t).state for t in tasks.values()} == {"approved"}
    assert bw.reload(bundle).state == "approved"
