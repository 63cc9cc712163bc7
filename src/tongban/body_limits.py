"""How large a request body the node reads, per path, enforced before and while reading.

A body whose Content-Length is over the limit is refused before one byte of it is read,
and a body without one (chunked) as soon as the bytes received pass it: a 300 MiB upload
is never spooled to disk or memory first. The refusal is an HTTPException(413) raised
where the app reads the body, so the app answers it as everything else: the API's JSON
error, a page route's HTML page (or JSON to the upload widget). (Starlette's own
RequestBodyLimitMiddleware replaces the app's answer with a plain-text 413.) The limit
depends on what the path carries:

- one material per request (uploads, catalog imports, every other form or JSON body):
  the upload limit plus room for the multipart envelope and form fields;
- a window form that forwards an application to another region, or the forwarding API
  (materials inline in JSON, so base64): several materials at the upload limit each;
- envelopes from peers: the federation's batch limit.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tongban.config import Settings
from tongban.errors import TooLarge

FORM_OVERHEAD = 1024 * 1024  # multipart boundaries, headers and the form's other fields
MATERIALS_PER_FORWARD = 4  # materials one forwarding request may carry at the upload limit
FORWARDING_API = ("/api/v1/federation/cases", "/api/v1/federation/joint-cases")
FORWARDING_PAGES = ("/workbench/intake/forward/", "/workbench/intake/joint/")
ENVELOPES = "/api/v1/federation/envelopes"


def base64_size(raw: int) -> int:
    """The length of `raw` bytes in base64."""
    return (raw + 2) // 3 * 4


def limit_for(path: str, settings: Settings) -> int:
    """The largest body this node reads for a request to `path`."""
    upload = settings.max_upload_bytes
    if path.startswith(ENVELOPES):
        from tongban.federation.service import batch_body_limit

        return batch_body_limit(settings)
    if path.startswith(FORWARDING_API):
        return MATERIALS_PER_FORWARD * base64_size(upload) + FORM_OVERHEAD
    if path.startswith(FORWARDING_PAGES):
        return MATERIALS_PER_FORWARD * upload + FORM_OVERHEAD
    return upload + FORM_OVERHEAD


def body_too_large(request: Request) -> TooLarge:
    """The readable refusal of a body over its path's limit."""
    limit = limit_for(request.url.path, request.app.state.settings)
    return TooLarge(f"请求内容超过大小上限 {limit / (1024 * 1024):.0f} MiB / the request is "
                    f"larger than this node accepts ({limit} bytes)", details={"limit": limit})


class BodyLimits:
    """ASGI middleware: each HTTP request gets the body limit of its path."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = limit_for(scope.get("path", ""), self.settings)
        declared = Headers(scope=scope).get("content-length")
        received = 0

        async def limited() -> Message:
            nonlocal received
            if declared is not None and declared.isdigit() and int(declared) > limit:
                raise HTTPException(413)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(413)
            return message

        await self.app(scope, limited, send)
