"""`make bench` / `python -m bench`: every benchmark, one after the other, each printing its
figures beside its named peer or limit.

By default each runs quickly at a small size (a smoke run: the ratios are indicative, the
code paths are the real ones); `--full` runs each at its own default size. Name benches to
run only those: `python -m bench ledger_append licence_verify`. A bench whose tool is not
installed (wrk for http_cases) is skipped with what to install.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
# Each bench and the arguments of its quick run.
QUICK: dict[str, list[str]] = {
    "catalog_search": ["--n", "2000", "--runs", "5"],
    "eligibility": ["--people", "5000", "--naive", "50", "--http", "30"],
    "queue_claims": ["--backlogs", "500", "--workers", "1,2"],
    "supervision_metrics": ["--cases", "20000", "--repeat", "1"],
    "catalog_alignment": ["--lines", "2000", "--standards", "500", "--baseline-lines", "200",
                          "--workers", "1"],
    "engine_bundle": ["--n", "30", "--spiff-n", "30"],
    "federation_envelopes": ["--n", "300", "--single", "50"],
    "http_cases": ["--cases", "2000", "--duration", "2"],
    "ledger_append": ["--n", "2000", "--batch", "500", "--peer-n", "500", "--proofs", "200"],
    "licence_verify": ["--licences", "100", "--seconds", "1"],
}
# Tools a bench drives, and where they come from.
NEEDS = {"http_cases": ("wrk", "sudo apt-get install wrk")}


def benches() -> list[str]:
    """Every benchmark script here (a module with a main() and a command line)."""
    return sorted(p.stem for p in HERE.glob("*.py")
                  if not p.stem.startswith("_") and "def main(" in p.read_text("utf-8"))


def run(name: str, full: bool) -> tuple[str, float]:
    """Run one bench as its own process; (outcome, seconds)."""
    tool = NEEDS.get(name)
    if tool and shutil.which(tool[0]) is None:
        print(f"--- {name}: skipped, needs {tool[0]} ({tool[1]})", flush=True)
        return "skipped", 0.0
    args = [] if full else QUICK[name]
    print(f"--- {name} {' '.join(args)}", flush=True)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, str(HERE / f"{name}.py"), *args], check=False)
    return ("ok" if done.returncode == 0 else f"failed ({done.returncode})",
            time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help=f"benches to run (default: all of "
                                                 f"{', '.join(QUICK)})")
    parser.add_argument("--full", action="store_true", help="each at its default size")
    args = parser.parse_args()
    unknown = sorted(set(args.names) - set(QUICK))
    if unknown:
        parser.error(f"unknown bench {', '.join(unknown)}; known: {', '.join(QUICK)}")
    results = {name: run(name, args.full) for name in args.names or QUICK}
    print("\nbench                 outcome        seconds")
    for name, (outcome, seconds) in results.items():
        print(f"{name:<21} {outcome:<14} {seconds:7.1f}")
    sys.exit(1 if any(o.startswith("failed") for o, _s in results.values()) else 0)


if __name__ == "__main__":
    main()
