"""`tongban supervision …`: each subpackage's commands."""

from __future__ import annotations

import typer

from tongban.supervision.complaints.cli import app as complaints_app
from tongban.supervision.draws.cli import app as draws_app
from tongban.supervision.metrics.cli import app as metrics_app
from tongban.supervision.ratings.cli import app as ratings_app
from tongban.supervision.warnings.cli import orders_app, warnings_app

app = typer.Typer(help="Supervision (电子监察): ratings, complaints, warnings and orders, "
                       "metrics, random inspections.", no_args_is_help=True)
app.add_typer(metrics_app, name="metrics")
app.add_typer(draws_app, name="draw")
app.add_typer(ratings_app, name="ratings")
app.add_typer(complaints_app, name="complaints")
app.add_typer(orders_app, name="orders")
app.add_typer(warnings_app, name="warnings")
