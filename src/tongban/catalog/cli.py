"""`tongban catalog …`: import/export the catalog, load the region table, search."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from tongban.errors import DomainError

app = typer.Typer(help="The service catalog: regions, items, implementations.",
                  no_args_is_help=True)
console = Console()
err_console = Console(stderr=True)
SHOWN_ERRORS = 5


def _fail(exc: DomainError) -> NoReturn:
    """One line saying what is wrong (plus the first rows of an import), exit 1."""
    def say(text: str) -> None:
        err_console.print(text, highlight=False, markup=False, soft_wrap=True)

    say(f"error: {exc.message}")
    details = exc.details if isinstance(exc.details, list) else []
    for d in details[:SHOWN_ERRORS]:
        if isinstance(d, dict) and "message" in d:
            where = " ".join(str(x) for x in (d.get("sheet"), d.get("row") and f"row {d['row']}",
                                              d.get("field")) if x)
            say(f"  [{where}] {d['message']}")
    if len(details) > SHOWN_ERRORS:
        say(f"  … and {len(details) - SHOWN_ERRORS} more")
    raise typer.Exit(1)


def _bar() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    console=err_console, transient=True)


@app.command("import")
def import_file(file: Path = typer.Argument(..., exists=True, dir_okay=False,
                                            help=".json or .xlsx (docs/catalog-format.md)")
                ) -> None:
    """Import a catalog file: all of it, or (on any error) nothing."""
    from tongban.catalog import exchange
    from tongban.cli import cli_session
    from tongban.identity.actor import SYSTEM_ACTOR

    try:
        doc = exchange.read_file(file)
        with _bar() as bar, cli_session() as session:
            task = bar.add_task("validating", total=None)

            def progress(stage: str, done: int, total: int) -> None:
                bar.update(task, description=stage, completed=done, total=total)

            report = exchange.import_document(db_session=session, doc=doc, actor=SYSTEM_ACTOR,
                                              progress=progress)
    except DomainError as exc:
        _fail(exc)
    console.print(f"imported {report.departments} departments, {report.items} items, "
                  f"{report.implementations} implementations ({report.published} published)")


@app.command("export")
def export_file(file: Path = typer.Argument(..., dir_okay=False, help=".json or .xlsx")) -> None:
    """Export the whole catalog to a .json or .xlsx file."""
    from tongban.catalog import exchange
    from tongban.cli import cli_session

    fmt = file.suffix.lower().lstrip(".")
    try:
        with cli_session() as session:
            out = exchange.export_document(db_session=session, fmt=fmt)
    except DomainError as exc:
        _fail(exc)
    if isinstance(out, bytes):
        file.write_bytes(out)
    else:
        file.write_text(json.dumps(out, ensure_ascii=False, indent=1), encoding="utf-8")
    console.print(f"exported to {file}")


@app.command("load-regions")
def load_regions(file: Path | None = typer.Argument(
        None, exists=True, dir_okay=False,
        help="CSV code,name,level,parent_code (default: the shipped GB/T 2260 table)")) -> None:
    """Load (or refresh) the GB/T 2260 region table; running it twice changes nothing."""
    from tongban.catalog import service
    from tongban.cli import cli_session

    try:
        with _bar() as bar, cli_session() as session:
            task = bar.add_task("regions", total=None)
            counts = service.load_regions(
                db_session=session, path=file,
                progress=lambda done, total: bar.update(task, completed=done, total=total))
    except DomainError as exc:
        _fail(exc)
    console.print("regions: " + ", ".join(f"{v} {k}" for k, v in counts.items()))


@app.command("search")
def search(q: str = typer.Argument(..., help="Chinese, pinyin or initials (gjj)"),
           region: str | None = typer.Option(None, "--region", help="region code (and below)"),
           limit: int = typer.Option(20, min=1, max=100)) -> None:
    """Search published implementations as an applicant would."""
    from tongban.catalog import service
    from tongban.cli import cli_session

    try:
        with cli_session() as session:
            page = service.search(db_session=session, q=q, region_code=region, limit=limit)
    except DomainError as exc:
        _fail(exc)
    rows: list[Any] = page.items
    for hit in rows:  # one line per hit: readable, and easy to grep or cut
        console.print(f"{hit.implementation_code}  {hit.name}  {hit.region_name}  "
                      f"{hit.department_name}", highlight=False, markup=False, soft_wrap=True)
    if not rows:
        console.print("no match")


def _standardisation() -> None:
    """Standardisation and alignment commands (catalog/standard_cli.py)."""
    from tongban.catalog.standard_cli import align_app, standard_app, variance_app

    app.add_typer(standard_app, name="standard")
    app.add_typer(variance_app, name="variance")
    app.add_typer(align_app, name="align")


_standardisation()
