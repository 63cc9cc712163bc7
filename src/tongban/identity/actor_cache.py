"""A short per-process memory of which actor a session token stands for.

Every API request starts by turning its bearer token into an Actor; against the
database that is one query, a noticeable share of a cheap request. A worker process
keeps the answer for `TTL_SECONDS`, keyed by the token's SHA-256 (the token itself is
never kept). The bound: a session revoked, or an account deactivated or changed, by
ANOTHER process is honoured by this one at most `TTL_SECONDS` later; in the same
process logout and acting-for changes forget the entry at once. The session's expiry
is checked on every hit. Sessions acting for a principal are never kept (the
authorisation's validity depends on the moment).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from tongban.identity.actor import Actor

TTL_SECONDS = 5.0
MAX_ENTRIES = 10_000


@dataclass(frozen=True)
class _Entry:
    actor: Actor
    expires_at: datetime  # the session's own expiry
    fresh_until: float  # time.monotonic() after which the database is asked again


_entries: dict[str, _Entry] = {}


def get(token_hash: str, now: datetime) -> Actor | None:
    """The remembered actor, if still fresh and the session not expired at `now`."""
    entry = _entries.get(token_hash)
    if entry is None:
        return None
    if entry.fresh_until <= time.monotonic() or entry.expires_at <= now:
        _entries.pop(token_hash, None)
        return None
    return entry.actor


def put(token_hash: str, actor: Actor, expires_at: datetime) -> None:
    """Remember an actor for `TTL_SECONDS` (the whole memory is dropped when full)."""
    if len(_entries) >= MAX_ENTRIES:
        _entries.clear()
    _entries[token_hash] = _Entry(actor, expires_at, time.monotonic() + TTL_SECONDS)


def forget(token_hash: str) -> None:
    """Drop one session's entry (logout, acting for someone, stopping)."""
    _entries.pop(token_hash, None)


def clear() -> None:
    """Drop every entry."""
    _entries.clear()
