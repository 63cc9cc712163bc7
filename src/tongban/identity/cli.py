"""`tongban` sub-commands of the identity domain."""

from __future__ import annotations

import typer

app = typer.Typer(help="identity", no_args_is_help=True)
