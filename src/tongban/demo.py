"""Seed a node with demo data a person would believe (catalog, people, one login per role)."""

from __future__ import annotations

from rich.console import Console
from sqlalchemy.orm import Session


def seed_demo(*, db_session: Session, console: Console | None = None) -> list[tuple[str, str, str]]:
    """Load the demo data; returns (role, username, password) for each demo login."""
    return []
