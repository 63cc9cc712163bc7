"""好差评 pages: the department's and supervisor's list of bad ratings, one rating's
handling with the forms of the steps open to the viewer, and the public results.

The rating itself is given on the applicant's case page (mine.py); everything here calls
tongban.supervision.ratings, which decides who may do what.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from tongban.errors import DomainError, InvalidInput
from tongban.supervision.ratings import content
from tongban.supervision.ratings import service as ratings
from tongban.supervision.ratings.api import published_out
from tongban.supervision.ratings.workflow import ACTION_LABELS, STATE_LABELS, TRANSITIONS
from tongban.web.case_view import error_lines
from tongban.web.render import POSTED, WebRoute, page, require_actor, web_db
from tongban.web.routes import web_context

router = APIRouter(route_class=WebRoute, include_in_schema=False,
                   dependencies=[Depends(web_context)])

QUEUE_FILTERS = {"": "未办结", "visit_pending": "待回访核实", "rectifying": "限期整改中",
                 "awaiting_verdict": "待评价人确认", "appealed": "申诉复核中",
                 "closed": "已办结", "annulled": "申诉成立(差评已撤销)"}
LABELS: dict[str, Any] = {"LEVELS": content.LEVELS, "CHANNELS": content.CHANNEL_LABELS,
                          "STATE_LABELS": STATE_LABELS, "ACTION_LABELS": ACTION_LABELS}


@router.get("/workbench/ratings", response_class=HTMLResponse)
def queue(request: Request, state: str = "", db: Session = Depends(web_db)) -> Response:
    """差评处置: the bad ratings in the viewer's scope, the oldest deadline first."""
    actor = require_actor(request)
    rows = ratings.queue(db_session=db, actor=actor, state=state or None)
    return page(request, "workbench/ratings.html", {
        "rows": rows, "state": state, "QUEUE_FILTERS": QUEUE_FILTERS, **LABELS})


def _rating_page(request: Request, db: Session, rating_id: uuid.UUID, *, status: int = 200,
                 error: DomainError | None = None) -> Response:
    actor = require_actor(request)
    found = ratings.get(db_session=db, actor=actor, rating_id=rating_id)
    needs = {a: sorted(TRANSITIONS[(found.rectification.state, a)].needs)
             for a in found.allowed_actions} if found.rectification else {}
    return page(request, "workbench/rating.html", {
        "view": found, "needs": needs, "error": error,
        "error_lines": error_lines(error) if error else [],
        "indicator_labels": content.indicators_for(found.rating.channel), **LABELS},
        status=status)


@router.get("/workbench/ratings/{rating_id}", response_class=HTMLResponse)
def rating(request: Request, rating_id: uuid.UUID, db: Session = Depends(web_db)) -> Response:
    """One rating: what was said, its handling so far, and the steps open to the viewer."""
    return _rating_page(request, db, rating_id)


def _text(form: FormData, name: str) -> str | None:
    value = form.get(name)
    return value if isinstance(value, str) else None


def _days(form: FormData) -> int | None:
    raw = (_text(form, "days") or "").strip()
    if not raw:
        return None
    if not raw.isdigit():
        raise InvalidInput("整改期限须为整数个工作日 / days must be a whole number",
                           details={"field": "days", "value": raw})
    return int(raw)


@router.post("/workbench/ratings/{rating_id}/act/{action}", response_class=HTMLResponse)
def act(request: Request, rating_id: uuid.UUID, action: str, db: Session = Depends(web_db),
        form: FormData = POSTED) -> Response:
    """Take one step of the handling; a refusal shows the page again with the reason."""
    actor = require_actor(request)
    try:
        ratings.act(db_session=db, actor=actor, rating_id=rating_id, action=action,
                    reason=_text(form, "reason"), outcome=_text(form, "outcome"),
                    days=_days(form), evidence=_text(form, "evidence"))
    except DomainError as exc:
        db.rollback()
        return _rating_page(request, db, rating_id, status=exc.status, error=exc)
    db.commit()
    return RedirectResponse(f"/workbench/ratings/{rating_id}", status_code=303)


@router.get("/ratings/results", response_class=HTMLResponse)
def results(request: Request, region: str = "", since: date | None = None,
            until: date | None = None, db: Session = Depends(web_db)) -> Response:
    """好差评结果公开: per department and item, for anyone."""
    if region and not (region.isdigit() and len(region) == 6):
        raise InvalidInput("地区代码须为6位数字 / region must be six digits",
                           details={"field": "region", "value": region})
    rows = [published_out(db, r) for r in ratings.published(
        db_session=db, region_code=region or None, since=since, until=until)]
    return page(request, "portal/rating_results.html", {
        "rows": rows, "region": region, "since": since, "until": until, **LABELS})
