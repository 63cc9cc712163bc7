"""Content-addressed storage of uploaded materials.

A blob is named by its SHA-256 and stored once, however many cases supply it:
`<var_dir>/blobs/ab/cd/<sha256>`. Writes go to a temporary file in the same directory
and are renamed into place, so a reader never sees half a file. The type is decided by
the file's magic bytes, never by what the uploader declares. `BlobStore` is the
protocol an S3-compatible store can implement later.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from tongban.errors import InvalidInput, NotFound, TooLarge

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


class BlobStore(Protocol):
    """Where material bytes live; keyed by SHA-256."""

    def put(self, data: bytes) -> StoredBlob: ...

    def get(self, sha256: str) -> bytes: ...

    def exists(self, sha256: str) -> bool: ...


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


class DiskBlobStore:
    """Blobs on the local disk under `root`, two levels of fan-out."""

    def __init__(self, root: Path, *, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes

    def _path(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise NotFound("文件不存在 / no such blob", details={"sha256": sha256})
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, data: bytes) -> StoredBlob:
        """Check and store `data` (once); return its address and real type."""
        kind, ctype = check_upload(data, max_bytes=self.max_bytes)
        digest = hashlib.sha256(data).hexdigest()
        path = self._path(digest)
        if not path.exists():
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
        return StoredBlob(digest, len(data), kind, ctype)

    def get(self, sha256: str) -> bytes:
        """The bytes of a blob, verified against its name."""
        path = self._path(sha256)
        if not path.exists():
            raise NotFound("文件不存在 / no such blob", details={"sha256": sha256})
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != sha256:
            raise NotFound("文件已损坏 / blob is corrupt", details={"sha256": sha256})
        return data

    def exists(self, sha256: str) -> bool:
        return self._path(sha256).exists()


def disk_store(var_dir: Path, max_bytes: int) -> DiskBlobStore:
    """The node's default store: <var_dir>/blobs."""
    return DiskBlobStore(var_dir / "blobs", max_bytes=max_bytes)
