"""Applying online: the form from the JSON Schema, uploads, review, submit.

Every step works on a draft (web.models.Draft) whose key travels in the page; the key is
also the idempotency key of the submission, so a double-clicked submit makes one case.
When the session expires mid-form, what was typed is saved to the draft first and the
applicant is sent to log in and back to the same draft.

An agent applies for the principal they act for (agent.py); one who acts for nobody is
sent to choose first. Materials a valid e-licence of the applicant (or principal) covers
are shown as 免提交 with that licence: the case engine attaches it at submit (一证通办).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from tongban.cases import service as cases
from tongban.cases.blobs import disk_store
from tongban.catalog import service as catalog
from tongban.catalog.schemas import GuidePage
from tongban.errors import DomainError, InvalidInput
from tongban.identity.actor import Actor
from tongban.web import forms, issuing
from tongban.web import service as web
from tongban.web.agent import ActingFor
from tongban.web.models import Draft
from tongban.web.portal import NO_SUBMIT_SOURCES
from tongban.web.render import WebRoute, login_redirect, page, require_actor, web_db
from tongban.web.routes import web_context

router = APIRouter(route_class=WebRoute, include_in_schema=False,
                   dependencies=[Depends(web_context)])

DRAFT_FIELD = "_draft"


def _ctx(guide_page: GuidePage, draft: Draft, step: str, **more: Any) -> dict[str, Any]:
    return {"g": guide_page, "draft": draft, "step": step,
            "fields": forms.fields_of(guide_page.form_schema),
            "NO_SUBMIT_SOURCES": NO_SUBMIT_SOURCES, **more}


def _uploads(guide_page: GuidePage) -> list[Any]:
    return [m for m in guide_page.guide.materials if m.source == "upload"]


def _draft_for(db: Session, actor: Actor, code: str, key: str | None) -> Draft:
    return web.open_draft(db_session=db, actor=actor, implementation_code=code, key=key or None)


def _choose_principal_first(request: Request, actor: Actor, code: str) -> Response | None:
    """An agent who is no applicant themself must pick a principal before applying."""
    acting: ActingFor | None = request.state.acting
    if actor.has("agent") and acting is None and not actor.has("applicant"):
        return RedirectResponse(f"/agent/principals?next={quote('/apply/' + code)}",
                                status_code=303)
    return None


def _held(request: Request, db: Session, actor: Actor, guide_page: GuidePage
          ) -> dict[str, Any]:
    """一证通办: material code -> the valid licence of the applicant (or the principal the
    agent acts for) that the engine will attach instead of an upload."""
    acting: ActingFor | None = request.state.acting
    person_id, enterprise_id = ((acting.person_id, acting.enterprise_id) if acting
                                else (actor.person_id, actor.enterprise_id))
    held = {}
    for m in guide_page.guide.materials:
        licence = issuing.held_for_material(db_session=db, material=m, person_id=person_id,
                                            enterprise_id=enterprise_id)
        if licence is not None:
            held[m.code] = licence
    return held


@router.get("/apply/{code}", response_class=HTMLResponse)
def form_page(request: Request, code: str, draft: str = "",
              db: Session = Depends(web_db)) -> Response:
    """Step 1: the application form, filled with the draft if there is one."""
    actor = require_actor(request)
    if (choose := _choose_principal_first(request, actor, code)) is not None:
        return choose
    guide_page = catalog.guide(db_session=db, implementation_code=code)
    the_draft = _draft_for(db, actor, code, draft)
    db.commit()
    return page(request, "portal/apply_form.html", _ctx(
        guide_page, the_draft, "form", raw=the_draft.form or {}, errors={}))


@router.post("/apply/{code}", response_class=HTMLResponse)
async def form_submit(request: Request, code: str, db: Session = Depends(web_db)) -> Response:
    """Check the form field by field; keep what was typed; go on to the uploads."""
    posted = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    key = posted.pop(DRAFT_FIELD, "")
    action = posted.pop("_go", "next")
    actor: Actor | None = request.state.actor
    guide_page = catalog.guide(db_session=db, implementation_code=code)
    parsed = forms.parse(guide_page.form_schema, posted)
    if actor is None:
        if not key:
            return login_redirect(request, f"/apply/{code}")
        web.save_form(db_session=db, key=key, form=parsed.raw, actor=None)
        db.commit()
        return login_redirect(request, f"/apply/{code}?draft={quote(key)}")
    the_draft = web.save_form(db_session=db, key=key, form=parsed.raw, actor=actor)
    db.commit()
    if action == "save":
        return page(request, "portal/apply_form.html", _ctx(
            guide_page, the_draft, "form", raw=parsed.raw, errors={}, saved=True))
    if not parsed.ok:
        return page(request, "portal/apply_form.html", _ctx(
            guide_page, the_draft, "form", raw=parsed.raw, errors=parsed.errors), status=422)
    return RedirectResponse(f"/apply/{code}/materials?draft={quote(key)}", status_code=303)


@router.get("/apply/{code}/materials", response_class=HTMLResponse)
def materials_page(request: Request, code: str, draft: str,
                   db: Session = Depends(web_db)) -> Response:
    """Step 2: one upload per material; 免提交 materials are fetched, not uploaded."""
    actor = require_actor(request)
    guide_page = catalog.guide(db_session=db, implementation_code=code)
    the_draft = web.get_draft(db_session=db, key=draft, actor=actor)
    return page(request, "portal/apply_materials.html", _ctx(
        guide_page, the_draft, "materials", upload_errors={},
        held=_held(request, db, actor, guide_page)))


def _read_capped(upload: UploadFile, max_bytes: int) -> bytes:
    """At most one byte more than the limit, so an oversized file is never read whole."""
    return upload.file.read(max_bytes + 1)


@router.post("/apply/{code}/materials/{material_code}", response_class=HTMLResponse)
def upload_material(request: Request, code: str, material_code: str,
                    draft: str = Form(...), file: UploadFile = File(...),
                    db: Session = Depends(web_db)) -> Response:
    """Store one uploaded material (checked for size and type) on the draft."""
    actor = require_actor(request)
    guide_page = catalog.guide(db_session=db, implementation_code=code)
    the_draft = web.get_draft(db_session=db, key=draft, actor=actor)
    settings = request.app.state.settings
    if material_code not in {m.code for m in _uploads(guide_page)}:
        raise InvalidInput("办事指南中没有该上传材料 / no such material",
                           details={"field": "material_code"})
    try:
        blob = disk_store(settings.var_dir, settings.max_upload_bytes).put(
            _read_capped(file, settings.max_upload_bytes))
    except DomainError as exc:
        db.rollback()
        return page(request, "portal/apply_materials.html", _ctx(
            guide_page, the_draft, "materials", upload_errors={material_code: exc.message},
            held=_held(request, db, actor, guide_page)), status=exc.status)
    web.attach_material(db_session=db, draft=the_draft, code=material_code, stored={
        "sha256": blob.sha256, "size": blob.size, "content_type": blob.content_type,
        "filename": (file.filename or "file")[:255]})
    db.commit()
    return RedirectResponse(f"/apply/{code}/materials?draft={quote(draft)}", status_code=303)


@router.get("/apply/{code}/review", response_class=HTMLResponse)
def review_page(request: Request, code: str, draft: str,
                db: Session = Depends(web_db)) -> Response:
    """Step 3: everything once more, and the one button that submits."""
    actor = require_actor(request)
    guide_page = catalog.guide(db_session=db, implementation_code=code)
    the_draft = web.get_draft(db_session=db, key=draft, actor=actor)
    parsed = forms.parse(guide_page.form_schema, the_draft.form or {})
    missing = [m.name for m in _uploads(guide_page)
               if m.required and m.code not in (the_draft.materials or {})]
    return page(request, "portal/apply_review.html", _ctx(
        guide_page, the_draft, "review", raw=parsed.raw, errors=parsed.errors,
        missing=missing, held=_held(request, db, actor, guide_page)))


@router.post("/apply/{code}/submit")
def submit(request: Request, code: str, draft: str = Form(...),
           db: Session = Depends(web_db)) -> Response:
    """Submit through the case service with the draft key as idempotency key, then hand
    over the uploaded materials; pressing twice yields the same case."""
    actor = require_actor(request)
    the_draft = web.get_draft(db_session=db, key=draft, actor=actor, for_update=True)
    if the_draft.case_number:
        return RedirectResponse(f"/my/cases/{the_draft.case_number}", status_code=303)
    guide_page = catalog.guide(db_session=db, implementation_code=code)
    parsed = forms.parse(guide_page.form_schema, the_draft.form or {})
    if not parsed.ok:
        return RedirectResponse(f"/apply/{code}?draft={quote(draft)}", status_code=303)
    settings = request.app.state.settings
    acting: ActingFor | None = request.state.acting
    case = cases.submit(db_session=db, settings=settings, actor=actor, form_data=parsed.data,
                        channel="online", implementation_code=code, idempotency_key=draft,
                        applicant=acting.applicant() if acting else None)
    store = disk_store(settings.var_dir, settings.max_upload_bytes)
    for material_code, info in (the_draft.materials or {}).items():
        cases.attach_material(db_session=db, settings=settings, actor=actor,
                              case_number=case.number, material_code=material_code,
                              filename=info.get("filename", "file"),
                              data=store.get(info["sha256"]), store=store)
    web.mark_submitted(db_session=db, draft=the_draft, case_number=case.number)
    db.commit()
    return RedirectResponse(f"/my/cases/{case.number}?submitted=1", status_code=303)
