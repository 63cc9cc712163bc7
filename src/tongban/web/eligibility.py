"""一键核对 and 免申即享 pages: staff check one person or a file against a policy and
confirm candidates; applicants see the policies they were found to qualify for.

Every page calls the eligibility services the API and CLI call.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from tongban.eligibility import batch as batches
from tongban.eligibility import proactive, service, single
from tongban.errors import DomainError, Forbidden
from tongban.identity.actor import Actor
from tongban.web.render import WebRoute, page, require_actor, web_db
from tongban.web.routes import web_context

router = APIRouter(route_class=WebRoute, include_in_schema=False,
                   dependencies=[Depends(web_context)])

STATE_LABELS = {"candidate": "待确认", "confirmed": "已确认待办理", "opened": "已主动办理",
                "notified": "已告知", "declined": "已核实不符合"}
MODE_LABELS = {"proactive": "免申即享", "notify": "政策推送"}


def require_staff(request: Request) -> Actor:
    """A signed-in staff member who may run checks, else 403."""
    actor = require_actor(request)
    if not actor.has(*service.CHECK_ROLES):
        raise Forbidden("仅限工作人员 / staff only",
                        details={"required_roles": sorted(service.CHECK_ROLES)})
    return actor


def _shown(value: Any) -> str:
    if value is None:
        return "—"
    return batches.shown(value)


def _context(db: Session, actor: Actor, **more: Any) -> dict[str, Any]:
    """What the workbench page shows besides a result: the policies, the candidates."""
    rows = service.list_rule_sets(db_session=db)
    latest = {r.code: r for r in rows}  # the highest version of each code
    try:
        found = proactive.list_qualifications(db_session=db, actor=actor, limit=100)
    except Forbidden:
        found = []
    return {"rule_sets": sorted(latest.values(), key=lambda r: r.code), "qualifications": found,
            "STATE_LABELS": STATE_LABELS, "MODE_LABELS": MODE_LABELS, "shown": _shown,
            "OP_TEXT": batches.OP_TEXT, "result": None, "error": None, "subject": "",
            "chosen": "", **more}


@router.get("/workbench/eligibility", response_class=HTMLResponse)
def workbench(request: Request, db: Session = Depends(web_db)) -> Response:
    """Policies, the check and batch forms, and candidates to confirm."""
    actor = require_staff(request)
    return page(request, "workbench/eligibility.html", _context(db, actor))


@router.post("/workbench/eligibility/check", response_class=HTMLResponse)
def check(request: Request, rule_set: str = Form(..., max_length=60),
          subject: str = Form(..., max_length=40), db: Session = Depends(web_db)
          ) -> Response:
    """一键核对 of one subject: the explanation per rule, or why it was refused."""
    actor = require_staff(request)
    error: DomainError | None = None
    result: single.Explanation | None = None
    try:
        outcome = service.check(db_session=db, settings=request.app.state.settings,
                                actor=actor, code=rule_set, identifier=subject)
        if isinstance(outcome, service.Refused):
            error = outcome.error()
            db.commit()  # the refused read stays logged
        else:
            result = outcome
    except DomainError as exc:
        error = exc
    ctx = _context(db, actor, result=result, error=error, subject=subject, chosen=rule_set)
    return page(request, "workbench/eligibility.html", ctx,
                status=error.status if error else 200)


@router.post("/workbench/eligibility/batch")
async def batch(request: Request, rule_set: str = Form(..., max_length=60),
                file: UploadFile = File(...), db: Session = Depends(web_db)) -> Response:
    """A file of applicants in, the result file back (or the rows and fields at fault)."""
    from fastapi.concurrency import run_in_threadpool

    actor = require_staff(request)
    data, name = await file.read(), file.filename or "applicants.csv"

    def work() -> Response:
        try:
            result = batches.check_file(db_session=db, settings=request.app.state.settings,
                                        actor=actor, code=rule_set, data=data, filename=name)
        except DomainError as exc:
            db.rollback()
            return page(request, "workbench/eligibility.html",
                        _context(db, actor, error=exc, chosen=rule_set), status=exc.status)
        if isinstance(result, service.Refused):
            db.commit()
            return page(request, "workbench/eligibility.html",
                        _context(db, actor, error=result.error(), chosen=rule_set),
                        status=403)
        db.commit()
        kind = "xlsx" if result.format == "xlsx" else "csv"
        media = ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
                 if kind == "xlsx" else "text/csv; charset=utf-8")
        return Response(result.to_bytes(), media_type=media, headers={
            "Content-Disposition": f'attachment; filename="{rule_set}-result.{kind}"'})

    return await run_in_threadpool(work)


@router.post("/workbench/eligibility/qualifications/{qualification_id}")
def decide(request: Request, qualification_id: uuid.UUID,
           decision: str = Form(..., pattern="^(confirm|decline)$"),
           reason: str = Form("", max_length=500), db: Session = Depends(web_db)) -> Response:
    """二次确认 from the page: confirm (the case opens) or decline with a reason."""
    actor = require_staff(request)
    proactive.decide(db_session=db, settings=request.app.state.settings, actor=actor,
                     qualification_id=qualification_id, confirm=decision == "confirm",
                     reason=reason)
    db.commit()
    return RedirectResponse("/workbench/eligibility#qualifications", status_code=303)


@router.get("/my/policies", response_class=HTMLResponse)
def my_policies(request: Request, db: Session = Depends(web_db)) -> Response:
    """我可享受的政策: what the screening found I qualify for, and what was done."""
    actor = require_actor(request)
    rows = proactive.mine(db_session=db, actor=actor)
    names = {r.code: r.name for r in service.list_rule_sets(db_session=db)}
    modes = {r.code: r.mode for r in service.list_rule_sets(db_session=db)}
    return page(request, "portal/my_policies.html", {
        "rows": rows, "names": names, "modes": modes, "STATE_LABELS": STATE_LABELS,
        "MODE_LABELS": MODE_LABELS, "dumps": json.dumps})
