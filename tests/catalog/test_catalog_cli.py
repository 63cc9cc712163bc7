"""`tongban catalog …` against a real database: import, export, load-regions, search."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from tests.catalog.conftest import CHENGDU_HF, Catalog, code_of
from tests.conftest import use_node
from tongban.catalog.models import Implementation
from tongban.cli import app
from tongban.config import Settings, get_settings

HF_CODE = code_of(CHENGDU_HF, 3, "000101001000")


@pytest.fixture
def run(engine: Engine, db_session: Session, settings: Settings,
        monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    use_node(monkeypatch, settings)
    monkeypatch.setenv("COLUMNS", "200")
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def test_export_then_import_a_file(run: CliRunner, standard: Catalog, db_session: Session,
                                   tmp_path: Path) -> None:
    db_session.commit()
    out = tmp_path / "catalog.json"
    result = run.invoke(app, ["catalog", "export", str(out)])
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert len(doc["implementations"]) == 4
    # The same file again: every code exists, nothing is written, the rows are named.
    result = run.invoke(app, ["catalog", "import", str(out)])
    assert result.exit_code == 1
    assert "row 1" in result.output and "credit_code" in result.output
    db_session.expire_all()
    assert db_session.scalar(select(func.count()).select_from(Implementation)) == 4


def test_import_xlsx_into_a_node(run: CliRunner, standard: Catalog, db_session: Session,
                                 tmp_path: Path) -> None:
    db_session.commit()
    out = tmp_path / "catalog.xlsx"
    assert run.invoke(app, ["catalog", "export", str(out)]).exit_code == 0
    from tests.catalog.test_catalog_exchange import clear_catalog

    clear_catalog(db_session)
    db_session.commit()
    result = run.invoke(app, ["catalog", "import", str(out)])
    assert result.exit_code == 0, result.output
    assert "4 implementations (4 published)" in result.output


def test_search_prints_hits(run: CliRunner, standard: Catalog, db_session: Session) -> None:
    db_session.commit()
    result = run.invoke(app, ["catalog", "search", "gjj", "--region", "510000"])
    assert result.exit_code == 0, result.output
    assert HF_CODE in result.output and "住房公积金提取(重庆)" not in result.output


def test_unknown_region_is_one_line_and_exit_1(run: CliRunner, standard: Catalog,
                                               db_session: Session) -> None:
    db_session.commit()
    result = run.invoke(app, ["catalog", "search", "gjj", "--region", "999999"])
    assert result.exit_code == 1
    assert "999999" in result.output


def test_load_regions_from_a_file(run: CliRunner, db_session: Session, tmp_path: Path) -> None:
    csv = tmp_path / "r.csv"
    csv.write_text("code,name,level,parent_code\n100000,全国,1,\n510000,四川省,2,100000\n",
                   encoding="utf-8")
    result = run.invoke(app, ["catalog", "load-regions", str(csv)])
    assert result.exit_code == 0, result.output
    assert "2 inserted" in result.output
    assert "2 unchanged" in run.invoke(app, ["catalog", "load-regions", str(csv)]).output


def test_wrong_file_kind(run: CliRunner, db_session: Session, tmp_path: Path) -> None:
    bad = tmp_path / "catalog.csv"
    bad.write_text("x", encoding="utf-8")
    result = run.invoke(app, ["catalog", "import", str(bad)])
    assert result.exit_code == 1 and ".xlsx" in result.output


def test_an_item_without_use_levels_is_one_line_on_import_and_on_export(
        run: CliRunner, standard: Catalog, db_session: Session, tmp_path: Path) -> None:
    from tongban.catalog.models import ServiceItem

    db_session.commit()
    doc = tmp_path / "items.json"
    doc.write_text(json.dumps({"format": "tongban-catalog/1", "departments": [],
                               "items": [{"basic_code": "000199009000", "name": "无层级事项",
                                          "item_type": "公共服务", "use_levels": []}],
                               "implementations": []}, ensure_ascii=False), encoding="utf-8")
    refused = run.invoke(app, ["catalog", "import", str(doc)])
    assert refused.exit_code == 1 and "use_levels" in refused.output
    assert "Traceback" not in refused.output
    assert db_session.scalar(select(func.count()).select_from(ServiceItem).where(
        ServiceItem.basic_code == "000199009000")) == 0
    out = tmp_path / "catalog.json"
    assert run.invoke(app, ["catalog", "export", str(out)]).exit_code == 0

    # a row written before the rule was checked on write
    db_session.query(ServiceItem).filter_by(basic_code="000101001000").update(
        {"use_levels": []})
    db_session.commit()
    broken = run.invoke(app, ["catalog", "export", str(out)])
    assert broken.exit_code == 1 and "000101001000" in broken.output
    assert len(broken.output.strip().splitlines()) == 1 and broken.exception is not None
    assert isinstance(broken.exception, SystemExit)
