"""One blob interface, two real back-ends: local disk and an S3-compatible store (a real
SeaweedFS server). Both store once under the SHA-256, verify on read, refuse what is not
an allowed upload, and say clearly when the store is unreachable."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cases.conftest import PDF, PNG
from tests.s3 import S3Server
from tongban.blobs.store import (
    BlobStore,
    BlobStoreUnavailable,
    DiskBlobStore,
    S3BlobStore,
    blob_store,
    s3_client,
)
from tongban.config import Settings
from tongban.errors import InvalidInput, NotFound, TooLarge


def _s3_settings(s3: S3Server, tmp_path: Path, prefix: str, **kw: object) -> Settings:
    return Settings(var_dir=tmp_path, max_upload_bytes=1024,
                    **{**s3.settings(prefix), **kw})  # type: ignore[arg-type]


@pytest.fixture(params=["disk", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BlobStore]:
    if request.param == "disk":
        yield DiskBlobStore(tmp_path / "blobs", max_bytes=1024)
        return
    s3: S3Server = request.getfixturevalue("s3_server")
    yield blob_store(_s3_settings(s3, tmp_path, f"{request.node.name}/"))


def test_a_blob_is_stored_once_and_read_back_verified(store: BlobStore) -> None:
    blob = store.put(PDF)
    assert blob.sha256 == hashlib.sha256(PDF).hexdigest() and blob.kind == "pdf"
    assert store.put(PDF) == blob
    assert store.get(blob.sha256) == PDF and store.exists(blob.sha256)
    assert list(store.names()) == [blob.sha256]


def test_what_is_not_an_allowed_upload_is_never_stored(store: BlobStore) -> None:
    with pytest.raises(InvalidInput):
        store.put(b"MZ\x90\x00 an executable")
    with pytest.raises(TooLarge):
        store.put(PDF + b"\x00" * 2000)
    assert list(store.names()) == []


def test_an_unknown_or_malformed_name_is_not_found(store: BlobStore) -> None:
    with pytest.raises(NotFound):
        store.get("0" * 64)
    with pytest.raises(NotFound):
        store.get("../../etc/passwd")
    assert not store.exists("0" * 64)


def test_kept_bytes_need_no_type_and_can_be_deleted(store: BlobStore) -> None:
    digest = store.keep(b"any bytes at all")
    assert store.get(digest) == b"any bytes at all"
    store.delete(digest)
    store.delete(digest)  # absent is fine
    assert not store.exists(digest)


def test_a_corrupted_object_is_not_served(s3_server: S3Server, tmp_path: Path) -> None:
    settings = _s3_settings(s3_server, tmp_path, "corrupt/")
    store = blob_store(settings)
    assert isinstance(store, S3BlobStore)
    digest = store.put(PNG).sha256
    s3_client(settings).put_object(Bucket=s3_server.bucket, Key=store._key(digest),
                                   Body=b"\x89PNG\r\n\x1a\nnot the same")
    with pytest.raises(NotFound, match="corrupt"):
        store.get(digest)


def test_an_unreachable_store_is_a_clear_temporary_error(tmp_path: Path,
                                                        s3_server: S3Server) -> None:
    down = _s3_settings(s3_server, tmp_path, "x/", s3_endpoint_url="http://127.0.0.1:9")
    with pytest.raises(BlobStoreUnavailable) as exc:
        blob_store(down).put(PDF)
    assert exc.value.status == 503 and exc.value.details["operation"] == "head_object"
    wrong = _s3_settings(s3_server, tmp_path, "x/", s3_secret_key="not-the-secret")
    with pytest.raises(BlobStoreUnavailable, match="refused"):
        blob_store(wrong).put(PDF)


def test_two_machines_with_one_bucket_see_each_others_blobs(s3_server: S3Server,
                                                           tmp_path: Path) -> None:
    one = blob_store(_s3_settings(s3_server, tmp_path / "a", "shared/"))
    other = blob_store(_s3_settings(s3_server, tmp_path / "b", "shared/"))
    digest = one.put(PDF).sha256
    assert other.get(digest) == PDF
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
