"""代收代办(跨省) at the window: the clerk receives an application for another region's
item, records the window's own checks, and the federation forwards form and materials to
the node that handles it (federation.modes.forward, mode receive_and_forward); the page
of the forwarded case then follows the handling node's status, mirrored event by event.
Once the handling node's decision has arrived, the window delivers the result there
(federation.modes.deliver: pick-up, post or e-licence) and the handling node records 送达.
The list of this node's forwarded cases has a 待送达 filter; the 数据回流 result records
of this region's people have their own page.

Only items another node offers across regions (the signed federation registry says
which) are offered here; without a registry the section says the node is not federated.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from types import SimpleNamespace
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import FormData, UploadFile

from tongban.cases import service as cases
from tongban.catalog import service as catalog
from tongban.catalog.schemas import GuidePage
from tongban.config import Settings
from tongban.errors import DomainError, InvalidInput
from tongban.federation import modes, registry, supplements
from tongban.federation.schemas import (
    ChecksIn,
    DeliverIn,
    ForwardedCaseOut,
    ForwardIn,
    MaterialIn,
    SupplyIn,
)
from tongban.identity import service as identity
from tongban.web import case_view, catalog_view, forms
from tongban.web.render import POSTED, WebRoute, page, web_db
from tongban.web.routes import web_context

router = APIRouter(route_class=WebRoute, include_in_schema=False,
                   dependencies=[Depends(web_context)])

MODE = "receive_and_forward"
# What the receiving node itself did with a forwarded case (the rest mirrors the
# handling node's case events, as "remote.<action>").
OWN_ACTIONS = {"received": "窗口收件", "forwarded": "转办理地", "delivered_here": "窗口送达",
               "purged": "清除转办副本", "licence_received": "收到电子证照",
               "undeliverable": "转办失败", "supplied_here": "补正材料已转办理地",
               "withdrawal_sent": "撤回申请已转办理地"}
# A forwarded case's own states (the rest are the handling node's case states).
FORWARD_STATES = {"forwarding": "转办中", "failed": "转办失败"}
# Events that only come from the handling node without a case action of its own.
REMOTE_ONLY = {"failed": "办理地退回", "federation_received": "办理地接收",
               "request_refused": "办理地未能办理该请求"}
# What the window can do about delivery, by modes.delivery_stage.
DELIVERY_STAGES = {"not_window": "由办理地送达", "waiting": "待办理地决定",
                   "ready": "待送达", "delivered": "已送达", "closed": "已终结"}
LIST_FILTERS = {"": "全部", "ready": "待送达"}
# Why the window cannot deliver yet (the page says it instead of offering the form).
NOT_YET = {"waiting": "办理地尚未作出决定，暂不能送达",
           "closed": "办件已在办理地终结，无需送达"}
CHECKS = (("identity_checked", "已核验申请人身份"), ("form_checked", "已核验申请表"),
          ("materials_checked", "已核验材料原件"))


def offered_elsewhere(*, db_session: Session, settings: Settings) -> dict[str, str] | None:
    """Implementation code -> handling region, for items other nodes receive across
    regions; None when this node has no valid federation registry."""
    try:
        reg = registry.current(db_session=db_session)
    except DomainError:
        return None
    return {code: entry.region_code for entry in reg.nodes.values()
            if entry.region_code != settings.node_region for code in entry.offered}


def forward_hits(*, db_session: Session, settings: Settings, q: str | None
                 ) -> list[Any] | None:
    """Catalog hits (any region) another node offers for 异地代收代办; None: not federated."""
    offered = offered_elsewhere(db_session=db_session, settings=settings)
    if offered is None:
        return None
    hits = catalog.search(db_session=db_session, q=q or None, region_code=None, limit=100).items
    out = []
    for hit in hits:
        if hit.implementation_code not in offered:
            continue
        modes_offered = catalog.guide(db_session=db_session,
                                      implementation_code=hit.implementation_code
                                      ).guide.cross_region_modes
        if MODE in modes_offered:
            out.append(hit)
    return out[:20]


def _uploads(guide_page: GuidePage) -> list[Any]:
    """What the window collects as files: the handling node holds none of this person's
    e-licences, so a licence material goes as its scanned original too."""
    return [m for m in guide_page.guide.materials if m.source in cases.UPLOADABLE_SOURCES]


def _form_page(request: Request, guide_page: GuidePage, person: Any, *, raw: dict[str, str],
               errors: dict[str, Any], key: str, status: int = 200,
               error: DomainError | None = None, checks: set[str] | None = None) -> Response:
    return page(request, "workbench/forward_form.html", {
        "g": guide_page, "person": person, "fields": forms.fields_of(guide_page.form_schema),
        "raw": raw, "errors": errors, "key": key, "CHECKS": CHECKS, "checked": checks or set(),
        "uploads": _uploads(guide_page), "error": error,
        "error_lines": case_view.error_lines(error) if error else []}, status=status)


@router.get("/workbench/intake/forward/{code}", response_class=HTMLResponse)
def forward_form(request: Request, code: str, person: uuid.UUID,
                 db: Session = Depends(web_db)) -> Response:
    """The other region's form, the window's checks and the materials to forward."""
    from tongban.web.workbench import require_staff

    require_staff(request, "clerk")
    guide_page = catalog.guide(db_session=db, implementation_code=code)
    who = identity.get_person(db_session=db, person_id=person)
    return _form_page(request, guide_page, who, raw={}, errors={},
                      key=secrets.token_urlsafe(24))


def posted_materials(posted: Any, wanted: list[Any], limit: int) -> list[MaterialIn]:
    """The files a window form posted (`file_<code>`) for the `wanted` materials."""
    out = []
    for m in wanted:
        upload = posted.get(f"file_{m.code}")
        if not isinstance(upload, UploadFile) or not upload.filename:
            continue
        data = upload.file.read(limit + 1)
        if data:
            out.append(MaterialIn(code=m.code, filename=upload.filename[:255],
                                  content_base64=base64.b64encode(data).decode()))
    return out


def posted_supply(posted: FormData, fc: ForwardedCaseOut, limit: int) -> SupplyIn:
    """What a 补正 form posted (the window's or the applicant's): a file (`file_<code>`)
    for each material the handling region's open notice asks for, and a note."""
    codes = [i["material_code"] for i in (fc.open_notice or {}).get("items", [])
             if i.get("material_code")]
    note = posted.get("note")
    return SupplyIn(materials=posted_materials(posted, [SimpleNamespace(code=c) for c in codes],
                                               limit),
                    note=note.strip()[:2000] if isinstance(note, str) and note.strip() else None)


def person_of(db: Session, value: Any) -> Any:
    """The applicant a window form names (its `_person` field); 422 when it names none."""
    try:
        person_id = uuid.UUID(str(value))
    except ValueError:
        raise InvalidInput("须指明申请人 / name the applicant",
                           details=[{"field": "person", "message": "必填 / required"}]) from None
    return identity.get_person(db_session=db, person_id=person_id)


@router.post("/workbench/intake/forward/{code}", response_class=HTMLResponse)
def forward_submit(request: Request, code: str, db: Session = Depends(web_db),
                   posted: FormData = POSTED) -> Response:
    """Receive here, forward there: one forwarded case, sent through the outbox."""
    from tongban.web.workbench import require_staff

    actor = require_staff(request, "clerk")
    settings = request.app.state.settings
    fields = {k: v for k, v in posted.items() if isinstance(v, str)}
    key, person_id = fields.pop("_key", ""), fields.pop("_person", "")
    guide_page = catalog.guide(db_session=db, implementation_code=code)
    who = person_of(db, person_id)
    checked = {name for name, _ in CHECKS if fields.get(name) == "on"}
    parsed = forms.parse(guide_page.form_schema, fields)
    if not parsed.ok:
        return _form_page(request, guide_page, who, raw=parsed.raw, errors=parsed.errors,
                          key=key, status=422, checks=checked)
    try:
        out = modes.forward(db_session=db, settings=settings, actor=actor, data=ForwardIn(
            implementation_code=code, mode=MODE, form_data=parsed.data, person_id=who.id,
            materials=posted_materials(posted, _uploads(guide_page),
                                             settings.max_upload_bytes),
            checks=ChecksIn(**{name: name in checked for name, _ in CHECKS},
                            note=fields.get("check_note") or None),
            idempotency_key=key or None))
    except DomainError as exc:
        db.rollback()
        return _form_page(request, guide_page, who, raw=parsed.raw, errors={}, key=key,
                          status=exc.status, error=exc, checks=checked)
    db.commit()
    return RedirectResponse(f"/workbench/forwarded/{out.id}", status_code=303)


def region_names(*, db_session: Session, codes: set[str]) -> dict[str, str]:
    """Region code -> name from this node's region table (the code where it is unknown)."""
    names = {}
    for code in codes:
        path = catalog_view.region_path(db_session=db_session, code=code)
        names[code] = path[-1].name if path else code
    return names


@router.get("/workbench/forwarded", response_class=HTMLResponse)
def forwarded_list(request: Request, show: str = "", db: Session = Depends(web_db)) -> Response:
    """This node's forwarded cases (跨省通办) with their state; `show=ready`: 待送达."""
    from tongban.web.workbench import require_staff

    actor = require_staff(request)
    show = show if show in LIST_FILTERS else ""
    rows = modes.list_forwarded(db_session=db, settings=request.app.state.settings, actor=actor,
                                ready_to_deliver=show == "ready")
    return page(request, "workbench/forwarded_list.html", {
        "rows": [(fc, modes.delivery_stage(fc)) for fc in rows], "show": show,
        "LIST_FILTERS": LIST_FILTERS, "DELIVERY_STAGES": DELIVERY_STAGES,
        "MODE_LABEL": modes.MODE_LABEL, "STATE_LABELS": _state_labels(),
        "regions": region_names(db_session=db, codes={fc.handling_region for fc in rows})})


def _state_labels() -> dict[str, str]:
    return {**case_view.STATE_LABELS, **FORWARD_STATES}


def _forwarded_page(request: Request, db: Session, forwarded_id: uuid.UUID, *,
                    status: int = 200, error: DomainError | None = None,
                    raw: dict[str, str] | None = None) -> Response:
    """The forwarded-case page; `raw` keeps what was typed into the delivery form."""
    from tongban.web.workbench import require_staff

    actor = require_staff(request)
    fc = modes.view(db_session=db, settings=request.app.state.settings, actor=actor,
                    forwarded_id=forwarded_id)
    return page(request, "workbench/forwarded.html", {
        "fc": fc, "MODE_LABEL": modes.MODE_LABEL, "STATE_LABELS": _state_labels(),
        "events": [(e, *event_label(e.action)) for e in fc.events],
        "stage": modes.delivery_stage(fc), "NOT_YET": NOT_YET,
        "delivery": delivery_of(fc), "DELIVERY_METHODS": case_view.DELIVERY_METHODS,
        "regions": region_names(db_session=db, codes={fc.handling_region}),
        "raw": raw or {}, "error": error,
        "error_lines": case_view.error_lines(error) if error else []}, status=status)


@router.get("/workbench/forwarded/{forwarded_id}", response_class=HTMLResponse)
def forwarded_page(request: Request, forwarded_id: uuid.UUID,
                   db: Session = Depends(web_db)) -> Response:
    """A forwarded case: where it went, the handling node's case and its mirrored history,
    and (异地代收) the delivery of its result at this window."""
    return _forwarded_page(request, db, forwarded_id)


def delivery_of(fc: ForwardedCaseOut) -> dict[str, Any] | None:
    """How this window delivered the result (the `delivered_here` event), if it did."""
    for event in reversed(fc.events):
        if event.action == "delivered_here":
            return {"at": event.at, "by": event.actor_name, **event.data.get("delivery", {})}
    return None


DELIVERY_FIELDS = ("method", "tracking_number", "carrier", "pickup_window", "licence_reference")


def _typed(form: FormData) -> dict[str, str]:
    """What was typed into the delivery form."""
    return {name: value.strip() for name in DELIVERY_FIELDS
            if isinstance(value := form.get(name), str)}


def _delivery(raw: dict[str, str]) -> DeliverIn:
    """The delivery as the service takes it; InvalidInput names each problem."""
    try:
        return DeliverIn.model_validate({k: v for k, v in raw.items() if v})
    except ValidationError as exc:
        problems = [{"field": ".".join(str(p) for p in e["loc"]) or "delivery",
                     "message": str(e["msg"]).removeprefix("Value error, ")}
                    for e in exc.errors()]
        raise InvalidInput("送达信息有误 / the delivery details are invalid",
                           details=problems) from None


@router.post("/workbench/forwarded/{forwarded_id}/deliver", response_class=HTMLResponse)
def deliver(request: Request, forwarded_id: uuid.UUID, db: Session = Depends(web_db),
            form: FormData = POSTED) -> Response:
    """送达 at the receiving window, once the handling node's decision has arrived; a
    refusal comes back on the page with what was typed, and nothing is written."""
    from tongban.web.workbench import require_staff

    actor = require_staff(request, "clerk")
    raw = _typed(form)
    try:
        modes.deliver(db_session=db, settings=request.app.state.settings, actor=actor,
                      forwarded_id=forwarded_id, data=_delivery(raw))
    except DomainError as exc:
        db.rollback()
        if exc.status == 404:
            raise
        return _forwarded_page(request, db, forwarded_id, status=exc.status, error=exc,
                               raw=raw)
    db.commit()
    return RedirectResponse(f"/workbench/forwarded/{forwarded_id}", status_code=303)


@router.post("/workbench/forwarded/{forwarded_id}/supply", response_class=HTMLResponse)
def supply(request: Request, forwarded_id: uuid.UUID, db: Session = Depends(web_db),
           posted: FormData = POSTED) -> Response:
    """补正 at the receiving window: the files the handling region's notice asks for go
    to it (federation.supplements.supply); a refusal comes back on the page."""
    from tongban.web.workbench import require_staff

    actor = require_staff(request, "clerk")
    settings = request.app.state.settings
    try:
        fc = modes.view(db_session=db, settings=settings, actor=actor,
                        forwarded_id=forwarded_id)
        supplements.supply(db_session=db, settings=settings, actor=actor,
                           forwarded_id=forwarded_id,
                           data=posted_supply(posted, fc, settings.max_upload_bytes))
    except DomainError as exc:
        db.rollback()
        if exc.status == 404:
            raise
        return _forwarded_page(request, db, forwarded_id, status=exc.status, error=exc)
    db.commit()
    return RedirectResponse(f"/workbench/forwarded/{forwarded_id}", status_code=303)


@router.get("/workbench/results", response_class=HTMLResponse)
def result_records(request: Request, db: Session = Depends(web_db)) -> Response:
    """数据回流: results of cases handled elsewhere for people of the staff member's region."""
    from tongban.web.workbench import require_staff

    actor = require_staff(request)
    rows = modes.result_records(db_session=db, settings=request.app.state.settings,
                                actor=actor)
    return page(request, "workbench/results.html", {
        "rows": rows, "STATE_LABELS": case_view.STATE_LABELS,
        "regions": region_names(db_session=db, codes={r.handling_region for r in rows})})


def event_label(action: str) -> tuple[bool, str]:
    """(happened at the handling node, Chinese label) of a forwarded case's event."""
    if action.startswith("remote."):
        inner = action.removeprefix("remote.")
        if inner in REMOTE_ONLY:
            return True, REMOTE_ONLY[inner]
        return True, "提交申请" if inner == "submit" else case_view.ACTION_LABELS.get(
            inner, inner)
    return False, OWN_ACTIONS.get(action, action)
