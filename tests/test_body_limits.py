"""A body over its path's limit is refused before it is read (by Content-Length) or as soon
as the bytes received pass the limit (chunked): never read whole first. Driven at the ASGI
level, so the test counts exactly the bytes the node pulled from the client."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tongban.app import create_app
from tongban.body_limits import FORM_OVERHEAD, limit_for
from tongban.config import Settings
from tongban.federation.service import batch_body_limit

MiB = 1024 * 1024
CHUNK = MiB


@dataclass
class Exchange:
    """What one request pulled from the client and what it answered."""

    pulled: int = 0
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def json(self) -> Any:
        return json.loads(self.body)


def _multipart_chunks(total: int) -> Iterator[bytes]:
    """A multipart upload of one file of `total` bytes, in 1 MiB pieces."""
    yield (b'--B\r\nContent-Disposition: form-data; name="material_code"\r\n\r\nM1\r\n'
           b'--B\r\nContent-Disposition: form-data; name="file"; filename="a.pdf"\r\n'
           b"Content-Type: application/pdf\r\n\r\n%PDF-1.4\n")
    for _ in range(total // CHUNK):
        yield b"0" * CHUNK
    yield b"\r\n--B--\r\n"


def drive(app: FastAPI, path: str, chunks: Iterator[bytes], *,
          content_length: int | None = None, content_type: str = "multipart/form-data; "
          "boundary=B", origin_ok: bool = True) -> Exchange:
    """POST `chunks` to `path` through the real ASGI app, counting the bytes it pulls."""
    seen = Exchange()
    headers = [(b"content-type", content_type.encode()), (b"host", b"testserver")]
    if content_length is not None:
        headers.append((b"content-length", str(content_length).encode()))
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": path, "raw_path": path.encode(),
             "root_path": "", "query_string": b"", "headers": headers,
             "client": ("127.0.0.1", 1), "server": ("testserver", 80), "state": {}}
    source = iter(chunks)

    async def receive() -> dict[str, Any]:
        piece = next(source, None)
        if piece is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        seen.pulled += len(piece)
        return {"type": "http.request", "body": piece, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            seen.status = message["status"]
            seen.headers = {k.decode(): v.decode() for k, v in message["headers"]}
        elif message["type"] == "http.response.body":
            seen.body += message.get("body", b"")

    # A thread of its own: a browser test in the same worker may leave an event loop
    # running in this one, and asyncio.run refuses to nest.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, app(scope, receive, send)).result()
    return seen


@pytest.fixture
def app(settings: Settings, engine: Engine, db_session: Session) -> FastAPI:
    """An app over a clean database (what other tests left, e.g. a case of a retired
    workflow, must not stop it starting)."""
    return create_app(settings, engine=engine)


UPLOAD_PATHS = ["/api/v1/cases/NO-SUCH-CASE/materials",
                "/apply/NO-SUCH-ITEM/materials/M1",
                "/workbench/cases/NO-SUCH-CASE/materials/M1",
                "/api/v1/catalog/import"]


@pytest.mark.parametrize("path", UPLOAD_PATHS)
def test_a_300_mib_upload_is_refused_on_its_content_length_before_a_byte_is_read(
        app: FastAPI, settings: Settings, path: str) -> None:
    size = 300 * MiB
    seen = drive(app, path, _multipart_chunks(size), content_length=size)
    assert seen.status == 413
    assert seen.pulled == 0
    if path.startswith("/api/"):
        assert seen.json()["error"] == "too_large"
        assert seen.json()["details"]["limit"] == settings.max_upload_bytes + FORM_OVERHEAD


@pytest.mark.parametrize("path", UPLOAD_PATHS)
def test_a_chunked_upload_is_refused_as_soon_as_it_passes_the_limit(
        app: FastAPI, settings: Settings, path: str) -> None:
    seen = drive(app, path, _multipart_chunks(300 * MiB))
    assert seen.status == 413
    assert seen.pulled <= settings.max_upload_bytes + FORM_OVERHEAD + 2 * CHUNK


def test_a_400_mib_envelope_batch_is_refused_before_reading(app: FastAPI) -> None:
    size = 400 * MiB
    body = (b'{"envelopes": ["' + b"a" * CHUNK for _ in range(size // CHUNK))
    seen = drive(app, "/api/v1/federation/envelopes/batch", body, content_length=size,
                 content_type="application/json")
    assert seen.status == 413 and seen.pulled == 0
    chunked = drive(app, "/api/v1/federation/envelopes/batch",
                    (b'{"envelopes": ["' + b"a" * CHUNK for _ in range(size // CHUNK)),
                    content_type="application/json")
    assert chunked.status == 413
    assert chunked.pulled <= batch_body_limit(app.state.settings) + CHUNK


def test_a_body_within_the_limit_is_read_and_handled(app: FastAPI, settings: Settings
                                                     ) -> None:
    seen = drive(app, "/api/v1/cases/NO-SUCH-CASE/materials", _multipart_chunks(2 * MiB))
    assert seen.status == 401  # read whole, then the caller is asked to sign in


def test_forwarding_paths_take_several_materials_at_the_upload_limit(
        settings: Settings) -> None:
    upload = settings.max_upload_bytes
    assert limit_for("/api/v1/federation/cases", settings) >= 4 * upload * 4 // 3
    assert limit_for("/workbench/intake/forward/X", settings) >= 4 * upload
    assert limit_for("/api/v1/cases/X/materials", settings) == upload + FORM_OVERHEAD
