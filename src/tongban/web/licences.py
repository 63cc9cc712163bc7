"""My licences (with the sealed PDF and a QR code), the public verification page, and the
staff licence desk (look-up, history, 补领/换领)."""

from __future__ import annotations

from urllib.parse import quote

import segno
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from tongban.errors import DomainError, InvalidInput
from tongban.identity.actor import Actor
from tongban.licences import service as licences
from tongban.licences import verify as verification
from tongban.node import ratelimit
from tongban.web.render import POSTED, WebRoute, page, require_actor, web_db
from tongban.web.routes import web_context

router = APIRouter(route_class=WebRoute, include_in_schema=False,
                   dependencies=[Depends(web_context)])

STATUS_LABELS = {"01": "有效", "02": "暂扣", "03": "撤销", "04": "注销", "05": "失效",
                 "07": "吊销"}


def _qr_svg(url: str) -> str:
    """The verification URL as an inline SVG QR code (no image request, no script)."""
    return str(segno.make(url, error="m").svg_inline(scale=3, dark="#1b1b1b"))


@router.get("/my/licences", response_class=HTMLResponse)
def my_licences(request: Request, db: Session = Depends(web_db)) -> Response:
    """The signed-in holder's licences, each with its PDF and a QR to verify it."""
    actor = require_actor(request)
    settings = request.app.state.settings
    rows = []
    for licence in licences.list_mine(db_session=db, actor=actor):
        url = licences.verification_url(settings, licence.identifier)
        rows.append({"licence": licence, "type_name": licences.get_type(
            db_session=db, code=licence.type_code).name, "qr": _qr_svg(url), "url": url})
    return page(request, "portal/my_licences.html", {"rows": rows,
                                                     "STATUS_LABELS": STATUS_LABELS})


@router.get("/my/licences/{identifier}", response_class=HTMLResponse)
def licence_page(request: Request, identifier: str, db: Session = Depends(web_db)) -> Response:
    """One licence for its holder: what it says, its status, the QR, PDF and verification."""
    actor = require_actor(request)
    settings = request.app.state.settings
    licence = licences.view_licence(db_session=db, actor=actor, identifier=identifier)
    licence_type = licences.get_type(db_session=db, code=licence.type_code)
    titles = {k: v.get("title", k) for k, v in
              licence_type.field_schema.get("properties", {}).items()}
    url = licences.verification_url(settings, licence.identifier)
    return page(request, "portal/licence.html", {
        "licence": licence, "type_name": licence_type.name, "url": url, "qr": _qr_svg(url),
        "field_rows": [(titles.get(k, k), "、".join(map(str, v)) if isinstance(v, list) else v)
                       for k, v in (licence.fields or {}).items()],
        "issuer": licence.document.get("issuer", {}), "STATUS_LABELS": STATUS_LABELS})


@router.get("/my/licences/{identifier}/pdf")
def licence_pdf(request: Request, identifier: str, db: Session = Depends(web_db)) -> Response:
    """The licence's sealed PDF (PAdES), for its holder."""
    actor = require_actor(request)
    content = licences.licence_pdf(db_session=db, settings=request.app.state.settings,
                                   actor=actor, identifier=identifier)
    db.commit()
    return Response(content, media_type="application/pdf", headers={
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(identifier)}.pdf",
        "Cache-Control": "private, no-store"})


@router.get("/verify", response_class=HTMLResponse)
@router.get("/licences/verify", response_class=HTMLResponse)
def verify_page(request: Request, identifier: str = "",
                db: Session = Depends(web_db)) -> Response:
    """Public: anyone (no login) checks a licence by its identifier or scanned QR text."""
    result, error = None, None
    text = identifier.strip()
    if text:
        ratelimit.limiter_of(request).hit("licence_verify", ratelimit.source_of(request))
        try:
            result = verification.verify(db_session=db, settings=request.app.state.settings,
                                         qr_payload=text)
        except InvalidInput as exc:
            db.rollback()
            error = exc.message
    return page(request, "portal/verify.html", {
        "identifier": text, "result": result, "error": error,
        "STATUS_LABELS": STATUS_LABELS}, status=422 if error else 200)


# --- the licence desk (staff): look a licence up, see its history, 补领/换领 ---------------

REPLACEMENT_KINDS = {"reissue": "补领(遗失、损毁)", "renewal": "换领(到期、信息变更)"}


def require_staff(request: Request) -> Actor:
    """The signed-in staff member (the workbench's rule), else 403."""
    from tongban.web.workbench import require_staff as staff_only

    return staff_only(request)


def _desk(request: Request, db: Session, identifier: str, *, error: DomainError | None = None,
          kept: dict[str, str] | None = None, status: int = 200) -> Response:
    """The desk page: the look-up form and, for a licence in the caller's scope, what it
    says, its status history and the replacement form."""
    actor = require_staff(request)
    found = history = None
    if identifier:
        try:
            found, history = licences.view_with_history(db_session=db, actor=actor,
                                                        identifier=identifier)
        except DomainError as exc:
            error, status = exc, exc.status
    return page(request, "workbench/licence_desk.html", {
        "identifier": identifier, "licence": found, "history": history or [],
        "type_name": licences.get_type(db_session=db, code=found.type_code).name
        if found is not None else "", "error": error, "kept": kept or {},
        "STATUS_LABELS": STATUS_LABELS, "REPLACEMENT_KINDS": REPLACEMENT_KINDS,
        "may_replace": found is not None and found.status == "01" and not found.imported
        and actor.has("clerk", "reviewer", "supervisor")}, status=status)


@router.get("/workbench/licences", response_class=HTMLResponse)
def licence_desk(request: Request, identifier: str = "",
                 db: Session = Depends(web_db)) -> Response:
    """Staff: a licence of their department by its identifier, with its history."""
    return _desk(request, db, identifier.strip())


@router.post("/workbench/licences/{identifier}/replace", response_class=HTMLResponse)
def replace_licence(request: Request, identifier: str, db: Session = Depends(web_db),
                    form: FormData = POSTED) -> Response:
    """补领/换领 at the desk: the new licence's page, or the form again with the reason."""
    actor = require_staff(request)
    kept = {k: str(form.get(k) or "") for k in ("kind", "reason")}
    try:
        new = licences.replace(db_session=db, settings=request.app.state.settings,
                               actor=actor, identifier=identifier, kind=kept["kind"],
                               reason=kept["reason"])
    except DomainError as exc:
        db.rollback()
        return _desk(request, db, identifier, error=exc, kept=kept, status=exc.status)
    db.commit()
    return RedirectResponse(f"/workbench/licences?identifier={quote(new.identifier)}",
                            status_code=303)
