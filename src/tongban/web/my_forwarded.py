"""The applicant's own applications handled in another region (全程网办 from this home
node), in 我的办件 (an agent's too: those they filed for a principal, answered for them
while an authorisation holds): the mirrored progress, the handling region's 补正 notice
with a file field for each material it asks for, and 撤回申请 with a reason. Both go to the handling
node as envelopes (federation.supplements); until it answers, the page says the request
was sent and offers nothing to send twice. A request it refused comes back with its
reason, and the applicant may try again.

The receiving window answers for the applicant in 异地代收 (its own forwarded-case page):
here the applicant of such a case only reads its progress.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from tongban.errors import DomainError, InvalidInput
from tongban.federation import modes, supplements
from tongban.federation.schemas import ForwardedCaseOut, WithdrawIn
from tongban.identity.actor import Actor
from tongban.web import case_view, forms
from tongban.web.corrections import asked_schema, corrected_form, guide_of
from tongban.web.forwarding import FORWARD_STATES, event_label, posted_supply, region_names
from tongban.web.render import POSTED, WebRoute, page, require_actor, web_db
from tongban.web.routes import web_context

router = APIRouter(route_class=WebRoute, include_in_schema=False,
                   dependencies=[Depends(web_context)])

# What the applicant may do here, by mode: answer and withdraw their online application.
APPLICANT_MODES = frozenset({"fully_online", "joint"})


def own_forwarded(*, db_session: Session, settings: Any, actor: Actor
                  ) -> list[ForwardedCaseOut]:
    """The signed-in person's own applications handled elsewhere, and an agent's for
    their principals (for 我的办件)."""
    return modes.list_forwarded(db_session=db_session, settings=settings, actor=actor,
                                own=True, limit=50)


def _posted_fields(posted: FormData, asked: dict[str, Any]) -> dict[str, Any]:
    """The asked fields as posted (`fd_<name>`; an array field's checkboxes as a list)."""
    return {name: (posted.getlist(f"fd_{name}") if spec.get("type") == "array"
                   else posted.get(f"fd_{name}", ""))
            for name, spec in asked["properties"].items()}


def _last_refusal(fc: ForwardedCaseOut) -> dict[str, Any] | None:
    """The handling node's latest refusal of a request sent from here, unless something
    was sent again after it."""
    for event in reversed(fc.events):
        if event.action in ("supplied_here", "withdrawal_sent"):
            return None
        if event.action == "remote.request_refused":
            return {"at": event.at, **event.data}
    return None


def _label(fc: ForwardedCaseOut, action: str) -> tuple[bool, str]:
    """An event's label as the applicant reads it: their own online application was
    received by this node, not by a window."""
    if action == "received" and fc.mode != "receive_and_forward":
        return False, "提交申请"
    return event_label(action)


def _field_errors(error: DomainError | None) -> dict[str, tuple[str, dict[str, Any]]]:
    """The per-field problems of a refused correction, as the form macro shows them."""
    if error is None or not isinstance(error.details, list):
        return {}
    return {str(d["field"]): (str(d["message"]), {}) for d in error.details
            if isinstance(d, dict) and "field" in d and "message" in d}


def _agent_block(db: Session, settings: Any, actor: Actor, fc: ForwardedCaseOut
                 ) -> DomainError | None:
    """Why the agent who filed this application may no longer answer for the principal
    (their authorisation was revoked, or has expired): the page says so instead of
    offering forms that would be refused."""
    if fc.mode not in APPLICANT_MODES or not actor.has("agent"):
        return None
    try:
        supplements.acting_as(db_session=db, settings=settings, actor=actor,
                              forwarded_id=fc.id)
    except DomainError as exc:
        return exc if exc.code == "agent_not_authorised" else None
    return None


def _page(request: Request, db: Session, forwarded_id: uuid.UUID, *, status: int = 200,
          error: DomainError | None = None, reason: str = "",
          typed: dict[str, str] | None = None) -> Response:
    actor = require_actor(request)
    settings = request.app.state.settings
    fc = modes.view(db_session=db, settings=settings, actor=actor, forwarded_id=forwarded_id)
    agent_block = _agent_block(db, settings, actor, fc)
    answerable = fc.mode in APPLICANT_MODES and agent_block is None
    names, schema = guide_of(db, fc.implementation_code)
    asked = asked_schema(schema, fc)
    raw: dict[str, str] = {}
    if answerable and asked["properties"] and typed is None:
        try:
            raw = forms.raw_from_data(asked, supplements.current_form(
                db_session=db, settings=settings, actor=actor, forwarded_id=forwarded_id))
        except DomainError:
            asked = {"properties": {}}
    return page(request, "portal/my_forwarded.html", {
        "fields": forms.fields_of(asked) if asked["properties"] else [],
        "raw": typed if typed is not None else raw, "field_errors": _field_errors(error),
        "fc": fc, "answerable": answerable, "agent_block": agent_block,
        "as_agent": fc.agent_authorisation_id is not None
        and fc.applicant_person_id != actor.person_id, "MODE_LABEL": modes.MODE_LABEL,
        "STATE_LABELS": {**case_view.STATE_LABELS, **FORWARD_STATES},
        "events": [(e, *_label(fc, e.action)) for e in fc.events],
        "names": names,
        "regions": region_names(db_session=db, codes={fc.handling_region}),
        "withdrawable": answerable and fc.withdrawal_sent_at is None
        and fc.state not in modes.DECIDED and fc.state not in modes.CLOSED,
        "refusal": _last_refusal(fc), "reason": reason,
        "submitted": request.query_params.get("submitted") == "1",
        "max_upload_bytes": request.app.state.settings.max_upload_bytes,
        "error": error, "error_lines": case_view.error_lines(error) if error else []},
        status=status)


@router.get("/my/forwarded/{forwarded_id}", response_class=HTMLResponse)
def my_forwarded(request: Request, forwarded_id: uuid.UUID,
                 db: Session = Depends(web_db)) -> Response:
    """One of my applications handled in another region: progress, 补正, 撤回."""
    return _page(request, db, forwarded_id)


@router.post("/my/forwarded/{forwarded_id}/supply", response_class=HTMLResponse)
def supply(request: Request, forwarded_id: uuid.UUID, db: Session = Depends(web_db),
           posted: FormData = POSTED) -> Response:
    """Answer the handling region's 补正 notice from home: the files go to it."""
    actor = require_actor(request)
    settings = request.app.state.settings
    typed: dict[str, str] = {}
    try:
        fc = modes.view(db_session=db, settings=settings, actor=actor,
                        forwarded_id=forwarded_id)
        asked = asked_schema(guide_of(db, fc.implementation_code)[1], fc)
        typed = {name: str(posted.get(f"fd_{name}", "")) for name in asked["properties"]}
        data = posted_supply(posted, fc, settings.max_upload_bytes)
        if asked["properties"]:
            data.form_data = corrected_form(asked, _posted_fields(posted, asked),
                                            supplements.current_form(
                db_session=db, settings=settings, actor=actor, forwarded_id=forwarded_id))
        supplements.supply(db_session=db, settings=settings, actor=actor,
                           forwarded_id=forwarded_id, data=data)
    except DomainError as exc:
        db.rollback()
        if exc.status == 404:
            raise
        return _page(request, db, forwarded_id, status=exc.status, error=exc,
                     typed=typed or None)
    db.commit()
    return RedirectResponse(f"/my/forwarded/{forwarded_id}#supplement", status_code=303)


@router.post("/my/forwarded/{forwarded_id}/withdraw", response_class=HTMLResponse)
def withdraw(request: Request, forwarded_id: uuid.UUID, db: Session = Depends(web_db),
             posted: FormData = POSTED) -> Response:
    """撤回申请 from home, with a reason: the handling region withdraws its case."""
    actor = require_actor(request)
    raw = posted.get("reason")
    reason = raw.strip() if isinstance(raw, str) else ""
    try:
        if not reason:
            raise InvalidInput("请填写撤回原因 / give a reason for the withdrawal",
                               details=[{"field": "reason", "message": "必填 / required"}])
        supplements.withdraw(db_session=db, settings=request.app.state.settings, actor=actor,
                             forwarded_id=forwarded_id, data=WithdrawIn(reason=reason[:2000]))
    except DomainError as exc:
        db.rollback()
        if exc.status == 404:
            raise
        return _page(request, db, forwarded_id, status=exc.status, error=exc, reason=reason)
    db.commit()
    return RedirectResponse(f"/my/forwarded/{forwarded_id}", status_code=303)
