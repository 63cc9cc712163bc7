"""My cases (我的办件): the list, the case page with its timeline, supplements, withdraw,
rating, and material downloads (shared with staff, who see them on the workbench)."""

from __future__ import annotations

import uuid
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from tongban.cases import service as cases
from tongban.errors import DomainError, InvalidInput, NotFound
from tongban.federation.modes import MODE_LABEL
from tongban.supervision.ratings import content as rating_content
from tongban.supervision.ratings import service as ratings
from tongban.web import case_view, issuing, my_forwarded
from tongban.web.forwarding import FORWARD_STATES
from tongban.web.licences import STATUS_LABELS
from tongban.web.render import POSTED, WebRoute, page, require_actor, web_db
from tongban.web.routes import web_context

router = APIRouter(route_class=WebRoute, include_in_schema=False,
                   dependencies=[Depends(web_context)])

PAGE_SIZE = 20
INLINE_TYPES = ("image/png", "image/jpeg", "application/pdf")


@router.get("/my/cases", response_class=HTMLResponse)
def my_cases(request: Request, cursor: str | None = None,
             db: Session = Depends(web_db)) -> Response:
    """The applicant's cases, newest first, one keyset page at a time."""
    actor = require_actor(request)
    rows, next_cursor = cases.list_cases(db_session=db, actor=actor,
                                         filters=cases.CaseFilters(), cursor=cursor,
                                         limit=PAGE_SIZE)
    forwarded = [] if cursor else my_forwarded.own_forwarded(
        db_session=db, settings=request.app.state.settings, actor=actor)
    return page(request, "portal/my_cases.html", {
        "rows": rows, "next_cursor": next_cursor, "forwarded": forwarded,
        "MODE_LABEL": MODE_LABEL, "for_principal": {
            fc.id for fc in forwarded if fc.agent_authorisation_id is not None
            and fc.applicant_person_id != actor.person_id},
        "STATE_LABELS": {**case_view.STATE_LABELS, **FORWARD_STATES}})


def _case_page(request: Request, db: Session, number: str, *, status: int = 200,
               error: DomainError | None = None, upload_errors: dict[str, str] | None = None,
               ) -> Response:
    actor = require_actor(request)
    ctx = case_view.detail_context(db_session=db, actor=actor, case_number=number)
    ctx.update(error=error, error_lines=case_view.error_lines(error) if error else [],
               upload_errors=upload_errors or {},
               submitted=request.query_params.get("submitted") == "1",
               issued=issuing.issued_for(db_session=db, actor=actor, case_id=ctx["case"].id),
               LICENCE_STATUS=STATUS_LABELS)
    return page(request, "portal/my_case.html", ctx, status=status)


@router.get("/my/cases/{number}", response_class=HTMLResponse)
def my_case(request: Request, number: str, db: Session = Depends(web_db)) -> Response:
    """One case: status, timeline of every event, deadline, what is asked of me."""
    return _case_page(request, db, number)


@router.post("/my/cases/{number}/materials/{material_code}", response_class=HTMLResponse)
def upload_supplement(request: Request, number: str, material_code: str,
                      file: UploadFile = File(...), db: Session = Depends(web_db)) -> Response:
    """Upload a material to the case (answering a supplement notice)."""
    refused = case_view.attach_upload(db=db, settings=request.app.state.settings,
                                      actor=require_actor(request), number=number,
                                      material_code=material_code, file=file)
    if refused is not None:
        return _case_page(request, db, number, status=refused.status,
                          upload_errors={material_code: refused.message})
    return RedirectResponse(f"/my/cases/{number}#supplement", status_code=303)


@router.post("/my/cases/{number}/act/{action}", response_class=HTMLResponse)
def applicant_act(request: Request, number: str, action: str,
                  db: Session = Depends(web_db), form: FormData = POSTED) -> Response:
    """The applicant's own acts: supply (answer the notice) and withdraw."""
    actor = require_actor(request)
    if action not in case_view.APPLICANT_ACTIONS:
        raise InvalidInput("不支持的操作 / unsupported action", details={"action": action})
    reason, data = case_view.action_payload(action, form)
    try:
        cases.act(db_session=db, settings=request.app.state.settings, actor=actor,
                  case_number=number, action=action, reason=reason, data=data)
    except DomainError as exc:
        db.rollback()
        return _case_page(request, db, number, status=exc.status, error=exc)
    db.commit()
    return RedirectResponse(f"/my/cases/{number}", status_code=303)


def _level(form: FormData, name: str) -> int | None:
    raw = form.get(name)
    return int(raw) if isinstance(raw, str) and raw.isdigit() else None


@router.post("/my/cases/{number}/rate", response_class=HTMLResponse)
def rate(request: Request, number: str, db: Session = Depends(web_db),
         form: FormData = POSTED) -> Response:
    """好差评: rate a finished case once (一事一评) on the five levels, with the
    indicators the applicant chose to answer and an optional comment."""
    actor = require_actor(request)
    indicators = {code: level for code in rating_content.ONLINE_INDICATORS
                  if (level := _level(form, f"ind_{code}")) is not None}
    comment = form.get("comment")
    try:
        ratings.rate(db_session=db, actor=actor, case_number=number, channel="online",
                     level=_level(form, "score") or 0, indicators=indicators,
                     comment=comment if isinstance(comment, str) else "")
    except DomainError as exc:
        db.rollback()
        return _case_page(request, db, number, status=exc.status, error=exc)
    db.commit()
    return RedirectResponse(f"/my/cases/{number}#rating", status_code=303)


@router.post("/my/cases/{number}/rating/{action}", response_class=HTMLResponse)
def rating_verdict(request: Request, number: str, action: str,
                   db: Session = Depends(web_db), form: FormData = POSTED) -> Response:
    """The rater's verdict on the return visit: satisfied (closes it) or not (back to
    rectification, with what is still wrong)."""
    actor = require_actor(request)
    if action not in ("accept", "reject"):
        raise InvalidInput("不支持的操作 / unsupported action", details={"action": action})
    found = ratings.case_rating(db_session=db, actor=actor, case_number=number)
    if found is None:
        raise NotFound("评价不存在 / no such rating", details={"case_number": number})
    reason = form.get("reason")
    try:
        ratings.act(db_session=db, actor=actor, rating_id=found.rating.id, action=action,
                    reason=reason if isinstance(reason, str) else None)
    except DomainError as exc:
        db.rollback()
        return _case_page(request, db, number, status=exc.status, error=exc)
    db.commit()
    return RedirectResponse(f"/my/cases/{number}#rating", status_code=303)


@router.get("/cases/{number}/materials/{material_id}")
def material(request: Request, number: str, material_id: uuid.UUID,
             download: int = 0, db: Session = Depends(web_db)) -> Response:
    """A material's file for anyone who may see the case; images and PDFs inline."""
    actor = require_actor(request)
    item, data = cases.material_content(db_session=db, settings=request.app.state.settings,
                                        actor=actor, case_number=number,
                                        material_id=material_id)
    ctype = item.content_type or "application/octet-stream"
    disposition = "inline" if ctype in INLINE_TYPES and not download else "attachment"
    filename = quote(item.filename or "file")
    return Response(data, media_type=ctype, headers={
        "Content-Disposition": f"{disposition}; filename*=UTF-8''{filename}",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'",
        "Cache-Control": "private, no-store"})
