"""`tongban keys …`: make a node's key file once, rotate a key, show what is in use."""

from __future__ import annotations

import hashlib
from pathlib import Path

import typer
from rich.console import Console

from tongban.config import get_settings
from tongban.node import keyring

app = typer.Typer(help="The node's keys (data, index, CSRF, node signing, authority).",
                  no_args_is_help=True)
console = Console()

FILE = typer.Option(None, "--file", help="The key file (default: TONGBAN_KEY_FILE).")


def _path(given: Path | None) -> Path:
    path = given or get_settings().key_file
    if path is None:
        raise keyring.KeyError_("name the key file: --file PATH or TONGBAN_KEY_FILE")
    return Path(path)


def fingerprint(raw: bytes) -> str:
    """A key's public name in listings: never the key, a short hash of it."""
    return hashlib.sha256(raw).hexdigest()[:12]


@app.command("init")
def init(file: Path | None = FILE,
         authority: bool = typer.Option(False, help="Also a registry authority key.")) -> None:
    """Create the key file once (mode 0600); every machine of the node then uses it."""
    path = _path(file)
    keyring.init_file(path, authority=authority)
    console.print(f"wrote {path}: one data, index, CSRF and node key"
                  + (" and an authority key" if authority else ""), highlight=False)
    console.print("copy it to every machine of the node and set TONGBAN_KEY_FILE to it",
                  highlight=False)


@app.command("rotate")
def rotate(kind: str = typer.Argument(..., help="data, csrf or node"),
           file: Path | None = FILE) -> None:
    """Put a new key of KIND in use; the old one stays, retired, for reading."""
    path = _path(file)
    doc = keyring.rotate_file(path, kind)
    console.print(f"{kind}: {len(doc[kind])} keys, the newest in use; distribute {path} "
                  f"to every machine and restart the node's processes", highlight=False)


@app.command("add-authority")
def add_authority(file: Path | None = FILE) -> None:
    """Give this node a registry authority key (once)."""
    path = _path(file)
    keyring.add_authority(path)
    console.print(f"{path}: authority key added", highlight=False)


@app.command("show")
def show() -> None:
    """Where the keys come from and their fingerprints (never the keys)."""
    from cryptography.hazmat.primitives import serialization

    ring = keyring.keyring(get_settings())
    console.print(f"source: {ring.source}", highlight=False)
    raw = serialization.Encoding.Raw, serialization.PublicFormat.Raw
    rows = {"data": [fingerprint(k) for k in ring.data], "index": [fingerprint(ring.index)],
            "csrf": [fingerprint(k) for k in ring.csrf],
            "node": [k.public_key().public_bytes(*raw).hex()[:12] for k in ring.node]}
    if ring.authority is not None:
        rows["authority"] = [ring.authority.public_key().public_bytes(*raw).hex()[:12]]
    for kind, prints in rows.items():
        retired = f" (retired: {', '.join(prints[1:])})" if len(prints) > 1 else ""
        console.print(f"{kind:<10} in use {prints[0]}{retired}", highlight=False)
