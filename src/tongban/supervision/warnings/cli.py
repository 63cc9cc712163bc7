"""`tongban supervision orders …` and `… warnings …`: 督办/纠错 orders (issue, answer,
close, reopen: ORDER_TRANSITIONS) and the warnings escalated to the account."""

from __future__ import annotations

from typing import Any

import typer

from tongban.supervision.cli_common import AS_USER, actor, parse_uuid, say
from tongban.supervision.warnings.service import KINDS, ORDER_STATES

orders_app = typer.Typer(help="督办/纠错: orders to a case's department.",
                         no_args_is_help=True)
warnings_app = typer.Typer(help="预警: warned cases escalated, and the escalation job.",
                           no_args_is_help=True)


def _print(order: Any) -> None:
    say(f"order {order.id} {KINDS[order.kind]} {order.case_number} {order.state} "
        f"{ORDER_STATES[order.state]}; due {order.due}")
    say(f"  text: {order.text}")
    if order.answer:
        say(f"  answer ({order.answered_by_name}): {order.answer}")


def _step(as_user: str, order_id: str, action: str, text: str | None) -> None:
    from tongban.cli import cli_session
    from tongban.supervision.warnings import service

    who = actor(as_user)
    oid = parse_uuid(order_id, "order_id")
    with cli_session() as session:
        _print(service.act_on_order(db_session=session, actor=who, order_id=oid,
                                    action=action, text=text))


@orders_app.command("list")
def list_orders(as_user: str = AS_USER, state: str | None = typer.Option(None),
                case: str | None = typer.Option(None, help="One case's orders.")) -> None:
    """The orders the account issued in scope or must answer, the nearest deadline first."""
    from tongban.cli import cli_session
    from tongban.supervision.warnings import service

    who = actor(as_user)
    with cli_session() as session:
        rows = service.orders(db_session=session, actor=who, state=state, case_number=case)
        for o in rows:
            say(f"{o.id} {o.kind} {o.case_number} {o.state} due {o.due}")
    if not rows:
        say("no orders")


@orders_app.command("show")
def show(order_id: str, as_user: str = AS_USER) -> None:
    """An order, its answer and its steps."""
    from tongban.cli import cli_session
    from tongban.errors import NotFound
    from tongban.supervision.warnings import service

    who = actor(as_user)
    oid = parse_uuid(order_id, "order_id")
    with cli_session() as session:
        order = next((o for o in service.orders(db_session=session, actor=who)
                      if o.id == oid), None)
        if order is None:
            raise NotFound("督办不存在 / no such order", details={"order_id": order_id})
        _print(order)
        for e in service.events_of(db_session=session, subject_id=oid):
            say(f"  #{e.seq} {e.at:%Y-%m-%d %H:%M} {e.actor_name} {e.action}")


@orders_app.command("issue")
def issue(case_number: str, as_user: str = AS_USER,
          kind: str = typer.Option("supervise", help="supervise (督办) / correct (纠错)"),
          text: str = typer.Option(..., help="What to do, or why it was wrong."),
          days: int | None = typer.Option(None, help="Working days to answer.")) -> None:
    """A supervisor's 督办 or 纠错 to the case's department."""
    from tongban.cli import cli_session
    from tongban.supervision.warnings import service

    who = actor(as_user)
    with cli_session() as session:
        _print(service.issue(db_session=session, actor=who, case_number=case_number,
                             kind=kind, text=text, days=days))


@orders_app.command("answer")
def answer(order_id: str, as_user: str = AS_USER, text: str = typer.Option(...)) -> None:
    """The department answers an order."""
    _step(as_user, order_id, "answer", text)


@orders_app.command("close")
def close(order_id: str, as_user: str = AS_USER,
          text: str | None = typer.Option(None)) -> None:
    """The supervisor accepts the answer and closes the order."""
    _step(as_user, order_id, "close", text)


@orders_app.command("reopen")
def reopen(order_id: str, as_user: str = AS_USER, text: str = typer.Option(...)) -> None:
    """The supervisor sends the answer back, with the reason."""
    _step(as_user, order_id, "reopen", text)


@warnings_app.command("list")
def escalated(as_user: str = AS_USER) -> None:
    """The warned cases escalated to the account (its department's head, or the region)."""
    from tongban.cli import cli_session
    from tongban.supervision.warnings import service

    who = actor(as_user)
    with cli_session() as session:
        rows = service.escalated_to(db_session=session, actor=who)
        for r in rows:
            w = r.watch
            say(f"{w.case_number} {w.level} since {w.since:%Y-%m-%d %H:%M} to {r.audience}: "
                f"{w.item_name}")
    if not rows:
        say("no escalated warnings")


@warnings_app.command("escalate")
def escalate() -> None:
    """Run the escalation job once (the worker runs it on its own)."""
    from tongban.cli import cli_session
    from tongban.supervision.warnings import service

    with cli_session() as session:
        say(f"{service.escalate(db_session=session)} changes")
