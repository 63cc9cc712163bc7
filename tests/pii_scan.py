"""What a thief with the database's files finds: valid ID numbers and mobile numbers.

Scans raw bytes (the SQLite file and its WAL, or a `pg_dump` of a PostgreSQL database)
for 18-character resident ID numbers whose GB 11643 check digit and birth date are valid
and for 11-digit mainland mobile numbers, each standing alone (not inside a longer run of
letters or digits, as in a hex digest).
"""

from __future__ import annotations

import re
import subprocess
from datetime import date
from pathlib import Path

from sqlalchemy import Engine

from tongban.identity.ids import resident_check_char

_ID = re.compile(rb"(?<![0-9A-Za-z])[1-9][0-9]{5}(?:18|19|20)[0-9]{9}[0-9Xx](?![0-9A-Za-z])")
_MOBILE = re.compile(rb"(?<![0-9A-Za-z])1[3-9][0-9]{9}(?![0-9A-Za-z])")


def _valid_id(candidate: str) -> bool:
    """GB 11643's check character and a real birth date (not only the checked ones)."""
    number = candidate.upper()
    try:
        date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return False
    return resident_check_char(number[:17]) == number[17]


def find_pii(raw: bytes) -> dict[str, set[str]]:
    """The valid ID numbers and the mobile numbers in `raw`."""
    ids = {m.decode() for m in _ID.findall(raw) if _valid_id(m.decode())}
    return {"id_numbers": ids, "mobiles": {m.decode() for m in _MOBILE.findall(raw)}}


def raw_file_bytes(path: Path) -> bytes:
    """A file's bytes read by another process (`cat`): closing a descriptor of a SQLite
    file in THIS process drops every POSIX lock the process holds on it (SQLite's own
    included), so a CLI process closing later takes the database as its own and deletes
    the WAL this process still writes into. b"" if there is no such file."""
    if not path.exists():
        return b""
    return subprocess.run(["cat", str(path)], check=True, capture_output=True,
                          timeout=60).stdout


def database_bytes(engine: Engine) -> bytes:
    """Everything the database keeps on disk, as a thief would copy it: the SQLite file
    with its WAL (and shared-memory index), or a plain-text `pg_dump`."""
    url = engine.url
    if engine.dialect.name == "sqlite":
        base = Path(str(url.database))
        return b"".join(raw_file_bytes(p)
                        for p in (base, Path(f"{base}-wal"), Path(f"{base}-shm")))
    command = ["pg_dump", "--no-owner", "-h", url.host or "127.0.0.1", "-p", str(url.port or 5432),
               "-U", url.username or "postgres", str(url.database)]
    return subprocess.run(command, check=True, capture_output=True, timeout=120).stdout
