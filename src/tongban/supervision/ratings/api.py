"""HTTP routes of 好差评 (thin: validate, call the service, map errors).

`POST /ratings` rates a service (the applicant); `GET /ratings/{id}` shows a rating and
its handling to its rater, the department and supervisors; `POST
/ratings/{id}/steps/{action}` takes one step of a bad rating's handling; `GET
/ratings/queue` is the staff's list of open bad ratings; `GET /ratings/published` and
`GET /ratings/content` are public.
"""

from __future__ import annotations

import uuid
from datetime import date

from fastapi import APIRouter, Depends, Query, status
from sqlalchemy.orm import Session

from tongban.api_deps import DB_SESSION
from tongban.catalog import service as catalog
from tongban.errors import NotFound
from tongban.identity.actor import Actor
from tongban.identity.deps import current_actor
from tongban.supervision.ratings import content, service
from tongban.supervision.ratings.schemas import (
    ContentOut,
    EventOut,
    PublishedOut,
    QueueRowOut,
    RatingIn,
    RatingOut,
    RectificationOut,
    StepIn,
)
from tongban.supervision.ratings.workflow import STATE_LABELS

router = APIRouter(tags=["supervision"])


def rating_out(v: service.RatingView) -> RatingOut:
    """A rating, its handling and its history as the API shows them."""
    r, h = v.rating, v.rectification
    return RatingOut(
        id=r.id, case_number=r.case_number, occasion=r.occasion, channel=r.channel,
        level=r.level, level_label=content.LEVELS[r.level], indicators=r.indicators,
        content_version=r.content_version, comment=r.comment, department_id=r.department_id,
        item_code=r.item_code, item_name=r.item_name, annulled=r.annulled,
        created_at=r.created_at,
        rectification=None if h is None else RectificationOut.model_validate(
            {**{k: getattr(h, k) for k in RectificationOut.model_fields if k != "state_label"},
             "state_label": STATE_LABELS[h.state]}),
        events=[EventOut.model_validate(e) for e in v.events],
        allowed_actions=v.allowed_actions)


@router.get("/ratings/content", response_model=ContentOut)
def rating_content() -> ContentOut:
    """The five levels, the channels and each channel's indicators (public)."""
    return ContentOut(
        version=content.CONTENT_VERSION,
        levels={str(k): v for k, v in content.LEVELS.items()},
        channels=dict(content.CHANNEL_LABELS),
        indicators={c: content.indicators_for(c) for c in content.CHANNEL_LABELS})


@router.post("/ratings", response_model=RatingOut, status_code=status.HTTP_201_CREATED)
def rate(body: RatingIn, db: Session = DB_SESSION,
         actor: Actor = Depends(current_actor)) -> RatingOut:
    """Rate one service of one's own case; a bad rating opens its handling."""
    return rating_out(service.rate(
        db_session=db, actor=actor, case_number=body.case_number, channel=body.channel,
        level=body.level, indicators=body.indicators, comment=body.comment,
        visit_seq=body.visit_seq))


@router.get("/ratings/queue", response_model=list[QueueRowOut])
def queue(db: Session = DB_SESSION, actor: Actor = Depends(current_actor),
          state: str | None = Query(default=None, max_length=20),
          limit: int = Query(default=100, ge=1, le=500)) -> list[QueueRowOut]:
    """Open bad ratings in the caller's scope, the oldest deadline first."""
    rows = service.queue(db_session=db, actor=actor, state=state, limit=limit)
    return [QueueRowOut(rating=rating_out(service.view(r.rating, r.rectification, [], actor)),
                        overdue=r.overdue) for r in rows]


@router.get("/ratings/published", response_model=list[PublishedOut])
def published(db: Session = DB_SESSION,
              region: str | None = Query(default=None, pattern=r"^[0-9]{6}$"),
              since: date | None = None, until: date | None = None) -> list[PublishedOut]:
    """Results per department and item (public): levels, 好评率, 差评 and their handling."""
    return [published_out(db, row) for row in service.published(
        db_session=db, region_code=region, since=since, until=until)]


def published_out(db: Session, row: service.PublishedRow) -> PublishedOut:
    """One published row with its department's name."""
    name = "—"
    if row.department_id is not None:
        try:
            name = catalog.get_department(db_session=db, department_id=row.department_id).name
        except NotFound:
            name = str(row.department_id)
    return PublishedOut(
        department_id=row.department_id, department_name=name, item_code=row.item_code,
        item_name=row.item_name, total=row.total,
        by_level={str(k): v for k, v in row.by_level.items()}, good_rate=row.good_rate,
        bad=row.bad, bad_rectified=row.bad_rectified, rectified_rate=row.rectified_rate,
        annulled=row.annulled)


@router.get("/ratings/{rating_id}", response_model=RatingOut)
def get_rating(rating_id: uuid.UUID, db: Session = DB_SESSION,
               actor: Actor = Depends(current_actor)) -> RatingOut:
    """A rating and its handling (its rater, the department, supervisors)."""
    return rating_out(service.get(db_session=db, actor=actor, rating_id=rating_id))


@router.get("/cases/{case_number}/ratings", response_model=list[RatingOut])
def case_ratings(case_number: str, db: Session = DB_SESSION,
                 actor: Actor = Depends(current_actor)) -> list[RatingOut]:
    """Every rating of a case the caller may see."""
    return [rating_out(v) for v in service.ratings_of_case(
        db_session=db, actor=actor, case_number=case_number)]


@router.post("/ratings/{rating_id}/steps/{action}", response_model=RatingOut)
def step(rating_id: uuid.UUID, action: str, body: StepIn, db: Session = DB_SESSION,
         actor: Actor = Depends(current_actor)) -> RatingOut:
    """One step of a bad rating's handling (回访, 整改, the rater's verdict, 申诉)."""
    return rating_out(service.act(
        db_session=db, actor=actor, rating_id=rating_id, action=action, reason=body.reason,
        outcome=body.outcome, days=body.days, evidence=body.evidence))
