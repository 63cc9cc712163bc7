"""事项标准化: the catalog administrator's pages for conformance, the six-element diff,
declared variances and the alignment of local item lists.

Every page calls the catalog's standardisation and alignment services (the same the API
and CLI call); Excel downloads link to the API's `format=xlsx` routes.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from tongban.catalog import alignment, reports
from tongban.catalog import standardisation as std
from tongban.errors import Forbidden
from tongban.identity.actor import Actor
from tongban.web.render import WebRoute, page, require_actor, web_db
from tongban.web.routes import web_context

router = APIRouter(route_class=WebRoute, include_in_schema=False,
                   dependencies=[Depends(web_context)])

STATUS_LABELS = {"matched": "已匹配", "review": "待人工确认", "confirmed": "已确认",
                 "corrected": "已更正", "unmatched": "无对应事项"}
DIRECTION_LABELS = {"favourable": "有利于申请人", "unfavourable": "不利于申请人",
                    "neutral": "中性"}
STATE_LABELS = {"proposed": "待审批", "approved": "已批准", "rejected": "已驳回",
                "revoked": "已撤销"}


def require_catalog_admin(request: Request) -> Actor:
    """The signed-in catalog administrator, else 403."""
    actor = require_actor(request)
    if not actor.has("catalog_admin"):
        raise Forbidden("仅限事项目录管理员 / catalog administrators only",
                        details={"required_roles": ["catalog_admin"]})
    return actor


def _labels() -> dict[str, object]:
    return {"ELEMENTS": std.ELEMENTS, "DIRECTION_LABELS": DIRECTION_LABELS,
            "STATUS_LABELS": STATUS_LABELS, "STATE_LABELS": STATE_LABELS}


@router.get("/workbench/standard", response_class=HTMLResponse)
def overview(request: Request, region: str = "", db: Session = Depends(web_db)) -> Response:
    """Conformance per region (worst first) and, for one region, its items' differences."""
    require_catalog_admin(request)
    diffs = std.conformance(db_session=db, region_code=region or None)
    report = reports.conformance_out(diffs, with_items=bool(region))
    shown = [d for d in report.items if any(c.differences for c in d.columns)]
    return page(request, "workbench/standard.html", {
        "report": report, "region_code": region, "shown": shown,
        "region_name": std.region_name(db_session=db, region_code=region) if region else "",
        **_labels()})


@router.get("/workbench/standard/items/{basic_code}", response_class=HTMLResponse)
def item(request: Request, basic_code: str, db: Session = Depends(web_db)) -> Response:
    """The standard guide beside every region's guide; declare or decide variances."""
    require_catalog_admin(request)
    diff = reports.item_diff_out(std.diff_item(db_session=db, basic_code=basic_code))
    variances = reports.variances_out(db, std.list_variances(db_session=db,
                                                              basic_code=basic_code))
    return page(request, "workbench/standard_item.html", {
        "diff": diff, "variances": variances, **_labels()})


@router.post("/workbench/standard/variances")
def propose(request: Request, basic_code: str = Form(...), region_code: str = Form(...),
            key: str = Form(...), reason: str = Form(""), legal_basis: str = Form(""),
            db: Session = Depends(web_db)) -> Response:
    """Declare one difference (统异弹性空间) from the item page."""
    actor = require_catalog_admin(request)
    std.propose_variance(db_session=db, actor=actor, basic_code=basic_code,
                         region_code=region_code, key=key, reason=reason,
                         legal_basis=legal_basis)
    db.commit()
    return RedirectResponse(f"/workbench/standard/items/{basic_code}", status_code=303)


@router.post("/workbench/standard/variances/{variance_id}/{action}")
def decide(request: Request, variance_id: uuid.UUID, action: str, note: str = Form(""),
           db: Session = Depends(web_db)) -> Response:
    """Approve, reject or revoke a declaration."""
    actor = require_catalog_admin(request)
    if action not in ("approve", "reject", "revoke"):
        raise Forbidden("未知操作 / unknown action")
    variance = std.decide_variance(db_session=db, actor=actor, variance_id=variance_id,
                                   action=action, note=note)
    code = std.item_codes(db_session=db, item_ids=[variance.item_id])[variance.item_id]
    db.commit()
    return RedirectResponse(f"/workbench/standard/items/{code}", status_code=303)


# ------------------------------------------------------------------ alignment


@router.get("/workbench/alignment", response_class=HTMLResponse)
def batches(request: Request, db: Session = Depends(web_db)) -> Response:
    """Upload a local item list; the lists already imported."""
    actor = require_catalog_admin(request)
    rows = [reports.batch_out(db, b) for b in alignment.list_batches(db_session=db,
                                                                      actor=actor)]
    regions = sorted({s.region_code for s in actor.scopes})
    return page(request, "workbench/alignment.html", {"batches": rows, "regions": regions,
                                                      **_labels()})


@router.post("/workbench/alignment")
async def upload(request: Request, region_code: str = Form(...),
                 file: UploadFile = File(...), db: Session = Depends(web_db)) -> Response:
    """Import and match a list (all or nothing), then show its review queue."""
    from fastapi.concurrency import run_in_threadpool

    actor = require_catalog_admin(request)
    data, name = await file.read(), file.filename or ""

    def work() -> uuid.UUID:
        batch = alignment.import_list(db_session=db, actor=actor, region_code=region_code,
                                      data=data, source_name=name)
        db.commit()
        return batch.id

    batch_id = await run_in_threadpool(work)
    return RedirectResponse(f"/workbench/alignment/{batch_id}?status=review", status_code=303)


@router.get("/workbench/alignment/{batch_id}", response_class=HTMLResponse)
def batch(request: Request, batch_id: uuid.UUID, status: str = "",
          db: Session = Depends(web_db)) -> Response:
    """A list's lines with suggestion, confidence, reasons and runners-up."""
    actor = require_catalog_admin(request)
    found = alignment.get_batch(db_session=db, batch_id=batch_id)
    lines = alignment.list_lines(db_session=db, actor=actor, batch_id=batch_id,
                                 status=status or None, limit=200)
    return page(request, "workbench/alignment_batch.html", {
        "batch": reports.batch_out(db, found), "lines": reports.lines_out(db, lines),
        "status": status, **_labels()})


@router.post("/workbench/alignment/lines/{line_id}")
def decide_line(request: Request, line_id: uuid.UUID, action: str = Form(...),
                basic_code: str = Form(""), back: str = Form(""),
                db: Session = Depends(web_db)) -> Response:
    """Confirm, correct or reject one line's match."""
    actor = require_catalog_admin(request)
    line = alignment.decide_line(db_session=db, actor=actor, line_id=line_id, action=action,
                                 basic_code=basic_code.strip() or None)
    batch_id = line.batch_id
    db.commit()
    target = f"/workbench/alignment/{batch_id}"
    return RedirectResponse(target + ("?status=" + back if back in STATUS_LABELS else ""),
                            status_code=303)
