"""Metrics through HTTP (JSON and Excel, errors as JSON) and the `tongban` command."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from typer.testing import CliRunner

from tests.cases.conftest import World, at
from tests.supervision.test_metrics_service import approved_across_national_day
from tongban import cli
from tongban.supervision.ratings import service as ratings

API = "/api/v1/supervision/metrics"


def test_definitions_are_public_with_their_hash(client: TestClient) -> None:
    body = client.get(f"{API}/definitions").json()
    assert len(body["definitions_hash"]) == 64
    on_time = next(m for m in body["metrics"] if m["id"] == "on_time_rate")
    assert on_time["version"] == 1 and on_time["name"] == "按时办结率"
    assert body["fact_rules"]["decision_states"]


def test_a_supervisor_refreshes_and_reads_by_department_in_json_and_excel(
        client: TestClient, world: World) -> None:
    w = world
    case = approved_across_national_day(w, pause_and_extend=True)
    ratings.rate(db_session=w.db, actor=w["applicant"], case_number=case.number,
                 channel="online", level=2, now=at(2026, 10, 21))
    w.db.commit()
    headers = w.token("supervisor")
    refreshed = client.post(f"{API}/refresh", headers=headers).json()
    assert (refreshed["facts"], refreshed["ratings"], refreshed["complaints"]) == (1, 1, 0)
    params = {"from": "2026-09", "to": "2026-10", "by": "department"}
    body = client.get(API, params=params, headers=headers).json()
    [row] = body["rows"]
    assert row["label"] == "成都市锦江区市场监督管理局"
    on_time = next(v for v in row["values"] if v["metric"] == "on_time_rate")
    assert (on_time["value"], on_time["numerator"], on_time["denominator"]) == (1.0, 1, 1)
    rectified = next(v for v in row["values"] if v["metric"] == "bad_rating_rectified_rate")
    assert (rectified["value"], rectified["denominator"], rectified["version"]) == (0.0, 1, 2)
    assert body["definitions_hash"] and body["refreshed_at"]
    xlsx = client.get(API, params={**params, "format": "xlsx"}, headers=headers)
    assert xlsx.status_code == 200
    sheet = load_workbook(io.BytesIO(xlsx.content))["指标"]
    rows = list(sheet.iter_rows(values_only=True))
    header = rows[1]
    column = header.index("按时办结率 (v1)")
    assert rows[2][0] == "成都市锦江区市场监督管理局" and rows[2][column] == 1.0
    assert rows[2][header.index("好评率 (v2)")] == 0.0
    assert rows[2][header.index("差评整改率 分子/分母")] == "0/1"
    assert rows[-1][0] == "合计"


def test_bad_queries_are_clear_json_errors(client: TestClient, world: World) -> None:
    headers = world.token("supervisor")
    bad = client.get(API, params={"from": "2026-9", "to": "2026-10"}, headers=headers)
    assert bad.status_code == 422 and bad.json()["details"]["field"] == "from"
    dept = client.get(API, params={"from": "2026-09", "to": "2026-10",
                                   "department_id": "x"}, headers=headers)
    assert dept.status_code == 422 and dept.json()["details"]["field"] == "department_id"
    assert client.get(API, params={"from": "2026-09", "to": "2026-10"}).status_code == 401
    applicant = world.token("applicant")
    assert client.get(API, params={"from": "2026-09", "to": "2026-10"},
                      headers=applicant).status_code == 403
    assert client.post(f"{API}/refresh", headers=world.token("reviewer")).status_code == 403


def test_the_cli_refreshes_and_prints_a_report(cli_env: None, world: World,
                                                tmp_path: Path) -> None:
    case = approved_across_national_day(world, pause_and_extend=False)
    ratings.rate(db_session=world.db, actor=world["applicant"], case_number=case.number,
                 channel="online", level=5, now=at(2026, 10, 21))
    world.db.commit()
    runner = CliRunner()
    refreshed = runner.invoke(cli.app, ["supervision", "metrics", "refresh"])
    assert refreshed.exit_code == 0, refreshed.output
    assert "1 ratings" in refreshed.output and "1 facts" in refreshed.output
    shown = runner.invoke(cli.app, ["supervision", "metrics", "show", "--from", "2026-09",
                                    "--to", "2026-10", "--metrics",
                                    "on_time_rate,good_rating_rate"])
    assert shown.exit_code == 0, shown.output
    assert "0.0% (0/1)" in shown.output and "100.0% (1/1)" in shown.output
    out = tmp_path / "m.xlsx"
    wrote = runner.invoke(cli.app, ["supervision", "metrics", "show", "--from", "2026-09",
                                    "--to", "2026-10", "--xlsx", str(out)])
    assert wrote.exit_code == 0 and load_workbook(out)["指标定义"].max_row == 11


def test_a_bad_cli_query_is_one_line_and_exit_1(
        cli_env: None, world: World, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["tongban", "supervision", "metrics", "show", "--from",
                                      "2026-09", "--to", "2026-08"])
    with pytest.raises(SystemExit) as exc:
        cli.main()
    err = capsys.readouterr().err
    assert exc.value.code == 1 and "from is after to" in err and err.count("\n") == 1
