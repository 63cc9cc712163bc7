"""My licences (with the sealed PDF and a QR code) and the public verification page."""

from __future__ import annotations

from urllib.parse import quote

import segno
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from tongban.errors import InvalidInput
from tongban.licences import service as licences
from tongban.licences import verify as verification
from tongban.web.render import WebRoute, page, require_actor, web_db
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
        try:
            result = verification.verify(db_session=db, settings=request.app.state.settings,
                                         qr_payload=text)
        except InvalidInput as exc:
            db.rollback()
            error = exc.message
    return page(request, "portal/verify.html", {
        "identifier": text, "result": result, "error": error,
        "STATUS_LABELS": STATUS_LABELS}, status=422 if error else 200)
