"""The `tongban` command as a newcomer meets it: every error is one line on stderr and a
non-zero exit, never a traceback; a directory without a node says how to make one."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

TONGBAN = str(Path(sys.executable).with_name("tongban"))
# The README's examples (and the ones the issue met on a fresh clone).
EXAMPLES = [["calendar", "due", "2026-09-30", "5"], ["catalog", "search", "gjj"],
            ["verify"], ["ledger", "verify"], ["cases", "list"]]


def run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TONGBAN_")}
    return subprocess.run([TONGBAN, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, env={**clean, **env})


def assert_one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for needle in needles:
        assert needle in lines[0]


@pytest.mark.parametrize("args", EXAMPLES, ids=" ".join)
def test_without_a_node_each_example_says_in_one_line_what_to_do(args: list[str],
                                                                 tmp_path: Path) -> None:
    assert_one_line_error(run(args, tmp_path), "make demo", "tongban db upgrade")
    assert not (tmp_path / "var").exists()  # no empty database was left behind


def test_a_database_without_tables_says_to_migrate_it(tmp_path: Path) -> None:
    (tmp_path / "var").mkdir()
    sqlite3.connect(tmp_path / "var" / "tongban.db").close()
    assert_one_line_error(run(["catalog", "search", "gjj"], tmp_path), "tongban db upgrade")


def test_an_unexpected_failure_is_one_line_too(tmp_path: Path) -> None:
    result = run(["catalog", "search", "gjj"], tmp_path,
                 TONGBAN_DATABASE_URL="postgresql+psycopg://nobody@127.0.0.1:1/none")
    assert_one_line_error(result, "OperationalError", "TONGBAN_DEBUG=1")
