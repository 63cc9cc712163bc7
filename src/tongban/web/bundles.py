"""一件事 (bundles) in the UI: one merged form for all member items, then the bundle case
page with its tasks (one per department, each a normal case with its own clock) and the
materials uploaded once for every task that needs them.

The bundles service decides everything (merged form, which tasks start, the deny rule);
this module renders its merged schema with forms.py and shows what it returns.
"""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter, Depends, File, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from tongban.bundles import service as bundles
from tongban.cases import service as cases
from tongban.errors import DomainError
from tongban.web import case_view, forms
from tongban.web.agent import ActingFor
from tongban.web.render import POSTED, WebRoute, page, require_actor, web_db
from tongban.web.routes import web_context

router = APIRouter(route_class=WebRoute, include_in_schema=False,
                   dependencies=[Depends(web_context)])

TASK_STATUS = {"pending": "待启动", "started": "办理中", "skipped": "已跳过"}


def _region(request: Request) -> str | None:
    region = getattr(request.state, "region", None)
    return region.code if region else None


@router.get("/bundles", response_class=HTMLResponse)
def bundle_list(request: Request, db: Session = Depends(web_db)) -> Response:
    """一件事一次办: the published bundles of the chosen region."""
    rows = bundles.list_bundles(db_session=db, region=_region(request))
    return page(request, "portal/bundles.html", {"rows": rows})


def _apply_page(request: Request, view: bundles.BundleView, *, raw: dict[str, str],
                errors: dict[str, Any], key: str, status: int = 200,
                error: DomainError | None = None) -> Response:
    return page(request, "portal/bundle_apply.html", {
        "view": view, "fields": forms.fields_of(view.merged.schema), "raw": raw,
        "errors": errors, "key": key, "error": error,
        "error_lines": case_view.error_lines(error) if error else []}, status=status)


@router.get("/bundles/{code}", response_class=HTMLResponse)
def bundle_page(request: Request, code: str, db: Session = Depends(web_db)) -> Response:
    """A bundle: its members, the materials asked once, and the one merged form."""
    view = bundles.get_bundle(db_session=db, bundle_code=code)
    return _apply_page(request, view, raw={}, errors={}, key=secrets.token_urlsafe(24))


@router.post("/bundles/{code}", response_class=HTMLResponse)
def bundle_apply(request: Request, code: str, db: Session = Depends(web_db),
                 form: FormData = POSTED) -> Response:
    """Apply once for every member (the key makes a double click one bundle case)."""
    actor = require_actor(request)
    view = bundles.get_bundle(db_session=db, bundle_code=code)
    posted = {k: v for k, v in form.items() if isinstance(v, str)}
    key = posted.pop("_key", "") or secrets.token_urlsafe(24)
    parsed = forms.parse(view.merged.schema, posted)
    if not parsed.ok:
        return _apply_page(request, view, raw=parsed.raw, errors=parsed.errors, key=key,
                           status=422)
    acting: ActingFor | None = request.state.acting
    try:
        case = bundles.apply(db_session=db, settings=request.app.state.settings, actor=actor,
                             bundle_code=code, form_data=parsed.data, channel="online",
                             applicant=acting.applicant() if acting else None,
                             idempotency_key=key)
    except DomainError as exc:
        db.rollback()
        return _apply_page(request, view, raw=parsed.raw, errors={}, key=key,
                           status=exc.status, error=exc)
    db.commit()
    return RedirectResponse(f"/my/bundles/{case.number}?submitted=1", status_code=303)


def _case_context(db: Session, actor: Any, number: str) -> dict[str, Any]:
    found = bundles.get_case(db_session=db, actor=actor, case_number=number)
    have = {m.material_code: m for m in found.materials}
    return {"found": found, "detail": found.detail, "case": found.detail.case,
            "view": found.view, "tasks": found.tasks, "have": have,
            "uploads": [m for m in found.view.merged.materials
                        if m.source in cases.UPLOADABLE_SOURCES
                        and found.licence_for(m.code) is None],
            "TASK_STATUS": TASK_STATUS, "STATE_LABELS": case_view.STATE_LABELS,
            "ACTION_LABELS": case_view.ACTION_LABELS, "upload_errors": {}}


@router.get("/my/bundles/{number}", response_class=HTMLResponse)
def my_bundle(request: Request, number: str, db: Session = Depends(web_db)) -> Response:
    """The applicant's bundle case: overall state, each task, shared materials."""
    actor = require_actor(request)
    ctx = _case_context(db, actor, number)
    ctx["submitted"] = request.query_params.get("submitted") == "1"
    return page(request, "portal/bundle_case.html", {**ctx, "staff_view": False})


@router.post("/my/bundles/{number}/materials/{material_code}", response_class=HTMLResponse)
def bundle_upload(request: Request, number: str, material_code: str,
                  file: UploadFile = File(...), db: Session = Depends(web_db)) -> Response:
    """Upload a material once; every task that lists it receives it."""
    actor = require_actor(request)
    refused = case_view.attach_upload(db=db, settings=request.app.state.settings, actor=actor,
                                      number=number, material_code=material_code, file=file,
                                      attach=bundles.attach_material)
    if refused is not None:
        ctx = _case_context(db, actor, number)
        ctx["upload_errors"] = {material_code: refused.message}
        return page(request, "portal/bundle_case.html", {**ctx, "staff_view": False},
                    status=refused.status)
    return RedirectResponse(f"/my/bundles/{number}", status_code=303)


@router.get("/workbench/bundles/{number}", response_class=HTMLResponse)
def staff_bundle(request: Request, number: str, db: Session = Depends(web_db)) -> Response:
    """Staff see a bundle case with its tasks, each linking to its own case page."""
    from tongban.web.workbench import require_staff

    actor = require_staff(request)
    return page(request, "portal/bundle_case.html",
                {**_case_context(db, actor, number), "staff_view": True})
