"""HTTP routes of e-licences: types, trust list, status lists, verify, holder views."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Response
from sqlalchemy.orm import Session

from tongban.api_deps import DB_SESSION, get_settings_dep, rate_limit
from tongban.config import Settings
from tongban.identity.actor import Actor
from tongban.identity.deps import current_actor
from tongban.licences import keys, service, verify
from tongban.licences import status_list as sl
from tongban.licences.models import STATUS_NAMES, Licence, LicenceStatusChange
from tongban.licences.schemas import (
    LicenceImportIn,
    LicenceOut,
    LicenceTypeOut,
    ReplaceIn,
    StatusChangeIn,
    StatusChangeOut,
    VerificationOut,
    VerifyIn,
)

router = APIRouter(prefix="/licences", tags=["licences"])
TRUST_LIST_MEDIA = "application/trustlist+jwt"
STATUS_LIST_MEDIA = "application/statuslist+jwt"


def _out(licence: Licence, history: list[LicenceStatusChange] | None = None) -> LicenceOut:
    doc = licence.document
    return LicenceOut(
        identifier=licence.identifier, type_code=licence.type_code,
        type_name=doc["type"]["name"], holder=doc["holder"], fields=licence.fields,
        issuer=doc["issuer"], status=licence.status, status_name=STATUS_NAMES[licence.status],
        valid_from=licence.valid_from, valid_until=licence.valid_until,
        issued_at=licence.issued_at, issued_on=service.today_in_china(licence.issued_at),
        case_id=str(licence.case_id) if licence.case_id else None,
        imported=licence.imported, jws=licence.jws, document=doc,
        replaced_by=licence.replaced_by,
        history=[StatusChangeOut.model_validate(h) for h in history or []],
    )


@router.get("/types", response_model=list[LicenceTypeOut])
def list_types(db: Session = DB_SESSION) -> list[LicenceTypeOut]:
    """证照目录: every licence type with its fields and validity rule."""
    return [LicenceTypeOut.model_validate(t) for t in service.list_types(db_session=db)]


@router.get("/trust-list", response_class=Response,
            responses={200: {"content": {TRUST_LIST_MEDIA: {}}}})
def trust_list(db: Session = DB_SESSION,
               settings: Settings = Depends(get_settings_dep)) -> Response:
    """The node's issuers and their keys, a JWS signed by the node key."""
    token = keys.trust_list_token(db_session=db, settings=settings)
    return Response(token, media_type=TRUST_LIST_MEDIA,
                    headers={"Cache-Control": f"public, max-age={sl.TTL_SECONDS}"})


@router.get("/status-lists/{list_id}", response_class=Response,
            responses={200: {"content": {STATUS_LIST_MEDIA: {}}}})
def status_list(list_id: uuid.UUID, db: Session = DB_SESSION,
                settings: Settings = Depends(get_settings_dep)) -> Response:
    """A Token Status List (draft-ietf-oauth-status-list), signed by the node key."""
    token = service.status_list_token(db_session=db, settings=settings, list_id=list_id)
    return Response(token, media_type=STATUS_LIST_MEDIA,
                    headers={"Cache-Control": f"public, max-age={sl.TTL_SECONDS}"})


@router.post("/verify", response_model=VerificationOut,
             dependencies=[Depends(rate_limit("licence_verify"))])
def verify_licence(body: VerifyIn, db: Session = DB_SESSION,
                   settings: Settings = Depends(get_settings_dep)) -> VerificationOut:
    """Verify a licence, no sign-in needed. With the licence's JWS (the holder presents
    it) the answer includes the document; with an identifier or QR payload alone, only
    whether it is valid, its status and validity (never the holder or fields)."""
    result = verify.verify(db_session=db, settings=settings, licence_jws=body.licence_jws,
                           identifier=body.identifier, qr_payload=body.qr_payload,
                           document=body.document)
    if body.licence_jws is None:
        result = verify.without_holder(result)
    return VerificationOut(
        outcome=result.outcome, valid=result.valid, message=result.message,
        identifier=result.identifier, signature_valid=result.signature_valid,
        issuer_trusted=result.issuer_trusted, issuer=result.issuer, status=result.status,
        status_name=result.status_name, validity=result.validity,
        valid_from=result.valid_from, valid_until=result.valid_until,
        failures=[str(f) for f in result.failures], changed_fields=result.changed_fields,
        document=result.document, replaced_by=result.replaced_by)


@router.get("/mine", response_model=list[LicenceOut])
def mine(db: Session = DB_SESSION, actor: Actor = Depends(current_actor)
         ) -> list[LicenceOut]:
    """The signed-in person's or enterprise's licences."""
    return [_out(licence) for licence in service.list_mine(db_session=db, actor=actor)]


@router.post("/import", response_model=LicenceOut, status_code=201)
def import_licence(body: LicenceImportIn, db: Session = DB_SESSION,
                   settings: Settings = Depends(get_settings_dep),
                   actor: Actor = Depends(current_actor)) -> LicenceOut:
    """Import a licence issued before tongban; it is signed by its department's key."""
    return _out(service.import_record(db_session=db, settings=settings, actor=actor,
                                      record=body))


@router.get("/{identifier}", response_model=LicenceOut)
def get_licence(identifier: str, db: Session = DB_SESSION,
                actor: Actor = Depends(current_actor)) -> LicenceOut:
    """One licence with its status history (holder, or staff of the issuer's scope)."""
    licence, changes = service.view_with_history(db_session=db, actor=actor,
                                                 identifier=identifier)
    return _out(licence, changes)


@router.get("/{identifier}/pdf", response_class=Response,
            responses={200: {"content": {"application/pdf": {}}}})
def get_pdf(identifier: str, db: Session = DB_SESSION,
            settings: Settings = Depends(get_settings_dep),
            actor: Actor = Depends(current_actor)) -> Response:
    """The sealed PDF (PAdES) of a licence."""
    content = service.licence_pdf(db_session=db, settings=settings, actor=actor,
                                  identifier=identifier)
    return Response(content, media_type="application/pdf", headers={
        "Content-Disposition": 'inline; filename="licence.pdf"'})


@router.post("/{identifier}/status", response_model=LicenceOut)
def change_status(identifier: str, body: StatusChangeIn, db: Session = DB_SESSION,
                  actor: Actor = Depends(current_actor)) -> LicenceOut:
    """Change a licence's status (role and scope checked, reason required)."""
    return _out(service.change_status(db_session=db, actor=actor, identifier=identifier,
                                      status=body.status, reason=body.reason))


@router.post("/{identifier}/replace", response_model=LicenceOut, status_code=201)
def replace_licence(identifier: str, body: ReplaceIn, db: Session = DB_SESSION,
                    settings: Settings = Depends(get_settings_dep),
                    actor: Actor = Depends(current_actor)) -> LicenceOut:
    """补领/换领: the new licence; the old one lapses as replaced, with the reason."""
    return _out(service.replace(db_session=db, settings=settings, actor=actor,
                                identifier=identifier, kind=body.kind, reason=body.reason,
                                fields=body.fields))
