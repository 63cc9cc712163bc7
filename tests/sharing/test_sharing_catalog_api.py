"""The sharing catalog and registry imports through the API and the CLI."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from tests.sharing.conftest import WITHDRAWAL_ITEM, World, account, bearer
from tongban.cli import app as cli
from tongban.sharing.demo import as_csv
from tongban.sharing.models import Record


def test_the_sharing_catalog_is_public(client: TestClient, world: World) -> None:
    datasets = client.get("/api/v1/sharing/datasets").json()
    by_code = {d["code"]: d for d in datasets}
    assert by_code["population.household"]["owner_name"] == "成都市公安局"
    assert by_code["income_tax.returns"]["sharing_type"] == "not_shared"
    assert by_code["legal_entity.registration"]["sharing_type"] == "unconditional"
    assert all(d["legal_basis"] for d in datasets)
    one = client.get("/api/v1/sharing/datasets/housing_fund.deposit").json()
    assert one["records"] == 4 and one["update_frequency"] == "monthly"
    assert {f["name"] for f in one["fields"] if f["personal"]} >= {"id_number",
                                                                  "account_number"}
    assert client.get("/api/v1/sharing/datasets/nope").status_code == 404


def test_a_steward_imports_a_file_and_a_bad_one_gets_a_report(
        client: TestClient, db_session: Session, world: World) -> None:
    account(db_session, "steward.cd", ["data_steward"], [("510100", None)])
    account(db_session, "steward.nj", ["data_steward"], [("320100", None)])
    row = {"id_number": world.ids["李娜"], "name": "李娜", "exam_date": "2026-12-01",
           "result": "合格"}
    files = {"file": ("体检.csv", as_csv([row]), "text/csv")}
    url = "/api/v1/sharing/datasets/vehicle.driver_health/imports"
    denied = client.post(url, files=files, headers=bearer(client, "steward.nj"))
    assert denied.status_code == 403 and denied.json()["error"] == "not_owner_steward"
    headers = bearer(client, "steward.cd")
    made = client.post(url, files=files, data={"source": "交管体检系统", "as_of": "2026-12-01"},
                       headers=headers)
    assert made.status_code == 201, made.text
    assert made.json()["inserted"] == 1 and made.json()["source"] == "交管体检系统"
    before = db_session.scalar(select(func.count()).select_from(Record))
    bad = client.post(url, files={"file": ("x.csv", as_csv([{**row, "result": "?"}]),
                                           "text/csv")}, headers=headers)
    assert bad.status_code == 422
    assert bad.json()["details"] == [{"row": 2, "field": "result",
                                      "message": bad.json()["details"][0]["message"]}]
    db_session.expire_all()
    assert db_session.scalar(select(func.count()).select_from(Record)) == before
    batches = client.get(url, headers=headers).json()
    assert batches[0]["source"] == "交管体检系统" and batches[0]["inserted"] == 1


def test_the_cli_imports_and_names_every_problem(cli_env: None, world: World,
                                                 tmp_path: object,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from pathlib import Path

    from rich.console import Console

    monkeypatch.setattr("tongban.cli.console", Console(width=250))
    good = Path(str(tmp_path)) / "ok.csv"
    good.write_bytes(as_csv([{"id_number": world.ids["王芳"], "name": "王芳",
                              "exam_date": "2026-12-01", "result": "合格"}]))
    runner = CliRunner()
    done = runner.invoke(cli, ["sharing", "import", "vehicle.driver_health", str(good),
                               "--as-of", "2026-12-01"])
    assert done.exit_code == 0, done.output
    assert "1 new" in done.output
    bad = Path(str(tmp_path)) / "bad.csv"
    bad.write_text("id_number,name,exam_date,result\n123,王芳,2026-12-01,合格\n"
                   f"{world.ids['王芳']},王芳,someday,合格\n", encoding="utf-8")
    failed = runner.invoke(cli, ["sharing", "import", "vehicle.driver_health", str(bad)])
    assert failed.exit_code != 0
    assert "row 2, id_number" in failed.output and "row 3, exam_date" in failed.output
    listed = runner.invoke(cli, ["sharing", "catalog", "list"])
    assert "population.household" in listed.output


def test_the_cli_queries_under_a_grant_names_a_refusal_and_lists_the_log(
        cli_env: None, world: World, db_session: Session,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from rich.console import Console

    from tests.sharing.conftest import grant
    from tongban.config import get_settings

    monkeypatch.setattr("tongban.cli.console", Console(width=250))
    for key in ("data_key", "index_key", "node_key"):  # the node's own keys, not new ones
        monkeypatch.setenv(f"TONGBAN_{key.upper()}", str(getattr(world.settings, key)))
    get_settings.cache_clear()
    made = grant(db_session, world, "housing_fund.deposit", requires="none",
                 fields={"status": "none", "balance": "none"})
    account(db_session, "rev.gjj", ["reviewer"], [("510100", world.departments["gjj"].id)])
    account(db_session, "steward.sc", ["data_steward"], [("510000", None)])
    runner = CliRunner()
    ask = ["sharing", "query", "housing_fund.deposit", world.ids["张伟"],
           "--purpose", WITHDRAWAL_ITEM, "--as", "rev.gjj"]
    done = runner.invoke(cli, ask)
    assert done.exit_code == 0, done.output
    assert '"balance": "86400.00"' in done.output and "1 record(s)" in done.output
    outside = runner.invoke(cli, [*ask, "--field", "account_number"])
    assert outside.exit_code != 0
    assert "所查字段超出授权范围" in str(outside.exception)
    paused = runner.invoke(cli, ["sharing", "grants", "pause", str(made.grant_id),  # type: ignore[attr-defined]
                                 "--reason", "核查", "--as", "steward.sc"])
    assert paused.exit_code == 0 and "paused" in paused.output
    assert "授权已暂停" in str(runner.invoke(cli, ask).exception)
    log = runner.invoke(cli, ["sharing", "accesses", "--as", "steward.sc"])
    assert log.exit_code == 0
    assert "denied: field_not_granted" in log.output and "denied: grant_paused" in log.output
    assert world.ids["张伟"] not in log.output  # masked
    listed = runner.invoke(cli, ["sharing", "grants", "list"])
    assert "paused" in listed.output and "成都住房公积金管理中心" in listed.output
