"""我的数据被谁用了: the subject's own view of every read of their registry data (who,
which department, what, why, under which law), the reads a grant delays shown only as
the reason and the day they will show (Estonia's data tracker, AJ v3's hiddenUntil),
and the consents they gave, each withdrawable."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from tongban.catalog import service as catalog
from tongban.errors import NotFound
from tongban.sharing import consents, queries, registries, views
from tongban.web.render import WebRoute, page, require_actor, web_db
from tongban.web.routes import web_context

router = APIRouter(route_class=WebRoute, include_in_schema=False,
                   dependencies=[Depends(web_context)])

KIND_LABELS = {"query": "工作人员查询", "no_submit": "免提交调取", "remote_query": "跨地区查询",
               "window_fetch": "窗口免提交调取", "eligibility": "一键核对",
               "bulk": "批量核对"}
VIA_LABELS = {"portal": "网上授权", "window": "窗口授权", "no_submit": "免提交调取时授权"}


def _department_names(db: Session, codes: set[str]) -> dict[str, str]:
    """Credit code -> department name (a peer node's department keeps its code)."""
    names = {}
    for code in codes:
        try:
            names[code] = catalog.get_department_by_credit_code(db_session=db,
                                                                credit_code=code).name
        except NotFound:
            names[code] = code
    return names


@router.get("/my/data", response_class=HTMLResponse)
def my_data(request: Request, db: Session = Depends(web_db)) -> Response:
    """Every read of my data, the delayed ones as reason and date, and my consents."""
    actor = require_actor(request)
    settings = request.app.state.settings
    usage = views.usage_out(db_session=db, usage=queries.my_usage(
        db_session=db, settings=settings, actor=actor))
    key = consents.subject_key_of(db_session=db, settings=settings, actor=actor)
    given = consents.mine(db_session=db, subject_key=key)
    datasets = {d.code: d for d in registries.list_datasets(db_session=db)}
    labels = {code: {n: s.label for n, s in registries.field_specs(d).items()}
              for code, d in datasets.items()}
    return page(request, "portal/my_data.html", {
        "usage": usage, "consents": given, "labels": labels,
        "dataset_names": {c: d.name for c, d in datasets.items()},
        "consumers": _department_names(db, {c.consumer_credit_code for c in given}),
        "KIND_LABELS": KIND_LABELS, "VIA_LABELS": VIA_LABELS})


@router.post("/my/data/consents/{consent_id}/revoke")
def revoke_consent(request: Request, consent_id: uuid.UUID,
                   db: Session = Depends(web_db)) -> Response:
    """Withdraw a consent: later queries resting on it are refused."""
    actor = require_actor(request)
    consents.revoke(db_session=db, settings=request.app.state.settings, actor=actor,
                    consent_id=consent_id)
    db.commit()
    return RedirectResponse("/my/data#consents", status_code=303)
