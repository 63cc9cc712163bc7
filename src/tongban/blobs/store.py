"""Content-addressed storage of uploaded materials, shared by every machine of a node.

A blob is named by its SHA-256 and stored once, however many cases supply it, under a key
`<namespace>/ab/cd/<sha256>`; a read is checked against its name, so a store can never
hand back other bytes. The type of an upload is decided by the file's magic bytes, never
by what the uploader declares. Two back-ends behind one interface (`BlobStore`):

- `DiskBlobStore`: files under `<var_dir>/<namespace>`, written to a temporary file and
  renamed into place (a reader never sees half a file): the embedded default, one machine;
- `S3BlobStore`: objects in an S3-compatible bucket (boto3), for a node of several
  machines (`TONGBAN_BLOB_STORE=s3`, `TONGBAN_S3_*`): what one machine stores, every
  machine reads. The tests run it against a real SeaweedFS server.

`tongban blobs migrate` copies a node's disk blobs into its S3 store.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from tongban.config import Settings
from tongban.errors import DomainError, InvalidInput, NotFound, TooLarge

NAMESPACES = ("blobs", "federation_blobs")  # case materials; forwarding copies (federation)


class BlobStoreUnavailable(DomainError):
    """The store did not answer: temporary, the caller may retry; nothing was written."""

    status = 503
    code = "blob_store_unavailable"


# type -> (content type, magic prefix)
_MAGIC: tuple[tuple[str, str, bytes], ...] = (
    ("pdf", "application/pdf", b"%PDF-"),
    ("jpeg", "image/jpeg", b"\xff\xd8\xff"),
    ("png", "image/png", b"\x89PNG\r\n\x1a\n"),
)
_ZIP = b"PK\x03\x04"
# OOXML and OFD (GB/T 33190) are ZIP containers; their members tell them apart.
_ZIP_KINDS: tuple[tuple[str, str, str], ...] = (
    ("docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
     "word/document.xml"),
    ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
     "xl/workbook.xml"),
    ("ofd", "application/ofd", "OFD.xml"),
)
ALLOWED_TYPES = ("pdf", "jpeg", "png", "ofd", "docx", "xlsx")


@dataclass(frozen=True)
class StoredBlob:
    sha256: str
    size: int
    kind: str
    content_type: str


def sniff(data: bytes) -> tuple[str, str] | None:
    """The (kind, content type) the bytes really are, or None if not an allowed type."""
    for kind, ctype, magic in _MAGIC:
        if data.startswith(magic):
            return kind, ctype
    if data.startswith(_ZIP):
        try:
            names = set(zipfile.ZipFile(io.BytesIO(data)).namelist())
        except zipfile.BadZipFile:
            return None
        for kind, ctype, member in _ZIP_KINDS:
            if member in names:
                return kind, ctype
    return None


def check_upload(data: bytes, *, max_bytes: int) -> tuple[str, str]:
    """Reject an upload that is too big or not one of the allowed types."""
    if len(data) > max_bytes:
        raise TooLarge(
            f"文件超过大小限制 {max_bytes} 字节 / file exceeds the limit of {max_bytes} bytes",
            details={"field": "file", "size": len(data), "max_bytes": max_bytes},
        )
    if not data:
        raise InvalidInput("文件为空 / the file is empty", details={"field": "file"})
    found = sniff(data)
    if found is None:
        raise InvalidInput(
            "文件类型不允许,仅限 PDF、JPEG、PNG、OFD、DOCX、XLSX / file type not allowed",
            code="forbidden_type",
            details={"field": "file", "allowed": list(ALLOWED_TYPES)},
        )
    return found


class BlobStore(Protocol):
    """Where material bytes live; keyed by SHA-256."""

    def put(self, data: bytes) -> StoredBlob:
        """Check an upload (size, real type) and store it once."""
        ...

    def keep(self, data: bytes) -> str:
        """Store bytes as they are (no type check); their SHA-256."""
        ...

    def get(self, sha256: str) -> bytes:
        """The bytes, verified against their name; NotFound if absent or corrupt."""
        ...

    def exists(self, sha256: str) -> bool: ...

    def delete(self, sha256: str) -> None:
        """Remove a blob (absent is fine)."""
        ...

    def names(self) -> Iterator[str]:
        """Every stored SHA-256 (migration, checks)."""
        ...


def _checked_name(sha256: str) -> str:
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise NotFound("文件不存在 / no such blob", details={"sha256": sha256})
    return sha256


def _verified(sha256: str, data: bytes) -> bytes:
    if hashlib.sha256(data).hexdigest() != sha256:
        raise NotFound("文件已损坏 / blob is corrupt", details={"sha256": sha256})
    return data


def _absent(sha256: str) -> NotFound:
    return NotFound("文件不存在 / no such blob", details={"sha256": sha256})


class _ContentAddressed:
    """put/keep/get in terms of a back-end's raw read, write and test of one name."""

    max_bytes: int

    def _has(self, sha256: str) -> bool:
        raise NotImplementedError

    def _write(self, sha256: str, data: bytes) -> None:
        raise NotImplementedError

    def put(self, data: bytes) -> StoredBlob:
        kind, ctype = check_upload(data, max_bytes=self.max_bytes)
        return StoredBlob(self.keep(data), len(data), kind, ctype)

    def keep(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        if not self._has(digest):
            self._write(digest, data)
        return digest

    def exists(self, sha256: str) -> bool:
        return self._has(_checked_name(sha256))


class DiskBlobStore(_ContentAddressed):
    """Blobs on the local disk under `root`, two levels of fan-out."""

    def __init__(self, root: Path, *, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes

    def _path(self, sha256: str) -> Path:
        sha256 = _checked_name(sha256)
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def _has(self, sha256: str) -> bool:
        return self._path(sha256).exists()

    def _write(self, sha256: str, data: bytes) -> None:
        path = self._path(sha256)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, sha256: str) -> bytes:
        path = self._path(sha256)
        if not path.exists():
            raise _absent(sha256)
        return _verified(sha256, path.read_bytes())

    def delete(self, sha256: str) -> None:
        self._path(sha256).unlink(missing_ok=True)

    def names(self) -> Iterator[str]:
        if not self.root.exists():
            return
        for path in sorted(self.root.glob("*/*/*")):
            if path.is_file() and not path.name.startswith(".tmp-"):
                yield path.name


class S3BlobStore(_ContentAddressed):
    """Blobs as objects `<prefix><namespace>/ab/cd/<sha256>` in an S3-compatible bucket."""

    def __init__(self, client: Any, bucket: str, prefix: str, *, max_bytes: int) -> None:
        self.client, self.bucket, self.prefix = client, bucket, prefix
        self.max_bytes = max_bytes

    def _key(self, sha256: str) -> str:
        sha256 = _checked_name(sha256)
        return f"{self.prefix}{sha256[:2]}/{sha256[2:4]}/{sha256}"

    def _call(self, method: str, **kw: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self.client, method)(Bucket=self.bucket, **kw)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in ("404", "NoSuchKey", "NotFound"):
                raise _absent(kw.get("Key", "").rsplit("/", 1)[-1]) from None
            raise BlobStoreUnavailable(
                f"文件存储拒绝了请求,请稍后重试 / the blob store refused the request: {code}",
                details={"bucket": self.bucket, "operation": method, "code": code}) from exc
        except BotoCoreError as exc:
            raise BlobStoreUnavailable(
                "文件存储暂不可用,请稍后重试 / the blob store is unreachable; try again",
                details={"bucket": self.bucket, "operation": method,
                         "reason": type(exc).__name__}) from exc

    def _has(self, sha256: str) -> bool:
        try:
            self._call("head_object", Key=self._key(sha256))
        except NotFound:
            return False
        return True

    def _write(self, sha256: str, data: bytes) -> None:
        self._call("put_object", Key=self._key(sha256), Body=data,
                   ContentType="application/octet-stream")

    def get(self, sha256: str) -> bytes:
        body = self._call("get_object", Key=self._key(sha256))["Body"]
        try:
            data: bytes = body.read()
        finally:
            body.close()
        return _verified(sha256, data)

    def delete(self, sha256: str) -> None:
        self._call("delete_object", Key=self._key(sha256))

    def names(self) -> Iterator[str]:
        token: str | None = None
        while True:
            kw: dict[str, Any] = {"Prefix": self.prefix}
            if token:
                kw["ContinuationToken"] = token
            page = self._call("list_objects_v2", **kw)
            for item in page.get("Contents", []):
                yield str(item["Key"]).rsplit("/", 1)[-1]
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return


def disk_store(var_dir: Path, max_bytes: int, namespace: str = "blobs") -> DiskBlobStore:
    """A node's disk store: <var_dir>/<namespace>."""
    return DiskBlobStore(var_dir / namespace, max_bytes=max_bytes)


def s3_client(settings: Settings) -> Any:
    """A boto3 S3 client for the node's bucket (thread-safe; one per process)."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3", endpoint_url=settings.s3_endpoint_url, region_name=settings.s3_region,
        aws_access_key_id=settings.s3_access_key, aws_secret_access_key=settings.s3_secret_key,
        config=Config(s3={"addressing_style": "path"}, connect_timeout=3, read_timeout=30,
                      retries={"max_attempts": 3, "mode": "standard"}))


_clients: dict[tuple[Any, ...], Any] = {}
_clients_lock = threading.Lock()


def _client_for(settings: Settings) -> Any:
    key = (settings.s3_endpoint_url, settings.s3_region, settings.s3_access_key,
           settings.s3_secret_key)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = s3_client(settings)
    return client


def blob_store(settings: Settings, namespace: str = "blobs") -> BlobStore:
    """The node's store of `namespace`, as its settings name it (disk by default)."""
    if settings.blob_store == "disk":
        return disk_store(Path(settings.var_dir), settings.max_upload_bytes, namespace)
    if not settings.s3_bucket:
        from tongban.node.registry import ConfigurationError

        raise ConfigurationError("TONGBAN_BLOB_STORE=s3 needs TONGBAN_S3_BUCKET (and "
                                 "TONGBAN_S3_ENDPOINT_URL for a store other than AWS)")
    return S3BlobStore(_client_for(settings), settings.s3_bucket,
                       f"{settings.s3_prefix}{namespace}/",
                       max_bytes=settings.max_upload_bytes)
