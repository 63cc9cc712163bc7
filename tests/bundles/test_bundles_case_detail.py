"""A bundle case and its tasks read as one family: the bundle's detail lists its task
cases, a task names its bundle (API, CLI and the case pages); and 一证通办 on bundles:
a task whose guide takes a material from an e-licence gets the applicant's valid licence
when it starts, as a single application would."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, select
from typer.testing import CliRunner

from tests.bundles.conftest import DEPARTMENTS, BundleWorld, _form, _guide, at
from tongban.bundles import service
from tongban.cases import cli as cases_cli
from tongban.cases import service as cases
from tongban.cases.models import CaseMaterial
from tongban.catalog import service as catalog
from tongban.catalog.schemas import ImplementationIn, ItemIn
from tongban.identity.actor import SYSTEM_ACTOR
from tongban.identity.deps import SESSION_COOKIE
from tongban.identity.ids import make_uscc
from tongban.licences import service as licences

API = "/api/v1"
PARALLEL = ["birth_cert", "birth_reg", "social_card"]
RESIDENCE = "居住证"
RESIDENCE_FIELDS = {"name": "张三", "gender": "男", "birth_date": "1990-01-01",
                    "ethnicity": "汉", "residence_address": "四川省成都市锦江区红星路三段1号",
                    "household_address": "重庆市渝中区解放碑街道民族路100号"}
HELD = {"code": "RESIDENCE", "name": "居住证", "source": "licence", "licence_type": RESIDENCE}


def _police_implementation(bw: BundleWorld, key: str, basic_code: str, name: str,
                           materials: list[dict[str, Any]], **guide: Any) -> str:
    """One more published implementation of the 锦江区 police, known to `bw` as `key`."""
    _, region, body = DEPARTMENTS["police"]
    catalog.create_item(db_session=bw.db, actor=SYSTEM_ACTOR, data=ItemIn(
        basic_code=basic_code, name=name, item_type="公共服务", use_levels=[4]))
    draft = catalog.create_draft(db_session=bw.db, actor=SYSTEM_ACTOR, data=ImplementationIn(
        basic_code=basic_code, department_credit_code=make_uscc("1", "1", region, body),
        region_code=region, level=4, name=name, form_schema=_form("child_name"),
        guide={**_guide(materials), **guide}))
    catalog.publish(db_session=bw.db, actor=SYSTEM_ACTOR,
                    implementation_code=draft.implementation_code)
    bw.codes[key] = draft.implementation_code
    return draft.implementation_code


@pytest.fixture
def endorse(bw: BundleWorld) -> str:
    """居住证签注: its 居住证 material comes from the e-licence, not an upload."""
    licences.load_licence_types(db_session=bw.db)
    code = _police_implementation(bw, "endorse", "000105022000", "居住证签注",
                                  [{"code": "ID_COPY", "name": "身份证复印件"}, HELD])
    bw.db.commit()
    return code


def _hold_residence_permit(bw: BundleWorld) -> str:
    assert bw.person_id is not None
    licence = licences.issue(db_session=bw.db, settings=bw.settings, licence_type_code=RESIDENCE,
                             holder_person_id=bw.person_id,
                             issuer_department_id=bw.departments["police"],
                             fields=RESIDENCE_FIELDS, valid_from=date(2026, 1, 1))
    bw.db.commit()
    return licence.identifier


def _sign_in(client: TestClient, bw: BundleWorld, who: str) -> None:
    """Browse as `who`: the session cookie the login form would set (only pages are read)."""
    token = bw.token(who)["Authorization"].removeprefix("Bearer ")
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, token)


def _held_materials(bw: BundleWorld, case: Any) -> list[tuple[str, str, str | None]]:
    rows = bw.db.scalars(select(CaseMaterial).where(CaseMaterial.case_id == case.id))
    return [(m.material_code, m.source, m.reference) for m in rows]


# --- the family in the case detail ------------------------------------------------------


def test_a_bundle_case_detail_lists_its_tasks_with_their_states(
        client: TestClient, bw: BundleWorld) -> None:
    bw.define("XS", PARALLEL)
    bundle = bw.apply("XS")
    tasks = bw.tasks(bundle)
    bw.share(bundle)
    bw.act("clerk", tasks["birth_reg"], "accept")
    body = client.get(f"{API}/cases/{bundle.number}", headers=bw.token("applicant")).json()
    assert body["kind"] == "bundle" and body["bundle_case_number"] is None
    listed = {t["implementation_code"]: t for t in body["tasks"]}
    assert set(listed) == {bw.codes[k] for k in PARALLEL}
    assert [t["number"] for t in body["tasks"]] == [
        tasks[k].number for k in PARALLEL]  # in the order they started
    reg = listed[bw.codes["birth_reg"]]
    assert reg["state"] == "accepted" and reg["state_label"] == "已受理"
    assert reg["item_name"] == "出生登记" and reg["decision"] is None
    assert reg["department_id"] == str(bw.departments["police"])
    assert reg["promised_due_date"] and reg["legal_due_date"]
    assert reg["warning_level"] == "none"
    assert listed[bw.codes["social_card"]]["state"] == "submitted"
    assert listed[bw.codes["social_card"]]["promised_due_date"] is None


def test_a_task_case_names_its_bundle(client: TestClient, bw: BundleWorld) -> None:
    bw.define("XS", PARALLEL)
    bundle = bw.apply("XS")
    task = bw.tasks(bundle)["birth_cert"]
    body = client.get(f"{API}/cases/{task.number}", headers=bw.token("health")).json()
    assert body["kind"] == "task" and body["bundle_case_number"] == bundle.number
    assert body["tasks"] == []


def test_a_single_case_reads_no_family(bw: BundleWorld) -> None:
    single = cases.submit(db_session=bw.db, settings=bw.settings, actor=bw["applicant"],
                          form_data={"applicant_name": "张三", "phone": "13800138000",
                                     "child_name": "张小宝"},
                          channel="online", implementation_code=bw.codes["medical"],
                          now=at(2026, 9, 21))
    bw.db.commit()
    bw.db.expire_all()
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    engine = bw.db.get_bind()
    event.listen(engine, "before_cursor_execute", seen)
    try:
        detail = cases.get(db_session=bw.db, actor=bw["applicant"], case_number=single.number)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert detail.tasks == [] and detail.bundle_case is None
    assert statements and not [s for s in statements
                               if re.search(r"WHERE\s+cases\.parent_case_id", s)]


def test_cases_show_prints_a_bundles_tasks_and_a_tasks_bundle(
        bw: BundleWorld, cli_env: None) -> None:
    bw.define("XS", PARALLEL)
    bundle = bw.apply("XS")
    tasks = bw.tasks(bundle)
    bw.share(bundle)
    bw.act("clerk", tasks["birth_reg"], "accept")
    runner = CliRunner()
    shown = runner.invoke(cases_cli.app, ["show", bundle.number])
    assert shown.exit_code == 0, shown.output
    lines = {t.number: next(line for line in shown.output.splitlines() if t.number in line)
             for t in tasks.values()}
    assert "出生登记" in lines[tasks["birth_reg"].number]
    assert "已受理" in lines[tasks["birth_reg"].number]
    assert "已提交" in lines[tasks["social_card"].number]
    task = runner.invoke(cases_cli.app, ["show", tasks["birth_cert"].number])
    assert task.exit_code == 0, task.output
    assert f"一件事 / bundle: {bundle.number}" in task.output


def test_the_case_pages_show_the_bundle_family(client: TestClient, bw: BundleWorld) -> None:
    bw.define("XS", PARALLEL)
    bundle = bw.apply("XS")
    tasks = bw.tasks(bundle)
    _sign_in(client, bw, "applicant")
    page = client.get(f"/my/cases/{bundle.number}").text
    assert re.findall(r'<tr data-task-case="([^"]+)">', page) == [
        tasks[k].number for k in PARALLEL]
    assert f'href="/my/cases/{tasks["birth_reg"].number}"' in page
    assert f'href="/my/bundles/{bundle.number}"' in page
    mine = client.get(f"/my/cases/{tasks['birth_reg'].number}").text
    assert f'<p id="bundle-parent" data-bundle="{bundle.number}">' in mine
    assert f'href="/my/bundles/{bundle.number}"' in mine
    en = client.get(f"/my/cases/{tasks['birth_reg'].number}?lang=en").text
    assert "This case is part of a bundle" in en

    _sign_in(client, bw, "clerk")
    staff = client.get(f"/workbench/cases/{bundle.number}").text
    assert f'href="/workbench/cases/{tasks["social_card"].number}"' in staff
    assert "各部门办件" in staff
    task = client.get(f"/workbench/cases/{tasks['birth_cert'].number}").text
    assert f'href="/workbench/bundles/{bundle.number}"' in task
    _sign_in(client, bw, "health")  # a department reviewer sees the task, not the whole bundle
    task = client.get(f"/workbench/cases/{tasks['birth_cert'].number}").text
    assert f'data-bundle="{bundle.number}"' in task
    assert f'href="/workbench/bundles/{bundle.number}"' not in task


# --- held licences (一证通办) on bundle tasks --------------------------------------------


def test_a_held_licence_is_attached_to_the_task_that_takes_it(
        client: TestClient, bw: BundleWorld, endorse: str) -> None:
    identifier = _hold_residence_permit(bw)
    bw.define("XR", ["birth_cert", "endorse"])
    bundle = bw.apply("XR")
    tasks = bw.tasks(bundle)
    assert _held_materials(bw, tasks["endorse"]) == [("RESIDENCE", "licence", identifier)]
    assert _held_materials(bw, tasks["birth_cert"]) == []
    found = service.get_case(db_session=bw.db, actor=bw["applicant"], case_number=bundle.number)
    held = found.licence_for("RESIDENCE")
    assert held is not None and held.reference == identifier
    body = client.get(f"{API}/bundle-cases/{bundle.number}",
                      headers=bw.token("applicant")).json()
    assert [(m["material_code"], m["reference"], m["task_case_number"])
            for m in body["licences"]] == [("RESIDENCE", identifier, tasks["endorse"].number)]
    _sign_in(client, bw, "applicant")
    page = client.get(f"/my/bundles/{bundle.number}").text
    assert f'<span class="tag ok" data-licence="{identifier}">已关联电子证照</span>' in page


def test_without_a_held_licence_nothing_is_attached(bw: BundleWorld, endorse: str) -> None:
    bw.define("XR", ["birth_cert", "endorse"])
    bundle = bw.apply("XR")
    assert _held_materials(bw, bw.tasks(bundle)["endorse"]) == []
    found = service.get_case(db_session=bw.db, actor=bw["applicant"], case_number=bundle.number)
    assert found.licences == [] and found.licence_for("RESIDENCE") is None


def test_a_replayed_application_attaches_the_licence_once(bw: BundleWorld,
                                                          endorse: str) -> None:
    _hold_residence_permit(bw)
    bw.define("XR", ["birth_cert", "endorse"])
    first = bw.apply("XR", key="k-1")
    assert bw.apply("XR", key="k-1").id == first.id
    assert len(_held_materials(bw, bw.tasks(first)["endorse"])) == 1


def test_a_dependent_task_gets_the_licence_its_prerequisite_issued(
        bw: BundleWorld, endorse: str) -> None:
    _police_implementation(bw, "permit", "000105021000", "居住证申领", [],
                           result={"name": "居住证", "kind": "licence",
                                   "licence_type": RESIDENCE})
    bw.db.commit()
    bw.define("XP", ["permit", "endorse"], deps={"endorse": ["permit"]})
    bundle = bw.apply("XP")
    permit = bw.tasks(bundle)["permit"]
    assert set(bw.tasks(bundle)) == {"permit"}  # 签注 waits for the permit
    bw.act("clerk", permit, "accept")
    bw.act("police", permit, "approve", licence_fields=RESIDENCE_FIELDS)
    started = bw.tasks(bundle)["endorse"]
    issued = licences.find_valid_licence(db_session=bw.db, holder_person_id=bw.person_id,
                                         licence_type_code=RESIDENCE)
    assert issued is not None and issued.case_id == permit.id
    assert _held_materials(bw, started) == [("RESIDENCE", "licence", issued.identifier)]
