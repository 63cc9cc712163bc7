"""The `tongban` command: demo, serve, worker, db, and each domain's sub-commands."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from sqlalchemy.orm import Session

from tongban.config import Settings, get_settings
from tongban.db import import_all_models, make_engine, make_sessionmaker, transaction
from tongban.errors import DomainError

app = typer.Typer(help="tongban 通办: integrated, cross-region government services.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")
console = Console()
err_console = Console(stderr=True)


def sqlite_url(path: Path) -> str:
    """The SQLAlchemy URL of a SQLite file."""
    return f"sqlite:///{path.resolve()}"


@contextmanager
def cli_session(settings: Settings | None = None) -> Iterator[Session]:
    """One transaction for a CLI command: all of it commits, or none."""
    settings = settings or get_settings()
    import_all_models()
    engine = make_engine(settings.database_url)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            yield session
    finally:
        engine.dispose()


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head")) -> None:
    """Apply the Alembic migrations to TONGBAN_DATABASE_URL."""
    from tongban.migrate import upgrade

    settings = get_settings()
    _ensure_sqlite_dir(settings.database_url)
    upgrade(settings.database_url, revision)
    console.print(f"database at revision {revision}")


def _ensure_sqlite_dir(url: str) -> None:
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1"),
    port: int = typer.Option(8000),
) -> None:
    """Serve the API and UI (and run the worker in-process unless disabled)."""
    import uvicorn

    from tongban.app import create_app

    uvicorn.run(create_app(get_settings()), host=host, port=port, log_level="warning")


@app.command()
def worker(
    once: bool = typer.Option(False, "--once", help="Run every job once, then exit."),
    interval: float = typer.Option(1.0, help="Seconds between ticks."),
) -> None:
    """Run the node's periodic jobs: ledger, deadlines and warnings, outbox delivery."""
    import threading

    from tongban import worker as node_worker

    settings = get_settings()
    import_all_models()
    engine = make_engine(settings.database_url)
    factory = make_sessionmaker(engine)
    if once:
        for name, count in node_worker.tick(factory, settings).items():
            console.print(f"{name}: {count}")
        return
    stop = threading.Event()
    try:
        node_worker.run_forever(factory, settings, stop, interval)
    except KeyboardInterrupt:
        stop.set()


@app.command()
def verify() -> None:
    """Check the tamper-evident log, then that decisions and licences match it."""
    from tongban.integrity import verify_records
    from tongban.ledger import service as ledger

    settings = get_settings()
    with cli_session(settings) as session:
        log = ledger.verify(db_session=session, settings=settings)
        records = verify_records(db_session=session, settings=settings)
    if log.problem:
        err_console.print(f"log: {log.problem}", highlight=False, soft_wrap=True)
    for problem in records.problems:
        err_console.print(f"record: {problem}", highlight=False, soft_wrap=True)
    if log.problem or records.problems:
        raise typer.Exit(1)
    console.print(f"ok: {log.entries} log entries, {log.checkpoints} checkpoints; "
                  f"records agree with the log")


@app.command()
def demo(
    db: Path = typer.Option(Path("var/demo.db"), help="SQLite file for the demo node."),
    port: int = typer.Option(8000),
    seed_only: bool = typer.Option(False, "--seed-only", help="Seed, then exit."),
    fresh: bool = typer.Option(True, help="Start from an empty database."),
) -> None:
    """Create a SQLite node with believable demo data, print the logins, and serve it."""
    import os

    from tongban.demo import seed_demo
    from tongban.migrate import upgrade

    db.parent.mkdir(parents=True, exist_ok=True)
    if fresh:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
    url = sqlite_url(db)
    os.environ["TONGBAN_DATABASE_URL"] = url
    get_settings.cache_clear()
    upgrade(url)
    with cli_session() as session:
        logins = seed_demo(db_session=session, console=console)
    console.print(f"[bold]demo node[/bold]: {url}")
    for role, username, password in logins:
        console.print(f"  {role:<14} {username:<16} {password}")
    if not seed_only:
        console.print(f"serving on http://127.0.0.1:{port}")
        serve(host="127.0.0.1", port=port)


def _register_domain_clis() -> None:
    from tongban.bundles.cli import app as bundles_cli
    from tongban.calendar.cli import app as calendar_cli
    from tongban.cases.cli import app as cases_cli
    from tongban.catalog.cli import app as catalog_cli
    from tongban.federation.cli import app as federation_cli
    from tongban.identity.cli import app as users_cli
    from tongban.ledger.cli import app as ledger_cli
    from tongban.licences.cli import app as licences_cli

    app.add_typer(catalog_cli, name="catalog")
    app.add_typer(cases_cli, name="cases")
    app.add_typer(calendar_cli, name="calendar")
    app.add_typer(users_cli, name="users")
    app.add_typer(ledger_cli, name="ledger")
    app.add_typer(licences_cli, name="licences")
    app.add_typer(federation_cli, name="federation")
    app.add_typer(bundles_cli, name="bundles")


_register_domain_clis()


def main() -> None:
    """Entry point: a DomainError becomes one line on stderr and exit code 1; usage
    errors are Typer's own (exit code 2)."""
    try:
        app()
    except DomainError as exc:
        err_console.print(f"error: {exc.message}", highlight=False, soft_wrap=True)
        sys.exit(1)
