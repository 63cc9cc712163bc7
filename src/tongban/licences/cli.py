"""`tongban licences …`: load the type catalog, import, verify, change status, keys, PDFs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from pydantic import ValidationError

from tongban.cli_support import read_json
from tongban.errors import InvalidInput

app = typer.Typer(help="E-licences (电子证照): types, import, verify, status.",
                  no_args_is_help=True)
types_app = typer.Typer(help="The licence type catalog (证照目录).", no_args_is_help=True)
keys_app = typer.Typer(help="Department signing keys.", no_args_is_help=True)
app.add_typer(types_app, name="types")
app.add_typer(keys_app, name="keys")


def _say(text: str) -> None:
    """One line on stdout, never wrapped (identifiers are long) nor colourised."""
    from tongban.cli import console

    console.print(text, highlight=False, soft_wrap=True, markup=False)


@types_app.command("load")
def types_load() -> None:
    """Load (or update) the shipped licence types; safe to run again."""
    from tongban.cli import cli_session
    from tongban.licences import service

    with cli_session() as session:
        changed = service.load_licence_types(db_session=session)
        total = len(service.list_types(db_session=session))
    _say(f"licence types: {total} ({changed} added or changed)")


@app.command("issue")
def issue_cmd(file: Path = typer.Argument(..., help="JSON: one import record or a list.")) -> None:
    """Import licences issued before tongban (each is signed by its department's key)."""
    from tongban.cli import cli_session
    from tongban.licences import service
    from tongban.licences.schemas import LicenceImportIn

    data = read_json(file)
    records = data if isinstance(data, list) else [data]
    try:
        parsed = [LicenceImportIn.model_validate(r) for r in records]
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InvalidInput(f"导入记录有误 / invalid import record: {where}: {first['msg']}"
                           ) from exc
    from tongban.config import get_settings
    from tongban.identity.actor import SYSTEM_ACTOR

    settings = get_settings()
    with cli_session(settings) as session:
        for record in parsed:
            licence = service.import_record(db_session=session, settings=settings,
                                            actor=SYSTEM_ACTOR, record=record)
            _say(f"imported {licence.identifier}")


def _verify_input(target: str) -> dict[str, Any]:
    path = Path(target)
    if not path.is_file():
        return {"identifier": target}
    text = path.read_text(encoding="utf-8").strip()
    if not text.startswith("{"):
        return {"licence_jws": text}
    data = read_json(path)
    jws = data.get("jws") or data.get("licence_jws")
    if not isinstance(jws, str):
        raise InvalidInput("JSON 文件应含 jws 字段 / the JSON file needs a jws field")
    return {"licence_jws": jws, "document": data.get("document")}


@app.command("verify")
def verify_cmd(target: str = typer.Argument(..., help="A file (JWS or {jws, document}) "
                                                      "or an identifier.")) -> None:
    """Verify a licence; exit code 0 only if it is valid."""
    from tongban.cli import cli_session
    from tongban.config import get_settings
    from tongban.licences import verify

    settings = get_settings()
    with cli_session(settings) as session:
        result = verify.verify(db_session=session, settings=settings, **_verify_input(target))
    _say(f"{result.outcome}: {result.message}")
    _say(f"  identifier {result.identifier}  status {result.status} "
         f"{result.status_name or ''}  validity {result.validity}")
    if result.changed_fields:
        _say(f"  changed: {', '.join(result.changed_fields)}")
    if result.replaced_by:
        _say(f"  replaced by {result.replaced_by}")
    if not result.valid:
        raise typer.Exit(1)


@app.command("status")
def status_cmd(identifier: str, status: str = typer.Argument(..., help="01 02 03 04 05 07"),
               reason: str = typer.Option(..., "--reason", help="Why (required)."),
               as_user: str | None = typer.Option(
                   None, "--as", help="Act as this staff account (its roles and scopes); "
                                      "without it, as the node operator, who may only mark "
                                      "a licence 05 失效.")) -> None:
    """Change a licence's status; the role table and the reason rule apply as in the API."""
    from tongban.cli import cli_session
    from tongban.identity import service as identity
    from tongban.identity.actor import SYSTEM_ACTOR
    from tongban.licences import service

    with cli_session() as session:
        actor = SYSTEM_ACTOR
        if as_user is not None:
            account = identity.find_account_by_username(db_session=session, username=as_user)
            if account is None:
                raise InvalidInput(f"没有该账号 / no account {as_user!r}")
            actor = identity.actor_from_account(account)
        licence = service.change_status(db_session=session, actor=actor,
                                        identifier=identifier, status=status, reason=reason)
    _say(f"{licence.identifier}: {licence.status}")


@app.command("replace")
def replace_cmd(identifier: str,
                kind: str = typer.Option(..., "--kind", help="reissue (补领: lost or damaged) "
                                                             "or renewal (换领)."),
                reason: str = typer.Option(..., "--reason", help="Why (required)."),
                fields: str | None = typer.Option(None, "--fields",
                                                  help="Changed fields as JSON (换领)."),
                as_user: str = typer.Option(..., "--as", help="The staff account acting (a "
                                            "window clerk or reviewer of the issuer).")
                ) -> None:
    """补领/换领: issue the new licence and end the old one as replaced."""
    from tongban.cli import cli_session
    from tongban.config import get_settings
    from tongban.identity import service as identity
    from tongban.licences import service

    changed = _json_object(fields, "--fields") if fields is not None else None
    settings = get_settings()
    with cli_session(settings) as session:
        account = identity.find_account_by_username(db_session=session, username=as_user)
        if account is None:
            raise InvalidInput(f"没有该账号 / no account {as_user!r}")
        new = service.replace(db_session=session, settings=settings,
                              actor=identity.actor_from_account(account),
                              identifier=identifier, kind=kind, reason=reason, fields=changed)
        successor = new.identifier
    _say(f"{identifier}: 05 失效, replaced by {successor}")


def _json_object(text: str, option: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{option} 不是有效的 JSON / {option} is not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise InvalidInput(f"{option} 须为对象 / {option} must be a JSON object")
    return value


@app.command("pdf")
def pdf_cmd(identifier: str, out: Path = typer.Option(..., "--out", help="Where to write.")
            ) -> None:
    """Write the sealed PDF of a licence."""
    from tongban.cli import cli_session
    from tongban.config import get_settings
    from tongban.identity.actor import SYSTEM_ACTOR
    from tongban.licences import service

    settings = get_settings()
    with cli_session(settings) as session:
        content = service.licence_pdf(db_session=session, settings=settings,
                                      actor=SYSTEM_ACTOR, identifier=identifier)
    out.write_bytes(content)
    _say(f"wrote {out} ({len(content)} bytes)")


@keys_app.command("rotate")
def keys_rotate(credit_code: str = typer.Argument(..., help="The department's credit code."),
                purpose: str = typer.Option("jws", help="jws (licence JSON) or pdf (seal).")
                ) -> None:
    """Retire a department's current key and make a new one."""
    from sqlalchemy import select

    from tongban.catalog.models import Department
    from tongban.cli import cli_session
    from tongban.config import get_settings
    from tongban.identity.actor import SYSTEM_ACTOR
    from tongban.licences import keys
    from tongban.licences.models import KeyPurpose

    if purpose not in {p.value for p in KeyPurpose}:
        raise InvalidInput("purpose 应为 jws 或 pdf / purpose must be jws or pdf")
    settings = get_settings()
    with cli_session(settings) as session:
        department = session.scalar(select(Department).where(
            Department.credit_code == credit_code.upper()))
        if department is None:
            raise InvalidInput("未找到该部门 / no department with this credit code")
        key = keys.rotate_key(db_session=session, settings=settings,
                              department_id=department.id, purpose=KeyPurpose(purpose),
                              actor=SYSTEM_ACTOR)
    _say(f"new {purpose} key {key.kid}")
