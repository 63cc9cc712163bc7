"""Rate limits on what anyone can call without signing in: login (password guessing) and
public licence verification (scraping), with the `limits` library.

Counts live in `TONGBAN_RATE_LIMIT_STORAGE`: `memory://` counts per process (one process
only), `redis://host:port/db` counts across every process and machine of the node, which
is what a node with several API processes needs (`tongban serve --workers N` refuses
`memory://`). Keys carry the node's name, so nodes may share one Redis. If the store does
not answer, the request is let through and the failure is logged and shown by
/api/v1/health: an unreachable counter must not lock every person out of the node.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from limits import RateLimitItem, parse_many
from limits.storage import Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from tongban.config import Settings
from tongban.errors import DomainError
from tongban.node.registry import ConfigurationError

log = logging.getLogger("tongban.ratelimit")


class RateLimited(DomainError):
    """Too many attempts from one source: wait, then try again (429 with Retry-After)."""

    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int, details: Any = None) -> None:
        super().__init__(message, details=details)
        self.retry_after = max(1, retry_after)
        self.headers = {"Retry-After": str(self.retry_after)}


@dataclass
class RateLimiter:
    """The node's limits by name, each a list of `limits` items over one shared store."""

    storage_uri: str
    rules: dict[str, list[RateLimitItem]]
    storage: Storage
    limiter: MovingWindowRateLimiter
    last_error: str | None = field(default=None)

    @property
    def shared(self) -> bool:
        return not self.storage_uri.startswith("memory://")

    def hit(self, name: str, *key: str) -> None:
        """Count one attempt of `name` by `key`; RateLimited when any limit is spent."""
        for item in self.rules[name]:
            try:
                allowed = self.limiter.hit(item, name, *key)
                reset = self.limiter.get_window_stats(item, name, *key).reset_time
            except Exception as exc:  # the store is down: let the request through, loudly
                self.last_error = f"{type(exc).__name__}: {exc}"[:300]
                log.error("rate-limit store %s failed: %s", self.storage_uri, self.last_error)
                return
            self.last_error = None
            if not allowed:
                wait = int(reset - time.time()) + 1
                raise RateLimited(
                    f"尝试次数过多,请 {wait} 秒后再试 / too many attempts: try again in "
                    f"{wait} seconds", retry_after=wait,
                    details={"limit": str(item), "retry_after": wait})

    def healthy(self) -> bool:
        try:
            return bool(self.storage.check())
        except Exception:
            return False


def build(settings: Settings) -> RateLimiter:
    """The limiter the settings describe; a malformed limit or store is a start-up error."""
    try:
        # Named as the routes' seams name them (tongban.api_deps.rate_limit).
        rules = {"login": parse_many(settings.rate_limit_login_source),
                 "login_account": parse_many(settings.rate_limit_login),
                 "licence_verify": parse_many(settings.rate_limit_verify)}
    except ValueError as exc:
        raise ConfigurationError(f"a TONGBAN_RATE_LIMIT_* value is malformed: {exc}") from exc
    prefix = f"tongban:{settings.node_region}:{settings.node_name}"
    try:
        storage = storage_from_string(settings.rate_limit_storage, key_prefix=prefix)
    except Exception as exc:
        raise ConfigurationError(f"TONGBAN_RATE_LIMIT_STORAGE={settings.rate_limit_storage!r} "
                                 f"is not usable: {exc}") from exc
    if not isinstance(storage, Storage):  # an async store (async+redis://): not ours
        raise ConfigurationError("TONGBAN_RATE_LIMIT_STORAGE must name a synchronous store")
    return RateLimiter(settings.rate_limit_storage, rules, storage,
                       MovingWindowRateLimiter(storage))


def check_login(limiter: RateLimiter, *, source: str, username: str) -> None:
    """A login attempt for one account from one source (the per-source count is the
    route's seam, `rate_limit("login")`)."""
    limiter.hit("login_account", source, username.strip().lower())


def source_of(request: Any) -> str:
    """Who is calling, for counting: the peer address (behind a proxy, run uvicorn with
    --forwarded-allow-ips so that it is the client's, not the proxy's)."""
    client = getattr(request, "client", None)
    return str(client.host) if client is not None else "unknown"


def limiter_of(request: Any) -> RateLimiter:
    """The node's limiter, from the app serving `request`."""
    limiter: RateLimiter = request.app.state.node.rate_limiter
    return limiter
