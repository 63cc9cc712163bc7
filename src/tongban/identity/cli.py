"""`tongban users …`: create and list accounts from the command line."""

from __future__ import annotations

import getpass
import uuid

import typer
from rich.table import Table

from tongban.identity.actor import Actor
from tongban.identity.models import Role

app = typer.Typer(help="Accounts: create staff and applicant logins, list them.",
                  no_args_is_help=True)


def _cli_actor() -> Actor:
    """Writes from the command line are attributed to the operating-system user."""
    return Actor(account_id=None, name=f"cli:{getpass.getuser()}",
                 roles=frozenset({Role.operator}))


@app.command("create")
def create(
    username: str = typer.Argument(..., help="Login name (3-64 of a-z 0-9 . _ -)."),
    role: list[str] = typer.Option(..., "--role", help="Role; repeat for several."),
    name: str = typer.Option(..., "--name", help="Display name (and the person's name)."),
    region: list[str] = typer.Option([], "--region", help="Scope: a region code (repeatable)."),
    department: list[str] = typer.Option(
        [], "--department", help="Scope: a department's credit code (repeatable)."),
    password: str | None = typer.Option(None, "--password", help="Prompted when not given."),
    id_number: str | None = typer.Option(
        None, "--id-number", help="Applicants: the person's 公民身份号码 (found or registered)."),
) -> None:
    """Create an account with its roles and scopes."""
    from tongban.cli import cli_session, console
    from tongban.config import get_settings
    from tongban.identity import service

    if password is None:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    settings = get_settings()
    actor = _cli_actor()
    with cli_session(settings) as session:
        scopes: list[tuple[str, uuid.UUID | None]] = [(code, None) for code in region]
        scopes += [service.department_scope(db_session=session, credit_code=code)
                   for code in department]
        person_id = None
        if id_number is not None:
            person = service.find_person_by_id_number(
                db_session=session, settings=settings, id_number=id_number
            ) or service.create_person(db_session=session, settings=settings, actor=actor,
                                       name=name, id_number=id_number)
            person_id = person.id
        account = service.create_account(
            db_session=session, actor=actor, username=username, password=password,
            display_name=name, roles=role, scopes=scopes, person_id=person_id,
        )
        console.print(f"created account {account.username} ({account.id})")


@app.command("list")
def list_users() -> None:
    """List every account with its roles and scopes."""
    from tongban.cli import cli_session, console
    from tongban.identity import service

    table = Table("username", "name", "roles", "scopes", "active")
    with cli_session() as session:
        for account in service.list_accounts(db_session=session):
            scopes = ", ".join(
                s.region_code + (f"/{s.department_id}" if s.department_id else "")
                for s in account.scopes
            )
            table.add_row(account.username, account.display_name,
                          ",".join(service.account_roles(account)), scopes,
                          "yes" if account.active else "no")
    console.print(table)
