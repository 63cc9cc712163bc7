"""HTTP routes of warnings and supervision orders (thin: validate, call the service).

`GET /supervision/warnings` is a supervisor's queue of escalated warnings;
`POST /supervision/orders` issues a 督办 or 纠错; `GET /supervision/orders` lists the
orders the caller issued or must answer; `POST /supervision/orders/{id}/steps/{action}`
answers (the department), closes or sends back (the supervisor).
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Query, status
from sqlalchemy.orm import Session

from tongban.api_deps import DB_SESSION
from tongban.identity.actor import Actor
from tongban.identity.deps import current_actor
from tongban.supervision.warnings import service
from tongban.supervision.warnings.schemas import (
    EscalationOut,
    OrderIn,
    OrderOut,
    OrderStepIn,
    WatchOut,
)

router = APIRouter(tags=["supervision"])


@router.get("/supervision/warnings", response_model=list[EscalationOut])
def escalated(db: Session = DB_SESSION, actor: Actor = Depends(current_actor),
              limit: int = Query(default=200, ge=1, le=500)) -> list[EscalationOut]:
    """Warned cases escalated to the caller (as department head or region supervisor)."""
    return [EscalationOut(watch=WatchOut.model_validate(r.watch), audience=r.audience)
            for r in service.escalated_to(db_session=db, actor=actor, limit=limit)]


@router.post("/supervision/orders", response_model=OrderOut,
             status_code=status.HTTP_201_CREATED)
def issue(body: OrderIn, db: Session = DB_SESSION,
          actor: Actor = Depends(current_actor)) -> OrderOut:
    """Issue a 督办 or 纠错 on a case in scope."""
    return OrderOut.model_validate(service.issue(
        db_session=db, actor=actor, case_number=body.case_number, kind=body.kind,
        text=body.text, days=body.days))


@router.get("/supervision/orders", response_model=list[OrderOut])
def list_orders(db: Session = DB_SESSION, actor: Actor = Depends(current_actor),
                state: str | None = Query(default=None, max_length=12),
                case_number: str | None = Query(default=None, max_length=32),
                ) -> list[OrderOut]:
    """Orders the caller issued in scope or must answer, the nearest deadline first."""
    return [OrderOut.model_validate(o) for o in service.orders(
        db_session=db, actor=actor, state=state, case_number=case_number)]


@router.post("/supervision/orders/{order_id}/steps/{action}", response_model=OrderOut)
def step(order_id: uuid.UUID, action: str, body: OrderStepIn, db: Session = DB_SESSION,
         actor: Actor = Depends(current_actor)) -> OrderOut:
    """Answer an order (department), or close it / send it back (supervisor)."""
    return OrderOut.model_validate(service.act_on_order(
        db_session=db, actor=actor, order_id=order_id, action=action, text=body.text))
