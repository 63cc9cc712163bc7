"""Keys come from configuration: one key file serves every machine of a node, production
never makes keys up, and a rotated key still reads what it sealed and verifies what it
signed."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from tongban.config import Settings
from tongban.identity import crypto, csrf
from tongban.ledger import service as ledger
from tongban.node import keyring, keys
from tongban.node.registry import ConfigurationError
from tongban.node.root import build_node

TONGBAN = Path(sys.executable).parent / "tongban"


def _run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(TONGBAN), *args], env={**os.environ, **env, "COLUMNS": "200"},
                          capture_output=True, text=True, timeout=120)


def _machine(tmp_path: Path, name: str, key_file: Path, **kw: object) -> Settings:
    """The settings of one machine of the node: its own var dir, the shared key file."""
    return Settings(var_dir=tmp_path / name, key_file=key_file, **kw)  # type: ignore[arg-type]


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "secrets" / "node-keys.json"
    keyring.init_file(path)
    yield path
    keyring.forget()


def test_keys_init_writes_a_private_file_once(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "k.json"
    made = _run("keys", "init", "--file", str(path), env={})
    assert made.returncode == 0, made.stderr
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    before = path.read_bytes()
    again = _run("keys", "init", "--file", str(path), env={})
    assert again.returncode == 1
    assert again.stderr.strip().splitlines() == [
        f"error: key file {path} exists already: its keys are the node's; use `tongban "
        "keys rotate` to replace one"]
    assert path.read_bytes() == before  # never overwritten


def test_production_without_keys_does_not_start_and_writes_nothing(tmp_path: Path) -> None:
    var = tmp_path / "var"
    settings = Settings(var_dir=var, production=True,
                        database_url=f"sqlite:///{tmp_path / 'n.db'}")
    with pytest.raises(ConfigurationError, match="production mode needs the node's keys"):
        build_node(settings)
    (tmp_path / "n.db").touch()  # a database there: the keys are what is missing
    done = _run("cases", "list", env={"TONGBAN_PRODUCTION": "1", "TONGBAN_VAR_DIR": str(var),
                                      "TONGBAN_DATABASE_URL": settings.database_url})
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "error: production mode needs the node's keys: set TONGBAN_KEY_FILE (made by "
        "`tongban keys init`) or TONGBAN_DATA_KEY, TONGBAN_INDEX_KEY, TONGBAN_CSRF_KEY, "
        "TONGBAN_NODE_KEY"]
    assert not var.exists()  # no key silently made up


def test_two_machines_with_one_key_file_share_every_key(tmp_path: Path, key_file: Path
                                                         ) -> None:
    a = _machine(tmp_path, "a", key_file, production=True)
    b = _machine(tmp_path, "b", key_file, production=True)
    sealed = crypto.encrypt(settings=a, value="510104199001011234", column="people.id")
    assert crypto.decrypt(settings=b, blob=sealed, column="people.id") == "510104199001011234"
    assert crypto.keyed_hash(settings=a, value="x") == crypto.keyed_hash(settings=b, value="x")
    token = csrf.issue(settings=a, session="s3ss10n", presession=None)
    assert csrf.valid(settings=b, token=token, session="s3ss10n", presession=None)
    assert keys.node_key(a).verifier_key == keys.node_key(b).verifier_key
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_a_setting_wins_over_the_key_file(tmp_path: Path, key_file: Path) -> None:
    other = keyring.encode(b"o" * 32)
    from_file = _machine(tmp_path, "a", key_file)
    overridden = _machine(tmp_path, "a", key_file, data_key=other)
    assert keyring.keyring(overridden).data[0] == b"o" * 32
    sealed = crypto.encrypt(settings=from_file, value="v", column="c")
    assert crypto.decrypt(settings=overridden, blob=sealed, column="c") == "v"  # file key reads


def test_a_rotated_data_key_still_opens_old_rows_and_seals_with_the_new_one(
    tmp_path: Path, key_file: Path
) -> None:
    settings = _machine(tmp_path, "a", key_file)
    old = crypto.encrypt(settings=settings, value="before", column="c")
    first = keyring.keyring(settings).data[0]
    assert _run("keys", "rotate", "data", "--file", str(key_file), env={}).returncode == 0
    keyring.forget()  # the node's processes restart with the new file
    ring = keyring.keyring(settings)
    assert ring.data[0] != first and ring.data[1:] == (first,)
    new = crypto.encrypt(settings=settings, value="after", column="c")
    assert crypto.decrypt(settings=settings, blob=old, column="c") == "before"
    assert crypto.decrypt(settings=settings, blob=new, column="c") == "after"
    only_old = Settings(var_dir=tmp_path / "x", data_key=keyring.encode(first),
                        index_key=keyring.encode(ring.index))
    with pytest.raises(crypto.VaultKeyError):  # sealed with the new key, not the old one
        crypto.decrypt(settings=only_old, blob=new, column="c")
    doc = json.loads(key_file.read_text())
    assert [bool(e["retired_at"]) for e in doc["data"]] == [True, False]


def test_a_page_served_before_a_csrf_rotation_still_posts(tmp_path: Path, key_file: Path
                                                          ) -> None:
    settings = _machine(tmp_path, "a", key_file)
    token = csrf.issue(settings=settings, session="s", presession="p")
    keyring.rotate_file(key_file, "csrf")
    assert csrf.valid(settings=settings, token=token, session="s", presession="p")
    fresh = csrf.issue(settings=settings, session="s", presession="p")
    assert fresh != token and csrf.valid(settings=settings, token=fresh, session="s",
                                         presession="p")
    assert not csrf.valid(settings=settings, token=token, session="other", presession=None)


def test_checkpoints_signed_before_a_node_key_rotation_still_verify(
    tmp_path: Path, key_file: Path, db_session: Session, settings: Settings
) -> None:
    node = settings.model_copy(update={"key_file": key_file, "data_key": None,
                                       "index_key": None, "csrf_key": None, "node_key": None})
    ledger.record_act(db_session=db_session, kind="case.accepted", payload={"case": 1})
    ledger.run_once(db_session=db_session, settings=node)
    old_key = keys.node_key(node)
    keyring.rotate_file(key_file, "node")
    assert keys.node_key(node).verifier_key != old_key.verifier_key
    ledger.record_act(db_session=db_session, kind="case.accepted", payload={"case": 2})
    ledger.run_once(db_session=db_session, settings=node)
    db_session.commit()
    report = ledger.verify(db_session=db_session, settings=node)
    assert report.ok and report.checkpoints == 2, report.problem
    # without the retired key, the first checkpoint no longer verifies: it is really used
    doc = json.loads(key_file.read_text())
    doc["node"] = doc["node"][1:]
    key_file.write_text(json.dumps(doc))
    keyring.forget()
    broken = ledger.verify(db_session=db_session, settings=node)
    assert not broken.ok and broken.problem is not None
    assert broken.problem.tree_size == 1


def test_the_index_key_is_not_rotated_in_place(key_file: Path) -> None:
    with pytest.raises(ConfigurationError, match="the index key needs a re-index"):
        keyring.rotate_file(key_file, "index")


def test_a_development_node_made_before_the_key_file_keeps_its_keys(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    var = tmp_path / "var"
    var.mkdir()
    data, index = keyring.encode(b"D" * 32), keyring.encode(b"I" * 32)
    (var / "keys.json").write_text(json.dumps({"data_key": data, "index_key": index}))
    node = Ed25519PrivateKey.generate()
    (var / "node_ed25519.pem").write_bytes(node.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    keyring.forget()
    ring = keyring.keyring(Settings(var_dir=var))
    assert (ring.data[0], ring.index) == (b"D" * 32, b"I" * 32)
    assert ring.node[0].public_key().public_bytes_raw() == node.public_key().public_bytes_raw()
