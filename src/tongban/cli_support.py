"""What every domain's commands share: the account a command acts as, and JSON read from
a file, each failure one clear line (InvalidInput / NotFound, printed by tongban.cli)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tongban.errors import InvalidInput, NotFound
from tongban.identity.actor import Actor


def account_actor(username: str | None, *, default: Actor) -> Actor:
    """The account `--as` names (its roles and scopes), or `default` when none is named."""
    from tongban.cli import cli_session
    from tongban.identity import service as identity

    if username is None:
        return default
    with cli_session() as session:
        account = identity.find_account_by_username(db_session=session, username=username)
        if account is None:
            raise NotFound(f"账号不存在 / no such account: {username}")
        return identity.actor_from_account(account)


def read_json(path: Path) -> Any:
    """A file's JSON; an unreadable file or bad JSON is an InvalidInput naming the file."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidInput(f"无法读取文件 / cannot read {path}: {exc.strerror}",
                           details={"field": "file"}) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"文件不是有效的 JSON / {path} is not valid JSON: {exc}",
                           details={"field": "file"}) from None
