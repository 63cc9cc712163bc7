"""The ledger's HTTP API and `tongban ledger` commands."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from datetime import datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from tests.conftest import use_node
from tongban.cli import app as cli_app
from tongban.config import Settings, get_settings
from tongban.ledger import merkle, note, service
from tongban.node import keys

API = "/api/v1/ledger"


def _log(db_session: Session, settings: Settings, count: int) -> None:
    for i in range(count):
        service.record_act(db_session=db_session, kind="case.accepted",
                           payload={"case": f"C-{i:04d}", "window": "W-1"})
    db_session.commit()
    service.run_once(db_session=db_session, settings=settings)
    db_session.commit()


def test_checkpoint_before_anything_is_logged_is_a_clear_404(client: TestClient) -> None:
    response = client.get(f"{API}/checkpoint")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_checkpoint_and_key_let_a_client_verify_the_signed_head(
    client: TestClient, db_session: Session, settings: Settings
) -> None:
    _log(db_session, settings, 9)
    cp = client.get(f"{API}/checkpoint").json()
    key = client.get(f"{API}/key").json()
    assert cp["tree_size"] == 9 and cp["origin"] == key["key_name"]
    name, key_id, public = keys.parse_verifier_key(key["verifier_key"])
    body = note.open_note(cp["note"], key_name=name, key_id=key_id, public_key=public)
    assert note.parse_checkpoint(body).root_hash == base64.b64decode(cp["root_hash"])


def test_entries_come_in_bounded_pages(client: TestClient, db_session: Session,
                                       settings: Settings) -> None:
    _log(db_session, settings, 12)
    page = client.get(f"{API}/entries", params={"start": 10, "end": 50}).json()
    assert (page["start"], page["end"], page["tree_size"]) == (10, 12, 12)
    assert [e["index"] for e in page["entries"]] == [10, 11]
    first = page["entries"][0]
    recomputed = merkle.leaf_hash(service.leaf_data(
        kind=first["kind"], acted_at=datetime.fromisoformat(first["acted_at"]),
        source_id=uuid.UUID(first["source_id"]), payload=first["payload"]))
    assert base64.b64encode(recomputed).decode() == first["leaf_hash"]


def test_inclusion_proof_by_index_or_leaf_hash_verifies(
    client: TestClient, db_session: Session, settings: Settings
) -> None:
    _log(db_session, settings, 21)
    by_index = client.get(f"{API}/proof/inclusion", params={"index": 13}).json()
    leaf = base64.b64decode(by_index["leaf_hash"])
    merkle.verify_inclusion(13, 21, leaf, [base64.b64decode(h) for h in by_index["audit_path"]],
                            base64.b64decode(by_index["root_hash"]))
    assert by_index["checkpoint"] is not None
    for given in (leaf.hex(), by_index["leaf_hash"]):
        by_hash = client.get(f"{API}/proof/inclusion",
                             params={"leaf_hash": given, "tree_size": 20}).json()
        assert (by_hash["leaf_index"], by_hash["tree_size"]) == (13, 20)


def test_consistency_proof_links_two_sizes(client: TestClient, db_session: Session,
                                           settings: Settings) -> None:
    _log(db_session, settings, 11)
    body = client.get(f"{API}/proof/consistency", params={"first": 6}).json()
    assert body["second"] == 11
    merkle.verify_consistency(6, 11, base64.b64decode(body["first_root"]),
                              base64.b64decode(body["second_root"]),
                              [base64.b64decode(h) for h in body["proof"]])


@pytest.mark.parametrize(("path", "params", "status"), [
    ("/proof/inclusion", {"index": 5}, 422),  # beyond the tree of 5
    ("/proof/inclusion", {"index": 0, "tree_size": 6}, 422),
    ("/proof/inclusion", {"index": -1}, 422),
    ("/proof/inclusion", {"index": "x"}, 422),
    ("/proof/inclusion", {}, 422),
    ("/proof/inclusion", {"leaf_hash": "zz"}, 422),
    ("/proof/inclusion", {"leaf_hash": "00" * 32}, 404),
    ("/proof/consistency", {"first": 2, "second": 9}, 422),
    ("/proof/consistency", {"first": 4, "second": 3}, 422),
    ("/proof/consistency", {"first": 0}, 422),
    ("/entries", {"start": 6}, 422),
    ("/entries", {"start": 0, "end": 5000}, 422),
    ("/entries", {"start": 99999999999999999999999}, 422),
])
def test_bad_or_out_of_range_requests_are_clear_4xx(
    client: TestClient, db_session: Session, settings: Settings,
    path: str, params: dict[str, object], status: int
) -> None:
    _log(db_session, settings, 5)
    response = client.get(f"{API}{path}", params=params)
    assert response.status_code == status
    body = response.json()
    assert set(body) == {"error", "message", "details"} and body["message"]


# --- the command line ---------------------------------------------------------------------


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    use_node(monkeypatch, settings)
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def test_cli_runs_checkpoints_verifies_and_proves(
    cli_env: CliRunner, db_session: Session, settings: Settings
) -> None:
    for i in range(6):
        service.record_act(db_session=db_session, kind="licence.issued", payload={"n": i})
    db_session.commit()
    result = cli_env.invoke(cli_app, ["ledger", "run", "--once"])
    assert result.exit_code == 0, result.output
    assert "appended 6" in result.output
    result = cli_env.invoke(cli_app, ["ledger", "checkpoint"])
    assert result.exit_code == 0 and result.output.splitlines()[:2] == [
        keys.key_name(settings), "6"]
    result = cli_env.invoke(cli_app, ["ledger", "verify"])
    assert result.exit_code == 0 and "6 entries" in result.output
    result = cli_env.invoke(cli_app, ["ledger", "proof", "4"])
    assert result.exit_code == 0
    assert json.loads(result.output)["leaf_index"] == 4


def test_cli_verify_fails_naming_the_tampered_entry(
    cli_env: CliRunner, db_session: Session, settings: Settings
) -> None:
    _log(db_session, settings, 8)
    db_session.execute(text("UPDATE ledger_entries SET kind = 'case.refused' "
                            'WHERE "index" = 5'))
    db_session.commit()
    result = cli_env.invoke(cli_app, ["ledger", "verify"])
    assert result.exit_code == 1
    assert "entry 5" in result.output
