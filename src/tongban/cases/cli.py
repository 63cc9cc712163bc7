"""`tongban cases …`: list, show and act on cases from a terminal; run the case worker."""

from __future__ import annotations

import json
import uuid

import typer
from rich.console import Console
from rich.table import Column, Table

from tongban.calendar.service import ZONE
from tongban.cases import service, worker
from tongban.cases.workflow import ACTION_LABELS, STATE_LABELS, workflow_for
from tongban.cli_support import account_actor
from tongban.config import get_settings
from tongban.errors import InvalidInput
from tongban.identity.actor import Actor

app = typer.Typer(help="Cases (办件): list, show, act; the case worker.", no_args_is_help=True)
console = Console()


def _actor(username: str | None) -> Actor:
    """The account the command acts as, or the worker."""
    return account_actor(username, default=service.WORKER_ACTOR)


@app.command("list")
def list_cases(
    as_user: str | None = typer.Option(None, "--as", help="Act as this account."),
    state: str | None = typer.Option(None),
    region: str | None = typer.Option(None),
    warning: str | None = typer.Option(None, "--warning", help="none / yellow / red"),
    department: str | None = typer.Option(None, help="Department id."),
    limit: int = typer.Option(50),
    cursor: str | None = typer.Option(None),
) -> None:
    """Cases visible to the account (all cases for the system), newest first."""
    from tongban.cli import cli_session

    actor = _actor(as_user)
    filters = service.CaseFilters(
        state=state, region=region, warning_level=warning,
        department_id=uuid.UUID(department) if department else None,
    )
    with cli_session() as session:
        rows, next_cursor = service.list_cases(db_session=session, actor=actor,
                                               filters=filters, cursor=cursor, limit=limit)
        table = Table("item", "applicant", "state", "due", "warning")
        table.columns.insert(0, Column("number", no_wrap=True))
        for c in rows:
            due = f"{c.promised_due_date or ''}{' (provisional)' if c.due_provisional else ''}"
            table.add_row(c.number, c.item_name, c.applicant_name,
                          STATE_LABELS.get(c.state, c.state), due, c.warning_level)
    console.print(table)
    if next_cursor:
        console.print(f"next: --cursor {next_cursor}")


@app.command("show")
def show(
    number: str,
    as_user: str | None = typer.Option(None, "--as", help="Act as this account."),
) -> None:
    """A case: state, deadlines, history and the actions open to the account."""
    from tongban.cli import cli_session

    actor = _actor(as_user)
    with cli_session() as session:
        d = service.get(db_session=session, actor=actor, case_number=number)
        c = d.case
        console.print(f"[bold]{c.number}[/bold] {c.item_name} — {c.applicant_name}")
        console.print(f"state: {STATE_LABELS.get(c.state, c.state)} ({c.state}), "
                      f"version {c.version}, warning {c.warning_level}")
        prov = " (provisional)" if c.due_provisional else ""
        console.print(f"due: promised {c.promised_due_date}, legal {c.legal_due_date}{prov}; "
                      f"used {d.deadlines.used_days}, left {d.deadlines.days_left}; "
                      f"paused {c.paused_days_total}, extended {c.extension_days_total}")
        if d.bundle_case is not None:
            console.print(f"一件事 / bundle: {d.bundle_case.number} {d.bundle_case.item_name}",
                          highlight=False)
        if d.tasks:
            tasks = Table("item", "department", "state", "decision", "due", "warning",
                          title="一件事各部门办件 / bundle tasks")
            tasks.columns.insert(0, Column("number", no_wrap=True))
            for t in d.tasks:
                tasks.add_row(t.number, f"{t.item_name} ({t.implementation_code})",
                              str(t.department_id or ""), STATE_LABELS.get(t.state, t.state),
                              t.decision or "",
                              f"{t.promised_due_date or ''} / {t.legal_due_date or ''}",
                              t.warning_level)
            console.print(tasks)
        for e in d.events:
            console.print(f"  {e.seq:>3} {e.at.astimezone(ZONE):%Y-%m-%d %H:%M} "
                          f"{e.actor_name} ({e.actor_role}) "
                          f"{ACTION_LABELS.get(e.action, e.action)}: {e.from_state} → "
                          f"{e.to_state} {e.reason or ''}", highlight=False)
        console.print(f"allowed: {', '.join(d.allowed_actions) or '-'}")


@app.command("act")
def act(
    number: str, action: str,
    as_user: str = typer.Option(..., "--as", help="Act as this account."),
    reason: str | None = typer.Option(None),
    data: str = typer.Option("{}", help="Action data as JSON."),
    expected_version: int | None = typer.Option(None),
) -> None:
    """Take a workflow action on a case as an account."""
    from tongban.cli import cli_session

    try:
        payload = json.loads(data)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"--data 不是合法 JSON / --data is not JSON: {exc}") from None
    actor = _actor(as_user)
    with cli_session() as session:
        case = service.act(db_session=session, settings=get_settings(), actor=actor,
                           case_number=number, action=action, reason=reason,
                           data=payload if isinstance(payload, dict) else {},
                           expected_version=expected_version)
        console.print(f"{case.number}: {STATE_LABELS.get(case.state, case.state)} "
                      f"({case.state}), version {case.version}")


@app.command("workflow")
def show_workflow(name: str = typer.Argument("promised", help="promised / immediate")) -> None:
    """Print a workflow table: state, action, next state, roles, reason, clock, ledger."""
    table = Table("state", "action", "to", "roles", "reason", "clock", "ledger", "guard")
    for r in workflow_for(name).rows:
        table.add_row(f"{r.state.value} {STATE_LABELS[r.state]}",
                      f"{r.action.value} {ACTION_LABELS[r.action]}", r.to_state.value,
                      ", ".join(r.roles), "yes" if r.needs_reason else "",
                      r.clock.value, "yes" if r.legal_act else "", r.guard or "")
    console.print(table)


@app.command("worker")
def run_worker() -> None:
    """One pass of the case worker: deemed acceptance, missed promises, warnings."""
    from tongban.cli import cli_session

    with cli_session() as session:
        report = worker.run_once(db_session=session, settings=get_settings())
    console.print(f"deemed accepted: {report.deemed_accepted}, promises missed: "
                  f"{report.promises_missed}, warnings changed: {report.warnings_changed}")
