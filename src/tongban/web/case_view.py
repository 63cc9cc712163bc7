"""A case as the UI shows it (to its applicant and to staff), and action forms → payloads.

The case service decides what may happen; this module only labels what it returns and
turns the fields of an action form into the payload the service validates.
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Callable
from typing import Any

from fastapi import UploadFile
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from tongban.cases import service as cases
from tongban.cases.schemas import SPECIAL_PROCEDURE_LABELS
from tongban.cases.workflow import ACTION_LABELS, STATE_LABELS
from tongban.catalog import service as catalog
from tongban.config import Settings
from tongban.errors import DomainError, InvalidInput, NotFound
from tongban.identity.actor import Actor
from tongban.supervision.ratings import content as rating_content
from tongban.supervision.ratings import service as ratings
from tongban.supervision.ratings.workflow import ACTION_LABELS as RATING_ACTIONS
from tongban.supervision.ratings.workflow import STATE_LABELS as HANDLING_LABELS
from tongban.supervision.warnings.service import CASE_FACT_LABELS
from tongban.web import forms

APPLICANT_ACTIONS = ("supply", "withdraw")
# The timeline names the workflow's actions and the facts supervision records on a case.
TIMELINE_LABELS = ChainMap(CASE_FACT_LABELS, ACTION_LABELS)  # type: ignore[arg-type]  # read only
# Actions that must state a reason in law are marked by the workflow (needs_reason); the
# form always offers the field and marks it required for these.
REASON_REQUIRED = frozenset({"refuse", "deny", "terminate", "revoke_commitment", "extend",
                             "start_special_procedure", "request_supplement"})
DELIVERY_METHODS = {"licence": "电子证照", "post": "邮寄", "pickup": "窗口领取"}


def _guide_and_schema(db: Session, version_id: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    if version_id is None:
        return {}, {}
    try:
        version = catalog.get_version(db_session=db, version_id=version_id)
    except NotFound:
        return {}, {}
    return version.guide, version.form_schema


def detail_context(*, db_session: Session, actor: Actor, case_number: str) -> dict[str, Any]:
    """Everything the case page shows: state, timeline, deadlines, notices, materials."""
    detail = cases.get(db_session=db_session, actor=actor, case_number=case_number)
    case = detail.case
    guide, schema = _guide_and_schema(db_session, case.implementation_version_id)
    materials_by_code = {m["code"]: m for m in guide.get("materials", [])}
    current = [m for m in detail.materials if m.superseded_by is None]
    open_notice = next((n for n in detail.notices if n.answered_at is None), None)
    labels = {f.name: f.label for f in forms.fields_of(schema)}
    return {
        "detail": detail, "case": case, "guide": guide,
        "state_label": STATE_LABELS.get(case.state, case.state),
        "STATE_LABELS": STATE_LABELS, "ACTION_LABELS": TIMELINE_LABELS,
        "SPECIAL_PROCEDURES": SPECIAL_PROCEDURE_LABELS, "DELIVERY_METHODS": DELIVERY_METHODS,
        "REASON_REQUIRED": REASON_REQUIRED,
        "form_rows": [(k, labels.get(k, k), _shown(v)) for k, v in detail.form_data.items()],
        "masked_fields": set(detail.masked_fields),
        "materials": current, "guide_materials": materials_by_code,
        # a licence material without an attached e-licence takes its paper copy (scan)
        "uploadable": [m for m in guide.get("materials", [])
                       if m.get("source", "upload") in cases.UPLOADABLE_SOURCES
                       and not any(c.material_code == m["code"] and c.source == "licence"
                                   for c in current)],
        "deficiency_allowed": [m for m in guide.get("materials", [])
                               if m.get("deficiency_allowed")],
        "open_notice": open_notice,
        "owed_codes": _owed(open_notice, case),
        "rating": ratings.case_rating(db_session=db_session, actor=actor,
                                      case_number=case.number),
        "rateable": case.state in ratings.RATEABLE_STATES,
        "RATING_LEVELS": rating_content.LEVELS,
        "RATING_INDICATORS": rating_content.ONLINE_INDICATORS,
        "HANDLING_LABELS": HANDLING_LABELS, "RATING_ACTIONS": RATING_ACTIONS,
        "bundle_visible": detail.bundle_case is not None
        and cases.can_see(actor, detail.bundle_case),
    }


def _shown(value: Any) -> Any:
    """A form value for display: booleans as 是/否 (translated by the template)."""
    if isinstance(value, bool):
        return "是" if value else "否"
    return value


def _owed(notice: Any, case: Any) -> list[str]:
    codes = [i["material_code"] for i in (notice.items if notice else [])
             if i.get("material_code")]
    return codes + [c for c in (case.deficient_materials or []) if c not in codes]


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _int(form: FormData, name: str) -> int:
    raw = _text(form, name)
    if not raw.isdigit():
        raise InvalidInput("请输入整数 / a whole number is required",
                           details=[{"field": name, "message": "请输入整数"}])
    return int(raw)


def _supplement_items(form: FormData) -> list[dict[str, str]]:
    """The checklist of the guide's materials, each with what is wrong (or a default)."""
    items = []
    for code in form.getlist("material"):
        if isinstance(code, str) and code:
            problem = _text(form, f"problem_{code}") or "请提交或重新提交该材料"
            items.append({"material_code": code, "problem": problem})
    return items


PAYLOADS: dict[str, Any] = {
    "request_supplement": lambda f: {"items": _supplement_items(f)},
    "accept_with_deficiency": lambda f: {
        "deficient_materials": [c for c in f.getlist("deficient") if isinstance(c, str)],
        "promise_date": _text(f, "promise_date") or None},
    "accept_on_commitment": lambda f: {"commitment": _text(f, "commitment")},
    "approve_on_commitment": lambda f: {"commitment": _text(f, "commitment")},
    "start_special_procedure": lambda f: {"kind": _text(f, "kind")},
    "extend": lambda f: {"days": _int(f, "days")},
    "deliver": lambda f: {k: v for k, v in {
        "method": _text(f, "method"), "tracking_number": _text(f, "tracking_number") or None,
        "carrier": _text(f, "carrier") or None,
        "pickup_window": _text(f, "pickup_window") or None}.items() if v is not None},
    "record_payment": lambda f: {"amount": _text(f, "amount"),
                                 "method": _text(f, "pay_method") or "window"},
}


def action_payload(action: str, form: FormData) -> tuple[str | None, dict[str, Any]]:
    """(reason, data) for `cases.act` from an action form; the service validates both."""
    reason = _text(form, "reason") or None
    build = PAYLOADS.get(action)
    if build is not None:
        return reason, build(form)
    note = _text(form, "note")
    return reason, ({"note": note} if note else {})


def error_lines(exc: Any) -> list[str]:
    """The messages of a domain error's details, one per line, for the page."""
    details = getattr(exc, "details", None)
    if isinstance(details, list):
        return [f"{d.get('field', '')}: {d.get('message', '')}" if isinstance(d, dict)
                else str(d) for d in details]
    if isinstance(details, dict) and "missing" in details:
        return [f"missing: {', '.join(map(str, details['missing']))}"]
    return []


def attach_upload(
    *, db: Session, settings: Settings, actor: Actor, number: str, material_code: str,
    file: UploadFile, attach: Callable[..., Any] = cases.attach_material,
) -> DomainError | None:
    """Store an uploaded file as a material of the case (or bundle) and commit; on a
    refusal roll back and return why, for the page to show beside the upload."""
    try:
        attach(db_session=db, settings=settings, actor=actor, case_number=number,
               material_code=material_code, filename=file.filename or "file",
               data=file.file.read(settings.max_upload_bytes + 1))
    except DomainError as exc:
        db.rollback()
        return exc
    db.commit()
    return None
