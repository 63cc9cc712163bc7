"""`tongban blobs …`: move a node's blobs from disk to S3; check that none is missing."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.progress import Progress

from tongban.blobs import migrate
from tongban.config import get_settings

app = typer.Typer(help="The blob store of uploaded materials (disk or S3).",
                  no_args_is_help=True)
console = Console()


@app.command("migrate")
def migrate_to_s3(
    keep_local: bool = typer.Option(False, "--keep-local",
                                    help="Leave the disk copies in place."),
) -> None:
    """Move this machine's disk blobs (var_dir) into the node's S3 store, each verified."""
    settings = get_settings()
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("blobs", total=None)
        report = migrate.to_s3(settings=settings, keep_local=keep_local,
                               progress=lambda _name: bar.advance(task))
    console.print(f"copied {report.copied}, already there {report.present}, "
                  f"local copies removed {report.removed}", highlight=False, soft_wrap=True)
    for name in report.corrupt:
        console.print(f"corrupt, not moved: {name}", highlight=False, soft_wrap=True)
    if report.corrupt:
        raise typer.Exit(1)


@app.command("check")
def check() -> None:
    """List materials that cases name but the node's store does not hold."""
    from tongban.cli import cli_session

    settings = get_settings()
    with cli_session(settings) as session:
        absent = migrate.missing(db_session=session, settings=settings)
        total = len(migrate.referenced(db_session=session))
    for name in absent:
        console.print(f"missing: {name}", highlight=False, soft_wrap=True)
    console.print(f"{total - len(absent)} of {total} materials in the "
                  f"{settings.blob_store} store", highlight=False, soft_wrap=True)
    if absent:
        raise typer.Exit(1)
