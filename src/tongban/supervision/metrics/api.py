"""HTTP routes of the metrics: the definitions (public), reports (staff, in scope, JSON or
Excel) and a refresh (supervisors and operators)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Query, Response
from sqlalchemy.orm import Session

from tongban.api_deps import DB_SESSION
from tongban.identity.actor import Actor
from tongban.identity.deps import current_actor, require_roles
from tongban.supervision.metrics import excel, service
from tongban.supervision.metrics.definitions import by_id, definitions_hash, fact_rules
from tongban.supervision.metrics.schemas import (
    DefinitionsOut,
    RefreshOut,
    ReportOut,
    definition_out,
    report_out,
)

router = APIRouter(prefix="/supervision/metrics", tags=["supervision"])
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@router.get("/definitions", response_model=DefinitionsOut)
def get_definitions() -> DefinitionsOut:
    """Every metric's written, versioned definition and the hash of the definition file."""
    rules = fact_rules()
    return DefinitionsOut(definitions_hash=definitions_hash(), fact_rules_version=rules.version,
                          fact_rules=rules.model_dump(mode="json"),
                          metrics=[definition_out(d) for d in by_id().values()])


def parse_query(*, from_month: str, to_month: str, by: str, region: str | None,
                department_id: str | None, item: str | None, metrics: str | None
                ) -> service.MetricQuery:
    """A query from text parameters (the API, the pages and the CLI share it)."""
    dept: uuid.UUID | None = None
    if department_id:
        try:
            dept = uuid.UUID(department_id)
        except ValueError:
            from tongban.errors import InvalidInput

            raise InvalidInput("部门标识无效 / department_id is not a UUID",
                               details={"field": "department_id",
                                        "value": department_id}) from None
    names = tuple(m.strip() for m in (metrics or "").split(",") if m.strip())
    return service.MetricQuery(from_month=from_month, to_month=to_month, by=by,
                               region_code=region or None, department_id=dept,
                               item_code=item or None, metrics=names)


@router.get("", response_model=ReportOut,
            responses={200: {"content": {XLSX: {}}, "description": "JSON or Excel"}})
def get_report(
    from_month: str = Query(alias="from", description="first month, YYYY-MM"),
    to_month: str = Query(alias="to", description="last month, YYYY-MM"),
    by: str = Query("total", description="total, month, province, region, department, item"),
    region: str | None = Query(None, max_length=12),
    department_id: str | None = Query(None, max_length=40),
    item: str | None = Query(None, max_length=12),
    metrics: str | None = Query(None, max_length=400, description="ids, comma-separated"),
    format: str = Query("json", pattern="^(json|xlsx)$"),
    actor: Actor = Depends(current_actor),
    db: Session = DB_SESSION,
) -> Any:
    """Metrics per group over the months asked, within the caller's scope."""
    query = parse_query(from_month=from_month, to_month=to_month, by=by, region=region,
                        department_id=department_id, item=item, metrics=metrics)
    result = service.report(db_session=db, actor=actor, query=query)
    if format == "xlsx":
        name = f"metrics-{query.from_month}-{query.to_month}-{query.by}.xlsx"
        return Response(excel.report_xlsx(result), media_type=XLSX,
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})
    return report_out(result)


@router.post("/refresh", response_model=RefreshOut)
def refresh(
    rebuild: bool = Query(False, description="recompute everything from the events"),
    actor: Actor = Depends(require_roles("supervisor", "operator")),
    db: Session = DB_SESSION,
) -> Any:
    """Bring the metrics up to date with the events now (the worker does it too)."""
    r = service.refresh(db_session=db, rebuild=rebuild)
    return RefreshOut(rebuilt=r.rebuilt, cases=r.cases, ratings=r.ratings,
                      complaints=r.complaints, series=r.series, facts=r.facts,
                      refreshed_at=r.refreshed_at)
