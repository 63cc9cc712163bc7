"""`tongban eligibility …`: rule sets, 一键核对 of one subject."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from tongban.cli_support import account_actor
from tongban.errors import DomainError, InvalidInput
from tongban.identity.actor import SYSTEM_ACTOR, Actor

app = typer.Typer(help="Eligibility (一键核对, 免申即享): rule sets and checks.",
                  no_args_is_help=True)


def _console() -> Any:
    from tongban.cli import console

    return console


def _actor(username: str | None) -> Actor:
    """The account the command acts as, or the node itself."""
    return account_actor(username, default=SYSTEM_ACTOR)


@app.command("rule-sets")
def rule_sets() -> None:
    """List every stored rule set version."""
    from tongban.cli import cli_session
    from tongban.eligibility import service

    table = Table("code", "version", "name", "mode", "confirmation", "department",
                  "effective", "sha256")
    with cli_session() as session:
        for row in service.list_rule_sets(db_session=session):
            dept = service.department_of(db_session=session, rule_set=row)
            table.add_row(row.code, str(row.version), row.name, row.mode, row.confirmation,
                          dept.name, f"{row.effective_from}–{row.effective_until or ''}",
                          row.sha256[:12])
    _console().print(table)


@app.command("load")
def load(path: Path = typer.Argument(..., help="a rule-set TOML file"),
         department: str = typer.Option(..., help="credit code of the department that "
                                        "runs the policy")) -> None:
    """Store one version of a rule set (checked against the sharing catalog)."""
    from tongban.cli import cli_session
    from tongban.eligibility import rules, service

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"无法读取文件 / cannot read {path}: {exc}") from None
    doc = rules.parse_toml(text)
    with cli_session() as session:
        row, what = service.load_rule_set(db_session=session, actor=SYSTEM_ACTOR, doc=doc,
                                          department_credit_code=department)
        _console().print(f"{row.code} v{row.version}: {what} ({row.sha256[:12]})",
                         highlight=False)


@app.command("check")
def check(rule_set: str = typer.Argument(..., help="rule set code"),
          subject: str = typer.Argument(..., help="ID number or credit code"),
          as_user: str | None = typer.Option(None, "--as", help="act as this account"),
          case_number: str | None = typer.Option(None, "--case"),
          as_json: bool = typer.Option(False, "--json", help="print the explanation as JSON")
          ) -> None:
    """一键核对: one subject against a rule set, with an explanation per rule."""
    from tongban.cli import cli_session
    from tongban.eligibility import service
    from tongban.eligibility.schemas import check_out

    actor = _actor(as_user)
    refused: DomainError | None = None
    with cli_session() as session:
        outcome = service.check(db_session=session, settings=_settings(), actor=actor,
                                code=rule_set, identifier=subject, case_number=case_number)
        if isinstance(outcome, service.Refused):
            refused = outcome.error()  # raised after the commit: the refusal is logged
    if refused is not None:
        raise refused
    assert not isinstance(outcome, service.Refused)
    if as_json:
        typer.echo(check_out(outcome).model_dump_json(indent=2))
        return
    verdict = "符合 / eligible" if outcome.eligible else "不符合 / not eligible"
    _console().print(f"{outcome.rule_set} v{outcome.version} {outcome.subject}: {verdict}",
                     highlight=False)
    table = Table("rule", "result", "value", "threshold", "source")
    for rule in outcome.rules:
        for part in rule.parts:
            table.add_row(f"{rule.id} {rule.label}", "✓" if part.passed else "✗",
                          "(无 / missing)" if part.missing else str(part.value),
                          f"{part.op} {_text(part.threshold)}",
                          rule.source)
    _console().print(table)


@app.command("batch")
def batch(rule_set: str = typer.Argument(..., help="rule set code"),
          path: Path = typer.Argument(..., help="CSV or .xlsx file of applicants"),
          out: Path = typer.Option(..., "--out", help="where to write the result file"),
          as_user: str | None = typer.Option(None, "--as", help="act as this account")
          ) -> None:
    """Batch 一键核对 of a file of applicants; a bad file names row and field and
    nothing is checked or written."""
    from rich.progress import Progress

    from tongban.cli import cli_session
    from tongban.eligibility import batch as batches
    from tongban.eligibility import service

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"无法读取文件 / cannot read {path}: {exc}") from None
    actor = _actor(as_user)
    refused: DomainError | None = None
    with Progress(console=_console(), transient=True) as bar, cli_session() as session:
        task = bar.add_task("核对 / checking", total=None)
        result = batches.check_file(
            db_session=session, settings=_settings(), actor=actor, code=rule_set, data=data,
            filename=path.name, progress=lambda ds: bar.update(
                task, advance=1, description=f"读取 / reading {ds}"))
        if isinstance(result, service.Refused):
            refused = result.error()
        else:
            tmp = out.with_name(f".{out.name}.part")
            tmp.write_bytes(result.to_bytes())
    if refused is not None:
        raise refused
    assert not isinstance(result, service.Refused)
    tmp.replace(out)  # only once the reads' log rows are committed
    _console().print(f"{result.rule_set} v{result.version}: {len(result.rows)} rows, "
                     f"{result.eligible} eligible -> {out}", highlight=False)


def _text(value: object) -> str:
    return json.dumps(value, default=str, ensure_ascii=False)


def _settings() -> Any:
    from tongban.config import get_settings

    return get_settings()


@app.command("run")
def run(rule_set: str | None = typer.Option(None, "--rule-set", help="one rule set only")
        ) -> None:
    """Screen now (what the nightly job does): find who newly qualifies, open 免申即享
    cases, tell them; running it again finds no one twice."""
    from tongban.cli import cli_session
    from tongban.eligibility import proactive

    with cli_session() as session:
        reports = ([proactive.run_rule_set(db_session=session, settings=_settings(),
                                           code=rule_set)] if rule_set else
                   proactive.run_all(db_session=session, settings=_settings()))
    table = Table("rule set", "version", "population", "eligible", "new", "refused")
    for r in reports:
        table.add_row(r.rule_set, str(r.version), str(r.population), str(r.eligible),
                      str(r.new), r.refused or "")
    _console().print(table)


@app.command("qualifications")
def qualifications(as_user: str = typer.Option(..., "--as", help="department staff account"),
                   state: str | None = typer.Option(None, help="candidate, opened, ...")
                   ) -> None:
    """The qualifications found for your department's policies."""
    from tongban.cli import cli_session
    from tongban.eligibility import proactive

    actor = _actor(as_user)
    table = Table("id", "rule set", "name", "state", "found", "case")
    with cli_session() as session:
        for q in proactive.list_qualifications(db_session=session, actor=actor, state=state):
            table.add_row(str(q.id), q.rule_set_code, q.name, q.state,
                          q.found_at.isoformat(timespec="seconds"), q.case_number or "")
    _console().print(table)


@app.command("decide")
def decide(qualification_id: str = typer.Argument(...),
           as_user: str = typer.Option(..., "--as"),
           decline: bool = typer.Option(False, "--decline", help="decline instead"),
           reason: str = typer.Option("", help="why (required to decline)")) -> None:
    """二次确认: confirm a candidate (the case opens, they are told) or decline it."""
    import uuid

    from tongban.cli import cli_session
    from tongban.eligibility import proactive

    if decline and not reason.strip():
        raise InvalidInput("驳回须说明理由 / a decline needs --reason")
    try:
        qid = uuid.UUID(qualification_id)
    except ValueError:
        raise InvalidInput(f"不是有效的编号 / not an id: {qualification_id}") from None
    actor = _actor(as_user)
    with cli_session() as session:
        q = proactive.decide(db_session=session, settings=_settings(), actor=actor,
                             qualification_id=qid, confirm=not decline, reason=reason)
        _console().print(f"{q.rule_set_code} {q.name}: {q.state} {q.case_number or ''}",
                         highlight=False)
