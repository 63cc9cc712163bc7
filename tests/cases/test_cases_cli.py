"""`tongban cases list|show|act|workflow|worker` against the test database."""

from __future__ import annotations

import pytest
from rich.console import Console
from typer.testing import CliRunner

from tests.cases.conftest import World
from tongban.cases import cli as cases_cli
from tongban.cases.cli import app

runner = CliRunner()


def test_list_show_and_act_from_the_terminal(world: World, cli_env: None) -> None:
    case = world.submit()
    world.complete(case)
    world.db.commit()
    listed = runner.invoke(app, ["list", "--as", "clerk.cases"])
    assert listed.exit_code == 0, listed.output
    assert case.number in listed.output
    acted = runner.invoke(app, ["act", case.number, "accept", "--as", "clerk.cases",
                                "--expected-version", "1"])
    assert acted.exit_code == 0, acted.output
    assert "accepted" in acted.output and "version 2" in acted.output
    shown = runner.invoke(app, ["show", case.number, "--as", "reviewer.cases"])
    assert shown.exit_code == 0, shown.output
    assert "受理" in shown.output and "approve" in shown.output


def test_a_refused_action_fails_with_one_line(world: World, cli_env: None) -> None:
    case = world.submit()
    world.db.commit()
    result = runner.invoke(app, ["act", case.number, "approve", "--as", "clerk.cases"])
    assert result.exit_code != 0
    assert result.exception is not None and "not allowed" in str(result.exception)


def test_the_workflow_table_is_printable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cases_cli, "console", Console(width=250))
    result = runner.invoke(app, ["workflow", "immediate"])
    assert result.exit_code == 0 and "accept_with_deficiency" in result.output
