"""The supervisor's 双随机 page: lists pasted and frozen, a draw committed, drawn once the
randomness exists, a recusal recorded; every bad form a clear error page."""

from __future__ import annotations

import re
import uuid

from fastapi.testclient import TestClient

from tests.cases.conftest import World
from tests.supervision.test_dashboard_page import client, sign_in  # noqa: F401
from tests.supervision.test_draws import inspectors, targets
from tongban.ledger import service as ledger
from tongban.supervision.draws import verify_draw
from tongban.supervision.draws.models import Draw, DrawList
from tongban.web.draws import parse_entries


def lines_of(entries: list[dict[str, object]], kind: str) -> str:
    if kind == "targets":
        return "\n".join(f"{e['id']},{e['name']},{e['stratum']}" for e in entries)
    return "\n".join(f"{e['id']}，{e['name']},{e['department']}" for e in entries)


def test_a_supervisor_freezes_lists_commits_draws_and_records_a_recusal(
        client: TestClient, world: World) -> None:  # noqa: F811
    w = world
    sign_in(client, w, "supervisor")
    assert client.get("/supervision/inspections").status_code == 200
    for kind, entries in (("targets", targets()), ("inspectors", inspectors())):
        done = client.post("/supervision/inspections/lists", data={
            "kind": kind, "name": f"{kind} 2026", "region_code": "510104",
            "entries": lines_of(entries, kind), "freeze": "true"}, follow_redirects=False)
        assert done.status_code == 303, done.text
    w.db.expire_all()
    lists = {x.kind: x for x in w.db.query(DrawList)}
    assert all(x.state == "frozen" and x.sha256 for x in lists.values())
    client.get("/supervision/inspections")
    committed = client.post("/supervision/inspections/draws", data={
        "task": "四季度抽查", "targets_list_id": str(lists["targets"].id),
        "inspectors_list_id": str(lists["inspectors"].id), "size": "3",
        "inspectors_per_target": "2", "delay_seconds": "0"}, follow_redirects=False)
    assert committed.status_code == 303, committed.text
    draw_id = committed.headers["location"].rsplit("/", 1)[1]
    client.get(f"/inspections/{draw_id}")
    early = client.post(f"/supervision/inspections/draws/{draw_id}/run")
    assert early.status_code == 409 and "检查点" in early.text  # delay 0: only the checkpoint
    ledger.run_once(db_session=w.db, settings=w.settings)
    w.db.commit()
    client.get(f"/inspections/{draw_id}")
    drawn = client.post(f"/supervision/inspections/draws/{draw_id}/run")
    assert drawn.status_code == 200 and 'id="selected"' in drawn.text
    pair = re.search(r'<option value="([^"|]+\|[^"]+)"', drawn.text)
    assert pair is not None
    recused = client.post(f"/supervision/inspections/draws/{draw_id}/recusals",
                          data={"pair": pair.group(1), "reason": "近亲属在该企业任职"})
    assert recused.status_code == 200 and "近亲属在该企业任职" in recused.text
    w.db.expire_all()
    draw = w.db.get(Draw, uuid.UUID(draw_id))
    assert draw is not None and draw.state == "drawn"
    bundle = client.get(f"/api/v1/supervision/draws/{draw_id}/bundle").json()
    assert verify_draw.verify(bundle) == [] and len(bundle["recusals"]) == 1


def test_bad_forms_are_clear_error_pages(client: TestClient, world: World) -> None:  # noqa: F811
    sign_in(client, world, "supervisor")
    client.get("/supervision/inspections")
    bad = client.post("/supervision/inspections/lists", data={
        "kind": "targets", "name": "x", "region_code": "510104",
        "entries": "91510104MA0000000X,错误的代码"})
    assert bad.status_code == 422 and "entries.0.id" in bad.text
    client.get("/supervision/inspections")
    no_size = client.post("/supervision/inspections/draws", data={
        "task": "t", "targets_list_id": "x", "inspectors_list_id": "y"})
    assert no_size.status_code == 422
    sign_in(client, world, "reviewer")
    assert client.get("/supervision/inspections").status_code == 403


def test_pasted_lines_become_entries() -> None:
    assert parse_entries("inspectors", "ZF-1，张三,市场监管局,A;B\n\n") == [
        {"id": "ZF-1", "name": "张三", "department": "市场监管局", "conflicts": ["A", "B"]}]
    assert parse_entries("targets", "X,商户") == [{"id": "X", "name": "商户", "stratum": ""}]
