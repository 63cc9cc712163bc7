"""`tongban notify`: a test message, failures for an operator, retry."""

from __future__ import annotations

import pytest
from rich.console import Console
from sqlalchemy import select
from typer.testing import CliRunner

import tongban.cli
from tongban.cli import app
from tongban.notify import delivery, preferences
from tongban.notify.models import Delivery

from .conftest import World

runner = CliRunner()


def test_send_test_then_failures_and_retry(world: World, cli_env: None,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    w = world
    for name in ("data_key", "index_key", "csrf_key", "node_key"):  # the node's keys
        monkeypatch.setenv(f"TONGBAN_{name.upper()}", getattr(w.settings, name))
    monkeypatch.setattr(tongban.cli, "console", Console(width=300))  # whole table rows
    preferences.update(db_session=w.db, settings=w.settings, actor=w["applicant"],
                       email="zhang.san@example.cn", phone=None, channels={})
    w.db.commit()
    sent = runner.invoke(app, ["notify", "send-test", w.usernames["applicant"], "--deliver"])
    assert sent.exit_code == 0, sent.output
    assert "inbox, email" in sent.output and "failed 1" in sent.output  # no SMTP server here
    listed = runner.invoke(app, ["notify", "failures"])
    assert listed.exit_code == 0, listed.output
    assert "zh***@example.cn" in listed.output and "zhang.san@example.cn" not in listed.output
    assert "TONGBAN_SMTP_HOST" in listed.output and "failed=1" in listed.output
    w.db.expire_all()
    (row,) = w.db.scalars(select(Delivery)).all()
    again = runner.invoke(app, ["notify", "retry", str(row.id)])
    assert again.exit_code == 0 and "queued again: 1" in again.output
    w.db.expire_all()
    assert [d.state for d in delivery.failures(db_session=w.db)] == []
    assert runner.invoke(app, ["notify", "retry"]).exit_code != 0  # names or --all
    assert runner.invoke(app, ["notify", "retry", "nope"]).exit_code != 0
    assert runner.invoke(app, ["notify", "send-test", "nobody"]).exit_code != 0
