"""`tongban calendar due | load | years`, against the test database."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.conftest import use_node
from tongban import cli
from tongban.config import Settings, get_settings


@pytest.fixture
def on_test_database(settings: Settings, db_session: Any, monkeypatch: pytest.MonkeyPatch
                     ) -> Iterator[None]:
    """Point the CLI's settings at the (clean) test database."""
    use_node(monkeypatch, settings)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def run(*args: str) -> str:
    result = CliRunner().invoke(cli.app, ["calendar", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output.strip()


def run_main(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
             *args: str) -> tuple[int, str]:
    """Run the real entry point; returns (exit code, stderr)."""
    monkeypatch.setattr(sys, "argv", ["tongban", "calendar", *args])
    with pytest.raises(SystemExit) as exc:
        cli.main()
    return int(exc.value.code or 0), capsys.readouterr().err


def test_due_prints_the_date(on_test_database: None) -> None:
    assert run("due", "2026-09-30", "5") == "2026-10-13"


def test_due_into_a_year_without_data_says_provisional(on_test_database: None) -> None:
    assert run("due", "2026-12-25", "10") == "2027-01-08 provisional"


def test_load_then_due_is_final_and_years_lists_it(
    on_test_database: None, tmp_path: Path, doc_2027: dict[str, Any]
) -> None:
    path = tmp_path / "2027.json"
    path.write_text(json.dumps(doc_2027, ensure_ascii=False), encoding="utf-8")
    assert run("load", str(path)).startswith("2027 loaded: 11 holidays, 1 make-up working days")
    assert run("due", "2026-12-25", "10") == "2027-01-11"
    listing = run("years")
    assert "2027" in listing and "loaded" in listing and "2004" in listing


@pytest.mark.parametrize(("args", "needle"), [
    (("due", "2026-02-30", "1"), "YYYY-MM-DD"),
    (("due", "--", "2026-01-01", "-1"), "days"),
    (("load", "/nonexistent/2027.json"), "cannot read"),
])
def test_errors_are_one_line_and_exit_1(
    on_test_database: None, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...], needle: str
) -> None:
    code, err = run_main(capsys, monkeypatch, *args)
    assert code == 1
    assert err.startswith("error: ") and needle in err and err.count("\n") == 1


def test_loading_a_bad_file_names_the_field(
    on_test_database: None, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch, doc_2027: dict[str, Any]
) -> None:
    doc_2027["holidays"][0]["dates"].append("2028-01-01")
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc_2027), encoding="utf-8")
    code, err = run_main(capsys, monkeypatch, "load", str(path))
    assert code == 1 and "holidays[0].dates[3]" in err
    (tmp_path / "broken.json").write_text("{not json", encoding="utf-8")
    code, err = run_main(capsys, monkeypatch, "load", str(tmp_path / "broken.json"))
    assert code == 1 and "not valid JSON" in err
