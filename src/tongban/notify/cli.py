"""`tongban notify …`: send a test message, list failed deliveries, retry them."""

from __future__ import annotations

import uuid

import typer
from rich.table import Table

from tongban.errors import InvalidInput, NotFound

app = typer.Typer(help="Notifications (消息通知): test, failures, retry.", no_args_is_help=True)


def _say(text: str) -> None:
    from tongban.cli import console

    console.print(text, highlight=False, soft_wrap=True, markup=False)


@app.command("send-test")
def send_test(username: str = typer.Argument(..., help="the account to tell"),
              deliver: bool = typer.Option(False, "--deliver",
                                           help="also send it now (not wait for a worker)"),
              ) -> None:
    """Tell an account a test message (inbox, and its e-mail/SMS if it has them)."""
    from tongban.cli import cli_session
    from tongban.config import get_settings
    from tongban.identity import service as identity
    from tongban.notify import delivery, preferences, service

    settings = get_settings()
    with cli_session(settings) as session:
        account = identity.find_account_by_username(db_session=session, username=username)
        if account is None:
            raise NotFound(f"账号不存在 / no such account: {username}")
        to = preferences.primary_recipient(identity.actor_from_account(account))
        n = service.notify(db_session=session, settings=settings, kind="notify.test", to=to,
                           params={"node_name": settings.node_name},
                           key=f"notify.test:{uuid.uuid4()}")
        channels = [d.channel for d in service.deliveries_of(db_session=session,
                                                             notification_id=n.id)]
    _say(f"已发送测试消息 / test message {n.id} written: inbox"
         + "".join(f", {c}" for c in channels))
    if deliver and channels:
        with cli_session(settings) as session:
            report = delivery.deliver_due(db_session=session, settings=settings)
        _say(f"sent {report.sent}, retry later {report.retried}, failed {report.failed}"
             + "".join(f"\n  {e}" for e in report.errors))


@app.command("failures")
def list_failures(limit: int = typer.Option(200, min=1, max=10000)) -> None:
    """Deliveries that failed for good (permanent, or temporary too often), newest first."""
    from tongban.cli import cli_session, console
    from tongban.config import get_settings
    from tongban.notify import delivery
    from tongban.notify.models import Notification

    settings = get_settings()
    with cli_session(settings) as session:
        rows = delivery.failures(db_session=session, limit=limit)
        table = Table("delivery", "kind", "channel", "to", "attempts", "failure", "last error")
        for d in rows:
            notification = session.get(Notification, d.notification_id)
            table.add_row(str(d.id), notification.kind if notification else "?", d.channel,
                          delivery.address_of(settings=settings, delivery=d), str(d.attempts),
                          d.failure or "", d.last_error or "")
        counts = delivery.counts(db_session=session)
    console.print(table)
    _say(" ".join(f"{state}={n}" for state, n in sorted(counts.items())) or "no deliveries")


@app.command("retry")
def retry(delivery_ids: list[str] = typer.Argument(None, help="delivery ids (see failures)"),
          all_failed: bool = typer.Option(False, "--all", help="every failed delivery")) -> None:
    """Queue failed deliveries again for a fresh round of attempts."""
    from tongban.cli import cli_session
    from tongban.notify import delivery

    if not delivery_ids and not all_failed:
        raise InvalidInput("请给出投递编号或 --all / name deliveries or pass --all")
    try:
        ids = None if all_failed else [uuid.UUID(i) for i in delivery_ids]
    except ValueError:
        raise InvalidInput("投递编号格式不正确 / a delivery id is not a UUID") from None
    with cli_session() as session:
        queued = delivery.retry(db_session=session, delivery_ids=ids)
    _say(f"已重新排队 / queued again: {queued}")
