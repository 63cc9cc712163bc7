"""12345 pages: the complainant files and follows a ticket on the portal and judges the
reply; the 12345 agency and the departments work tickets on the workbench.

Everything is decided by tongban.supervision.complaints; these routes only turn forms
into calls and refusals into the page again with the reason, nothing typed lost.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from tongban.catalog import service as catalog
from tongban.errors import DomainError
from tongban.supervision.complaints import service as complaints
from tongban.supervision.complaints.workflow import (
    ACTION_LABELS,
    RETURN_REASONS,
    STATE_LABELS,
    TRANSITIONS,
)
from tongban.web.case_view import error_lines
from tongban.web.render import POSTED, WebRoute, page, require_actor, web_db
from tongban.web.routes import web_context

router = APIRouter(route_class=WebRoute, include_in_schema=False,
                   dependencies=[Depends(web_context)])

EVENT_LABELS = {**ACTION_LABELS, "file": "提交诉求", "deadline": "重新计算期限"}
LABELS: dict[str, Any] = {"STATE_LABELS": STATE_LABELS, "ACTION_LABELS": ACTION_LABELS,
                          "EVENT_LABELS": EVENT_LABELS,
                          "RETURN_REASONS": RETURN_REASONS, "CHANNELS": complaints.CHANNELS}
FIELDS = ("category", "subject", "body", "region_code", "case_number")


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _error(error: DomainError | None) -> dict[str, Any]:
    return {"error": error, "error_lines": error_lines(error) if error else []}


# --- the complainant (portal) -------------------------------------------------------------


@router.get("/my/complaints", response_class=HTMLResponse)
def my_complaints(request: Request, db: Session = Depends(web_db)) -> Response:
    """The complainant's tickets, the nearest deadline first."""
    actor = require_actor(request)
    rows = complaints.list_for(db_session=db, actor=actor)
    return page(request, "portal/complaints.html", {"rows": rows, **LABELS})


def _new_page(request: Request, db: Session, values: dict[str, str], *, status: int = 200,
              error: DomainError | None = None) -> Response:
    return page(request, "portal/complaint_new.html", {
        "values": values, "categories": complaints.categories(db_session=db),
        **_error(error), **LABELS}, status=status)


@router.get("/my/complaints/new", response_class=HTMLResponse)
def new_complaint(request: Request, case: str = "", db: Session = Depends(web_db)) -> Response:
    """The form of a new ticket (about a case when one is named)."""
    require_actor(request)
    region = getattr(request.state, "region", None)
    return _new_page(request, db, {"case_number": case,
                                   "region_code": region.code if region else ""})


@router.post("/my/complaints", response_class=HTMLResponse)
def file_complaint(request: Request, db: Session = Depends(web_db),
                   form: FormData = POSTED) -> Response:
    """File the ticket; a refusal shows the form again as typed, with the reason."""
    actor = require_actor(request)
    values = {name: _text(form, name) for name in FIELDS}
    try:
        view = complaints.file(
            db_session=db, actor=actor, category=values["category"],
            subject=values["subject"], body=values["body"],
            region_code=values["region_code"] or None,
            case_number=values["case_number"] or None)
    except DomainError as exc:
        db.rollback()
        return _new_page(request, db, values, status=exc.status, error=exc)
    db.commit()
    return RedirectResponse(f"/my/complaints/{view.complaint.number}", status_code=303)


def _ticket_page(request: Request, db: Session, number: str, template: str, *,
                 status: int = 200, error: DomainError | None = None) -> Response:
    actor = require_actor(request)
    view = complaints.get(db_session=db, actor=actor, number=number)
    needs = {a: sorted(TRANSITIONS[(view.complaint.state, a)].needs)
             for a in view.allowed_actions}
    extra: dict[str, Any] = {}
    if template.startswith("workbench") and any(
            "department_id" in n for n in needs.values()):
        extra["departments"], _ = catalog.list_departments(
            db_session=db, region_code=view.complaint.region_code[:4] + "00", limit=100)
    if "merge" in view.allowed_actions:
        extra["duplicates"] = complaints.duplicates(db_session=db, actor=actor, number=number)
    return page(request, template, {"view": view, "needs": needs, **extra, **_error(error),
                                    **LABELS}, status=status)


@router.get("/my/complaints/{number}", response_class=HTMLResponse)
def my_complaint(request: Request, number: str, db: Session = Depends(web_db)) -> Response:
    """One ticket as its complainant follows it: where it is, the reply, the verdict."""
    return _ticket_page(request, db, number, "portal/complaint.html")


def _act(request: Request, db: Session, number: str, action: str, form: FormData,
         template: str, back: str) -> Response:
    actor = require_actor(request)
    try:
        complaints.act(db_session=db, actor=actor, number=number, action=action,
                       department_id=_text(form, "department_id") or None,
                       reason_code=_text(form, "reason_code") or None,
                       reason=_text(form, "reason"), reply=_text(form, "reply"),
                       into=_text(form, "into") or None)
    except DomainError as exc:
        db.rollback()
        return _ticket_page(request, db, number, template, status=exc.status, error=exc)
    db.commit()
    return RedirectResponse(back, status_code=303)


@router.post("/my/complaints/{number}/act/{action}", response_class=HTMLResponse)
def my_verdict(request: Request, number: str, action: str, db: Session = Depends(web_db),
               form: FormData = POSTED) -> Response:
    """The complainant's verdict on the reply (满意 closes it; 不满意 sends it back)."""
    return _act(request, db, number, action, form, "portal/complaint.html",
                f"/my/complaints/{number}")


# --- the agency and the departments (workbench) --------------------------------------------


@router.get("/workbench/complaints", response_class=HTMLResponse)
def queue(request: Request, state: str = "", db: Session = Depends(web_db)) -> Response:
    """The tickets in the viewer's scope, the nearest deadline first."""
    actor = require_actor(request)
    rows = complaints.list_for(db_session=db, actor=actor, state=state or None)
    return page(request, "workbench/complaints.html", {"rows": rows, "state": state,
                                                       **LABELS})


@router.get("/workbench/complaints/{number}", response_class=HTMLResponse)
def ticket(request: Request, number: str, db: Session = Depends(web_db)) -> Response:
    """One ticket with the steps open to the viewer (派单, 退单, 改派, 答复, 并单)."""
    return _ticket_page(request, db, number, "workbench/complaint.html")


@router.post("/workbench/complaints/{number}/act/{action}", response_class=HTMLResponse)
def act(request: Request, number: str, action: str, db: Session = Depends(web_db),
        form: FormData = POSTED) -> Response:
    """Take one step of the ticket."""
    return _act(request, db, number, action, form, "workbench/complaint.html",
                f"/workbench/complaints/{number}")
