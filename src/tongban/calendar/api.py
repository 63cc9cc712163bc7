"""HTTP routes of the working-day calendar (thin: validate, call the service, map errors)."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy.orm import Session

from tongban.api_deps import DB_SESSION
from tongban.calendar import service
from tongban.calendar.schemas import DueOut, YearDocument, YearOut, YearSummary
from tongban.identity.actor import Actor
from tongban.identity.deps import require_roles
from tongban.identity.models import Role

router = APIRouter(prefix="/calendar", tags=["calendar"])


@router.get("/due", response_model=DueOut)
def due(
    start: date = Query(description="the day the time limit starts (not counted)"),
    days: int = Query(ge=0, le=service.MAX_DAYS, description="working days allowed"),
    db: Session = DB_SESSION,
) -> DueOut:
    """The date `days` working days after `start`; provisional if a year lacks data."""
    result = service.add_working_days(db_session=db, start=start, days=days)
    return DueOut(start=start, days=days, due=result.date, provisional=result.provisional)


@router.get("/years", response_model=list[YearSummary])
def list_years(db: Session = DB_SESSION) -> list[YearSummary]:
    """Every year with holiday data, and whether it is shipped or loaded."""
    return [YearSummary(year=y.year, origin=y.origin, source=y.source)
            for y in service.years(db_session=db)]


@router.post("/years", response_model=YearOut, status_code=201)
def load_year(
    document: YearDocument,
    db: Session = DB_SESSION,
    actor: Actor = Depends(require_roles(Role.operator)),
) -> dict[str, Any]:
    """Load (or replace) a year from its State Council notice (operators only)."""
    row = service.load_year(db_session=db, document=document.model_dump(mode="json"),
                            actor_name=actor.name, actor_id=actor.account_id)
    return service.year_document(db_session=db, year=row.year)


@router.get("/{year}", response_model=YearOut)
def get_year(year: int, db: Session = DB_SESSION) -> dict[str, Any]:
    """One year's holidays and make-up working days, with the notice they come from."""
    return service.year_document(db_session=db, year=year)
