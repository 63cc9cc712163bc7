"""`tongban ledger …`: run the log worker, sign checkpoints, verify the log, print proofs."""

from __future__ import annotations

import json
import sys
import time

import typer

app = typer.Typer(help="The transparency log: run, checkpoint, verify, proof.",
                  no_args_is_help=True)


@app.command("run")
def run(
    once: bool = typer.Option(False, "--once", help="One batch, then exit."),
    interval: float = typer.Option(1.0, help="Seconds between checkpoints when idle."),
    batch: int = typer.Option(1000, min=1, max=100_000, help="Entries per transaction."),
) -> None:
    """Append pending acts from the outbox and sign a checkpoint about once a second."""
    from tongban.cli import console, require_database
    from tongban.config import get_settings
    from tongban.db import transaction
    from tongban.ledger import service
    from tongban.node.root import build_node

    settings = get_settings()
    require_database(settings.database_url)
    node = build_node(settings)
    factory = node.sessionmaker
    try:
        while True:
            with transaction(factory) as session:  # one batch + its checkpoint, or nothing
                result = service.run_once(db_session=session, settings=settings, limit=batch)
            if result.appended or result.checkpoint:
                console.print(f"appended {result.appended}; checkpoint {result.checkpoint}")
            if once:
                return
            if result.appended < batch:  # caught up: wait; otherwise drain the backlog first
                time.sleep(interval)
    except KeyboardInterrupt:
        console.print("stopped")
    finally:
        node.engine.dispose()


@app.command("checkpoint")
def checkpoint() -> None:
    """Sign a checkpoint now if the tree grew, and print the latest one."""
    from tongban.cli import cli_session
    from tongban.config import get_settings
    from tongban.ledger import service

    settings = get_settings()
    with cli_session(settings) as session:
        service.checkpoint(db_session=session, settings=settings)
        latest = service.describe_checkpoint(db_session=session, settings=settings)
    sys.stdout.write(latest.note)  # byte-exact: a signed note must not be re-wrapped


@app.command("verify")
def verify() -> None:
    """Re-derive the tree from the stored entries and check every checkpoint; exit 1 and
    name the first entry or checkpoint that does not match."""
    from tongban.cli import cli_session, console, err_console
    from tongban.config import get_settings
    from tongban.ledger import service

    settings = get_settings()
    with cli_session(settings) as session:
        report = service.verify(db_session=session, settings=settings)
    if report.problem is not None:
        err_console.print(f"ledger verify FAILED: {report.problem.message}", highlight=False,
                          markup=False, soft_wrap=True)
        raise typer.Exit(1)
    console.print(f"ledger OK: {report.entries} entries, {report.checkpoints} checkpoints, "
                  f"root {report.root_hash}", highlight=False, soft_wrap=True)


@app.command("proof")
def proof(
    index: int = typer.Argument(..., help="Entry index (0-based)."),
    tree_size: int | None = typer.Option(None, help="Default: the latest checkpoint's size."),
) -> None:
    """Print the inclusion proof of one entry as JSON."""
    from tongban.cli import cli_session, console
    from tongban.ledger import service

    with cli_session() as session:
        out = service.inclusion_proof(db_session=session, index=index, tree_size=tree_size)
    console.print_json(json.dumps(out.model_dump(mode="json")))
