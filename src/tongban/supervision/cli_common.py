"""What the supervision commands share: the acting account, ids, one line per record."""

from __future__ import annotations

import uuid

import typer

from tongban.cli_support import account_actor
from tongban.errors import InvalidInput
from tongban.identity.actor import Actor

AS_USER = typer.Option(..., "--as", help="Act as this account (its roles and scopes).")


def actor(username: str | None) -> Actor:
    """The account the command acts as; without `--as` (where it is optional), the node's
    worker."""
    from tongban.cases.service import WORKER_ACTOR

    return account_actor(username, default=WORKER_ACTOR)


def parse_uuid(text: str, field: str) -> uuid.UUID:
    """An id given on the command line, or a one-line error naming it."""
    try:
        return uuid.UUID(text)
    except ValueError:
        raise InvalidInput(f"{field} 不是有效的标识 / {field} is not a UUID: {text!r}",
                           details={"field": field}) from None


def say(text: str) -> None:
    """One line on stdout, as written (no markup, no wrapping)."""
    from tongban.cli import console

    console.print(text, highlight=False, soft_wrap=True, markup=False)
