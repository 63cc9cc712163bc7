"""`tongban supervision metrics …`: definitions, refresh, and a report (table or Excel)."""

from __future__ import annotations

from pathlib import Path

import typer

from tongban.supervision.cli_common import actor as acting

app = typer.Typer(help="Service metrics (网办率, 按时办结率, 好评率, ...) from the events.",
                  no_args_is_help=True)


@app.command("definitions")
def definitions() -> None:
    """Print every metric's id, version, name and written definition."""
    from tongban.cli import console
    from tongban.supervision.metrics.definitions import by_id, definitions_hash

    for d in by_id().values():
        console.print(f"[bold]{d.id}[/] v{d.version} {d.name} ({d.source}, per {d.basis})",
                      highlight=False)
        console.print(f"  {d.definition}", highlight=False)
    console.print(f"definitions sha256 {definitions_hash()}", highlight=False)


@app.command("refresh")
def refresh(rebuild: bool = typer.Option(False, help="Recompute everything from events.")
            ) -> None:
    """Bring the metric tables up to date with the events (cases, ratings, complaints)."""
    from tongban.cli import cli_session, console
    from tongban.supervision.metrics import service

    with cli_session() as session:
        r = service.refresh(db_session=session, rebuild=rebuild)
    console.print(f"{'rebuilt' if r.rebuilt else 'refreshed'}: {r.cases} cases, {r.ratings} "
                  f"ratings, {r.complaints} complaints re-read, {r.series} series, "
                  f"{r.facts} facts", highlight=False)


@app.command("show")
def show(
    from_month: str = typer.Option(..., "--from", help="first month, YYYY-MM"),
    to_month: str = typer.Option(..., "--to", help="last month, YYYY-MM"),
    by: str = typer.Option("total", help="total, month, province, region, department, item"),
    region: str | None = typer.Option(None),
    department_id: str | None = typer.Option(None, "--department"),
    item: str | None = typer.Option(None),
    metrics: str | None = typer.Option(None, help="metric ids, comma-separated"),
    as_user: str | None = typer.Option(None, "--as", help="Act as this account."),
    xlsx: Path | None = typer.Option(None, help="Write the report to this .xlsx file."),
) -> None:
    """Print a metrics report (or write it as Excel)."""
    from rich.table import Table

    from tongban.cli import cli_session, console
    from tongban.supervision.metrics import excel, service
    from tongban.supervision.metrics.api import parse_query

    query = parse_query(from_month=from_month, to_month=to_month, by=by, region=region,
                        department_id=department_id, item=item, metrics=metrics)
    actor = acting(as_user)
    with cli_session() as session:
        report = service.report(db_session=session, actor=actor, query=query)
    if xlsx is not None:
        xlsx.write_bytes(excel.report_xlsx(report))
        console.print(f"wrote {xlsx}", highlight=False)
        return
    defs = [v.definition for v in report.total.values]
    table = Table("group", *[f"{d.name}\n{d.id} v{d.version}" for d in defs])
    for row in [*report.rows, report.total]:
        table.add_row(row.label, *[_text(v) for v in row.values])
    console.print(table)
    console.print(f"refreshed {report.refreshed_at or 'never'}; definitions sha256 "
                  f"{report.definitions_hash}", highlight=False)


def _text(v: object) -> str:
    from tongban.supervision.metrics.service import MetricValue

    assert isinstance(v, MetricValue)
    if not v.available:
        return "n/a"
    if v.value is None:
        return "—"
    if v.definition.kind == "ratio":
        return f"{v.value:.1%} ({v.numerator}/{v.denominator})"
    if v.definition.kind == "mean":
        return f"{v.value:.2f} ({v.numerator}/{v.denominator})"
    return str(int(v.value))
