"""双随机一公开: committed before the randomness exists, re-run by anyone from the bundle."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import uuid
from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tests.cases.conftest import World
from tongban import cli
from tongban.db import utcnow
from tongban.errors import Conflict, Forbidden, InvalidInput
from tongban.identity.ids import make_uscc
from tongban.ledger import service as ledger
from tongban.supervision.draws import service, verify_draw
from tongban.supervision.draws.schemas import DrawIn, ListIn, RecusalIn

API = "/api/v1/supervision/draws"


def targets(n: int = 20) -> list[dict[str, Any]]:
    return [{"id": make_uscc("9", "2", "510104", f"MA{i:06d}"), "name": f"锦江商户{i}",
             "stratum": "餐饮" if i % 2 else "零售"} for i in range(n)]


def inspectors(conflicts: dict[int, list[str]] | None = None) -> list[dict[str, Any]]:
    return [{"id": f"ZF-{i:03d}", "name": f"执法员{i}", "department": "锦江区市场监管局",
             "conflicts": (conflicts or {}).get(i, [])} for i in range(6)]


def frozen(w: World, kind: str, entries: list[dict[str, Any]]) -> uuid.UUID:
    row = service.create_list(db_session=w.db, actor=w["supervisor"], data=ListIn(
        kind=kind, name=f"{kind} 2026", region_code="510104", entries=entries))
    service.freeze_list(db_session=w.db, actor=w["supervisor"], list_id=row.id)
    return row.id


def committed(w: World, *, rules: dict[str, Any] | None = None,
              conflicts: dict[int, list[str]] | None = None, delay: int = 0) -> Any:
    data = DrawIn(task="2026年第四季度食品经营抽查",
                  targets_list_id=frozen(w, "targets", targets()),
                  inspectors_list_id=frozen(w, "inspectors", inspectors(conflicts)),
                  rules=rules or {"sample_size": 5, "inspectors_per_target": 2},
                  source={"kind": "ledger", "delay_seconds": delay})
    draw = service.commit_draw(db_session=w.db, actor=w["supervisor"], data=data)
    w.db.commit()
    return draw


def drawn(w: World, **kw: Any) -> Any:
    draw = committed(w, **kw)
    ledger.run_once(db_session=w.db, settings=w.settings)
    service.run_draw(db_session=w.db, actor=w["supervisor"], draw_id=draw.id)
    w.db.commit()
    return draw


def bundle(w: World, draw: Any) -> dict[str, Any]:
    return json.loads(json.dumps(service.published(db_session=w.db, draw_id=draw.id).bundle()))


def test_the_randomness_comes_after_the_commitment_is_in_a_signed_checkpoint(
        world: World) -> None:
    w = world
    draw = committed(w)
    with pytest.raises(Conflict) as early:
        service.run_draw(db_session=w.db, actor=w["supervisor"], draw_id=draw.id)
    assert early.value.code == "randomness_not_yet"
    ledger.run_once(db_session=w.db, settings=w.settings)
    service.run_draw(db_session=w.db, actor=w["supervisor"], draw_id=draw.id)
    assert draw.state == "drawn" and len(draw.result["selected"]) == 5
    assert all(len(s["inspector_ids"]) == 2 for s in draw.result["selected"])
    assert draw.reveal["tree_size"] > draw.reveal["commitment_entry_index"]
    with pytest.raises(Conflict):
        service.run_draw(db_session=w.db, actor=w["supervisor"], draw_id=draw.id)


def test_a_delay_keeps_the_draw_closed_until_it_passes(world: World) -> None:
    draw = committed(world, delay=3600)
    ledger.run_once(db_session=world.db, settings=world.settings)
    with pytest.raises(Conflict) as early:
        service.run_draw(db_session=world.db, actor=world["supervisor"], draw_id=draw.id)
    assert early.value.details["not_before"] == draw.commitment["source"]["not_before"]


def test_the_standalone_script_reruns_the_published_draw(world: World, tmp_path: Path) -> None:
    data = bundle(world, drawn(world))
    assert verify_draw.verify(data) == []
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    script = resources.files("tongban.supervision.draws").joinpath("verify_draw.py")
    # -I: isolated, so the script sees the standard library only, never tongban.
    done = subprocess.run([sys.executable, "-I", str(script), str(path)], capture_output=True,
                          text=True, check=False, cwd=tmp_path)
    assert done.returncode == 0 and done.stdout.startswith("OK"), done.stdout + done.stderr


@pytest.mark.parametrize(("tamper", "problem"), [
    (lambda b: b["targets"][0].update(name="改名"), "targets list"),
    (lambda b: b["inspectors"].pop(), "inspectors list"),
    (lambda b: b["rules"].update(sample_size=6), "rules"),
    (lambda b: b["commitment"].update(task="另一任务"), "commitment hash"),
    (lambda b: b.update(seed="00" * 32), "seed"),
    (lambda b: b["result"]["selected"].reverse(), "result"),
    (lambda b: b["recusals"].append({**b["result"]["selected"][0], "reason": "未公布的回避",
                                     "inspector_id": b["result"]["selected"][0][
                                         "inspector_ids"][0]}), "result"),
])
def test_any_tampering_is_named_by_the_verifier(world: World, tamper: Any, problem: str
                                                ) -> None:
    data = bundle(world, drawn(world))
    assert verify_draw.verify(data) == []
    tampered = copy.deepcopy(data)
    tamper(tampered)
    found = verify_draw.verify(tampered)
    assert any(problem in p for p in found), found


def test_conflicts_are_skipped_and_recusals_replace_by_rank(world: World) -> None:
    w = world
    everyone = [t["id"] for t in targets()]
    draw = drawn(w, conflicts={0: everyone, 1: everyone[:10]})
    first = draw.result["selected"][0]
    assert all("ZF-000" not in s["inspector_ids"] for s in draw.result["selected"])
    # The seed decides whether ZF-000 ranks ahead of a target's last pick; whenever it does
    # it must be listed as skipped for conflict, and never otherwise.
    seed = bytes.fromhex(draw.seed)
    expected = set()
    for s in draw.result["selected"]:
        last = verify_draw.rank(seed, f"inspector:{s['target_id']}:{s['inspector_ids'][-1]}")
        if verify_draw.rank(seed, f"inspector:{s['target_id']}:ZF-000") < last:
            expected.add(s["target_id"])
    assert {k["target_id"] for k in draw.result["skips"]
            if k["inspector_id"] == "ZF-000" and k["reason"] == "conflict"} == expected
    stepping_aside = first["inspector_ids"][0]
    service.recuse(db_session=w.db, actor=w["supervisor"], draw_id=draw.id, data=RecusalIn(
        target_id=first["target_id"], inspector_id=stepping_aside, reason="曾为其提供咨询服务"))
    w.db.commit()
    now_first = draw.result["selected"][0]
    assert stepping_aside not in now_first["inspector_ids"]
    assert now_first["inspector_ids"][0] == first["inspector_ids"][1]
    data = bundle(w, draw)
    assert data["recusals"][0]["reason"] == "曾为其提供咨询服务"
    assert verify_draw.verify(data) == []
    with pytest.raises(InvalidInput):
        service.recuse(db_session=w.db, actor=w["supervisor"], draw_id=draw.id,
                       data=RecusalIn(target_id=first["target_id"],
                                      inspector_id=stepping_aside, reason="再次回避"))


def four(conflicted: list[str]) -> list[dict[str, Any]]:
    return [{"id": f"ZF-{i:03d}", "conflicts": conflicted if i == 0 else []} for i in range(4)]


@pytest.mark.parametrize(("seed_byte", "skipped"), [(5, ["T0", "T1", "T2"]), (3, [])])
def test_a_conflicted_inspector_is_skipped_where_ranked_ahead_and_never_picked(
        seed_byte: int, skipped: list[str]) -> None:
    targets_ = ["T0", "T1", "T2"]
    picks, skips = verify_draw.assign_inspectors(
        bytes([seed_byte]) * 32, targets_, four(targets_), {"inspectors_per_target": 2}, [])
    assert all(len(p) == 2 and "ZF-000" not in p for p in picks.values())
    assert skips == [{"target_id": t, "inspector_id": "ZF-000", "reason": "conflict"}
                     for t in skipped]


def test_percent_per_stratum_takes_each_stratum_rounded_up(world: World) -> None:
    draw = drawn(world, rules={"sample_percent": "15", "per_stratum": True,
                               "inspectors_per_target": 2})
    picked = {s["target_id"] for s in draw.result["selected"]}
    by_stratum = {t["id"]: t["stratum"] for t in targets()}
    # ten targets per stratum, 15 % rounded up: two each
    assert sorted(by_stratum[p] for p in picked) == ["零售", "零售", "餐饮", "餐饮"]


def test_lists_are_checked_entry_by_entry_and_must_be_frozen(world: World) -> None:
    w = world
    bad = targets(4)
    bad[3]["id"] = bad[3]["id"][:-1] + ("0" if bad[3]["id"][-1] != "0" else "1")
    with pytest.raises(InvalidInput) as err:
        service.create_list(db_session=w.db, actor=w["supervisor"], data=ListIn(
            kind="targets", name="x", region_code="510104", entries=bad))
    assert err.value.details[0]["field"] == "entries.3.id"
    with pytest.raises(InvalidInput) as twice:
        service.create_list(db_session=w.db, actor=w["supervisor"], data=ListIn(
            kind="targets", name="x", region_code="510104", entries=targets(3) + targets(1)))
    assert "repeated" in twice.value.message
    open_list = service.create_list(db_session=w.db, actor=w["supervisor"], data=ListIn(
        kind="inspectors", name="x", region_code="510104", entries=inspectors()))
    with pytest.raises(Conflict) as unfrozen:
        service.commit_draw(db_session=w.db, actor=w["supervisor"], data=DrawIn(
            task="t", targets_list_id=frozen(w, "targets", targets()),
            inspectors_list_id=open_list.id, rules={"sample_size": 1}))
    assert unfrozen.value.code == "list_not_frozen"
    with pytest.raises(Forbidden):
        service.create_list(db_session=w.db, actor=w["clerk_bj"], data=ListIn(
            kind="targets", name="x", region_code="510104", entries=targets(2)))


def test_a_drand_round_must_be_in_the_future(world: World) -> None:
    w = world
    past = (utcnow() - timedelta(days=1)).timestamp()
    round_ = int((past - service.QUICKNET_GENESIS) // service.QUICKNET_PERIOD) + 1
    with pytest.raises(InvalidInput) as err:
        service.commit_draw(db_session=w.db, actor=w["supervisor"], data=DrawIn(
            task="t", targets_list_id=frozen(w, "targets", targets()),
            inspectors_list_id=frozen(w, "inspectors", inspectors()),
            rules={"sample_size": 1}, source={"kind": "drand", "round": round_}))
    assert err.value.details["field"] == "source.round"


def test_draws_are_public_and_made_only_by_supervisors(client: TestClient, world: World
                                                       ) -> None:
    w = world
    draw = drawn(w)
    assert client.get(f"{API}/{draw.id}").json()["seed"] == draw.seed
    assert verify_draw.verify(client.get(f"{API}/{draw.id}/bundle").json()) == []
    assert "def verify(" in client.get(f"{API}/verifier.py").text
    assert client.get(API).json()[0]["id"] == str(draw.id)
    lists = {"kind": "targets", "name": "x", "region_code": "510104", "entries": targets(2)}
    assert client.post(f"{API}/lists", json=lists).status_code == 401
    assert client.post(f"{API}/lists", json=lists,
                       headers=w.token("reviewer")).status_code == 403
    bad = client.post(f"{API}/lists", json={**lists, "entries": [{"id": "x"}]},
                      headers=w.token("supervisor"))
    assert bad.status_code == 422


def test_the_cli_verifies_a_bundle_and_names_a_mismatch(world: World, tmp_path: Path,
                                                        cli_env: None) -> None:
    data = bundle(world, drawn(world))
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps(data), encoding="utf-8")
    data["seed"] = "11" * 32
    bad.write_text(json.dumps(data), encoding="utf-8")
    runner = CliRunner()
    ok = runner.invoke(cli.app, ["supervision", "draw", "verify", str(good)])
    assert ok.exit_code == 0 and "OK" in ok.output
    failed = runner.invoke(cli.app, ["supervision", "draw", "verify", str(bad)])
    assert failed.exit_code == 1 and "seed" in str(failed.exception)


def test_the_public_page_shows_the_commitment_result_and_recusals(client: TestClient,
                                                                  world: World) -> None:
    w = world
    draw = drawn(w)
    first = draw.result["selected"][0]
    service.recuse(db_session=w.db, actor=w["supervisor"], draw_id=draw.id, data=RecusalIn(
        target_id=first["target_id"], inspector_id=first["inspector_ids"][0],
        reason="其配偶在该企业任职"))
    w.db.commit()
    listing = client.get("/inspections")
    assert listing.status_code == 200 and f"/inspections/{draw.id}" in listing.text
    page = client.get(f"/inspections/{draw.id}")
    assert page.status_code == 200
    assert draw.seed in page.text and draw.commitment_hash in page.text
    selected = page.text.split('id="selected"')[1].split("</table>")[0]
    assert selected.count("<tr>") == 6 and "锦江商户" in selected
    assert "其配偶在该企业任职" in page.text
    assert f"/api/v1/supervision/draws/{draw.id}/bundle" in page.text
    assert client.get("/inspections/not-a-uuid").status_code == 404
    assert "Random inspections" in client.get("/inspections", params={"lang": "en"}).text
