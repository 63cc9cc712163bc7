"""The `tongban` command: demo, serve, worker, db, and each domain's sub-commands."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from tongban.config import Settings, get_settings
from tongban.db import contention, transaction
from tongban.errors import DomainError, NotFound
from tongban.node.registry import ConfigurationError
from tongban.node.root import build_node

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
    require_database(settings.database_url)
    node = build_node(settings)
    try:
        with transaction(node.sessionmaker) as session:
            yield session
    finally:
        node.engine.dispose()


def require_database(url: str) -> None:
    """A SQLite file that is not there is never created empty by a command that reads it:
    the one line says how to make one."""
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        raise NotFound(f"no database at {url.removeprefix('sqlite:///')}: run `make demo` "
                       f"(a demo node) or `tongban db upgrade` (an empty node), or set "
                       f"TONGBAN_DATABASE_URL", code="no_database")


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
    workers: int = typer.Option(1, min=1, help="API processes (PostgreSQL only beyond 1); "
                                               "they run no worker: start `tongban worker`."),
) -> None:
    """Serve the API and UI (on SQLite with the worker in a thread, unless disabled)."""
    import uvicorn

    from tongban.app import create_app
    from tongban.node import observe

    settings = get_settings()
    require_database(settings.database_url)
    if workers == 1:
        observe.configure(settings.log_format, settings.log_level)
        uvicorn.run(create_app(settings), host=host, port=port, log_level="warning",
                    access_log=False)
        return
    check_many_processes(settings)
    build_node(settings).engine.dispose()  # a node that cannot start says so once, here
    os.environ["TONGBAN_RUN_WORKER_IN_PROCESS"] = "false"
    uvicorn.run("tongban.app:from_environment", factory=True, workers=workers, host=host,
                port=port, log_level="warning", access_log=False)


def check_many_processes(settings: Settings) -> None:
    """What several API processes of one node need: a database they share, a shared
    rate-limit store, no worker thread in each."""
    if settings.database_url.startswith("sqlite"):
        raise ConfigurationError("--workers > 1 needs PostgreSQL (SQLite serves one process)")
    if settings.rate_limit_storage.startswith("memory://"):
        raise ConfigurationError("--workers > 1 needs a shared rate-limit store: set "
                                 "TONGBAN_RATE_LIMIT_STORAGE=redis://host:6379/0")
    if settings.run_worker_in_process:
        raise ConfigurationError("--workers > 1 runs no worker in the API processes: unset "
                                 "TONGBAN_RUN_WORKER_IN_PROCESS and start `tongban worker`")


@app.command()
def worker(
    once: bool = typer.Option(False, "--once", help="Run every job once, then exit."),
    interval: float = typer.Option(1.0, help="Seconds between ticks."),
) -> None:
    """Run the node's jobs (ledger, deadlines and warnings, outbox delivery, inbox,
    witnessing); start as many as the node needs, on any machine sharing its database."""
    import threading

    from tongban import worker as node_worker

    settings = get_settings()
    require_database(settings.database_url)
    node = build_node(settings)
    if once:
        for name, count in node_worker.tick(node.sessionmaker, node.settings).items():
            console.print(f"{name}: {'not its turn' if count is None else count}")
        return
    stop = threading.Event()
    try:
        node_worker.run_forever(node, stop, interval)
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
    waiting = (f" ({records.pending} acts not yet appended, checked against the outbox)"
               if records.pending else "")
    console.print(f"ok: {log.entries} log entries, {log.checkpoints} checkpoints; "
                  f"records agree with the log{waiting}")


def check_fonts() -> bool:
    """Say, in one line, what to install when licence PDFs cannot be made here."""
    from tongban.licences.pdf import font_problem

    problem = font_problem()
    if problem is not None:
        err_console.print(f"warning: {problem}", highlight=False, soft_wrap=True)
    return problem is None


@app.command()
def demo(
    db: Path = typer.Option(Path("var/demo.db"), help="SQLite file for the demo node."),
    port: int = typer.Option(8000),
    seed_only: bool = typer.Option(False, "--seed-only", help="Seed, then exit."),
    fresh: bool = typer.Option(True, help="Start from an empty database."),
) -> None:
    """Create a SQLite node with believable demo data, print the logins, and serve it."""
    from tongban.demo import seed_demo
    from tongban.migrate import upgrade

    check_fonts()

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
        serve(host="127.0.0.1", port=port, workers=1)


def _register_domain_clis() -> None:
    from tongban.blobs.cli import app as blobs_cli
    from tongban.bundles.cli import app as bundles_cli
    from tongban.calendar.cli import app as calendar_cli
    from tongban.cases.cli import app as cases_cli
    from tongban.catalog.cli import app as catalog_cli
    from tongban.eligibility.cli import app as eligibility_cli
    from tongban.federation.cli import app as federation_cli
    from tongban.identity.cli import app as users_cli
    from tongban.ledger.cli import app as ledger_cli
    from tongban.licences.cli import app as licences_cli
    from tongban.node.cli import app as keys_cli
    from tongban.notify.cli import app as notify_cli
    from tongban.sharing.cli import app as sharing_cli
    from tongban.supervision.cli import app as supervision_cli

    app.add_typer(catalog_cli, name="catalog")
    app.add_typer(cases_cli, name="cases")
    app.add_typer(calendar_cli, name="calendar")
    app.add_typer(users_cli, name="users")
    app.add_typer(ledger_cli, name="ledger")
    app.add_typer(licences_cli, name="licences")
    app.add_typer(federation_cli, name="federation")
    app.add_typer(bundles_cli, name="bundles")
    app.add_typer(keys_cli, name="keys")
    app.add_typer(blobs_cli, name="blobs")
    app.add_typer(sharing_cli, name="sharing")
    app.add_typer(eligibility_cli, name="eligibility")
    app.add_typer(supervision_cli, name="supervision")
    app.add_typer(notify_cli, name="notify")


_register_domain_clis()


def main() -> None:
    """Entry point: every error becomes one line on stderr and exit code 1 (usage errors
    are Typer's own, exit code 2); TONGBAN_DEBUG=1 shows the traceback of a bug."""
    try:
        app()
    except Exception as exc:
        if os.environ.get("TONGBAN_DEBUG") == "1" and not isinstance(exc, DomainError):
            raise
        err_console.print(f"error: {one_line(exc)}", highlight=False, soft_wrap=True)
        sys.exit(1)


def one_line(exc: BaseException) -> str:
    """What went wrong, and where possible what to do, in one line."""
    if isinstance(exc, DomainError):
        return exc.message
    if isinstance(exc, ConfigurationError):
        return str(exc)
    clear = contention(exc)
    if clear is not None:
        return clear.message
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    first = text[0] if text else type(exc).__name__
    if isinstance(exc, DBAPIError) and _no_schema(first):
        url = make_url(get_settings().database_url).render_as_string(hide_password=True)
        return (f"the database {url} has no tongban tables: run `tongban db upgrade`, "
                f"or `make demo` for a demo node (or set TONGBAN_DATABASE_URL)")
    return f"{type(exc).__name__}: {first} (TONGBAN_DEBUG=1 shows the traceback)"


def _no_schema(text: str) -> bool:
    """How SQLite and PostgreSQL say that a table is missing (a database never migrated)."""
    return "no such table" in text or ('relation "' in text and "does not exist" in text)
