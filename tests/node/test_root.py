"""The composition root: every process of a node is wired the same, whatever it imported;
registries refuse duplicates and unknown names; a node with unknown stored names does not
start."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from tests.bundles.conftest import BundleWorld
from tests.bundles.test_bundles_service import PARALLEL, REVIEWERS
from tests.cases.conftest import at
from tests.conftest import TEST_DATA_KEY, TEST_INDEX_KEY
from tongban.app import create_app
from tongban.cases.workflow import workflow_for
from tongban.config import Settings
from tongban.node.registry import ConfigurationError, DuplicateName, Registry, UnknownName
from tongban.node.root import build_node, build_wiring, wiring

# What a process can start from; none of them may decide what the node does.
ENTRY_MODULES = ["tongban.cases.service", "tongban.cases.cli", "tongban.worker",
                 "tongban.federation.service", "tongban.identity.service", "tongban.app",
                 "tongban.cli"]
PROBE = """
import importlib, json, sys
importlib.import_module(sys.argv[1])
from tongban.node.root import wiring
w = wiring()
print(json.dumps({r.kind: r.names() for r in w.registries()}))
"""


def _wiring_seen_by_a_process_that_imported(module: str) -> dict[str, list[str]]:
    out = subprocess.run([sys.executable, "-c", PROBE, module], capture_output=True,
                         text=True, check=True, timeout=120)
    return dict(json.loads(out.stdout))


def test_every_process_is_wired_the_same_whatever_it_imported() -> None:
    expected = {r.kind: r.names() for r in build_wiring().registries()}
    assert "federation.report_to_peer" in expected["transition hook"]
    assert "bundles.follow_tasks" in expected["transition hook"]
    assert "bundle" in expected["workflow"] and "case.apply" in expected["envelope handler"]
    for module in ENTRY_MODULES:
        assert _wiring_seen_by_a_process_that_imported(module) == expected, module


def test_hooks_and_jobs_run_in_the_roots_order() -> None:
    w = wiring()
    assert w.transition_hooks.names() == [
        "cases.issue_licence", "cases.end_licences", "bundles.follow_tasks",
        "federation.report_to_peer", "notify.tell_applicant"]
    assert w.jobs.names() == ["cases", "ledger", "federation.registry", "federation.deliver",
                              "federation.inbox", "federation.witness", "federation.retention",
                              "notify.licence_status", "notify.deliver", "supervision.metrics",
                              "supervision.complaints.deadlines",
                              "supervision.warnings.escalate", "eligibility"]


def test_a_registry_refuses_a_second_plugin_under_one_name() -> None:
    r: Registry[int] = Registry("thing")
    r.add("a", 1)
    with pytest.raises(DuplicateName, match="thing 'a' is registered twice"):
        r.add("a", 2)
    assert r.get("a") == 1


def test_an_unknown_name_is_an_error_not_a_fallback() -> None:
    r: Registry[int] = Registry("thing")
    r.add("a", 1)
    with pytest.raises(UnknownName, match=r"unknown thing 'b' \(known: a\)"):
        r.get("b")
    assert r.find("b") is None
    with pytest.raises(UnknownName, match="unknown workflow 'no-such-table'"):
        workflow_for("no-such-table")


def test_the_roots_registries_are_frozen_once_wired() -> None:
    with pytest.raises(ConfigurationError, match="frozen"):
        wiring().transition_hooks.add("late", lambda **_: None)


def test_a_node_whose_cases_name_an_unknown_workflow_does_not_start(
    db_session: Session, settings: Settings, bw: BundleWorld
) -> None:
    bw.define("XS", PARALLEL)
    bundle = bw.apply("XS")
    bundle.workflow = "retired-table"  # e.g. a table a newer release dropped
    db_session.commit()
    with pytest.raises(ConfigurationError, match="unknown workflows: retired-table"):
        build_node(settings, engine=db_session.get_bind().engine)  # type: ignore[union-attr]
    with pytest.raises(ConfigurationError):
        create_app(settings, engine=db_session.get_bind().engine)  # type: ignore[union-attr]


def _cli_env(settings: Settings) -> dict[str, str]:
    return {**os.environ, "TONGBAN_DATABASE_URL": settings.database_url,
            "TONGBAN_VAR_DIR": str(settings.var_dir), "TONGBAN_DATA_KEY": TEST_DATA_KEY,
            "TONGBAN_INDEX_KEY": TEST_INDEX_KEY, "COLUMNS": "200"}


def test_a_task_decided_by_a_separate_cli_process_moves_its_bundle(
    db_session: Session, settings: Settings, bw: BundleWorld
) -> None:
    bw.define("XS", PARALLEL)
    bundle = bw.apply("XS")
    bw.share(bundle)
    tasks = bw.tasks(bundle)
    for key in PARALLEL:
        bw.act("clerk", tasks[key], "accept", when=at(2026, 9, 22))
    for key in PARALLEL[:-1]:
        bw.act(REVIEWERS[key], tasks[key], "approve", when=at(2026, 9, 23))
    last = PARALLEL[-1]
    tongban = Path(sys.executable).parent / "tongban"
    done = subprocess.run(
        [str(tongban), "cases", "act", tasks[last].number, "approve",
         "--as", bw.usernames[REVIEWERS[last]]],
        env=_cli_env(settings), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    db_session.expire_all()
    assert (bw.reload(bundle).state, bw.reload(bundle).decision) == ("approved", "approved")


def test_an_unstartable_node_is_one_line_from_the_cli(
    db_session: Session, settings: Settings, bw: BundleWorld
) -> None:
    bw.define("XS", PARALLEL)
    bundle = bw.apply("XS")
    bundle.workflow = "retired-table"  # e.g. a table a newer release dropped
    db_session.commit()
    tongban = Path(sys.executable).parent / "tongban"
    done = subprocess.run([str(tongban), "cases", "list", "--as", bw.usernames["clerk"]],
                          env=_cli_env(settings), capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "error: stored cases name unknown workflows: retired-table (known: promised, "
        "immediate, standard, bundle)"]
