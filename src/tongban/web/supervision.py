"""监督: the supervisor's dashboard over the cases in their scope.

Counts per department by state and warning level (one grouped query in the case
service), the overdue list, and one ECharts bar chart of the warnings per department;
then the service metrics (supervision.metrics) over a chosen span of months: a card per
metric with its definition, the monthly trend, the departments ranked and a map of the
provinces for one chosen metric, and the Excel export. Every chart draws the numbers of
a table beside it, so the page says everything without JavaScript too; ECharts and its
China map come from node_modules (npm), never from the repository.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from tongban.cases import clock
from tongban.cases import service as cases
from tongban.catalog import service as catalog
from tongban.db import utcnow
from tongban.errors import Forbidden, NotFound
from tongban.identity.actor import Actor
from tongban.web import case_view
from tongban.web.i18n import pick_lang, translator
from tongban.web.render import WebRoute, page, require_actor, web_db
from tongban.web.routes import web_context
from tongban.web.supervision_metrics import metrics_context

router = APIRouter(route_class=WebRoute, include_in_schema=False,
                   dependencies=[Depends(web_context)])

OVERDUE_SHOWN = 50
WARNINGS = ("none", "yellow", "red")
WARNING_LABELS = {"none": "正常", "yellow": "黄牌", "red": "红牌"}


@dataclass
class DepartmentRow:
    """One department's cases: by state and by warning level."""

    name: str
    total: int = 0
    by_state: dict[str, int] = field(default_factory=dict)
    by_warning: dict[str, int] = field(default_factory=lambda: dict.fromkeys(WARNINGS, 0))


def require_supervisor(request: Request) -> Actor:
    """The signed-in supervisor, else 403."""
    actor = require_actor(request)
    if not actor.has("supervisor"):
        raise Forbidden("仅限监督人员 / supervisors only",
                        details={"required_roles": ["supervisor"]})
    return actor


def _department_name(db: Session, department_id: uuid.UUID | None,
                     cache: dict[uuid.UUID | None, str]) -> str:
    if department_id not in cache:
        try:
            cache[department_id] = (catalog.get_department(
                db_session=db, department_id=department_id).name if department_id else "—")
        except NotFound:
            cache[department_id] = str(department_id)
    return cache[department_id]


def department_rows(db: Session, counts: list[cases.CaseCount]) -> list[DepartmentRow]:
    """The grouped counts folded per department, the most red warnings first."""
    names: dict[uuid.UUID | None, str] = {}
    rows: dict[uuid.UUID | None, DepartmentRow] = {}
    for c in counts:
        row = rows.setdefault(c.department_id,
                              DepartmentRow(name=_department_name(db, c.department_id, names)))
        row.total += c.count
        row.by_state[c.state] = row.by_state.get(c.state, 0) + c.count
        level = c.warning_level if c.warning_level in WARNINGS else "none"
        row.by_warning[level] += c.count
    return sorted(rows.values(), key=lambda r: (-r.by_warning["red"],
                                                -r.by_warning["yellow"], r.name))


def chart_data(rows: list[DepartmentRow], labels: dict[str, str]) -> dict[str, Any]:
    """What the bar chart draws: departments and one stacked series per warning level."""
    return {"departments": [r.name for r in rows],
            "series": [{"key": w, "name": labels[w], "data": [r.by_warning[w] for r in rows]}
                       for w in WARNINGS]}


@router.get("/supervision", response_class=HTMLResponse)
def dashboard(request: Request, db: Session = Depends(web_db)) -> Response:
    """Counts by state and warning per department in scope, overdue cases, one chart."""
    actor = require_supervisor(request)
    rows = department_rows(db, cases.counts_by(db_session=db, actor=actor))
    today = clock.local_date(utcnow())
    overdue = cases.list_overdue(db_session=db, actor=actor, today=today,
                                 limit=OVERDUE_SHOWN)
    states = sorted({s for r in rows for s in r.by_state})
    _ = translator(pick_lang(request))
    labels = {w: _(WARNING_LABELS[w]) for w in WARNINGS}
    return page(request, "workbench/supervision.html", {
        "rows": rows, "states": states, "overdue": overdue, "today": today,
        "totals": {w: sum(r.by_warning[w] for r in rows) for w in WARNINGS},
        "STATE_LABELS": case_view.STATE_LABELS, "WARNING_LABELS": WARNING_LABELS,
        "chart_json": json.dumps(chart_data(rows, labels), ensure_ascii=False),
        **metrics_context(request, db, actor, lang=pick_lang(request), today=today),
    })
