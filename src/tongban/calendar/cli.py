"""`tongban calendar`: deadlines in working days, and loading a new year's notice."""

from __future__ import annotations

import getpass
from datetime import date
from pathlib import Path

import typer

from tongban.cli_support import read_json
from tongban.errors import InvalidInput

app = typer.Typer(help="Legal working-day calendar (public holidays and 调休).",
                  no_args_is_help=True)


def _date(text: str, field: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"日期格式应为 YYYY-MM-DD / {field} must be YYYY-MM-DD: {text!r}",
                           details={"field": field}) from None


@app.command("due")
def due(
    start: str = typer.Argument(..., help="the day the limit starts (YYYY-MM-DD, not counted)"),
    days: int = typer.Argument(..., help="working days allowed"),
) -> None:
    """Print the date DAYS working days after START (with 'provisional' when it is)."""
    from tongban.calendar import service
    from tongban.cli import cli_session, console

    with cli_session() as session:
        result = service.add_working_days(db_session=session, start=_date(start, "start"),
                                          days=days)
    console.print(f"{result.date.isoformat()}{' provisional' if result.provisional else ''}",
                  highlight=False)


@app.command("load")
def load(file: Path = typer.Argument(..., help="a year's JSON document")) -> None:
    """Load (or replace) one year's holidays and make-up working days from FILE."""
    from tongban.calendar import service
    from tongban.cli import cli_session, console

    document = read_json(file)
    with cli_session() as session:
        row = service.load_year(db_session=session, document=document,
                                actor_name=f"cli:{getpass.getuser()}")
        holidays = sum(len(h["dates"]) for h in row.data["holidays"])
        console.print(f"{row.year} loaded: {holidays} holidays, {len(row.data['workdays'])} "
                      f"make-up working days ({row.source['title']})", highlight=False)


@app.command("years")
def list_years() -> None:
    """List the years with holiday data and where each comes from."""
    from rich.table import Table

    from tongban.calendar import service
    from tongban.cli import cli_session, console

    with cli_session() as session:
        rows = service.years(db_session=session)
    table = Table("year", "origin", "number", "dated")
    table.add_column("notice", overflow="fold")
    for info in rows:
        table.add_row(str(info.year), info.origin, str(info.source.get("number") or "-"),
                      str(info.source.get("date") or "-"), str(info.source.get("title", "")))
    console.print(table)
