"""HTTP routes of standardisation and alignment (thin: validate, call a service, shape).

Reads of standard guides, diffs, conformance and variances are public like the catalog;
declaring needs catalog_admin of the region, approving a province-wide one; alignment
lists are the admins' working data and need catalog_admin with the region in scope.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from tongban.api_deps import DB_SESSION, get_settings_dep
from tongban.catalog import alignment, reports
from tongban.catalog import standardisation as std
from tongban.catalog.standard_schemas import (
    BatchOut,
    ConformanceOut,
    DecisionIn,
    ItemDiffOut,
    LineOut,
    StandardGuideIn,
    StandardGuideOut,
    VarianceDecisionIn,
    VarianceIn,
    VarianceOut,
)
from tongban.config import Settings
from tongban.errors import InvalidInput, TooLarge
from tongban.identity.actor import Actor
from tongban.identity.deps import require_roles
from tongban.identity.models import Role

router = APIRouter(tags=["standardisation"])
admin_only = require_roles(Role.catalog_admin)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_FORMAT = Query("json", pattern="^(json|xlsx)$")


def _xlsx(data: bytes, name: str) -> Response:
    return Response(data, media_type=XLSX,
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.put("/items/{basic_code}/standard-guide", response_model=StandardGuideOut)
def put_standard_guide(basic_code: str, data: StandardGuideIn,
                       actor: Actor = Depends(admin_only), db: Session = DB_SESSION) -> Any:
    """Set the standard guide of an item (a new version; earlier ones are kept)."""
    return std.put_standard_guide(db_session=db, actor=actor, basic_code=basic_code,
                                  guide=data.guide, note=data.note)


@router.get("/items/{basic_code}/standard-guide", response_model=StandardGuideOut)
def get_standard_guide(basic_code: str, db: Session = DB_SESSION) -> Any:
    """The current standard guide of an item."""
    return std.get_standard_guide(db_session=db, basic_code=basic_code)


@router.get("/standard/items/{basic_code}/diff", response_model=ItemDiffOut,
            responses={200: {"content": {XLSX: {}}}})
def diff_item(basic_code: str, region: list[str] | None = Query(None),
              format: str = _FORMAT, db: Session = DB_SESSION) -> Any:
    """The six elements of the standard beside each chosen region's guide."""
    diff = std.diff_item(db_session=db, basic_code=basic_code, regions=region)
    if format == "xlsx":
        return _xlsx(reports.conformance_xlsx([diff]), f"diff-{basic_code}.xlsx")
    return reports.item_diff_out(diff)


@router.get("/standard/conformance", response_model=ConformanceOut,
            responses={200: {"content": {XLSX: {}}}})
def conformance(region: str | None = None, items: bool = False, format: str = _FORMAT,
                db: Session = DB_SESSION) -> Any:
    """Conformance per region and overall (with `items=true`, per item too)."""
    diffs = std.conformance(db_session=db, region_code=region)
    if format == "xlsx":
        return _xlsx(reports.conformance_xlsx(diffs), f"conformance-{region or 'all'}.xlsx")
    return reports.conformance_out(diffs, with_items=items)


@router.get("/standard/variances", response_model=list[VarianceOut])
def list_variances(region: str | None = None, item: str | None = None,
                   state: str | None = None, db: Session = DB_SESSION) -> Any:
    """Declared variances, newest first."""
    rows = std.list_variances(db_session=db, region_code=region, basic_code=item, state=state)
    return reports.variances_out(db, rows)


@router.post("/standard/variances", response_model=VarianceOut, status_code=201)
def propose_variance(data: VarianceIn, actor: Actor = Depends(admin_only),
                     db: Session = DB_SESSION) -> Any:
    """Declare a current difference of a region's guide (统异弹性空间), to be approved."""
    variance = std.propose_variance(db_session=db, actor=actor, **data.model_dump())
    return reports.variance_out(variance, data.basic_code)


@router.post("/standard/variances/{variance_id}/{action}", response_model=VarianceOut)
def decide_variance(variance_id: uuid.UUID, action: str, data: VarianceDecisionIn | None = None,
                    actor: Actor = Depends(admin_only), db: Session = DB_SESSION) -> Any:
    """Approve, reject or revoke a declaration (`action` is approve, reject or revoke)."""
    if action not in ("approve", "reject", "revoke"):
        raise InvalidInput(f"未知操作 {action} / unknown action", details={"field": "action"})
    variance = std.decide_variance(db_session=db, actor=actor, variance_id=variance_id,
                                   action=action, note=data.note if data else "")
    return reports.variances_out(db, [variance])[0]


# ------------------------------------------------------------------ alignment

_UPLOAD = {"requestBody": {"content": {
    XLSX: {"schema": {"type": "string", "format": "binary"}},
    "multipart/form-data": {"schema": {"type": "object", "properties": {
        "file": {"type": "string", "format": "binary"}}}}}, "required": True}}


async def _upload(request: Request, limit: int) -> tuple[bytes, str]:
    if int(request.headers.get("content-length") or 0) > limit:
        raise TooLarge(f"文件超过 {limit} 字节 / file larger than {limit} bytes")
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "multipart/form-data":
        form = await request.form()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise InvalidInput("请上传文件(字段 file)/ upload the file as field 'file'",
                               details={"field": "file"})
        raw, name = await upload.read(), upload.filename or ""
    else:
        raw, name = await request.body(), ""
    if len(raw) > limit:
        raise TooLarge(f"文件超过 {limit} 字节 / file larger than {limit} bytes")
    return raw, name


@router.post("/alignment/batches", response_model=BatchOut, status_code=201,
             openapi_extra=_UPLOAD)
async def import_batch(request: Request, region: str = Query(..., min_length=6, max_length=12),
                       actor: Actor = Depends(admin_only), db: Session = DB_SESSION,
                       settings: Settings = Depends(get_settings_dep)) -> Any:
    """Import a region's local item list (.xlsx) and match every line: all or nothing."""
    raw, name = await _upload(request, settings.max_upload_bytes)

    def work() -> BatchOut:
        batch = alignment.import_list(db_session=db, actor=actor, region_code=region,
                                      data=raw, source_name=name)
        return reports.batch_out(db, batch)

    return await run_in_threadpool(work)


@router.get("/alignment/batches", response_model=list[BatchOut])
def list_batches(actor: Actor = Depends(admin_only), db: Session = DB_SESSION) -> Any:
    """The local lists in the admin's scope, newest first."""
    return [reports.batch_out(db, b) for b in alignment.list_batches(db_session=db, actor=actor)]


@router.get("/alignment/batches/{batch_id}/lines", response_model=list[LineOut],
            responses={200: {"content": {XLSX: {}}}})
def list_lines(batch_id: uuid.UUID, status: str | None = None,
               limit: int = Query(50, ge=1, le=1000),
               offset: int = 0, format: str = _FORMAT, actor: Actor = Depends(admin_only),
               db: Session = DB_SESSION) -> Any:
    """A batch's lines with suggestions (status=review: the queue for a person)."""
    if format == "xlsx":
        lines = alignment.list_lines(db_session=db, actor=actor, batch_id=batch_id,
                                     status=status, limit=alignment.MAX_LINES)
        return _xlsx(reports.batch_xlsx(db, lines), f"alignment-{batch_id}.xlsx")
    lines = alignment.list_lines(db_session=db, actor=actor, batch_id=batch_id, status=status,
                                 limit=limit, offset=offset)
    return reports.lines_out(db, lines)


@router.post("/alignment/lines/{line_id}/decision", response_model=LineOut)
def decide_line(line_id: uuid.UUID, data: DecisionIn, actor: Actor = Depends(admin_only),
                db: Session = DB_SESSION) -> Any:
    """Confirm, correct or reject one line's match; later imports learn from it."""
    line = alignment.decide_line(db_session=db, actor=actor, line_id=line_id,
                                 action=data.action, basic_code=data.basic_code)
    return reports.lines_out(db, [line])[0]
