"""双随机一公开, the public pages: every draw with its commitment, randomness, seed,
selected targets and their inspectors, the recusals, the frozen lists' hashes, and links
to the draw's bundle and to the standalone verifier anyone can run on it."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session

from tongban.errors import Forbidden, InvalidInput, NotFound
from tongban.identity.actor import Actor
from tongban.supervision.draws import service
from tongban.supervision.draws.schemas import DrawIn, ListIn, RecusalIn
from tongban.web.render import WebRoute, page, require_actor, web_db
from tongban.web.routes import web_context

router = APIRouter(route_class=WebRoute, include_in_schema=False,
                   dependencies=[Depends(web_context)])
STATE_LABELS = {"committed": "已承诺，待抽取", "drawn": "已抽取"}
SKIP_LABELS = {"conflict": "利害关系回避", "recusal": "申请回避"}


@router.get("/inspections", response_class=HTMLResponse)
def draws(request: Request, db: Session = Depends(web_db)) -> Response:
    """Every random inspection, newest first."""
    return page(request, "portal/draws.html", {
        "draws": service.list_draws(db_session=db), "STATE_LABELS": STATE_LABELS})


@router.get("/inspections/{draw_id}", response_class=HTMLResponse)
def draw(request: Request, draw_id: str, db: Session = Depends(web_db)) -> Response:
    """One draw, everything needed to re-run it."""
    try:
        key = uuid.UUID(draw_id)
    except ValueError:
        raise NotFound("抽查任务不存在 / no such draw") from None
    pub = service.published(db_session=db, draw_id=key)
    names = {t["id"]: t["name"] for t in pub.targets.entries}
    people = {i["id"]: i["name"] for i in pub.inspectors.entries}
    return page(request, "portal/draw.html", {
        "pub": pub, "d": pub.draw, "names": names, "people": people,
        "STATE_LABELS": STATE_LABELS, "SKIP_LABELS": SKIP_LABELS})


# --- the supervisor's page: lists, commitments, runs, recusals ------------------------------


def _supervisor(request: Request) -> Actor:
    actor = require_actor(request)
    if not actor.has(*service.ROLES):
        raise Forbidden("仅限监督人员 / supervisors only",
                        details={"required_roles": list(service.ROLES)})
    return actor


def _checked(model: type[BaseModel], data: dict[str, Any]) -> Any:
    """A form as the API's schema, or a clear 422 naming the first bad field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        where = ".".join(map(str, errors[0]["loc"])) or "form"
        raise InvalidInput(f"输入有误 / invalid input: {where}: {errors[0]['msg']}",
                           details=[{"field": ".".join(map(str, e["loc"])), "message": e["msg"]}
                                    for e in errors]) from None


def parse_entries(kind: str, text: str) -> list[dict[str, Any]]:
    """One entry per line, comma-separated: targets `code,name[,stratum]`, inspectors
    `id,name[,department[,conflicting codes separated by ;]]`."""
    entries: list[dict[str, Any]] = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.replace("，", ",").split(",")]
        if not any(cells):
            continue
        cells += [""] * 4
        if kind == "targets":
            entries.append({"id": cells[0], "name": cells[1], "stratum": cells[2]})
        else:
            entries.append({"id": cells[0], "name": cells[1], "department": cells[2],
                            "conflicts": [c.strip() for c in cells[3].split(";") if c.strip()]})
    return entries


@router.get("/supervision/inspections", response_class=HTMLResponse)
def manage(request: Request, db: Session = Depends(web_db)) -> Response:
    """Lists to freeze, draws to commit, run and publish."""
    actor = _supervisor(request)
    lists = service.list_lists(db_session=db, actor=actor)
    mine = [d for d in service.list_draws(db_session=db) if actor.covers(d.region_code)]
    return page(request, "workbench/inspections.html", {
        "lists": lists, "draws": mine, "STATE_LABELS": STATE_LABELS,
        "frozen_targets": [x for x in lists if x.state == "frozen" and x.kind == "targets"],
        "frozen_inspectors": [x for x in lists if x.state == "frozen"
                              and x.kind == "inspectors"]})


@router.post("/supervision/inspections/lists")
def create_list(request: Request, kind: str = Form(...), name: str = Form(""),
                region_code: str = Form(""), entries: str = Form(""),
                freeze: bool = Form(False), db: Session = Depends(web_db)) -> Response:
    """A list from pasted lines (frozen at once when asked)."""
    actor = _supervisor(request)
    data = _checked(ListIn, {"kind": kind, "name": name, "region_code": region_code,
                             "entries": parse_entries(kind, entries)})
    row = service.create_list(db_session=db, actor=actor, data=data)
    if freeze:
        service.freeze_list(db_session=db, actor=actor, list_id=row.id)
    db.commit()
    return RedirectResponse("/supervision/inspections", status_code=303)


@router.post("/supervision/inspections/lists/{list_id}/freeze")
def freeze_list(request: Request, list_id: uuid.UUID, db: Session = Depends(web_db)
                ) -> Response:
    """Freeze a list: its hash is fixed and logged."""
    service.freeze_list(db_session=db, actor=_supervisor(request), list_id=list_id)
    db.commit()
    return RedirectResponse("/supervision/inspections", status_code=303)


@router.post("/supervision/inspections/draws")
def commit_draw(request: Request, task: str = Form(""), targets_list_id: str = Form(""),
                inspectors_list_id: str = Form(""), size: str = Form(""),
                percent: str = Form(""), per_stratum: bool = Form(False),
                inspectors_per_target: int = Form(2), delay_seconds: int = Form(600),
                db: Session = Depends(web_db)) -> Response:
    """Commit to a draw (the randomness does not exist yet)."""
    actor = _supervisor(request)
    rules: dict[str, Any] = {"per_stratum": per_stratum,
                             "inspectors_per_target": inspectors_per_target}
    if size.strip():
        rules["sample_size"] = size.strip()
    if percent.strip():
        rules["sample_percent"] = percent.strip()
    data = _checked(DrawIn, {"task": task, "targets_list_id": targets_list_id,
                             "inspectors_list_id": inspectors_list_id, "rules": rules,
                             "source": {"kind": "ledger", "delay_seconds": delay_seconds}})
    row = service.commit_draw(db_session=db, actor=actor, data=data)
    db.commit()
    return RedirectResponse(f"/inspections/{row.id}", status_code=303)


@router.post("/supervision/inspections/draws/{draw_id}/run")
def run_draw(request: Request, draw_id: uuid.UUID, db: Session = Depends(web_db)
             ) -> Response:
    """Draw, once the committed randomness exists (else a clear 409 page)."""
    service.run_draw(db_session=db, actor=_supervisor(request), draw_id=draw_id)
    db.commit()
    return RedirectResponse(f"/inspections/{draw_id}", status_code=303)


@router.post("/supervision/inspections/draws/{draw_id}/recusals")
def recuse(request: Request, draw_id: uuid.UUID, pair: str = Form(""),
           reason: str = Form(""), db: Session = Depends(web_db)) -> Response:
    """回避 of an assigned inspector ("target|inspector"); the result is re-run with it."""
    target_id, _, inspector_id = pair.partition("|")
    data = _checked(RecusalIn, {"target_id": target_id, "inspector_id": inspector_id,
                                "reason": reason})
    service.recuse(db_session=db, actor=_supervisor(request), draw_id=draw_id, data=data)
    db.commit()
    return RedirectResponse(f"/inspections/{draw_id}", status_code=303)
