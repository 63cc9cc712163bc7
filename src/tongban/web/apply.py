"""Applying online: the form from the JSON Schema, uploads, review, submit.

Every step works on a draft (web.models.Draft) whose key travels in the page; the key is
also the idempotency key of the submission, so a double-clicked submit makes one case.
When the session expires mid-form, what was typed is saved to the draft first and the
applicant is sent to log in and back to the same draft.

An agent applies for the principal they act for (agent.py); one who acts for nobody is
sent to choose first. Materials a valid e-licence of the applicant (or principal) covers
are shown as 免提交 with that licence: the case engine attaches it at submit (一证通办).
A material that names a dataset (source shared_data) is fetched from the registry when
the applicant asks, shown to them first (OOTS preview), and kept or declined: kept, it is
attached to the case at submit (sharing.nofill.attach); declined, its answer is purged
and they upload the document. Every other material is uploaded.

An item the federation registry says another node handles is filed there (全程网办) or
refused before anything is written (web.elsewhere); its materials are all uploaded.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from tongban.cases import own_identity
from tongban.cases import service as cases
from tongban.cases.blobs import blob_store
from tongban.catalog import service as catalog
from tongban.catalog.schemas import GuidePage
from tongban.errors import DomainError, InvalidInput
from tongban.identity.actor import Actor
from tongban.sharing import nofill
from tongban.web import case_view, forms, issuing
from tongban.web import service as web
from tongban.web.agent import ActingFor
from tongban.web.elsewhere import Elsewhere, forward_draft, handled_elsewhere, refuse_unless_online
from tongban.web.models import Draft
from tongban.web.portal import NO_SUBMIT_SOURCES, SHARED_SOURCES
from tongban.web.render import POSTED, WebRoute, login_redirect, page, require_actor, web_db
from tongban.web.routes import web_context

router = APIRouter(route_class=WebRoute, include_in_schema=False,
                   dependencies=[Depends(web_context)])

DRAFT_FIELD = "_draft"


def _ctx(guide_page: GuidePage, draft: Draft, step: str, elsewhere: Elsewhere | None,
         **more: Any) -> dict[str, Any]:
    return {"g": guide_page, "draft": draft, "step": step, "fetch_errors": {},
            "elsewhere": elsewhere,
            "fields": forms.fields_of(guide_page.form_schema),
            "NO_SUBMIT_SOURCES": NO_SUBMIT_SOURCES, "SHARED_SOURCES": SHARED_SOURCES,
            **more}


def _uploads(guide_page: GuidePage, held: dict[str, Any]) -> list[Any]:
    """The materials the applicant may upload: all but those a held e-licence covers
    (shared data may be uploaded instead of fetched)."""
    return [m for m in guide_page.guide.materials
            if m.source in cases.UPLOADABLE_SOURCES and m.code not in held]


def _fetch_id(draft: Draft, material_code: str) -> uuid.UUID | None:
    info = (draft.materials or {}).get(material_code) or {}
    return uuid.UUID(info["fetch_id"]) if "fetch_id" in info else None


def _fetched(request: Request, db: Session, actor: Actor, draft: Draft
             ) -> dict[str, nofill.Preview]:
    """免提交: material code -> the fetch on the draft, as the applicant previews it."""
    out = {}
    for code in (draft.materials or {}):
        fetch_id = _fetch_id(draft, code)
        if fetch_id is not None:
            out[code] = nofill.preview_of(db_session=db, settings=request.app.state.settings,
                                          actor=actor, fetch_id=fetch_id)
    return out


def _supplied(draft: Draft, code: str) -> bool:
    """Is the material on the draft: uploaded, or fetched and kept after the preview?"""
    info = (draft.materials or {}).get(code) or {}
    return "sha256" in info or bool(info.get("kept"))


def _guide(request: Request, db: Session, code: str) -> tuple[GuidePage, Elsewhere | None]:
    """The guide, and the other node that handles it if any; an item applied for at
    a window only is refused here, before any step writes anything."""
    guide_page = catalog.guide(db_session=db, implementation_code=code)
    elsewhere = handled_elsewhere(db_session=db, settings=request.app.state.settings,
                                  guide_page=guide_page)
    refuse_unless_online(elsewhere)
    return guide_page, elsewhere


def _materials_page(request: Request, db: Session, actor: Actor, guide_page: GuidePage,
                    draft: Draft, elsewhere: Elsewhere | None, *, status: int = 200,
                    **more: Any) -> Response:
    ctx = _ctx(guide_page, draft, "materials", elsewhere, upload_errors={},
               held=_held(request, db, actor, guide_page, elsewhere),
               fetched=_fetched(request, db, actor, draft))
    ctx.update(more)
    return page(request, "portal/apply_materials.html", ctx, status=status)


def _draft_for(db: Session, actor: Actor, code: str, key: str | None) -> Draft:
    return web.open_draft(db_session=db, actor=actor, implementation_code=code, key=key or None)


def _choose_principal_first(request: Request, actor: Actor, code: str) -> Response | None:
    """An agent who is no applicant themself must pick a principal before applying."""
    acting: ActingFor | None = request.state.acting
    if actor.has("agent") and acting is None and not actor.has("applicant"):
        return RedirectResponse(f"/agent/principals?next={quote('/apply/' + code)}",
                                status_code=303)
    return None


def _held(request: Request, db: Session, actor: Actor, guide_page: GuidePage,
          elsewhere: Elsewhere | None) -> dict[str, Any]:
    """一证通办: material code -> the valid licence of the applicant (or the principal the
    agent acts for) that the engine will attach instead of an upload (none when another
    node handles the item: it cannot use this node's licences)."""
    if elsewhere is not None:
        return {}
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
    guide_page, elsewhere = _guide(request, db, code)
    the_draft = _draft_for(db, actor, code, draft)
    db.commit()
    person_id, enterprise_id = _applicant_of(request, actor)
    own = own_identity.prefill(db_session=db, settings=request.app.state.settings,
                               schema=guide_page.form_schema, person_id=person_id,
                               enterprise_id=enterprise_id)
    return page(request, "portal/apply_form.html", _ctx(
        guide_page, the_draft, "form", elsewhere, raw={**own, **(the_draft.form or {})},
        errors={}))


def _applicant_of(request: Request, actor: Actor) -> tuple[Any, Any]:
    """The person or enterprise applied for: the principal an agent acts for, else self."""
    acting: ActingFor | None = request.state.acting
    if acting is not None:
        return acting.person_id, acting.enterprise_id
    return actor.person_id, actor.enterprise_id


def _not_own(request: Request, db: Session, actor: Actor, schema: dict[str, Any],
             data: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    """The identity fields that are not the applicant's own, with their Chinese error (as
    forms.parse gives errors: a message to translate and its parameters)."""
    person_id, enterprise_id = _applicant_of(request, actor)
    try:
        own_identity.check(db_session=db, settings=request.app.state.settings, schema=schema,
                           form_data=data, person_id=person_id, enterprise_id=enterprise_id)
    except InvalidInput as exc:
        return {str(d["field"]).removeprefix("form_data."):
                (str(d["message"]).split(" / ")[0], {})
                for d in exc.details if isinstance(d, dict)}
    return {}


@router.post("/apply/{code}", response_class=HTMLResponse)
def form_submit(request: Request, code: str, db: Session = Depends(web_db),
                form: FormData = POSTED) -> Response:
    """Check the form field by field; keep what was typed; go on to the uploads."""
    posted = {k: v for k, v in form.items() if isinstance(v, str)}
    key = posted.pop(DRAFT_FIELD, "")
    action = posted.pop("_go", "next")
    actor: Actor | None = request.state.actor
    guide_page, elsewhere = _guide(request, db, code)
    parsed = forms.parse(guide_page.form_schema, posted)
    if actor is None:
        if not key:
            return login_redirect(request, f"/apply/{code}")
        web.save_form(db_session=db, key=key, form=parsed.raw, actor=None)
        db.commit()
        return login_redirect(request, f"/apply/{code}?draft={quote(key)}", saved=True)
    the_draft = web.save_form(db_session=db, key=key, form=parsed.raw, actor=actor)
    db.commit()
    if action == "save":
        return page(request, "portal/apply_form.html", _ctx(
            guide_page, the_draft, "form", elsewhere, raw=parsed.raw, errors={}, saved=True))
    errors = parsed.errors if not parsed.ok else _not_own(
        request, db, actor, guide_page.form_schema, parsed.data)
    if errors:
        return page(request, "portal/apply_form.html", _ctx(
            guide_page, the_draft, "form", elsewhere, raw=parsed.raw, errors=errors),
            status=422)
    return RedirectResponse(f"/apply/{code}/materials?draft={quote(key)}", status_code=303)


@router.get("/apply/{code}/materials", response_class=HTMLResponse)
def materials_page(request: Request, code: str, draft: str,
                   db: Session = Depends(web_db)) -> Response:
    """Step 2: one upload per material; 免提交 materials are fetched, not uploaded."""
    actor = require_actor(request)
    guide_page, elsewhere = _guide(request, db, code)
    the_draft = web.get_draft(db_session=db, key=draft, actor=actor)
    return _materials_page(request, db, actor, guide_page, the_draft, elsewhere)


def _read_capped(upload: UploadFile, max_bytes: int) -> bytes:
    """At most one byte more than the limit, so an oversized file is never read whole."""
    return upload.file.read(max_bytes + 1)


@router.post("/apply/{code}/materials/{material_code}", response_class=HTMLResponse)
def upload_material(request: Request, code: str, material_code: str,
                    draft: str = Form(...), file: UploadFile = File(...),
                    db: Session = Depends(web_db)) -> Response:
    """Store one uploaded material (checked for size and type) on the draft."""
    actor = require_actor(request)
    guide_page, elsewhere = _guide(request, db, code)
    the_draft = web.get_draft(db_session=db, key=draft, actor=actor)
    settings = request.app.state.settings
    held = _held(request, db, actor, guide_page, elsewhere)
    if material_code not in {m.code for m in _uploads(guide_page, held)}:
        raise InvalidInput("办事指南中没有该上传材料 / no such material",
                           details={"field": "material_code"})
    try:
        blob = blob_store(settings).put(
            _read_capped(file, settings.max_upload_bytes))
    except DomainError as exc:
        db.rollback()
        return _materials_page(request, db, actor, guide_page, the_draft, elsewhere,
                               status=exc.status, upload_errors={material_code: exc.message})
    _decline_fetch(db, actor, the_draft, material_code)  # an upload replaces a fetch
    web.attach_material(db_session=db, draft=the_draft, code=material_code, stored={
        "sha256": blob.sha256, "size": blob.size, "content_type": blob.content_type,
        "filename": (file.filename or "file")[:255]})
    db.commit()
    return RedirectResponse(f"/apply/{code}/materials?draft={quote(draft)}", status_code=303)


def _shared_material(request: Request, db: Session, code: str, material_code: str
                     ) -> GuidePage:
    """The guide, if it names this shared-data material and this node handles the item
    (another node cannot use this node's shared data: the applicant uploads it)."""
    guide_page, elsewhere = _guide(request, db, code)
    if elsewhere is not None:
        raise InvalidInput("该事项由外地办理，无法使用本地共享数据，请上传材料 / another "
                           "region handles this item and cannot use this node's shared "
                           "data: upload the document",
                           details=[{"field": "material_code", "message": material_code}])
    found = next((m for m in guide_page.guide.materials
                  if m.code == material_code and m.source == "shared_data"), None)
    if found is None:
        raise InvalidInput("办事指南中没有该共享数据材料 / no such shared-data material",
                           details=[{"field": "material_code", "message": material_code}])
    return guide_page


def _decline_fetch(db: Session, actor: Actor, draft: Draft, material_code: str) -> None:
    """Purge the answer of the material's fetch (if any) and take it off the draft."""
    fetch_id = _fetch_id(draft, material_code)
    if fetch_id is not None:
        nofill.decline(db_session=db, actor=actor, fetch_id=fetch_id)
        web.detach_material(db_session=db, draft=draft, code=material_code)


@router.post("/apply/{code}/fetch/{material_code}", response_class=HTMLResponse)
def fetch_material(request: Request, code: str, material_code: str, draft: str = Form(...),
                   db: Session = Depends(web_db)) -> Response:
    """免提交: the applicant's explicit request to fetch the material from the registry;
    shown to them before anything is attached. A refusal (no grant, not in the catalog)
    is logged and shown, and they upload instead."""
    actor = require_actor(request)
    guide_page = _shared_material(request, db, code, material_code)
    the_draft = web.get_draft(db_session=db, key=draft, actor=actor)
    _decline_fetch(db, actor, the_draft, material_code)
    preview = nofill.fetch(db_session=db, settings=request.app.state.settings, actor=actor,
                           implementation_code=code, material_code=material_code)
    if preview.fetch is not None:
        web.attach_material(db_session=db, draft=the_draft, code=material_code,
                            stored={"fetch_id": str(preview.fetch.id), "kept": False})
    db.commit()  # the read (or its refusal) is logged either way
    if preview.fetch is None:
        return _materials_page(request, db, actor, guide_page, the_draft, None, fetch_errors={
            material_code: preview.refused_message or ""})
    return RedirectResponse(f"/apply/{code}/materials?draft={quote(draft)}#m-{material_code}",
                            status_code=303)


@router.post("/apply/{code}/fetch/{material_code}/{decision}")
def decide_fetch(request: Request, code: str, material_code: str, decision: str,
                 draft: str = Form(...), db: Session = Depends(web_db)) -> Response:
    """Keep the previewed data as the material, or decline it (then upload)."""
    actor = require_actor(request)
    _shared_material(request, db, code, material_code)
    the_draft = web.get_draft(db_session=db, key=draft, actor=actor)
    if _fetch_id(the_draft, material_code) is None or decision not in ("keep", "decline"):
        raise InvalidInput("没有待确认的共享数据 / nothing fetched to decide on",
                           details=[{"field": "material_code", "message": material_code}])
    if decision == "keep":
        web.attach_material(db_session=db, draft=the_draft, code=material_code, stored={
            **the_draft.materials[material_code], "kept": True})
    else:
        _decline_fetch(db, actor, the_draft, material_code)
    db.commit()
    return RedirectResponse(f"/apply/{code}/materials?draft={quote(draft)}#m-{material_code}",
                            status_code=303)


@router.get("/apply/{code}/review", response_class=HTMLResponse)
def review_page(request: Request, code: str, draft: str,
                db: Session = Depends(web_db)) -> Response:
    """Step 3: everything once more, and the one button that submits."""
    return _review(request, db, code, draft)


def _review(request: Request, db: Session, code: str, draft: str, *, status: int = 200,
            error: DomainError | None = None) -> Response:
    actor = require_actor(request)
    guide_page, elsewhere = _guide(request, db, code)
    the_draft = web.get_draft(db_session=db, key=draft, actor=actor)
    parsed = forms.parse(guide_page.form_schema, the_draft.form or {})
    held = _held(request, db, actor, guide_page, elsewhere)
    missing = [m.name for m in _uploads(guide_page, held)
               if m.required and not _supplied(the_draft, m.code)]
    return page(request, "portal/apply_review.html", _ctx(
        guide_page, the_draft, "review", elsewhere, raw=parsed.raw, errors=parsed.errors,
        missing=missing, held=held, fetched=_fetched(request, db, actor, the_draft),
        error=error, error_lines=case_view.error_lines(error) if error else []),
        status=status)


@router.post("/apply/{code}/submit")
def submit(request: Request, code: str, draft: str = Form(...),
           db: Session = Depends(web_db)) -> Response:
    """Submit through the case service with the draft key as idempotency key, then hand
    over the uploaded materials; pressing twice yields the same case."""
    actor = require_actor(request)
    the_draft = web.get_draft(db_session=db, key=draft, actor=actor, for_update=True)
    if the_draft.case_number:
        return RedirectResponse(f"/my/cases/{the_draft.case_number}", status_code=303)
    if the_draft.forwarded_case_id:
        return RedirectResponse(f"/my/forwarded/{the_draft.forwarded_case_id}",
                                status_code=303)
    guide_page, elsewhere = _guide(request, db, code)
    parsed = forms.parse(guide_page.form_schema, the_draft.form or {})
    if not parsed.ok:
        return RedirectResponse(f"/apply/{code}?draft={quote(draft)}", status_code=303)
    if elsewhere is not None:
        return _submit_elsewhere(request, db, actor, the_draft, parsed.data)
    settings = request.app.state.settings
    acting: ActingFor | None = request.state.acting
    case = cases.submit(db_session=db, settings=settings, actor=actor, form_data=parsed.data,
                        channel="online", implementation_code=code, idempotency_key=draft,
                        applicant=acting.applicant() if acting else None)
    store = blob_store(settings)
    for material_code, info in (the_draft.materials or {}).items():
        if "fetch_id" in info:  # 免提交: kept after the preview, else purged now
            fetch_id = uuid.UUID(info["fetch_id"])
            if info.get("kept"):
                nofill.attach(db_session=db, settings=settings, actor=actor,
                              fetch_id=fetch_id, case_number=case.number)
            else:
                nofill.decline(db_session=db, actor=actor, fetch_id=fetch_id)
            continue
        cases.attach_material(db_session=db, settings=settings, actor=actor,
                              case_number=case.number, material_code=material_code,
                              filename=info.get("filename", "file"),
                              data=store.get(info["sha256"]), store=store)
    web.mark_submitted(db_session=db, draft=the_draft, case_number=case.number)
    db.commit()
    return RedirectResponse(f"/my/cases/{case.number}?submitted=1", status_code=303)


def _submit_elsewhere(request: Request, db: Session, actor: Actor, the_draft: Draft,
                      form_data: dict[str, Any]) -> Response:
    """全程网办: the draft goes to the node that handles the item; its page at home
    (/my/forwarded) follows it there. A refusal shows on the review page, nothing sent."""
    settings = request.app.state.settings
    code, key = the_draft.implementation_code, the_draft.key
    try:
        out = forward_draft(db_session=db, settings=settings, actor=actor, draft=the_draft,
                            form_data=form_data, store=blob_store(settings),
                            acting=request.state.acting)
    except DomainError as exc:
        db.rollback()
        return _review(request, db, code, key, status=exc.status, error=exc)
    web.mark_forwarded(db_session=db, draft=the_draft, forwarded_case_id=out.id)
    db.commit()
    return RedirectResponse(f"/my/forwarded/{out.id}?submitted=1", status_code=303)
