"""HTTP routes of eligibility (thin: validate, call the service, map errors).

Rule sets are public (they are law as data); checks are staff work of the department
that runs the policy.
"""

from __future__ import annotations

import json
import uuid

from fastapi import APIRouter, Depends, File, Form, Query, Response, UploadFile
from sqlalchemy.orm import Session

from tongban.api_deps import DB_SESSION, get_settings_dep, json_response
from tongban.config import Settings
from tongban.eligibility import batch as batches
from tongban.eligibility import proactive, service
from tongban.eligibility.models import RuleSet
from tongban.eligibility.schemas import (
    CheckIn,
    CheckOut,
    DecisionIn,
    QualificationOut,
    RuleSetOut,
    RunIn,
    RunOut,
    check_out,
)
from tongban.identity.actor import Actor
from tongban.identity.deps import current_actor

router = APIRouter(prefix="/eligibility", tags=["eligibility"])


def rule_set_out(db: Session, row: RuleSet) -> RuleSetOut:
    department = service.department_of(db_session=db, rule_set=row)
    return RuleSetOut(code=row.code, version=row.version, name=row.name, kind=row.kind,
                      subject_kind=row.subject_kind, mode=row.mode,
                      confirmation=row.confirmation, department_name=department.name,
                      department_credit_code=department.credit_code,
                      effective_from=row.effective_from, effective_until=row.effective_until,
                      sha256=row.sha256, document=row.document)


@router.get("/rule-sets", response_model=list[RuleSetOut])
def list_rule_sets(db: Session = DB_SESSION) -> list[RuleSetOut]:
    """Every stored version of every rule set, with its rules and legal sources."""
    return [rule_set_out(db, r) for r in service.list_rule_sets(db_session=db)]


@router.get("/rule-sets/{code}", response_model=RuleSetOut)
def get_rule_set(code: str, db: Session = DB_SESSION) -> RuleSetOut:
    """The version of a rule set in effect today."""
    return rule_set_out(db, service.current_rule_set(db_session=db, code=code))


@router.post("/checks", response_model=CheckOut,
             responses={403: {"description": "refused (and still logged): the reason"}})
def check(body: CheckIn, db: Session = DB_SESSION,
          settings: Settings = Depends(get_settings_dep),
          actor: Actor = Depends(current_actor)) -> Response:
    """一键核对: check one person or enterprise against a policy's rules, reading each
    registry under the department's grant; an explanation per rule."""
    outcome = service.check(db_session=db, settings=settings, actor=actor,
                            code=body.rule_set, identifier=body.subject,
                            case_number=body.case_number, consent_id=body.consent_id)
    if isinstance(outcome, service.Refused):
        return json_response(json.dumps(outcome.error().as_dict(), ensure_ascii=False),
                             status_code=403)
    return json_response(check_out(outcome).model_dump_json())


@router.post("/batches", responses={
    200: {"description": "the result file (CSV or .xlsx, as sent)"},
    403: {"description": "refused (and still logged): the reason"},
    422: {"description": "a bad file: each bad row and field; nothing was checked"}})
def check_batch(rule_set: str = Form(..., max_length=60), file: UploadFile = File(...),
                db: Session = DB_SESSION, settings: Settings = Depends(get_settings_dep),
                actor: Actor = Depends(current_actor)) -> Response:
    """Batch 一键核对: a file of applicants in, the same file back with a verdict, a mark
    per rule and an explanation per applicant."""
    data = file.file.read()
    result = batches.check_file(db_session=db, settings=settings, actor=actor, code=rule_set,
                                data=data, filename=file.filename or "applicants.csv")
    if isinstance(result, service.Refused):
        return json_response(json.dumps(result.error().as_dict(), ensure_ascii=False),
                             status_code=403)
    kind = "xlsx" if result.format == "xlsx" else "csv"
    media = ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
             if kind == "xlsx" else "text/csv; charset=utf-8")
    return Response(result.to_bytes(), media_type=media, headers={
        "Content-Disposition": f'attachment; filename="{rule_set}-result.{kind}"',
        "X-Eligible": str(result.eligible), "X-Rows": str(len(result.rows))})


@router.post("/runs", response_model=RunOut,
             responses={403: {"description": "refused: the reason"}})
def run(body: RunIn, db: Session = DB_SESSION, settings: Settings = Depends(get_settings_dep),
        actor: Actor = Depends(current_actor)) -> Response:
    """Screen one policy now (the nightly job, on demand) as its department: who newly
    qualifies is recorded, 免申即享 cases open, they are told; a re-run finds no one twice."""
    report = proactive.run_rule_set(db_session=db, settings=settings, code=body.rule_set,
                                    actor=actor)
    status = 403 if report.refused else 200
    return json_response(RunOut.model_validate(report, from_attributes=True)
                         .model_dump_json(), status_code=status)


@router.get("/qualifications", response_model=list[QualificationOut])
def qualifications(state: str | None = Query(None, max_length=12), db: Session = DB_SESSION,
                   actor: Actor = Depends(current_actor)) -> list[QualificationOut]:
    """Who was found to qualify for your department's policies (candidates to confirm)."""
    return [QualificationOut.model_validate(q) for q in proactive.list_qualifications(
        db_session=db, actor=actor, state=state)]


@router.post("/qualifications/{qualification_id}/decision", response_model=QualificationOut)
def decide(qualification_id: uuid.UUID, body: DecisionIn, db: Session = DB_SESSION,
           settings: Settings = Depends(get_settings_dep),
           actor: Actor = Depends(current_actor)) -> QualificationOut:
    """二次确认: confirm (the benefit case opens, the subject is told) or decline."""
    return QualificationOut.model_validate(proactive.decide(
        db_session=db, settings=settings, actor=actor, qualification_id=qualification_id,
        confirm=body.confirm, reason=body.reason))


@router.get("/mine", response_model=list[QualificationOut])
def mine(db: Session = DB_SESSION, actor: Actor = Depends(current_actor)
         ) -> list[QualificationOut]:
    """The policies the signed-in person or enterprise was found to qualify for."""
    return [QualificationOut.model_validate(q) for q in proactive.mine(db_session=db,
                                                                       actor=actor)]
