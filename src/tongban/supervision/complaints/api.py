"""HTTP routes of 12345 complaints (thin: validate, call the service, map errors).

`POST /complaints` files a ticket (a complainant online, the agency for a hotline call);
`GET /complaints` lists the caller's tickets; `GET /complaints/{number}` shows one with its
history; `POST /complaints/{number}/steps/{action}` takes a step (派单, 退单, 改派, 答复,
the complainant's verdict, 并单); `GET /complaints/{number}/duplicates` proposes merges.
Categories and the 派单目录 are read by anyone and changed by supervisors.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, status
from sqlalchemy.orm import Session

from tongban.api_deps import DB_SESSION
from tongban.identity.actor import Actor
from tongban.identity.deps import current_actor
from tongban.supervision.complaints import service
from tongban.supervision.complaints.schemas import (
    CategoryIn,
    CategoryOut,
    ComplaintIn,
    ComplaintOut,
    DuplicateOut,
    EventOut,
    RuleIn,
    RuleOut,
    StepIn,
)
from tongban.supervision.complaints.workflow import STATE_LABELS

router = APIRouter(tags=["supervision"])


def complaint_out(v: service.ComplaintView) -> ComplaintOut:
    """A ticket with its history, as the API shows it."""
    t = v.complaint
    return ComplaintOut(
        number=t.number, category_code=t.category_code, subject=t.subject, body=t.body,
        region_code=t.region_code, case_number=t.case_number, channel=t.channel,
        department_id=t.department_id, state=t.state, state_label=STATE_LABELS[t.state],
        received_on=t.received_on, due_date=t.due_date, due_provisional=t.due_provisional,
        merged_into=v.merged_into, reply=t.reply, replied_at=t.replied_at,
        closed_at=t.closed_at, satisfied=t.satisfied, returns=t.returns,
        events=[EventOut.model_validate(e) for e in v.events],
        allowed_actions=v.allowed_actions)


@router.get("/complaints/categories", response_model=list[CategoryOut])
def list_categories(db: Session = DB_SESSION) -> list[CategoryOut]:
    """Every category and its time limit in working days (public)."""
    return [CategoryOut.model_validate(c) for c in service.categories(db_session=db)]


@router.put("/complaints/categories/{code}", response_model=CategoryOut)
def put_category(code: str, body: CategoryIn, db: Session = DB_SESSION,
                 actor: Actor = Depends(current_actor)) -> CategoryOut:
    """Create or change a category; open tickets of it get their deadline again."""
    return CategoryOut.model_validate(service.set_category(
        db_session=db, actor=actor, code=code, name=body.name, days=body.days))


@router.post("/complaints/routes", response_model=RuleOut,
             status_code=status.HTTP_201_CREATED)
def add_rule(body: RuleIn, db: Session = DB_SESSION,
             actor: Actor = Depends(current_actor)) -> RuleOut:
    """Add a line to the 派单目录."""
    return RuleOut.model_validate(service.add_rule(
        db_session=db, actor=actor, category_code=body.category, region_code=body.region_code,
        department_id=body.department_id, keyword=body.keyword))


@router.post("/complaints", response_model=ComplaintOut, status_code=status.HTTP_201_CREATED)
def file_complaint(body: ComplaintIn, db: Session = DB_SESSION,
                   actor: Actor = Depends(current_actor)) -> ComplaintOut:
    """File a ticket; routed at once when its case or the 派单目录 names a department."""
    return complaint_out(service.file(
        db_session=db, actor=actor, category=body.category, subject=body.subject,
        body=body.body, region_code=body.region_code, case_number=body.case_number,
        channel=body.channel))


@router.get("/complaints", response_model=list[ComplaintOut])
def list_complaints(db: Session = DB_SESSION, actor: Actor = Depends(current_actor),
                    state: str | None = Query(default=None, max_length=20),
                    limit: int = Query(default=100, ge=1, le=500)) -> list[ComplaintOut]:
    """The caller's tickets: their own, their department's or their region's."""
    return [complaint_out(service.view(db, t, actor)) for t in service.list_for(
        db_session=db, actor=actor, state=state, limit=limit)]


@router.get("/complaints/{number}", response_model=ComplaintOut)
def get_complaint(number: str, db: Session = DB_SESSION,
                  actor: Actor = Depends(current_actor)) -> ComplaintOut:
    """One ticket with its history."""
    return complaint_out(service.get(db_session=db, actor=actor, number=number))


@router.get("/complaints/{number}/duplicates", response_model=list[DuplicateOut])
def duplicates(number: str, db: Session = DB_SESSION,
               actor: Actor = Depends(current_actor)) -> list[DuplicateOut]:
    """Open tickets of the same region and category that read alike (并单 candidates)."""
    return [DuplicateOut(number=t.number, subject=t.subject, similarity=score)
            for t, score in service.duplicates(db_session=db, actor=actor, number=number)]


@router.post("/complaints/{number}/steps/{action}", response_model=ComplaintOut)
def step(number: str, action: str, body: StepIn, db: Session = DB_SESSION,
         actor: Actor = Depends(current_actor)) -> ComplaintOut:
    """One step of a ticket."""
    return complaint_out(service.act(
        db_session=db, actor=actor, number=number, action=action,
        department_id=body.department_id, reason_code=body.reason_code, reason=body.reason,
        reply=body.reply, into=body.into))
