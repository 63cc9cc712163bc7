"""HTTP routes of the federation: the envelope endpoint peers post to, the registry and
anchor they read, and the operator's and users' views."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session

from tongban.api_deps import DB_SESSION, get_settings_dep, rate_limit
from tongban.config import Settings
from tongban.federation import modes, registry, service, supplements, witness
from tongban.federation.envelopes import EnvelopeRejected
from tongban.federation.schemas import (
    BatchIn,
    BatchOut,
    BatchResultOut,
    DeliverIn,
    ForkOut,
    ForwardedCaseOut,
    ForwardIn,
    JointCaseOut,
    JointIn,
    LicenceCheckIn,
    MessageOut,
    ParkedOut,
    RegistryOut,
    RejectionOut,
    ResultRecordOut,
    SupplyIn,
    WithdrawIn,
    WitnessOut,
)
from tongban.identity.actor import Actor
from tongban.identity.deps import current_actor, require_roles

router = APIRouter(prefix="/federation", tags=["federation"])
JOSE = "application/jose"


async def raw_body(request: Request) -> bytes:
    """The request body, read no further than one byte past the envelope limit."""
    limit = service.envelope_limit(request.app.state.settings)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            break
    return b"".join(chunks)[: limit + 1]


def _result(outcome: service.Outcome) -> BatchResultOut:
    if isinstance(outcome, service.Accepted):
        return BatchResultOut(envelope_id=str(outcome.envelope.id), receipt=outcome.receipt,
                              sha256=outcome.body_sha256)
    error = outcome.error
    return BatchResultOut(error=error.code, message=error.message, details=error.details)


@router.post("/envelopes", status_code=201, response_model=BatchResultOut,
             responses={400: {}, 403: {}, 409: {}, 413: {}, 421: {}, 422: {}, 503: {}})
def post_envelope(body: bytes = Depends(raw_body), db: Session = DB_SESSION,
                  settings: Settings = Depends(get_settings_dep)) -> Any:
    """Receive one envelope (a compact JWS); 201 with a signed receipt, or the reason it
    was refused (logged either way)."""
    outcome = service.receive(db_session=db, settings=settings, bodies=[body])[0]
    if isinstance(outcome, service.Refused):
        return JSONResponse(outcome.error.as_dict(), status_code=outcome.error.status)
    return _result(outcome)


@router.post("/envelopes/batch", response_model=BatchOut)
def post_batch(body: BatchIn, db: Session = DB_SESSION,
               settings: Settings = Depends(get_settings_dep)) -> BatchOut:
    """Receive several envelopes; one result (receipt or refusal) per envelope, in order."""
    bodies = [token.encode("utf-8") for token in body.envelopes]
    outcomes = service.receive(db_session=db, settings=settings, bodies=bodies)
    return BatchOut(results=[_result(o) for o in outcomes])


@router.get("/registry", response_class=Response, responses={200: {"content": {JOSE: {}}}})
def get_registry(db: Session = DB_SESSION) -> Response:
    """The newest signed registry this node holds (peers pull it from their anchor URL)."""
    return Response(registry.current_token(db_session=db), media_type=JOSE,
                    headers={"Cache-Control": "no-cache"})


@router.get("/registry/view", response_model=RegistryOut)
def view_registry(db: Session = DB_SESSION) -> RegistryOut:
    """The registry this node acts on, readable (and whether it has expired)."""
    return modes.registry_view(db_session=db)


@router.get("/anchor")
def get_anchor(db: Session = DB_SESSION) -> dict[str, Any]:
    """The federation anchor (compare its fingerprint out of band before importing)."""
    return registry.export_anchor(db_session=db)


@router.get("/node")
def get_node(db: Session = DB_SESSION,
             settings: Settings = Depends(get_settings_dep)) -> dict[str, Any]:
    """This node's descriptor: region, endpoint, node key, offered implementations."""
    return registry.descriptor(db_session=db, settings=settings)


@router.get("/messages", response_model=list[MessageOut])
def get_messages(case_ref: str | None = Query(None, max_length=64),
                 direction: str | None = Query(None, pattern="^(in|out)$"),
                 status: str | None = Query(None, pattern="^(queued|delivered|failed|accepted)$"),
                 limit: int = Query(100, ge=1, le=1000), db: Session = DB_SESSION,
                 _actor: Actor = Depends(require_roles("operator", "supervisor"))
                 ) -> list[MessageOut]:
    """The message log: every envelope sent and received, with its receipt;
    `status=failed`: the envelopes this node gave up on, and why."""
    rows = service.messages(db_session=db, case_ref=case_ref, direction=direction,
                            status=status, limit=limit)
    return [MessageOut.model_validate(r) for r in rows]


@router.get("/inbox/parked", response_model=list[ParkedOut])
def get_parked(limit: int = Query(100, ge=1, le=1000), db: Session = DB_SESSION,
               _actor: Actor = Depends(require_roles("operator", "supervisor"))
               ) -> list[ParkedOut]:
    """Received envelopes set aside because their handler cannot process them, and why."""
    return [ParkedOut.model_validate(r) for r in service.parked(db_session=db, limit=limit)]


@router.get("/rejections", response_model=list[RejectionOut])
def get_rejections(limit: int = Query(100, ge=1, le=1000), db: Session = DB_SESSION,
                   _actor: Actor = Depends(require_roles("operator", "supervisor"))
                   ) -> list[RejectionOut]:
    """Refused envelopes and why."""
    return [RejectionOut.model_validate(r)
            for r in service.rejections(db_session=db, limit=limit)]


# --- cross-region cases -----------------------------------------------------------------------


@router.post("/cases", response_model=ForwardedCaseOut, status_code=201)
def forward_case(body: ForwardIn, db: Session = DB_SESSION,
                 settings: Settings = Depends(get_settings_dep),
                 actor: Actor = Depends(current_actor)) -> ForwardedCaseOut:
    """全程网办 (an applicant) or 异地代收代办 (a window clerk): forward to the handling node."""
    return modes.forward(db_session=db, settings=settings, actor=actor, data=body)


@router.get("/cases", response_model=list[ForwardedCaseOut])
def list_forwarded(ready_to_deliver: bool = False, db: Session = DB_SESSION,
                   settings: Settings = Depends(get_settings_dep),
                   actor: Actor = Depends(current_actor)) -> list[ForwardedCaseOut]:
    """Forwarded cases the caller may see (their own, or their window's); with
    `ready_to_deliver` only those decided and not yet delivered at the window."""
    return modes.list_forwarded(db_session=db, settings=settings, actor=actor,
                                ready_to_deliver=ready_to_deliver)


@router.get("/cases/{case_id}", response_model=ForwardedCaseOut)
def get_forwarded(case_id: uuid.UUID, db: Session = DB_SESSION,
                  settings: Settings = Depends(get_settings_dep),
                  actor: Actor = Depends(current_actor)) -> ForwardedCaseOut:
    """A forwarded case with its hand-overs and the handling node's status."""
    return modes.view(db_session=db, settings=settings, actor=actor, forwarded_id=case_id)


@router.post("/cases/{case_id}/deliver", response_model=ForwardedCaseOut)
def deliver_forwarded(case_id: uuid.UUID, body: DeliverIn, db: Session = DB_SESSION,
                      settings: Settings = Depends(get_settings_dep),
                      actor: Actor = Depends(current_actor)) -> ForwardedCaseOut:
    """The receiving window delivers the result (pick-up or post) and tells the handler."""
    return modes.deliver(db_session=db, settings=settings, actor=actor, forwarded_id=case_id,
                         data=body)


@router.post("/cases/{case_id}/supply", response_model=ForwardedCaseOut)
def supply_forwarded(case_id: uuid.UUID, body: SupplyIn, db: Session = DB_SESSION,
                     settings: Settings = Depends(get_settings_dep),
                     actor: Actor = Depends(current_actor)) -> ForwardedCaseOut:
    """补正 from here: what the handling region's notice asks for, sent to it."""
    return supplements.supply(db_session=db, settings=settings, actor=actor,
                              forwarded_id=case_id, data=body)


@router.post("/cases/{case_id}/withdraw", response_model=ForwardedCaseOut)
def withdraw_forwarded(case_id: uuid.UUID, body: WithdrawIn, db: Session = DB_SESSION,
                       settings: Settings = Depends(get_settings_dep),
                       actor: Actor = Depends(current_actor)) -> ForwardedCaseOut:
    """撤回申请 from here: the handling region withdraws its case."""
    return supplements.withdraw(db_session=db, settings=settings, actor=actor,
                                forwarded_id=case_id, data=body)


@router.post("/joint-cases", response_model=JointCaseOut, status_code=201)
def open_joint(body: JointIn, db: Session = DB_SESSION,
               settings: Settings = Depends(get_settings_dep),
               actor: Actor = Depends(current_actor)) -> JointCaseOut:
    """多地联办: one application, a task at each handling node."""
    return modes.open_joint(db_session=db, settings=settings, actor=actor, data=body)


@router.get("/joint-cases/{joint_id}", response_model=JointCaseOut)
def get_joint(joint_id: uuid.UUID, db: Session = DB_SESSION,
              settings: Settings = Depends(get_settings_dep),
              actor: Actor = Depends(current_actor)) -> JointCaseOut:
    """A joint case and each node's task."""
    return modes.view_joint(db_session=db, settings=settings, actor=actor, joint_id=joint_id)


@router.get("/results", response_model=list[ResultRecordOut])
def get_results(db: Session = DB_SESSION, settings: Settings = Depends(get_settings_dep),
                actor: Actor = Depends(current_actor)) -> list[ResultRecordOut]:
    """数据回流: results of cases handled elsewhere for the caller (or, for staff, their
    region's people)."""
    return modes.result_records(db_session=db, settings=settings, actor=actor)


# --- licences and logs across regions -----------------------------------------------------------


@router.post("/licences/verify", dependencies=[Depends(rate_limit("licence_verify"))])
def verify_licence(body: LicenceCheckIn, db: Session = DB_SESSION,
                   settings: Settings = Depends(get_settings_dep)) -> dict[str, Any]:
    """互认: verify a licence issued by any node, with that node's trust and status lists."""
    return witness.verify_licence(db_session=db, settings=settings, licence_jws=body.licence_jws)


@router.get("/witness", response_model=list[WitnessOut])
def get_witnessed(db: Session = DB_SESSION) -> list[WitnessOut]:
    """The peers' checkpoints this node has checked and countersigned."""
    return [WitnessOut.model_validate(w) for w in witness.witnessed(db_session=db)]


@router.get("/forks", response_model=list[ForkOut])
def get_forks(db: Session = DB_SESSION) -> list[ForkOut]:
    """Peers whose logs were found inconsistent with what this node saw before."""
    return [ForkOut.model_validate(f) for f in witness.forks(db_session=db)]


def _rejected(exc: EnvelopeRejected) -> JSONResponse:
    return JSONResponse(exc.as_dict(), status_code=exc.status)
