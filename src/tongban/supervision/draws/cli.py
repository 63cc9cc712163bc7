"""`tongban supervision draw …`: lists, commit, run, recuse, show, and verify a bundle."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import typer

from tongban.cli_support import read_json
from tongban.errors import InvalidInput
from tongban.supervision.cli_common import actor as acting
from tongban.supervision.cli_common import parse_uuid

app = typer.Typer(help="双随机一公开: random inspections anyone can re-run.",
                  no_args_is_help=True)


def _validated(model: Any, data: Any) -> Any:
    from pydantic import ValidationError

    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(map(str, first["loc"])) or "document"
        raise InvalidInput(f"输入有误 / invalid input: {where}: {first['msg']}",
                           details=exc.errors(include_url=False)) from None


def _print_draw(draw_id: uuid.UUID, session: Any) -> None:
    from tongban.cli import console
    from tongban.supervision.draws import service

    pub = service.published(db_session=session, draw_id=draw_id)
    d = pub.draw
    console.print(f"draw {d.id} {d.state}: {d.task}", highlight=False)
    console.print(f"  commitment {d.commitment_hash} ({d.commitment['source']['kind']})",
                  highlight=False)
    if d.result:
        console.print(f"  seed {d.seed}", highlight=False)
        for s in d.result["selected"]:
            console.print(f"  {s['target_id']}: {', '.join(s['inspector_ids'])}",
                          highlight=False)


@app.command("list")
def create_list(file: Path = typer.Argument(..., help="JSON: kind, name, region_code, entries"),
                as_user: str | None = typer.Option(None, "--as"),
                freeze: bool = typer.Option(False, help="Freeze it at once.")) -> None:
    """Create a list of inspection targets or inspectors (and freeze it)."""
    from tongban.cli import cli_session, console
    from tongban.supervision.draws import service
    from tongban.supervision.draws.schemas import ListIn

    data = _validated(ListIn, read_json(file))
    actor = acting(as_user)
    with cli_session() as session:
        row = service.create_list(db_session=session, actor=actor, data=data)
        if freeze:
            service.freeze_list(db_session=session, actor=actor, list_id=row.id)
        console.print(f"{row.kind} list {row.id}: {len(row.entries)} entries, {row.state}"
                      f"{' sha256 ' + row.sha256 if row.sha256 else ''}", highlight=False)


@app.command("freeze")
def freeze(list_id: str, as_user: str | None = typer.Option(None, "--as")) -> None:
    """Freeze a list (its hash is fixed and logged)."""
    from tongban.cli import cli_session, console
    from tongban.supervision.draws import service

    actor = acting(as_user)
    with cli_session() as session:
        row = service.freeze_list(db_session=session, actor=actor,
                                  list_id=parse_uuid(list_id, "list_id"))
        console.print(f"frozen {row.id} sha256 {row.sha256}", highlight=False)


@app.command("commit")
def commit(file: Path = typer.Argument(..., help="JSON: task, list ids, rules, source"),
           as_user: str | None = typer.Option(None, "--as")) -> None:
    """Commit to a draw before its randomness exists."""
    from tongban.cli import cli_session
    from tongban.supervision.draws import service
    from tongban.supervision.draws.schemas import DrawIn

    data = _validated(DrawIn, read_json(file))
    actor = acting(as_user)
    with cli_session() as session:
        row = service.commit_draw(db_session=session, actor=actor, data=data)
        _print_draw(row.id, session)


@app.command("run")
def run(draw_id: str, as_user: str | None = typer.Option(None, "--as"),
        drand_signature: str | None = typer.Option(None, help="the committed round's "
                                                   "signature (drand draws)")) -> None:
    """Draw, once the committed randomness exists."""
    from tongban.cli import cli_session
    from tongban.supervision.draws import service

    actor = acting(as_user)
    with cli_session() as session:
        row = service.run_draw(db_session=session, actor=actor,
                               draw_id=parse_uuid(draw_id, "draw_id"),
                               drand_signature=drand_signature)
        _print_draw(row.id, session)


@app.command("recuse")
def recuse(draw_id: str, target_id: str, inspector_id: str,
           reason: str = typer.Option(..., help="why the inspector steps aside"),
           as_user: str | None = typer.Option(None, "--as")) -> None:
    """回避: an assigned inspector steps aside for one target."""
    from tongban.cli import cli_session
    from tongban.supervision.draws import service
    from tongban.supervision.draws.schemas import RecusalIn

    data = _validated(RecusalIn, {"target_id": target_id, "inspector_id": inspector_id,
                                  "reason": reason})
    actor = acting(as_user)
    with cli_session() as session:
        row = service.recuse(db_session=session, actor=actor,
                             draw_id=parse_uuid(draw_id, "draw_id"), data=data)
        _print_draw(row.id, session)


@app.command("show")
def show(draw_id: str, bundle: Path | None = typer.Option(
        None, help="Also write the verifier's bundle to this file.")) -> None:
    """Show a draw (and write its public bundle)."""
    from tongban.cli import cli_session, console
    from tongban.supervision.draws import service

    with cli_session() as session:
        _print_draw(parse_uuid(draw_id, "draw_id"), session)
        if bundle is not None:
            data = service.published(db_session=session,
                                     draw_id=parse_uuid(draw_id, "draw_id")).bundle()
            bundle.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
            console.print(f"wrote {bundle}", highlight=False)


@app.command("verify")
def verify(bundle: Path = typer.Argument(..., help="a draw's published bundle (JSON)")) -> None:
    """Re-run a draw from its published bundle (no database needed)."""
    from tongban.cli import console
    from tongban.supervision.draws import verify_draw

    data = read_json(bundle)
    try:
        problems = verify_draw.verify(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInput(f"不是有效的抽查数据包 / not a draw bundle: {exc!r}",
                           details={"field": "bundle"}) from None
    if problems:
        raise InvalidInput("抽查结果无法复现 / the draw does not re-run: " + "; ".join(problems),
                           code="draw_mismatch", details=problems)
    console.print(f"OK: draw {data['commitment']['draw_id']} re-runs to the published result",
                  highlight=False)
