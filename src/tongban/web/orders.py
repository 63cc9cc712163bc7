"""督查督办 pages: a supervisor's queue of escalated warnings and open orders, one case's
orders with the forms of 督办 and 纠错, and the department's orders to answer."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from tongban.calendar.service import now_local_date
from tongban.cases import service as cases
from tongban.errors import DomainError, InvalidInput
from tongban.supervision.warnings import service as warnings
from tongban.web.case_view import error_lines
from tongban.web.render import POSTED, WebRoute, page, require_actor, web_db
from tongban.web.routes import web_context

router = APIRouter(route_class=WebRoute, include_in_schema=False,
                   dependencies=[Depends(web_context)])

LABELS: dict[str, Any] = {
    "LEVEL_LABELS": warnings.LEVEL_LABELS, "KINDS": warnings.KINDS,
    "ORDER_STATES": warnings.ORDER_STATES, "ORDER_ACTIONS": warnings.ORDER_ACTION_LABELS,
    "AUDIENCES": {"department_head": "部门负责人", "supervisor": "监督人员"},
}


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


@router.get("/supervision/queue", response_class=HTMLResponse)
def queue(request: Request, db: Session = Depends(web_db)) -> Response:
    """预警督办: warnings escalated to me, and the orders open in my scope."""
    actor = require_actor(request)
    return page(request, "workbench/supervision_queue.html", {
        "escalated": warnings.escalated_to(db_session=db, actor=actor),
        "orders": warnings.orders(db_session=db, actor=actor, state="open"),
        "today": now_local_date(), "overdue": warnings.overdue, **LABELS})


@router.get("/workbench/orders", response_class=HTMLResponse)
def my_orders(request: Request, db: Session = Depends(web_db)) -> Response:
    """The orders my department must answer (and those answered, awaiting the supervisor)."""
    actor = require_actor(request)
    return page(request, "workbench/orders.html", {
        "orders": warnings.orders(db_session=db, actor=actor), "today": now_local_date(),
        "overdue": warnings.overdue, **LABELS})


def _case_page(request: Request, db: Session, number: str, *, status: int = 200,
               error: DomainError | None = None, values: dict[str, str] | None = None
               ) -> Response:
    actor = require_actor(request)
    case = cases.get(db_session=db, actor=actor, case_number=number).case
    found = warnings.orders(db_session=db, actor=actor, case_number=number)
    steps = {o.id: [a for (s, a), (_, role) in warnings.ORDER_TRANSITIONS.items()
                    if s == o.state and warnings.ORDER_ROLES[role](actor, o)] for o in found}
    may_issue = warnings.is_region_supervisor(actor, case.region_code) or warnings.is_head(
        actor, case.department_id, case.region_code)
    return page(request, "workbench/case_orders.html", {
        "case": case, "orders": found, "steps": steps, "may_issue": may_issue,
        "events": {o.id: warnings.events_of(db_session=db, subject_id=o.id) for o in found},
        "error": error, "error_lines": error_lines(error) if error else [],
        "values": values or {}, "today": now_local_date(), "overdue": warnings.overdue,
        **LABELS}, status=status)


@router.get("/supervision/cases/{number}/orders", response_class=HTMLResponse)
def case_orders(request: Request, number: str, db: Session = Depends(web_db)) -> Response:
    """One case's orders, with the forms the viewer may use."""
    return _case_page(request, db, number)


@router.post("/supervision/cases/{number}/orders", response_class=HTMLResponse)
def issue(request: Request, number: str, db: Session = Depends(web_db),
          form: FormData = POSTED) -> Response:
    """Issue a 督办 or 纠错; a refusal shows the form again as typed."""
    actor = require_actor(request)
    values = {k: _text(form, k) for k in ("kind", "text", "days")}
    try:
        if values["days"] and not values["days"].isdigit():
            raise InvalidInput("期限须为整数个工作日 / days must be a whole number",
                               details={"field": "days", "value": values["days"]})
        warnings.issue(db_session=db, actor=actor, case_number=number, kind=values["kind"],
                       text=values["text"],
                       days=int(values["days"]) if values["days"] else None)
    except DomainError as exc:
        db.rollback()
        return _case_page(request, db, number, status=exc.status, error=exc, values=values)
    db.commit()
    return RedirectResponse(f"/supervision/cases/{number}/orders", status_code=303)


@router.post("/supervision/orders/{order_id}/act/{action}", response_class=HTMLResponse)
def act(request: Request, order_id: uuid.UUID, action: str, db: Session = Depends(web_db),
        form: FormData = POSTED) -> Response:
    """Answer, close or send back an order; back to its case's orders."""
    actor = require_actor(request)
    number = _text(form, "case_number")
    try:
        order = warnings.act_on_order(db_session=db, actor=actor, order_id=order_id,
                                      action=action, text=_text(form, "text"))
    except DomainError as exc:
        db.rollback()
        if not number:
            raise
        return _case_page(request, db, number, status=exc.status, error=exc)
    db.commit()
    return RedirectResponse(f"/supervision/cases/{order.case_number}/orders",
                            status_code=303)
