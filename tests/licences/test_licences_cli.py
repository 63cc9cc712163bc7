"""`tongban licences types load | issue | verify | status`, against the test database."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tongban import cli
from tongban.config import Settings, get_settings
from tongban.identity import service as identity
from tongban.identity.actor import SYSTEM_ACTOR
from tongban.licences.identifiers import make_identifier

from .conftest import BUSINESS_LICENCE, World


@pytest.fixture
def on_test_node(settings: Settings, world: World, monkeypatch: pytest.MonkeyPatch
                 ) -> Iterator[World]:
    """Point the CLI at the test database, var dir and keys."""
    monkeypatch.setenv("TONGBAN_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("TONGBAN_VAR_DIR", str(settings.var_dir))
    monkeypatch.setenv("TONGBAN_DATA_KEY", settings.data_key or "")
    monkeypatch.setenv("TONGBAN_INDEX_KEY", settings.index_key or "")
    get_settings.cache_clear()
    yield world
    get_settings.cache_clear()


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli.app, ["licences", *args], catch_exceptions=False)
    return result.exit_code, result.output


def run_main(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
             *args: str) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["tongban", "licences", *args])
    with pytest.raises(SystemExit) as exc:
        cli.main()
    return int(exc.value.code or 0), capsys.readouterr().err


def test_import_verify_and_revoke_from_the_command_line(
        on_test_node: World, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    world = on_test_node
    assert run("types", "load") == (0, "licence types: 7 (0 added or changed)\n")
    identifier = str(make_identifier(type_code=BUSINESS_LICENCE,
                                     issuer_code=world.market.credit_code, serial="2018000777"))
    record = {"licence_type_code": BUSINESS_LICENCE, "identifier": identifier,
              "holder_credit_code": world.enterprise.credit_code,
              "issuer_credit_code": world.market.credit_code, "fields": world.business_fields(),
              "issued_at": "2018-03-01T10:00:00+08:00", "valid_from": "2018-03-01"}
    source = tmp_path / "import.json"
    source.write_text(json.dumps([record], ensure_ascii=False), encoding="utf-8")
    assert run("issue", str(source)) == (0, f"imported {identifier}\n")
    code, out = run("verify", identifier)
    assert code == 0 and out.startswith("valid:")
    code, err = run_main(capsys, monkeypatch, "status", identifier, "04", "--reason", " ")
    assert code == 1 and "reason" in err
    code, err = run_main(capsys, monkeypatch, "status", identifier, "04", "--reason", "注销")
    assert code == 1 and "role" in err  # the node operator may only mark a licence 失效
    identity.create_account(db_session=world.db_session, actor=SYSTEM_ACTOR,
                            username="reviewer1", password="correct-horse-42",
                            display_name="审核员", roles=["reviewer"],
                            scopes=[("510104", world.market.id)])
    world.db_session.commit()
    code, out = run("status", identifier, "04", "--reason", "企业已注销登记", "--as", "reviewer1")
    assert code == 0 and out.strip().endswith(": 04")
    code, out = run("verify", identifier)
    assert code == 1 and out.startswith("cancelled:")


def test_verify_reads_a_jws_file_and_names_tampering(on_test_node: World, tmp_path: Path
                                                     ) -> None:
    world = on_test_node
    licence = world.issue_business()
    world.db_session.commit()
    good = tmp_path / "licence.jws"
    good.write_text(licence.jws)
    assert run("verify", str(good))[0] == 0
    shown = {**licence.document, "fields": {**licence.document["fields"], "domicile": "北京"}}
    forged = tmp_path / "licence.json"
    forged.write_text(json.dumps({"jws": licence.jws, "document": shown}, ensure_ascii=False),
                      encoding="utf-8")
    code, out = run("verify", str(forged))
    assert code == 1 and out.startswith("tampered:") and "fields.domicile" in out


def test_a_bad_import_file_is_one_clear_line(on_test_node: World, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "bad.json"
    source.write_text('{"licence_type_code": "x"}', encoding="utf-8")
    code, err = run_main(capsys, monkeypatch, "issue", str(source))
    assert code == 1 and err.startswith("error: ") and len(err.strip().splitlines()) == 1
