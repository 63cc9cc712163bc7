"""The 工作台 workbench for staff: the queue, the case page with the actions allowed now,
and one-window intake (一窗受理) for walk-in applicants."""

from __future__ import annotations

import secrets
import uuid
from datetime import date
from typing import Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from tongban.cases import service as cases
from tongban.cases.schemas import ApplicantIn
from tongban.catalog import service as catalog
from tongban.errors import DomainError, Forbidden, InvalidInput
from tongban.identity import service as identity
from tongban.identity.actor import Actor
from tongban.sharing import nofill
from tongban.web import case_view, forms, issuing
from tongban.web.render import POSTED, WebRoute, page, require_actor, web_db
from tongban.web.routes import web_context

router = APIRouter(route_class=WebRoute, include_in_schema=False,
                   dependencies=[Depends(web_context)])

PAGE_SIZE = 50
WARNING_FILTERS = {"": "全部", "yellow": "黄牌", "red": "红牌", "none": "正常"}
# "" is the 待办 queue (cases still in handling), "finished" the 已办结 ones, "all" both.
STATE_FILTERS = ("", "pre_review", "submitted", "supplement_requested", "accepted", "paused",
                 "supplement_in_process", "approved_on_commitment", "approved", "denied",
                 "finished", "all")
QUEUE_VIEWS = {"": False, "finished": True, "all": None}
VIEW_LABELS = {"": "待办(办理中)", "finished": "已办结", "all": "全部"}
VIEW_TITLES = {"": "待办件", "finished": "已办结", "all": "全部办件"}


def require_staff(request: Request, *roles: str) -> Actor:
    """The signed-in staff member (holding one of `roles` if given), else 403."""
    actor = require_actor(request)
    if not actor.is_staff or (roles and not actor.has(*roles)):
        raise Forbidden("仅限工作人员 / staff only",
                        details={"required_roles": list(roles) or ["staff"]})
    return actor


@router.get("/workbench", response_class=HTMLResponse)
def queue(request: Request, state: str = "", warning: str = "", sort: str = "due",
          cursor: str | None = None, db: Session = Depends(web_db)) -> Response:
    """Cases in the staff member's scope, with deadline marks, filters and keyset pages."""
    actor = require_staff(request)
    view = state if state in QUEUE_VIEWS else None
    filters = cases.CaseFilters(state=None if view is not None else state,
                                warning_level=warning or None,
                                finished=QUEUE_VIEWS.get(state) if view is not None else None)
    order = "due" if sort == "due" else "new"
    rows, next_cursor = cases.list_cases(db_session=db, actor=actor, filters=filters,
                                         cursor=cursor, limit=PAGE_SIZE, order=order)
    return page(request, "workbench/queue.html", {
        "rows": rows, "next_cursor": next_cursor, "state": state, "warning": warning,
        "sort": sort, "WARNING_FILTERS": WARNING_FILTERS, "STATE_FILTERS": STATE_FILTERS,
        "VIEW_LABELS": VIEW_LABELS, "VIEW_TITLES": VIEW_TITLES,
        "STATE_LABELS": case_view.STATE_LABELS}, )


def _case_page(request: Request, db: Session, number: str, *, status: int = 200,
               error: DomainError | None = None, upload_errors: dict[str, str] | None = None,
               licence: dict[str, Any] | None = None,
               revealed: dict[str, str] | None = None,
               fetch_errors: dict[str, str] | None = None) -> Response:
    """The case page; `licence` keeps what was typed into a licence form, and its errors;
    `revealed` the masked values just shown in full."""
    actor = require_staff(request)
    ctx = case_view.detail_context(db_session=db, actor=actor, case_number=number)
    ctx.update(error=error, revealed=revealed or {},
               error_lines=case_view.error_lines(error) if error else [],
               upload_errors=upload_errors or {}, today=date.today().isoformat(),
               licence_form=issuing.licence_form(db_session=db, case=ctx["case"]),
               ISSUING_ACTIONS=issuing.issuing_actions(ctx["case"]),
               LICENCE_PREFIX=issuing.PREFIX,
               attached=issuing.verify_attached(db_session=db,
                                                settings=request.app.state.settings,
                                                materials=ctx["detail"].materials),
               licence={"action": None, "raw": {}, "errors": {}, **(licence or {})},
               fetched=nofill.fetched_for_case(db_session=db,
                                               settings=request.app.state.settings,
                                               actor=actor, case_number=number),
               window_fetches=_window_fetches(request, db, actor, ctx["case"]),
               fetch_errors=fetch_errors or {})
    return page(request, "workbench/case.html", ctx, status=status)


def _window_fetches(request: Request, db: Session, actor: Actor, case: Any
                    ) -> dict[str, nofill.Preview] | None:
    """一窗受理: the clerk's fetches of this window case waiting for the applicant's
    decision, by material (None when the clerk may not fetch for this case)."""
    if case.channel != "window" or not actor.has(*nofill.WINDOW_ROLES) or \
            case.state not in cases.MATERIAL_STATES:
        return None
    return {p.material_code: p for p in nofill.open_at_window(
        db_session=db, settings=request.app.state.settings, actor=actor,
        case_number=case.number)}


def _licence_fields(db: Session, actor: Actor, number: str, action: str, form: Any
                    ) -> tuple[issuing.LicenceForm | None, forms.ParsedForm | None]:
    """The licence fields an issuing action's form completes, parsed against the type."""
    case = cases.get(db_session=db, actor=actor, case_number=number).case
    if action not in issuing.issuing_actions(case):
        return None, None
    spec = issuing.licence_form(db_session=db, case=case)
    if spec is None or not spec.fields:
        return spec, None
    return spec, forms.parse(spec.schema, issuing.posted_fields(form, spec, action))


@router.get("/workbench/cases/{number}", response_class=HTMLResponse)
def case_page(request: Request, number: str, db: Session = Depends(web_db)) -> Response:
    """Form data, materials with preview, history, and the actions allowed now."""
    return _case_page(request, db, number)


@router.post("/workbench/cases/{number}/reveal", response_class=HTMLResponse)
def reveal(request: Request, number: str, field: str = Form(""), purpose: str = Form(""),
           db: Session = Depends(web_db)) -> Response:
    """One masked form value in full, with the purpose stated: an audited act."""
    actor = require_staff(request)
    try:
        value = cases.reveal_form_field(db_session=db, settings=request.app.state.settings,
                                        actor=actor, case_number=number, field_name=field,
                                        purpose=purpose)
    except DomainError as exc:
        db.rollback()
        return _case_page(request, db, number, status=exc.status, error=exc)
    db.commit()
    return _case_page(request, db, number, revealed={field: value})


@router.post("/workbench/cases/{number}/act/{action}", response_class=HTMLResponse)
def act(request: Request, number: str, action: str, db: Session = Depends(web_db),
        form: FormData = POSTED) -> Response:
    """Take one action through the case service; errors come back on the case page."""
    actor = require_staff(request)
    spec, parsed = _licence_fields(db, actor, number, action, form)
    kept = {"action": action, "raw": parsed.raw if parsed else {}, "errors": {}}
    if parsed is not None and not parsed.ok:
        return _case_page(request, db, number, status=422, licence={
            **kept, "errors": parsed.errors}, error=InvalidInput(
                "请补全证照信息 / complete the licence fields"))
    try:
        reason, data = case_view.action_payload(action, form)
        if parsed is not None:
            data["licence_fields"] = parsed.data
        version = form.get("expected_version")
        cases.act(db_session=db, settings=request.app.state.settings, actor=actor,
                  case_number=number, action=action, reason=reason, data=data,
                  expected_version=int(version) if isinstance(version, str)
                  and version.isdigit() else None)
    except DomainError as exc:
        db.rollback()
        errors = issuing.errors_from(exc, spec) if spec is not None else {}
        return _case_page(request, db, number, status=exc.status, error=exc,
                          licence={**kept, "errors": errors})
    db.commit()
    return RedirectResponse(f"/workbench/cases/{number}", status_code=303)


@router.post("/workbench/cases/{number}/materials/{material_code}",
             response_class=HTMLResponse)
def upload(request: Request, number: str, material_code: str, file: UploadFile = File(...),
           db: Session = Depends(web_db)) -> Response:
    """A window clerk adds a material the applicant brought."""
    refused = case_view.attach_upload(db=db, settings=request.app.state.settings,
                                      actor=require_staff(request, "clerk"), number=number,
                                      material_code=material_code, file=file)
    if refused is not None:
        return _case_page(request, db, number, status=refused.status,
                          upload_errors={material_code: refused.message})
    return RedirectResponse(f"/workbench/cases/{number}", status_code=303)


@router.post("/workbench/cases/{number}/fetch/{material_code}", response_class=HTMLResponse)
def window_fetch(request: Request, number: str, material_code: str,
                 applicant_agrees: str = Form(""), db: Session = Depends(web_db)) -> Response:
    """一窗受理 免提交: the clerk fetches the walk-in applicant's shared-data material
    (the applicant present and agreeing) and shows them the preview; a refusal is
    logged and shown, and the clerk scans the paper instead."""
    actor = require_staff(request, "clerk")
    try:
        preview = nofill.fetch_at_window(
            db_session=db, settings=request.app.state.settings, actor=actor,
            case_number=number, material_code=material_code,
            applicant_agrees=applicant_agrees == "yes")
    except DomainError as exc:
        db.rollback()
        return _case_page(request, db, number, status=exc.status,
                          fetch_errors={material_code: exc.message})
    db.commit()  # the read (or its refusal) is logged either way
    if preview.fetch is None:
        return _case_page(request, db, number, status=403 if preview.refused !=
                          "not_in_catalog" else 409,
                          fetch_errors={material_code: preview.refused_message or ""})
    return RedirectResponse(f"/workbench/cases/{number}#m-{material_code}", status_code=303)


@router.post("/workbench/cases/{number}/fetch/{material_code}/{decision}",
             response_class=HTMLResponse)
def window_fetch_decision(request: Request, number: str, material_code: str, decision: str,
                          fetch_id: uuid.UUID = Form(...),
                          db: Session = Depends(web_db)) -> Response:
    """The applicant, shown the preview, keeps the data (it becomes the case's material)
    or declines it (purged; the clerk scans the paper instead)."""
    actor = require_staff(request, "clerk")
    try:
        if decision == "keep":
            nofill.attach(db_session=db, settings=request.app.state.settings, actor=actor,
                          fetch_id=fetch_id, case_number=number)
        elif decision == "decline":
            nofill.decline(db_session=db, actor=actor, fetch_id=fetch_id)
        else:
            raise InvalidInput("只能使用或不使用 / keep or decline",
                               details=[{"field": "decision", "message": decision}])
    except DomainError as exc:
        db.rollback()
        return _case_page(request, db, number, status=exc.status,
                          fetch_errors={material_code: exc.message})
    db.commit()
    return RedirectResponse(f"/workbench/cases/{number}#m-{material_code}", status_code=303)


# --- one window ------------------------------------------------------------------------


def _home_region(actor: Actor) -> str | None:
    return actor.scopes[0].region_code if actor.scopes else None


@router.get("/workbench/intake", response_class=HTMLResponse)
def intake(request: Request) -> Response:
    """一窗受理: look up the walk-in applicant by ID number."""
    require_staff(request, "clerk")
    return page(request, "workbench/intake.html", {"person": None, "id_number": "",
                                                   "error": None, "hits": []})


@router.post("/workbench/intake", response_class=HTMLResponse)
def intake_lookup(request: Request, id_number: str = Form(""), q: str = Form(""),
                  db: Session = Depends(web_db)) -> Response:
    """Find the person (audited: a read of personal data for a purpose) and the items
    this window can accept."""
    actor = require_staff(request, "clerk")
    ctx: dict[str, Any] = {"person": None, "id_number": id_number, "error": None, "hits": [],
                           "q": q}
    try:
        person = identity.lookup_person(
            db_session=db, settings=request.app.state.settings, actor=actor,
            id_number=id_number.strip(), purpose="一窗受理 / window intake")
    except InvalidInput as exc:
        return page(request, "workbench/intake.html", {**ctx, "error": exc.message},
                    status=422)
    db.commit()  # the look-up's audit entry stays, found or not
    if person is None:
        return page(request, "workbench/intake.html", {**ctx, "error": "未找到此人"},
                    status=404)
    hits = catalog.search(db_session=db, q=q or None, region_code=_home_region(actor),
                          limit=20).items
    from tongban.web.forwarding import forward_hits
    from tongban.web.joint import KIND_NAMES

    elsewhere = forward_hits(db_session=db, settings=request.app.state.settings, q=q)
    # The full number is not echoed back: the page shows the masked one only.
    return page(request, "workbench/intake.html", {
        **ctx, "person": person, "hits": hits, "id_number": "", "elsewhere": elsewhere,
        "joint_kinds": KIND_NAMES if elsewhere is not None else None})


@router.get("/workbench/intake/{code}", response_class=HTMLResponse)
def intake_form(request: Request, code: str, person: uuid.UUID,
                db: Session = Depends(web_db)) -> Response:
    """The item's form, filled in by the clerk with the applicant."""
    require_staff(request, "clerk")
    guide_page = catalog.guide(db_session=db, implementation_code=code)
    who = identity.get_person(db_session=db, person_id=person)
    return page(request, "workbench/intake_form.html", {
        "g": guide_page, "person": who, "fields": forms.fields_of(guide_page.form_schema),
        "raw": {}, "errors": {}, "key": secrets.token_urlsafe(24)})


@router.post("/workbench/intake/{code}", response_class=HTMLResponse)
def intake_submit(request: Request, code: str, db: Session = Depends(web_db),
                  form: FormData = POSTED) -> Response:
    """Start the case at the window (channel `window`, applicant = the walk-in person)."""
    actor = require_staff(request, "clerk")
    posted = {k: v for k, v in form.items() if isinstance(v, str)}
    key, person_id = posted.pop("_key", ""), posted.pop("_person", "")
    guide_page = catalog.guide(db_session=db, implementation_code=code)
    who = identity.get_person(db_session=db, person_id=uuid.UUID(person_id))
    parsed = forms.parse(guide_page.form_schema, posted)
    if not parsed.ok:
        return page(request, "workbench/intake_form.html", {
            "g": guide_page, "person": who, "fields": forms.fields_of(guide_page.form_schema),
            "raw": parsed.raw, "errors": parsed.errors, "key": key}, status=422)
    case = cases.submit(db_session=db, settings=request.app.state.settings, actor=actor,
                        form_data=parsed.data, channel="window", implementation_code=code,
                        applicant=ApplicantIn(person_id=who.id), idempotency_key=key or None)
    db.commit()
    return RedirectResponse(f"/workbench/cases/{case.number}", status_code=303)
