"""`tongban supervision complaints …`: 12345 tickets from a terminal: file one (a hotline
call, or one's own), and each step of workflow.TRANSITIONS (派单, 改派, 退单, 并单, 答复,
the complainant's verdict), one transaction each."""

from __future__ import annotations

from typing import Any

import typer

from tongban.supervision.cli_common import AS_USER, actor, say
from tongban.supervision.complaints.workflow import ACTION_LABELS, RETURN_REASONS, STATE_LABELS

app = typer.Typer(help="12345 诉求: tickets, routing, replies.", no_args_is_help=True)


def _print(view: Any) -> None:
    t = view.complaint
    say(f"complaint {t.number} {t.state} {STATE_LABELS[t.state]}: [{t.category_code}] "
        f"{t.subject}")
    say(f"  region {t.region_code}; department {t.department_id or '—'}; due {t.due_date}"
        f"{' (provisional)' if t.due_provisional else ''}; returns {t.returns}"
        + (f"; merged into {view.merged_into}" if view.merged_into else ""))
    say(f"  body: {t.body}")
    if t.reply:
        say(f"  reply: {t.reply}")
    for e in view.events:
        say(f"  #{e.seq} {e.at:%Y-%m-%d %H:%M} {e.actor_name} ({e.actor_role}) {e.action}"
            f" -> {e.to_state}" + (f" [{e.reason_code}]" if e.reason_code else "")
            + (f": {e.reason}" if e.reason else ""))
    if view.allowed_actions:
        say("  next: " + ", ".join(f"{a} ({ACTION_LABELS[a]})" for a in view.allowed_actions))


def _step(as_user: str, number: str, action: str, **given: Any) -> None:
    from tongban.cli import cli_session
    from tongban.supervision.complaints import service

    who = actor(as_user)
    with cli_session() as session:
        _print(service.act(db_session=session, actor=who, number=number, action=action,
                           **given))


@app.command("list")
def list_tickets(as_user: str = AS_USER, state: str | None = typer.Option(None),
                 limit: int = typer.Option(100, min=1, max=500)) -> None:
    """The account's tickets: its own, its department's, or its region's."""
    from tongban.cli import cli_session
    from tongban.supervision.complaints import service

    who = actor(as_user)
    with cli_session() as session:
        rows = service.list_for(db_session=session, actor=who, state=state, limit=limit)
        for t in rows:
            say(f"{t.number} {t.state} due {t.due_date} [{t.category_code}] {t.subject}")
    if not rows:
        say("no tickets")


@app.command("show")
def show(number: str, as_user: str = AS_USER) -> None:
    """A ticket, its history and the steps open to the account."""
    from tongban.cli import cli_session
    from tongban.supervision.complaints import service

    who = actor(as_user)
    with cli_session() as session:
        _print(service.get(db_session=session, actor=who, number=number))


@app.command("file")
def file(as_user: str = AS_USER, category: str = typer.Option(...),
         subject: str = typer.Option(...), body: str = typer.Option(...),
         region: str | None = typer.Option(None, help="Six-digit region code."),
         case: str | None = typer.Option(None, help="The case it is about, if any."),
         channel: str = typer.Option("portal", help="portal / hotline / app")) -> None:
    """A new ticket (a hotline call is filed by the 12345 agency); routed when it can be."""
    from tongban.cli import cli_session
    from tongban.supervision.complaints import service

    who = actor(as_user)
    with cli_session() as session:
        _print(service.file(db_session=session, actor=who, category=category,
                            subject=subject, body=body, region_code=region,
                            case_number=case, channel=channel))


@app.command("route")
def route(number: str, as_user: str = AS_USER,
          department: str = typer.Option(..., help="Department id.")) -> None:
    """派单: the 12345 agency sends a received ticket to a department."""
    _step(as_user, number, "dispatch", department_id=department)


@app.command("reassign")
def reassign(number: str, as_user: str = AS_USER,
             department: str = typer.Option(..., help="Department id."),
             reason: str = typer.Option(...)) -> None:
    """改派: the agency sends a ticket on to another department, with the reason."""
    _step(as_user, number, "reassign", department_id=department, reason=reason)


@app.command("send-back")
def send_back(number: str, as_user: str = AS_USER,
              reason_code: str = typer.Option(..., help=" / ".join(RETURN_REASONS)),
              reason: str = typer.Option(...)) -> None:
    """退单: the department returns a ticket that is not its to handle."""
    _step(as_user, number, "return", reason_code=reason_code, reason=reason)


@app.command("merge")
def merge(number: str, as_user: str = AS_USER,
          into: str = typer.Option(..., help="The ticket that carries it.")) -> None:
    """并单: the agency merges a duplicate into another ticket."""
    _step(as_user, number, "merge", into=into)


@app.command("reply")
def reply(number: str, as_user: str = AS_USER, text: str = typer.Option(...)) -> None:
    """答复: the department answers the complainant."""
    _step(as_user, number, "reply", reply=text)


@app.command("verdict")
def verdict(number: str, as_user: str = AS_USER,
            satisfied: bool = typer.Option(..., "--satisfied/--unsatisfied"),
            reason: str | None = typer.Option(None, help="Why not (--unsatisfied).")) -> None:
    """The complainant judges the reply: satisfied closes it; not, back to the department."""
    _step(as_user, number, "satisfied" if satisfied else "unsatisfied", reason=reason)


@app.command("duplicates")
def duplicates(number: str, as_user: str = AS_USER) -> None:
    """Open tickets that read like this one (并单 candidates), the most similar first."""
    from tongban.cli import cli_session
    from tongban.supervision.complaints import service

    who = actor(as_user)
    with cli_session() as session:
        found = service.duplicates(db_session=session, actor=who, number=number)
        for t, score in found:
            say(f"{t.number} {score} {t.subject}")
    if not found:
        say("no similar open tickets")
