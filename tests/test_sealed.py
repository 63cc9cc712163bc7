"""Sealed JSON columns: plain text never reaches the database, every data key the node
ever used still opens its rows, and nothing opens without the node's keys."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Column, Engine, Integer, MetaData, Table, insert, select, update
from sqlalchemy.exc import StatementError

from tongban.db import make_engine
from tongban.identity.crypto import VaultKeyError
from tongban.node.keyring import KeyRing
from tongban.sealed import SealedJson

OLD, NEW = b"o" * 32, b"N" * 32
VALUE = {"id_number": "11010519491231002X", "phone": "13800138000", "nested": [1, "二"]}


def ring(*data: bytes) -> KeyRing:
    """The keys of a node whose data keys are `data`, the one in use first."""
    return KeyRing(data=data, index=OLD, csrf=(OLD,), node=(), authority=None, source="test")


META = MetaData()
SCRATCH = Table("scratch_sealed", META, Column("id", Integer, primary_key=True),
                Column("a", SealedJson("scratch_sealed.a")),
                Column("b", SealedJson("scratch_sealed.b")))


@pytest.fixture
def url(engine: Engine) -> Iterator[str]:
    META.drop_all(engine)
    META.create_all(engine)
    yield engine.url.render_as_string(hide_password=False)
    META.drop_all(engine)


def _open(url: str, keys: KeyRing | None) -> Engine:
    return make_engine(url, keys=keys, **({} if url.startswith("sqlite") else {"pool_size": 1}))


def test_a_value_is_stored_sealed_and_reads_back_whole(url: str) -> None:
    eng = _open(url, ring(OLD))
    with eng.begin() as conn:
        conn.execute(insert(SCRATCH).values(id=1, a=VALUE, b=None))
    with eng.connect() as conn:
        assert conn.execute(select(SCRATCH.c.a, SCRATCH.c.b)).one() == (VALUE, None)
    raw = _open(url, None)
    with raw.connect() as conn:
        stored = conn.exec_driver_sql("SELECT a FROM scratch_sealed").scalar_one()
    assert b"13800138000" not in bytes(stored) and b"id_number" not in bytes(stored)
    eng.dispose()
    raw.dispose()


def test_rows_sealed_before_a_rotation_still_open_and_new_writes_use_the_new_key(
        url: str) -> None:
    before = _open(url, ring(OLD))
    with before.begin() as conn:
        conn.execute(insert(SCRATCH).values(id=1, a=VALUE))
    after = _open(url, ring(NEW, OLD))  # rotated: NEW in use, OLD retired
    with after.begin() as conn:
        assert conn.execute(select(SCRATCH.c.a)).scalar_one() == VALUE
        conn.execute(insert(SCRATCH).values(id=2, a={"fresh": True}))
    only_new = _open(url, ring(NEW))
    with only_new.connect() as conn:
        got = conn.execute(select(SCRATCH.c.a).where(SCRATCH.c.id == 2)).scalar_one()
        assert got == {"fresh": True}
        with pytest.raises(VaultKeyError, match="does not open"):  # OLD was dropped
            conn.execute(select(SCRATCH.c.a).where(SCRATCH.c.id == 1)).scalar_one()
    for e in (before, after, only_new):
        e.dispose()


def test_a_ciphertext_moved_to_another_column_does_not_open(url: str) -> None:
    eng = _open(url, ring(OLD))
    with eng.begin() as conn:
        conn.execute(insert(SCRATCH).values(id=1, a=VALUE))
        conn.exec_driver_sql("UPDATE scratch_sealed SET b = a")
    with eng.connect() as conn, pytest.raises(VaultKeyError, match="does not open"):
        conn.execute(select(SCRATCH.c.b)).scalar_one()
    eng.dispose()


def test_an_engine_without_the_node_keys_refuses_to_write_plain_text(url: str) -> None:
    keyless = _open(url, None)
    with keyless.begin() as conn, pytest.raises(StatementError, match="no data key"):
        conn.execute(update(SCRATCH).values(a=VALUE))
    keyless.dispose()
