"""The content-addressed blob store: types by magic bytes, size limit, stored once,
verified on read."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.cases.conftest import PDF, PNG, ooxml
from tongban.cases.blobs import DiskBlobStore, sniff
from tongban.errors import InvalidInput, NotFound, TooLarge


@pytest.mark.parametrize(("data", "kind"), [
    (PDF, "pdf"),
    (b"\xff\xd8\xff\xe0" + b"\x00" * 16, "jpeg"),
    (PNG, "png"),
    (ooxml("word/document.xml"), "docx"),
    (ooxml("xl/workbook.xml"), "xlsx"),
    (ooxml("OFD.xml"), "ofd"),
])
def test_allowed_types_are_recognised_by_their_bytes(data: bytes, kind: str) -> None:
    found = sniff(data)
    assert found is not None and found[0] == kind


@pytest.mark.parametrize("data", [
    b"MZ\x90\x00", b"<svg/>", b"GIF89a", ooxml("evil/payload.bin"), b"PK\x03\x04broken",
])
def test_other_types_are_refused(tmp_path: Path, data: bytes) -> None:
    assert sniff(data) is None
    with pytest.raises(InvalidInput) as exc:
        DiskBlobStore(tmp_path, max_bytes=1024).put(data)
    assert exc.value.code == "forbidden_type"


def test_a_blob_is_stored_once_under_its_sha256(tmp_path: Path) -> None:
    store = DiskBlobStore(tmp_path, max_bytes=1024)
    blob = store.put(PDF)
    digest = hashlib.sha256(PDF).hexdigest()
    assert blob.sha256 == digest and blob.size == len(PDF)
    path = tmp_path / digest[:2] / digest[2:4] / digest
    assert path.read_bytes() == PDF
    assert store.put(PDF) == blob
    assert [p.name for p in path.parent.iterdir()] == [digest]  # no temp files left
    assert store.get(digest) == PDF and store.exists(digest)


def test_a_blob_over_the_limit_is_refused_before_it_is_written(tmp_path: Path) -> None:
    store = DiskBlobStore(tmp_path, max_bytes=len(PDF) - 1)
    with pytest.raises(TooLarge):
        store.put(PDF)
    assert list(tmp_path.iterdir()) == []


def test_a_corrupted_or_unknown_blob_is_not_served(tmp_path: Path) -> None:
    store = DiskBlobStore(tmp_path, max_bytes=1024)
    digest = store.put(PDF).sha256
    (tmp_path / digest[:2] / digest[2:4] / digest).write_bytes(PDF + b"x")
    with pytest.raises(NotFound):
        store.get(digest)
    with pytest.raises(NotFound):
        store.get("0" * 64)
    with pytest.raises(NotFound):
        store.get("../../etc/passwd")
