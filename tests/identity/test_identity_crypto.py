"""The PII vault: AES-256-GCM bound to its column, keyed look-up hashes, node keys."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

import pytest

from tongban.config import Settings
from tongban.identity import crypto
from tongban.node import keyring
from tongban.node.registry import ConfigurationError

NUMBER = "51010419900517123X"


def _settings(tmp_path: Path, data_key: str | None = None,
              index_key: str | None = None) -> Settings:
    return Settings(var_dir=tmp_path / "var", data_key=data_key, index_key=index_key)


@pytest.fixture
def keyed(tmp_path: Path) -> Settings:
    return _settings(tmp_path, data_key=base64.urlsafe_b64encode(b"k" * 32).decode(),
                     index_key=base64.urlsafe_b64encode(b"h" * 32).decode())


def test_encrypted_value_opens_only_for_its_column(keyed: Settings) -> None:
    blob = crypto.encrypt(settings=keyed, value=NUMBER, column="people.id_number")
    assert NUMBER.encode() not in blob
    assert len(blob) == crypto.NONCE_BYTES + len(NUMBER) + 16  # nonce + ciphertext + tag
    assert crypto.decrypt(settings=keyed, blob=blob, column="people.id_number") == NUMBER
    with pytest.raises(crypto.VaultKeyError):
        crypto.decrypt(settings=keyed, blob=blob, column="people.phone")


def test_every_encryption_uses_a_fresh_nonce(keyed: Settings) -> None:
    first = crypto.encrypt(settings=keyed, value=NUMBER, column="c")
    second = crypto.encrypt(settings=keyed, value=NUMBER, column="c")
    assert first[:crypto.NONCE_BYTES] != second[:crypto.NONCE_BYTES]
    assert first != second


def test_tampered_ciphertext_is_refused(keyed: Settings) -> None:
    blob = bytearray(crypto.encrypt(settings=keyed, value=NUMBER, column="c"))
    blob[-1] ^= 1
    with pytest.raises(crypto.VaultKeyError):
        crypto.decrypt(settings=keyed, blob=bytes(blob), column="c")


def test_another_data_key_cannot_open_it(keyed: Settings, tmp_path: Path) -> None:
    blob = crypto.encrypt(settings=keyed, value=NUMBER, column="c")
    other = _settings(tmp_path, data_key=base64.urlsafe_b64encode(b"x" * 32).decode(),
                      index_key=keyed.index_key)
    with pytest.raises(crypto.VaultKeyError):
        crypto.decrypt(settings=other, blob=blob, column="c")


def test_keyed_hash_normalises_and_depends_on_the_key(keyed: Settings, tmp_path: Path) -> None:
    digest = crypto.keyed_hash(settings=keyed, value=NUMBER)
    assert digest == crypto.keyed_hash(settings=keyed, value=f"  {NUMBER.lower()} ")
    assert len(digest) == 64
    import hashlib

    assert digest != hashlib.sha256(NUMBER.encode()).hexdigest()
    other = _settings(tmp_path, data_key=keyed.data_key,
                      index_key=base64.urlsafe_b64encode(b"j" * 32).decode())
    assert crypto.keyed_hash(settings=other, value=NUMBER) != digest
    assert crypto.keyed_hash(settings=keyed, value=NUMBER, purpose="phone") != digest


def test_missing_keys_are_generated_once_with_owner_only_access(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    blob = crypto.encrypt(settings=settings, value=NUMBER, column="c")
    key_file = tmp_path / "var" / keyring.DEV_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    stored = json.loads(key_file.read_text())
    assert {"data", "index", "csrf", "node"} <= stored.keys()
    keyring.forget()  # a restarted process reads the same file
    assert crypto.decrypt(settings=_settings(tmp_path), blob=blob, column="c") == NUMBER
    assert json.loads(key_file.read_text()) == stored


@pytest.mark.parametrize("bad", ["not base64!!", base64.urlsafe_b64encode(b"short").decode()])
def test_malformed_keys_are_refused(tmp_path: Path, bad: str) -> None:
    settings = _settings(tmp_path, data_key=bad, index_key=bad)
    with pytest.raises(ConfigurationError, match="TONGBAN_DATA_KEY"):
        crypto.encrypt(settings=settings, value=NUMBER, column="c")
