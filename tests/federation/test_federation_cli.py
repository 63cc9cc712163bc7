"""`tongban federation …` against a node of the in-process federation."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.federation.harness import Federation, Node
from tongban.cli import app
from tongban.config import get_settings

runner = CliRunner()


@pytest.fixture
def as_node(fed: Federation, monkeypatch: pytest.MonkeyPatch) -> Iterator[Node]:
    node = fed.sc
    monkeypatch.setenv("TONGBAN_DATABASE_URL", node.settings.database_url)
    monkeypatch.setenv("TONGBAN_VAR_DIR", str(node.settings.var_dir))
    monkeypatch.setenv("TONGBAN_NODE_REGION", node.region)
    monkeypatch.setenv("TONGBAN_NODE_NAME", node.name)
    monkeypatch.setenv("TONGBAN_DATA_KEY", str(node.settings.data_key))
    monkeypatch.setenv("TONGBAN_INDEX_KEY", str(node.settings.index_key))
    get_settings.cache_clear()
    yield node
    get_settings.cache_clear()


def test_the_operator_exports_the_anchor_and_the_node_descriptor(as_node: Node,
                                                                 tmp_path: Path) -> None:
    result = runner.invoke(app, ["federation", "anchor", "export", "--out",
                                 str(tmp_path / "anchor.json")])
    assert result.exit_code == 0, result.output
    anchor = json.loads((tmp_path / "anchor.json").read_text())
    assert anchor["type"] == "tongban-federation-anchor" and anchor["fingerprint"]
    result = runner.invoke(app, ["federation", "node", "export"])
    assert result.exit_code == 0 and '"region_code": "510000"' in result.output


def test_the_registry_message_log_and_rejections_are_listed(as_node: Node) -> None:
    for command in (["registry", "show"], ["messages"], ["rejections"]):
        result = runner.invoke(app, ["federation", *command])
        assert result.exit_code == 0, result.output
    assert "tongban-test" in runner.invoke(app, ["federation", "registry", "show"]).output


def test_a_bad_anchor_file_is_one_clear_line(as_node: Node, tmp_path: Path) -> None:
    bad = tmp_path / "anchor.json"
    bad.write_text('{"type": "something else"}')
    result = runner.invoke(app, ["federation", "anchor", "import", str(bad)])
    assert result.exit_code != 0
    assert "锚点" in str(result.exception) or "anchor" in result.output
