"""HTTP routes of the catalog domain (thin: validate, call the service, map errors).

Reads are public (the catalog is what applicants browse); writes need catalog_admin, and
the service checks that the admin's scope covers the region concerned.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy.orm import Session

from tongban.api_deps import DB_SESSION, get_settings_dep
from tongban.catalog import exchange, service
from tongban.catalog.schemas import (
    DepartmentIn,
    DepartmentOut,
    DepartmentPage,
    DraftIn,
    GuidePage,
    ImplementationIn,
    ImportReport,
    ItemIn,
    ItemOut,
    ItemPage,
    ItemUpdate,
    RegionDetail,
    RegionOut,
    SearchPage,
    VersionOut,
    WithdrawIn,
)
from tongban.config import Settings
from tongban.errors import InvalidInput, TooLarge
from tongban.identity.actor import Actor
from tongban.identity.deps import optional_actor, require_roles
from tongban.identity.models import Role

router = APIRouter(tags=["catalog"])
admin_only = require_roles(Role.catalog_admin)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


# ------------------------------------------------------------------ regions


@router.get("/regions/{code}", response_model=RegionDetail)
def get_region(code: str, db: Session = DB_SESSION) -> RegionDetail:
    """A region with its parents (top first) and its children."""
    return service.get_region(db_session=db, region_code=code)


@router.get("/regions", response_model=list[RegionOut])
def list_regions(parent: str | None = Query(None, description="parent region code; "
                                            "omitted: the top level"),
                 db: Session = DB_SESSION) -> Any:
    """The regions directly under `parent`."""
    return service.list_children(db_session=db, parent_code=parent)


# ------------------------------------------------------------------ departments


@router.get("/departments", response_model=DepartmentPage)
def list_departments(region: str | None = None, limit: int = 50, cursor: str | None = None,
                     db: Session = DB_SESSION) -> DepartmentPage:
    """Departments in a region and the regions under it."""
    rows, next_cursor = service.list_departments(db_session=db, region_code=region,
                                                 limit=limit, cursor=cursor)
    return DepartmentPage(items=[DepartmentOut.model_validate(d) for d in rows],
                          next_cursor=next_cursor)


@router.post("/departments", response_model=DepartmentOut, status_code=201)
def create_department(data: DepartmentIn, actor: Actor = Depends(admin_only),
                      db: Session = DB_SESSION) -> Any:
    """Register a department (实施主体) in the admin's region."""
    return service.create_department(db_session=db, actor=actor, data=data)


@router.get("/departments/{department_id}", response_model=DepartmentOut)
def get_department(department_id: uuid.UUID, db: Session = DB_SESSION) -> Any:
    """One department."""
    return service.get_department(db_session=db, department_id=department_id)


# ------------------------------------------------------------------ items


@router.get("/items", response_model=ItemPage)
def list_items(q: str | None = None, item_type: str | None = None, limit: int = 20,
               cursor: str | None = None, db: Session = DB_SESSION) -> ItemPage:
    """Standard items by Chinese, pinyin or initials (`gjj`), best match first."""
    rows, next_cursor = service.list_items(db_session=db, q=q, item_type=item_type,
                                           limit=limit, cursor=cursor)
    return ItemPage(items=[ItemOut.model_validate(i) for i in rows], next_cursor=next_cursor)


@router.post("/items", response_model=ItemOut, status_code=201)
def create_item(data: ItemIn, actor: Actor = Depends(admin_only),
                db: Session = DB_SESSION) -> Any:
    """Add a standard item (province-wide or national admins only)."""
    return service.create_item(db_session=db, actor=actor, data=data)


@router.get("/items/{basic_code}", response_model=ItemOut)
def get_item(basic_code: str, db: Session = DB_SESSION) -> Any:
    """One standard item by its 基本编码."""
    return service.get_item_by_code(db_session=db, basic_code=basic_code)


@router.patch("/items/{basic_code}", response_model=ItemOut)
def update_item(basic_code: str, data: ItemUpdate, actor: Actor = Depends(admin_only),
                db: Session = DB_SESSION) -> Any:
    """Change a standard item (its code never changes)."""
    return service.update_item(db_session=db, actor=actor, basic_code=basic_code, data=data)


# ------------------------------------------------------------------ implementations


@router.get("/implementations", response_model=SearchPage)
def search_implementations(
    q: str | None = None, region: str | None = None, department: uuid.UUID | None = None,
    item_type: str | None = None, applicant_type: str | None = None, limit: int = 20,
    cursor: str | None = None, db: Session = DB_SESSION,
) -> SearchPage:
    """Published implementations by Chinese, pinyin or initials, with filters."""
    return service.search(db_session=db, q=q, region_code=region, department_id=department,
                          item_type=item_type, applicant_type=applicant_type, limit=limit,
                          cursor=cursor)


@router.post("/implementations", response_model=VersionOut, status_code=201)
def create_implementation(data: ImplementationIn, actor: Actor = Depends(admin_only),
                          db: Session = DB_SESSION) -> Any:
    """Claim an item for a department: the implementation and its first draft."""
    return service.create_draft(db_session=db, actor=actor, data=data)


@router.put("/implementations/{code}/draft", response_model=VersionOut)
def put_draft(code: str, data: DraftIn, actor: Actor = Depends(admin_only),
              db: Session = DB_SESSION) -> Any:
    """Edit the open draft, or open a new one over the published version."""
    return service.update_draft(db_session=db, actor=actor, implementation_code=code, data=data)


@router.post("/implementations/{code}/publish", response_model=VersionOut)
def publish(code: str, actor: Actor = Depends(admin_only), db: Session = DB_SESSION) -> Any:
    """Publish the draft; the previous version is superseded."""
    return service.publish(db_session=db, actor=actor, implementation_code=code)


@router.post("/implementations/{code}/withdraw", response_model=VersionOut)
def withdraw(code: str, data: WithdrawIn | None = None, actor: Actor = Depends(admin_only),
             db: Session = DB_SESSION) -> Any:
    """Stop offering the implementation."""
    return service.withdraw(db_session=db, actor=actor, implementation_code=code,
                            reason=data.reason if data else "")


@router.get("/implementations/{code}", response_model=GuidePage)
def get_guide(code: str, db: Session = DB_SESSION) -> GuidePage:
    """The guide (办事指南): everything an applicant needs on one page."""
    return service.guide(db_session=db, implementation_code=code)


def _sees_drafts(actor: Actor | None) -> bool:
    return actor is not None and actor.has(Role.catalog_admin)


@router.get("/implementations/{code}/versions", response_model=list[VersionOut])
def list_versions(code: str, actor: Actor | None = Depends(optional_actor),
                  db: Session = DB_SESSION) -> Any:
    """Every version, oldest first (drafts only for catalog admins)."""
    return service.list_versions(db_session=db, implementation_code=code,
                                 include_drafts=_sees_drafts(actor))


@router.get("/implementations/{code}/versions/{number}", response_model=VersionOut)
def get_version(code: str, number: int, actor: Actor | None = Depends(optional_actor),
                db: Session = DB_SESSION) -> Any:
    """One version by number (a draft only for catalog admins)."""
    return service.get_version_by_number(db_session=db, implementation_code=code,
                                         version=number, include_drafts=_sees_drafts(actor))


# ------------------------------------------------------------------ exchange

_IMPORT_BODY = {
    "requestBody": {"content": {
        "application/json": {"schema": {"type": "object"}},
        XLSX: {"schema": {"type": "string", "format": "binary"}},
        "multipart/form-data": {"schema": {"type": "object", "properties": {
            "file": {"type": "string", "format": "binary"}}}},
    }, "required": True},
}


async def import_upload(request: Request) -> tuple[bytes, str]:
    """The bytes of an import request (JSON body, raw .xlsx body, or an uploaded file) and
    their kind; read on the event loop, bounded by the node's body limit before and while
    reading (tongban.body_limits)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "multipart/form-data":
        return await request.body(), kind
    upload = (await request.form()).get("file")
    if upload is None or isinstance(upload, str):
        raise InvalidInput("请上传文件(字段 file)/ upload the file as field 'file'",
                           details={"field": "file"})
    name = (upload.filename or "").lower()
    return await upload.read(), "application/json" if name.endswith(".json") else XLSX


def _document(raw: bytes, kind: str, limit: int) -> dict[str, Any] | bytes:
    """The document to import: parsed JSON, or the .xlsx bytes."""
    if len(raw) > limit:
        raise TooLarge(f"文件超过 {limit} 字节 / file larger than {limit} bytes")
    return raw if kind != "application/json" else exchange.parse_json(raw)


@router.post("/catalog/import", response_model=ImportReport, openapi_extra=_IMPORT_BODY)
def import_catalog(body: tuple[bytes, str] = Depends(import_upload),
                   actor: Actor = Depends(admin_only), db: Session = DB_SESSION,
                   settings: Settings = Depends(get_settings_dep)) -> ImportReport:
    """Import a catalog document (JSON body, .xlsx body or upload): all of it or nothing."""
    doc = _document(*body, settings.max_upload_bytes)
    return exchange.import_document(db_session=db, doc=doc, actor=actor)


@router.get("/catalog/export", responses={200: {"content": {XLSX: {}}}})
def export_catalog(format: str = Query("json", pattern="^(json|xlsx)$"),
                   _actor: Actor = Depends(admin_only), db: Session = DB_SESSION) -> Any:
    """The whole catalog as an exchange document (docs/catalog-format.md)."""
    out = exchange.export_document(db_session=db, fmt=format)
    if isinstance(out, bytes):
        return Response(out, media_type=XLSX, headers={
            "Content-Disposition": 'attachment; filename="catalog.xlsx"'})
    return out


# Standardisation and alignment live in their own module; mounted with the catalog's.
from tongban.catalog.standard_api import router as _standard_router  # noqa: E402

router.include_router(_standard_router)
