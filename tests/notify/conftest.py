"""Notify fixtures: the case world (catalog, people, accounts)."""

from __future__ import annotations

# `world` is the case fixture (catalog, people, accounts), shared here; `smtp_server` a
# real SMTP server on a free local port.
from tests.cases.conftest import World, at, world
from tests.notify.smtp_server import smtp_server

__all__ = ["World", "at", "smtp_server", "world"]
