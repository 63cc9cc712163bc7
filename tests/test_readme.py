"""The README as a newcomer follows it: on a fresh demo node (`tongban demo --seed-only`
in an empty folder, as `make demo` does), every line of its command-line block runs
verbatim and answers without an error; the benchmarks `make bench` runs are all there."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
MARKER = "<!-- cli-examples:"
# What each example must print (beside exiting 0 without a traceback).
EXPECTED = {"calendar due": "2026-10-13", "catalog search": "公积金", "cases list": "张伟",
            "verify": "records agree with the log", "ledger verify": "ledger OK"}


def readme_examples() -> list[str]:
    """The lines of the README's command-line block, comments stripped."""
    text = (ROOT / "README.md").read_text("utf-8")
    block = re.search(r"```sh\n(.*?)```", text[text.index(MARKER):], re.S)
    assert block is not None
    return [line.split("#")[0].strip() for line in block.group(1).splitlines()
            if line.split("#")[0].strip()]


def _env() -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TONGBAN_")}
    return {**clean, "PATH": f"{BIN}{os.pathsep}{clean.get('PATH', '')}"}


@pytest.mark.slow
def test_the_readme_cli_examples_run_verbatim_on_a_fresh_demo_node(tmp_path: Path) -> None:
    examples = readme_examples()
    assert len(examples) >= 5 and all(e.startswith("tongban ") for e in examples)
    seeded = subprocess.run(["tongban", "demo", "--seed-only"], cwd=tmp_path, env=_env(),
                            capture_output=True, text=True, timeout=1200)
    assert seeded.returncode == 0, seeded.stderr
    for line in examples:
        done = subprocess.run(["bash", "-c", line], cwd=tmp_path, env=_env(),
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0 and "Traceback" not in done.stderr, (line, done.stderr)
        wanted = next(v for k, v in EXPECTED.items() if line.startswith(f"tongban {k}"))
        assert wanted in done.stdout, (line, done.stdout)


def test_make_bench_runs_every_benchmark_with_a_quick_size() -> None:
    sys.path.insert(0, str(ROOT))
    try:
        from bench.__main__ import QUICK, benches
    finally:
        sys.path.remove(str(ROOT))
    assert benches() == sorted(QUICK)
    assert "$(BIN)/python -m bench" in (ROOT / "Makefile").read_text("utf-8")


@pytest.mark.slow
def test_a_quick_bench_run_prints_its_ratio_against_its_peer() -> None:
    done = subprocess.run([sys.executable, "-m", "bench", "licence_verify"], cwd=ROOT,
                          env=_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "ratio" in done.stdout and "licence_verify" in done.stdout
