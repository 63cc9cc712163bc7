"""Structured logs with a request id: every request gets one (the caller's X-Request-ID
when it is a sane token, else a fresh one), answers with it, and every log line written
while it runs carries it, in whichever API process or thread served it. `tongban serve`
and `tongban worker` log one JSON object a line to stderr (TONGBAN_LOG_FORMAT=text for
people at a terminal)."""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

REQUEST_ID: ContextVar[str | None] = ContextVar("tongban_request_id", default=None)
HEADER = b"x-request-id"
_SANE = re.compile(rb"^[A-Za-z0-9._:-]{1,64}$")
access = logging.getLogger("tongban.request")
# Attributes every LogRecord has; anything else was passed as `extra` and is logged.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class RequestIds:
    """ASGI middleware: a request id per HTTP request, in the context and the response,
    and one access line (method, path, status, milliseconds) when the response is done."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers") or ()).get(HEADER)
        rid = given.decode() if given and _SANE.match(given) else uuid.uuid4().hex
        token = REQUEST_ID.set(rid)
        started, status = time.perf_counter(), [500]

        async def send_with_id(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                message["headers"] = [*message.get("headers", []), (HEADER, rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if access.isEnabledFor(logging.INFO):
                access.info("request", extra={
                    "method": scope.get("method"), "path": scope.get("path"),
                    "status": status[0],
                    "ms": round((time.perf_counter() - started) * 1000, 2)})
            REQUEST_ID.reset(token)


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, request id, extras."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(), "logger": record.name,
            "message": record.getMessage(),
        }
        rid = REQUEST_ID.get()
        if rid is not None:
            line["request_id"] = rid
        line.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class _WithRequestId(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get() or "-"
        return True


def configure(fmt: str = "json", level: str = "info") -> None:
    """Send the node's logs to stderr as JSON lines (or text), once per process."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.addFilter(_WithRequestId())
        handler.setFormatter(logging.Formatter(
            "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
