"""`tongban catalog standard|variance|align …`: standardisation and alignment from the shell.

The CLI acts as the node itself (like `catalog import`); an approval given outside the
system is recorded under the approver's name (`--approver`).
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import typer

from tongban.catalog.cli import _fail, console
from tongban.errors import DomainError

standard_app = typer.Typer(help="Standard guides, the six-element diff, conformance.",
                           no_args_is_help=True)
variance_app = typer.Typer(help="Declared variances (统异弹性空间).", no_args_is_help=True)
align_app = typer.Typer(help="Align a region's local item list to the standard catalog.",
                        no_args_is_help=True)


def _say(text: str) -> None:
    console.print(text, highlight=False, markup=False, soft_wrap=True)


@standard_app.command("set")
def set_guide(basic_code: str, file: Path = typer.Argument(..., exists=True, dir_okay=False,
                                                            help="JSON: a StandardGuide")
              ) -> None:
    """Set an item's standard guide from a JSON file (a new version)."""
    from pydantic import ValidationError

    from tongban.catalog import standardisation as std
    from tongban.catalog.schemas import StandardGuide
    from tongban.cli import cli_session
    from tongban.errors import InvalidInput
    from tongban.identity.actor import SYSTEM_ACTOR

    try:
        try:
            guide = StandardGuide.model_validate(json.loads(file.read_text(encoding="utf-8")))
        except (ValidationError, json.JSONDecodeError) as exc:
            raise InvalidInput(f"标准指南无效 / invalid standard guide: {exc}") from None
        with cli_session() as session:
            row = std.put_standard_guide(db_session=session, actor=SYSTEM_ACTOR,
                                         basic_code=basic_code, guide=guide)
            version = row.version
    except DomainError as exc:
        _fail(exc)
    _say(f"{basic_code}: standard guide v{version}")


@standard_app.command("diff")
def diff(basic_code: str, region: list[str] = typer.Option(None, "--region",
                                                            help="region code (repeatable)"),
         xlsx: Path | None = typer.Option(None, "--xlsx", help="also write an Excel report")
         ) -> None:
    """Print every difference of each region's guide from the standard."""
    from tongban.catalog import reports
    from tongban.catalog import standardisation as std
    from tongban.cli import cli_session

    try:
        with cli_session() as session:
            found = std.diff_item(db_session=session, basic_code=basic_code, regions=region)
    except DomainError as exc:
        _fail(exc)
    _say(f"{found.basic_code} {found.item_name}  standard v{found.standard_version}  "
         f"score {found.score}")
    for column in found.columns:
        _say(f"{column.region_code} {column.region_name} {column.department_name}  "
             f"{column.score}%")
        for d in column.differences:
            mark = "declared" if d.declared else "UNDECLARED"
            _say(f"  {std.ELEMENTS[d.element]}  {d.key}: {d.standard} -> {d.local}  "
                 f"({d.direction}, {mark})")
    if xlsx:
        xlsx.write_bytes(reports.conformance_xlsx([found]))


@standard_app.command("conformance")
def conformance(region: str | None = typer.Option(None, "--region"),
                xlsx: Path | None = typer.Option(None, "--xlsx", help="write an Excel report")
                ) -> None:
    """Conformance per region (worst first) and overall."""
    from tongban.catalog import reports
    from tongban.catalog import standardisation as std
    from tongban.cli import cli_session

    try:
        with cli_session() as session:
            diffs = std.conformance(db_session=session, region_code=region)
    except DomainError as exc:
        _fail(exc)
    report = reports.conformance_out(diffs, with_items=False)
    for r in report.regions:
        _say(f"{r.region_code} {r.region_name}  {r.score}%  items {r.items}  "
             f"declared {r.declared}  undeclared {r.undeclared}")
    _say(f"overall {report.overall}%")
    if xlsx:
        xlsx.write_bytes(reports.conformance_xlsx(diffs))


@variance_app.command("propose")
def propose(basic_code: str, region: str, key: str,
            reason: str = typer.Option(..., "--reason"),
            legal_basis: str = typer.Option(..., "--legal-basis")) -> None:
    """Declare one current difference (its key as `standard diff` prints it)."""
    from tongban.catalog import standardisation as std
    from tongban.cli import cli_session
    from tongban.identity.actor import SYSTEM_ACTOR

    try:
        with cli_session() as session:
            variance = std.propose_variance(
                db_session=session, actor=SYSTEM_ACTOR, basic_code=basic_code,
                region_code=region, key=key, reason=reason, legal_basis=legal_basis)
            variance_id = variance.id
    except DomainError as exc:
        _fail(exc)
    _say(f"proposed {variance_id}")


@variance_app.command("decide")
def decide(variance_id: uuid.UUID, action: str = typer.Argument(
        ..., help="approve, reject or revoke"),
           approver: str = typer.Option("", "--approver", help="who approved (required for "
                                                               "approve)"),
           note: str = typer.Option("", "--note")) -> None:
    """Approve, reject or revoke a declared variance."""
    from tongban.catalog import standardisation as std
    from tongban.cli import cli_session
    from tongban.errors import InvalidInput
    from tongban.identity.actor import SYSTEM_ACTOR

    try:
        if action not in ("approve", "reject", "revoke"):
            raise InvalidInput(f"未知操作 {action} / action must be approve, reject or revoke")
        with cli_session() as session:
            variance = std.decide_variance(db_session=session, actor=SYSTEM_ACTOR,
                                           variance_id=variance_id, action=action,
                                           approver=approver, note=note)
            state = variance.state
    except DomainError as exc:
        _fail(exc)
    _say(f"{variance_id}: {state}")


@variance_app.command("list")
def list_variances(region: str | None = typer.Option(None, "--region"),
                   state: str | None = typer.Option(None, "--state")) -> None:
    """Declared variances, newest first."""
    from tongban.catalog import reports
    from tongban.catalog import standardisation as std
    from tongban.cli import cli_session

    try:
        with cli_session() as session:
            rows = reports.variances_out(session, std.list_variances(
                db_session=session, region_code=region, state=state))
    except DomainError as exc:
        _fail(exc)
    for v in rows:
        _say(f"{v.id}  {v.state}  {v.basic_code} {v.region_code}  {v.key}  "
             f"{v.approver or '-'}  {v.reason}")


@align_app.command("import")
def import_list(file: Path = typer.Argument(..., exists=True, dir_okay=False, help=".xlsx"),
                region: str = typer.Option(..., "--region", help="whose list it is"),
                workers: int = typer.Option(1, "--workers", min=1, max=8)) -> None:
    """Import and match a local item list: all of it, or (on any error) nothing."""
    from tongban.catalog import alignment, reports
    from tongban.cli import cli_session
    from tongban.identity.actor import SYSTEM_ACTOR

    try:
        with cli_session() as session:
            batch = alignment.import_list(db_session=session, actor=SYSTEM_ACTOR,
                                          region_code=region, data=file.read_bytes(),
                                          source_name=file.name, workers=workers)
            out = reports.batch_out(session, batch)
    except DomainError as exc:
        _fail(exc)
    _say(f"batch {out.id}: {out.line_count} lines, " + ", ".join(
        f"{n} {s}" for s, n in out.counts.items() if n))


@align_app.command("lines")
def lines(batch_id: uuid.UUID, status: str | None = typer.Option(None, "--status"),
          limit: int = typer.Option(50, min=1, max=1000)) -> None:
    """A batch's lines: row, status, suggestion, confidence, runners-up."""
    from tongban.catalog import alignment, reports
    from tongban.cli import cli_session
    from tongban.identity.actor import SYSTEM_ACTOR

    try:
        with cli_session() as session:
            shown = reports.lines_out(session, alignment.list_lines(
                db_session=session, actor=SYSTEM_ACTOR, batch_id=batch_id, status=status,
                limit=limit))
    except DomainError as exc:
        _fail(exc)
    for line in shown:
        best = f"{line.suggested.basic_code} {line.suggested.name}" if line.suggested else "-"
        others = "; ".join(f"{r.basic_code} {r.name} {r.score}" for r in line.runners_up)
        _say(f"{line.id}  row {line.row}  {line.status}  {line.name} -> {best}  "
             f"{line.confidence:.2f} (+{line.margin:.2f})  [{others}]")


@align_app.command("decide")
def decide_line(line_id: uuid.UUID, action: str = typer.Argument(
        ..., help="confirm, correct or unmatched"),
                item: str | None = typer.Option(None, "--item", help="基本编码 (correct)")
                ) -> None:
    """A reviewer's decision on one line; later imports learn from it."""
    from tongban.catalog import alignment
    from tongban.cli import cli_session
    from tongban.identity.actor import SYSTEM_ACTOR

    try:
        with cli_session() as session:
            line = alignment.decide_line(db_session=session, actor=SYSTEM_ACTOR,
                                         line_id=line_id, action=action, basic_code=item)
            status = line.status
    except DomainError as exc:
        _fail(exc)
    _say(f"{line_id}: {status}")


@align_app.command("report")
def report(batch_id: uuid.UUID, file: Path = typer.Argument(..., dir_okay=False,
                                                             help=".xlsx to write")) -> None:
    """Write a batch's alignment report as Excel."""
    from tongban.catalog import alignment, reports
    from tongban.cli import cli_session
    from tongban.identity.actor import SYSTEM_ACTOR

    try:
        with cli_session() as session:
            rows = alignment.list_lines(db_session=session, actor=SYSTEM_ACTOR,
                                        batch_id=batch_id, limit=alignment.MAX_LINES)
            file.write_bytes(reports.batch_xlsx(session, rows))
    except DomainError as exc:
        _fail(exc)
    _say(f"wrote {file}")
