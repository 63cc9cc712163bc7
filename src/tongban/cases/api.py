"""HTTP routes of the cases domain (thin: validate, call the service, map errors)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from fastapi import APIRouter, Depends, File, Form, Header, Query, Response, UploadFile, status
from pydantic_core import to_json
from sqlalchemy import Row
from sqlalchemy.orm import Session

from tongban.api_deps import DB_SESSION, committed_json, get_settings_dep, json_response
from tongban.cases import clock, masking, queries, service
from tongban.cases.models import Case, WarningLevel
from tongban.cases.schemas import (
    ActionIn,
    CaseOut,
    CasePage,
    CaseSummary,
    DeadlinesOut,
    DeliveryOut,
    EventOut,
    ExtensionOut,
    MaterialOut,
    NoticeOut,
    PauseOut,
    PaymentOut,
    RevealIn,
    RevealOut,
    SubmitIn,
    TaskCaseOut,
)
from tongban.cases.workflow import ACTION_LABELS, STATE_LABELS, State
from tongban.config import Settings
from tongban.identity.actor import Actor
from tongban.identity.deps import current_actor

router = APIRouter(tags=["cases"])


def summary(case: Case) -> CaseSummary:
    """A case as a list row."""
    out = CaseSummary.model_validate(case)
    out.state_label = STATE_LABELS.get(case.state, case.state)
    return out


_SUMMARY_KEYS = tuple(column.key for column in queries.SUMMARY_COLUMNS)


def summary_dict(row: Row[Any]) -> dict[str, Any]:
    """A row of queries.SUMMARY_COLUMNS as a CaseSummary's fields: the list is encoded
    straight from these (the rows come from our own columns, so validating them again
    would only cost time; tests compare the output with CaseSummary's)."""
    fields = dict(zip(_SUMMARY_KEYS, row, strict=True))
    fields["state_label"] = STATE_LABELS.get(row.state, row.state)
    return fields


def detail_out(detail: service.CaseDetail) -> CaseOut:
    """A case with everything the detail page shows."""
    case, dl = detail.case, detail.deadlines
    base = summary(case).model_dump()
    events = [EventOut.model_validate(e) for e in detail.events]
    for event in events:
        event.action_label = ACTION_LABELS.get(event.action, event.action)
        if not detail.whole:
            event.data = masking.mask_tree(event.data)
    return CaseOut(
        **base,
        implementation_version_id=case.implementation_version_id,
        applicant_person_id=case.applicant_person_id,
        applicant_enterprise_id=case.applicant_enterprise_id,
        agent_authorisation_id=case.agent_authorisation_id, form_data=detail.form_data,
        masked_fields=detail.masked_fields,
        decision_reason=case.decision_reason, deficient_materials=case.deficient_materials,
        deficiency_promise_date=case.deficiency_promise_date,
        deadlines=DeadlinesOut(
            legal_days=case.legal_days, promised_days=case.promised_days,
            received_on=clock.local_date(case.submitted_at), accepted_on=dl.accepted_on,
            decided_on=clock.local_date(case.decided_at) if case.decided_at else None,
            legal_due_date=case.legal_due_date,
            promised_due_date=case.promised_due_date, provisional=dl.provisional,
            paused=case.paused, paused_days_total=case.paused_days_total,
            extension_days_total=case.extension_days_total, used_days=dl.used_days,
            days_left=dl.days_left, warning_level=case.warning_level,
            deemed_accepted=case.deemed_accepted,
            deemed_accepted_reason=case.deemed_accepted_reason,
            supplement_notice_due=dl.supplement_notice_due,
        ),
        allowed_actions=detail.allowed_actions, events=events,
        materials=[MaterialOut.model_validate(m) for m in detail.materials],
        notices=[NoticeOut.model_validate(n) for n in detail.notices],
        pauses=[PauseOut.model_validate(p) for p in detail.pauses],
        extensions=[ExtensionOut.model_validate(x) for x in detail.extensions],
        payments=[PaymentOut.model_validate(p) for p in detail.payments],
        deliveries=[DeliveryOut.model_validate(d) for d in detail.deliveries],
        tasks=[_task_out(t) for t in detail.tasks],
        bundle_case_number=detail.bundle_case.number if detail.bundle_case else None,
    )


def _task_out(case: Case) -> TaskCaseOut:
    out = TaskCaseOut.model_validate(case)
    out.state_label = STATE_LABELS.get(case.state, case.state)
    return out


@router.post("/cases", response_model=CaseOut, status_code=status.HTTP_201_CREATED)
def submit(
    body: SubmitIn, db: Session = DB_SESSION,
    settings: Settings = Depends(get_settings_dep), actor: Actor = Depends(current_actor),
    idempotency_key: str | None = Header(default=None, max_length=100),
) -> Response:
    """Apply for a published implementation; the same idempotency key returns the same case."""
    case = service.submit(
        db_session=db, settings=settings, actor=actor, form_data=body.form_data,
        channel=body.channel, implementation_code=body.implementation_code,
        version_id=body.version_id, applicant=body.applicant,
        idempotency_key=body.idempotency_key or idempotency_key,
    )
    out = detail_out(service.detail_of(db_session=db, actor=actor, case=case))
    return committed_json(db, out.model_dump_json(), status.HTTP_201_CREATED)


@router.get("/cases", response_model=CasePage)
def list_cases(
    db: Session = DB_SESSION, actor: Actor = Depends(current_actor),
    state: State | None = None, department_id: uuid.UUID | None = None,
    region: str | None = Query(default=None, pattern=r"^[0-9]{6}([0-9]{3}){0,2}$"),
    item_code: str | None = Query(default=None, max_length=12),
    warning_level: WarningLevel | None = None, applicant_person_id: uuid.UUID | None = None,
    applicant_enterprise_id: uuid.UUID | None = None, due_before: date | None = None,
    kind: str | None = Query(default=None, pattern=r"^(single|bundle|task)$"),
    parent_case_id: uuid.UUID | None = None,
    cursor: str | None = Query(default=None, max_length=96),
    limit: int = Query(default=50, ge=1, le=200),
    order: str = Query(default="new", pattern=r"^(new|due)$"),
) -> Response:
    """Cases the caller may see, newest first (`order=due`: earliest promised due date
    first); pass `next_cursor` back, with the same order, for the next page."""
    filters = service.CaseFilters(
        state=state, department_id=department_id, region=region, item_code=item_code,
        warning_level=warning_level, applicant_person_id=applicant_person_id,
        applicant_enterprise_id=applicant_enterprise_id, due_before=due_before, kind=kind,
        parent_case_id=parent_case_id,
    )
    rows, next_cursor = service.list_case_rows(db_session=db, actor=actor, filters=filters,
                                               cursor=cursor, limit=limit, order=order)
    return json_response(to_json({"items": [summary_dict(r) for r in rows],
                                  "next_cursor": next_cursor}))


@router.get("/cases/{number}", response_model=CaseOut)
def get_case(number: str, db: Session = DB_SESSION,
             actor: Actor = Depends(current_actor)) -> Response:
    """A case with its events, materials, notices, pauses, deadlines and allowed actions."""
    out = detail_out(service.get(db_session=db, actor=actor, case_number=number))
    return json_response(out.model_dump_json())


@router.post("/cases/{number}/reveal", response_model=RevealOut)
def reveal(number: str, body: RevealIn, db: Session = DB_SESSION,
           settings: Settings = Depends(get_settings_dep),
           actor: Actor = Depends(current_actor)) -> RevealOut:
    """One masked form field in full, for a clerk or reviewer handling the case, with the
    purpose stated; the reveal is audited."""
    value = service.reveal_form_field(db_session=db, settings=settings, actor=actor,
                                      case_number=number, field_name=body.field,
                                      purpose=body.purpose)
    return RevealOut(field=body.field, value=value)


@router.post("/cases/{number}/actions/{action}", response_model=CaseOut)
def act(
    number: str, action: str, body: ActionIn, db: Session = DB_SESSION,
    settings: Settings = Depends(get_settings_dep), actor: Actor = Depends(current_actor),
) -> Response:
    """Take a workflow action; 409 lists the actions allowed now when this one is not."""
    case = service.act(db_session=db, settings=settings, actor=actor, case_number=number,
                       action=action, reason=body.reason, data=body.data,
                       expected_version=body.expected_version)
    out = detail_out(service.detail_of(db_session=db, actor=actor, case=case))
    return committed_json(db, out.model_dump_json())


@router.post("/cases/{number}/materials", response_model=MaterialOut,
             status_code=status.HTTP_201_CREATED)
def upload_material(
    number: str, material_code: str = Form(max_length=40), file: UploadFile = File(),
    db: Session = DB_SESSION, settings: Settings = Depends(get_settings_dep),
    actor: Actor = Depends(current_actor),
) -> Any:
    """Upload a material (PDF, JPEG, PNG, OFD, DOCX, XLSX; checked by content)."""
    data = file.file.read(settings.max_upload_bytes + 1)
    material = service.attach_material(
        db_session=db, settings=settings, actor=actor, case_number=number,
        material_code=material_code, filename=file.filename or "file", data=data,
    )
    return MaterialOut.model_validate(material)


@router.get("/cases/{number}/materials/{material_id}/content")
def material_content(
    number: str, material_id: uuid.UUID, db: Session = DB_SESSION,
    settings: Settings = Depends(get_settings_dep), actor: Actor = Depends(current_actor),
) -> Response:
    """The bytes of an uploaded material, for someone who may see the case."""
    material, data = service.material_content(
        db_session=db, settings=settings, actor=actor, case_number=number,
        material_id=material_id,
    )
    filename = (material.filename or "file").replace('"', "")
    return Response(
        data, media_type=material.content_type or "application/octet-stream",
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{_quote(filename)}",
                 "X-Content-SHA256": material.sha256 or ""},
    )


def _quote(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="")
