"""`tongban sharing …`: the sharing catalog, registry imports, grants, queries, usage."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time
from pathlib import Path

import typer
from rich.table import Table

from tongban.cli_support import account_actor, read_json
from tongban.errors import InvalidInput
from tongban.identity.actor import SYSTEM_ACTOR, Actor

app = typer.Typer(help="Data sharing (数据共享): catalog, imports, grants, queries.",
                  no_args_is_help=True)
catalog_app = typer.Typer(help="The sharing catalog (共享目录).", no_args_is_help=True)
app.add_typer(catalog_app, name="catalog")


def _say(text: str) -> None:
    from tongban.cli import console

    console.print(text, highlight=False, soft_wrap=True, markup=False)


def _print(table: Table) -> None:
    from tongban.cli import console

    console.print(table)


def _date(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"日期应为 YYYY-MM-DD / not a date: {value}") from None
    if len(value) == 10:
        return datetime.combine(parsed.date(), time(), UTC)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@catalog_app.command("load")
def catalog_load(file: Path, as_user: str | None = typer.Option(None, "--as")) -> None:
    """Create or update datasets from a catalog document (JSON), all or nothing."""
    from tongban.cli import cli_session
    from tongban.sharing import registries

    actor = _actor(as_user)
    with cli_session() as session:
        report = registries.load_catalog(db_session=session, actor=actor,
                                         doc=read_json(file))
    _say(f"datasets: {report.created} created, {report.updated} updated, "
         f"{report.unchanged} unchanged")


@catalog_app.command("list")
def catalog_list(registry: str | None = typer.Option(None)) -> None:
    """The datasets: code, name, owner, sharing type, frequency, records."""
    from tongban.catalog import service as catalog
    from tongban.cli import cli_session
    from tongban.sharing import registries

    table = Table("code", "name", "owner", "sharing", "frequency", "records")
    with cli_session() as session:
        for d in registries.list_datasets(db_session=session, registry=registry):
            owner = catalog.get_department(db_session=session,
                                           department_id=d.owner_department_id)
            table.add_row(d.code, d.name, owner.name, d.sharing_type, d.update_frequency,
                          str(registries.count_records(db_session=session, dataset_id=d.id)))
    _print(table)


@catalog_app.command("show")
def catalog_show(code: str) -> None:
    """One dataset: its terms, legal basis and fields."""
    from tongban.cli import cli_session
    from tongban.sharing import registries

    with cli_session() as session:
        d = registries.get_dataset(db_session=session, code=code)
        _say(f"{d.code} {d.name} (v{d.version}) — {d.sharing_type}, {d.update_frequency}")
        _say(f"legal basis: {d.legal_basis}")
        table = Table("field", "label", "type", "required", "personal")
        for spec in registries.field_specs(d).values():
            table.add_row(spec.name, spec.label, spec.type.value, "yes" if spec.required
                          else "", "sealed" if spec.sealed else "")
    _print(table)


def _actor(username: str | None) -> Actor:
    """The account the command acts as, or the node itself."""
    return account_actor(username, default=SYSTEM_ACTOR)


@app.command("import")
def import_cmd(
    dataset: str, file: Path,
    full: bool = typer.Option(False, "--full", help="A snapshot: end records not in it."),
    source: str | None = typer.Option(None, help="The supplying system (default: owner)."),
    as_of: str | None = typer.Option(None, "--as-of", help="Data time, YYYY-MM-DD."),
    as_user: str | None = typer.Option(None, "--as"),
) -> None:
    """Import a CSV or .xlsx file into a dataset: all rows, or none (every problem named
    by row and field)."""
    from tongban.cli import cli_session
    from tongban.config import get_settings
    from tongban.sharing import importer

    try:
        data = file.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"无法读取文件 / cannot read {file}: {exc}") from None
    actor = _actor(as_user)
    settings = get_settings()
    try:
        with cli_session(settings) as session:
            report = importer.import_records(
                db_session=session, settings=settings, actor=actor, dataset=dataset,
                data=data, filename=file.name, mode="full" if full else "incremental",
                source=source, as_of=_date(as_of))
    except InvalidInput as exc:
        for problem in exc.details if isinstance(exc.details, list) else []:
            _say(f"  row {problem.get('row')}, {problem.get('field')}: {problem['message']}")
        raise
    _say(f"{report.dataset}: {report.rows} rows — {report.inserted} new, {report.updated} "
         f"updated, {report.unchanged} unchanged, {report.deleted} ended "
         f"(batch {report.batch_id})")


@app.command("imports")
def imports_cmd(dataset: str) -> None:
    """A dataset's import batches, newest first."""
    from tongban.cli import cli_session
    from tongban.sharing import importer

    table = Table("imported", "file", "source", "as of", "rows", "new", "upd", "ended")
    with cli_session() as session:
        for b in importer.list_batches(db_session=session, dataset=dataset):
            table.add_row(f"{b.imported_at:%Y-%m-%d %H:%M}", b.filename, b.source,
                          f"{b.as_of:%Y-%m-%d}", str(b.rows), str(b.inserted), str(b.updated),
                          str(b.deleted))
    _print(table)


# --- grants, queries, the access log ---------------------------------------------------

grants_app = typer.Typer(help="Grants (授权): list, pause, resume, revoke.",
                         no_args_is_help=True)
app.add_typer(grants_app, name="grants")


@grants_app.command("list")
def grants_list(dataset: str | None = typer.Option(None)) -> None:
    """Current grant versions: consumer, purpose, status now, uses, valid until."""
    from tongban.cli import cli_session
    from tongban.config import get_settings
    from tongban.sharing import grants, views

    settings = get_settings()
    table = Table("grant", "v", "status", "dataset", "consumer", "purpose", "uses", "until")
    with cli_session(settings) as session:
        for g in grants.list_grants(db_session=session, dataset=dataset):
            out = views.grant_out(db_session=session, settings=settings, grant=g)
            table.add_row(str(out.grant_id), str(out.version), out.effective_status,
                          out.dataset, out.consumer_name, out.purpose_code,
                          f"{out.use_count}/{out.use_limit or '∞'}",
                          f"{out.valid_until:%Y-%m-%d}")
    _print(table)


def _change_grant(grant_id: str, action: str, reason: str, as_user: str | None) -> None:
    import uuid

    from tongban.cli import cli_session
    from tongban.config import get_settings
    from tongban.sharing import grants

    try:
        gid = uuid.UUID(grant_id)
    except ValueError:
        raise InvalidInput(f"授权编号格式错误 / not a grant id: {grant_id}") from None
    actor, settings = _actor(as_user), get_settings()
    with cli_session(settings) as session:
        if action == "revoke":
            made = grants.revoke_grant(db_session=session, settings=settings, actor=actor,
                                       grant_id=gid, reason=reason)
        else:
            made = grants.suspend_grant(db_session=session, settings=settings, actor=actor,
                                        grant_id=gid, action=action, reason=reason)
        _say(f"grant {made.grant_id} v{made.version}: {made.status}")


REASON = typer.Option(..., "--reason", help="Why (kept in the new signed version).")
AS_USER = typer.Option(None, "--as", help="The account acting (default: the operator).")


@grants_app.command("pause")
def grants_pause(grant_id: str, reason: str = REASON, as_user: str | None = AS_USER) -> None:
    """Pause a grant: queries are refused (grant_paused) until it is resumed."""
    _change_grant(grant_id, "pause", reason, as_user)


@grants_app.command("resume")
def grants_resume(grant_id: str, reason: str = REASON, as_user: str | None = AS_USER) -> None:
    """Resume a paused grant."""
    _change_grant(grant_id, "resume", reason, as_user)


@grants_app.command("revoke")
def grants_revoke(grant_id: str, reason: str = REASON, as_user: str | None = AS_USER) -> None:
    """Revoke a grant (final)."""
    _change_grant(grant_id, "revoke", reason, as_user)


@app.command("query")
def query_cmd(
    dataset: str, subject: str,
    purpose: str = typer.Option(..., "--purpose", help="The purpose code of the grant."),
    purpose_text: str = typer.Option("", "--purpose-text"),
    field: list[str] = typer.Option(None, "--field", help="A granted field (repeatable)."),
    case: str | None = typer.Option(None, "--case", help="The case the read serves."),
    consent: str | None = typer.Option(None, "--consent", help="The subject's consent id."),
    as_user: str = typer.Option(..., "--as", help="The staff account asking."),
) -> None:
    """A purpose-bound query of one subject; a refusal is logged, then named (exit 1)."""
    import uuid

    from tongban.cli import cli_session
    from tongban.config import get_settings
    from tongban.sharing import queries

    try:
        consent_id = uuid.UUID(consent) if consent else None
    except ValueError:
        raise InvalidInput(f"本人授权编号格式错误 / not a consent id: {consent}") from None
    actor, settings = _actor(as_user), get_settings()
    with cli_session(settings) as session:  # commits the access row, allowed or not
        outcome = queries.query(db_session=session, settings=settings, actor=actor,
                                dataset=dataset, identifier=subject, purpose_code=purpose,
                                purpose_text=purpose_text, fields=field or None,
                                case_number=case, consent_id=consent_id)
        access_id = outcome.access.id
        if isinstance(outcome, queries.Allowed):
            for record in outcome.records:
                _say(json.dumps(record, ensure_ascii=False))
            _say(f"{len(outcome.records)} record(s); access {access_id}")
            return
        refusal = outcome.error()
    raise refusal


@app.command("accesses")
def accesses_cmd(dataset: str | None = typer.Option(None),
                 outcome: str | None = typer.Option(None, help="allowed / denied / pending"),
                 limit: int = typer.Option(50, min=1, max=1000),
                 as_user: str | None = AS_USER) -> None:
    """The access log, newest first: who, for whom, what, why, outcome."""
    from tongban.cli import cli_session
    from tongban.sharing import queries

    actor = _actor(as_user)
    table = Table("at", "who", "consumer", "dataset", "subject", "purpose", "outcome")
    with cli_session() as session:
        for a in queries.list_accesses(db_session=session, actor=actor, dataset=dataset,
                                       outcome=outcome, limit=limit):
            table.add_row(f"{a.at:%Y-%m-%d %H:%M}", a.actor_name, a.consumer_name,
                          a.dataset_code, a.subject_masked, a.purpose_text or a.purpose_code,
                          a.outcome if a.outcome != "denied" else f"denied: {a.reason}")
    _print(table)
