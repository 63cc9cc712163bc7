"""Binding a row's legal columns to the log: what an act logs of its row, and which
columns of the row no longer say it.

A domain names its bound columns as a table of column -> reader (the reader turns the
column into plain JSON: ISO text for dates, a hash for free text). The act that changes
a row logs the row's record (`snapshot`) in its payload; `tongban verify` compares the
row with the record of the latest act (`changed_columns`), so an edit of any bound
column in the database is named by row and column.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import Any

Reader = Callable[[Any], Any]
Readers = Mapping[str, Reader]


def plain(value: Any) -> Any:
    """A column value as JSON the log can hold: UTC ISO text for a moment, ISO text for a
    day, text for an id; strings, numbers, booleans and None as they are."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def column(name: str) -> Reader:
    """The reader of a column kept as is (made plain)."""
    return lambda row: plain(getattr(row, name))


def snapshot(row: Any, readers: Readers) -> dict[str, Any]:
    """The record of a row's bound columns, for an act's payload."""
    return {name: read(row) for name, read in readers.items()}


def changed_columns(row: Any, record: Mapping[str, Any], readers: Readers) -> list[str]:
    """The bound columns whose value differs from the logged record (a record logged
    before a column was bound does not name it, and so binds it from its next act)."""
    return [name for name, read in readers.items()
            if name in record and read(row) != record[name]]
