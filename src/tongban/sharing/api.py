"""HTTP routes of the sharing domain (thin: validate, call the service, map errors).

The sharing catalog is public (what is shared, by whom, under which law); imports need a
data steward of the owner department.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, time
from typing import Any, Literal

from fastapi import APIRouter, Depends, File, Form, Query, Response, UploadFile
from sqlalchemy.orm import Session

from tongban.api_deps import DB_SESSION, get_settings_dep, json_response
from tongban.catalog import service as catalog
from tongban.config import Settings
from tongban.errors import Conflict, InvalidInput, NotFound, TooLarge
from tongban.identity.actor import Actor
from tongban.identity.deps import current_actor, require_roles
from tongban.identity.models import STAFF_ROLES
from tongban.sharing import (
    consents,
    grants,
    importer,
    nofill,
    queries,
    registries,
    remote,
    views,
)
from tongban.sharing.fields import Masking
from tongban.sharing.schemas import (
    AccessOut,
    AttachIn,
    CatalogReport,
    ConsentIn,
    ConsentOut,
    DatasetOut,
    DecideIn,
    FetchedOut,
    FetchIn,
    GrantOut,
    ImportReport,
    PreviewOut,
    QueryIn,
    QueryOut,
    QueryRecord,
    RequestOut,
    RevokeIn,
    UsageOut,
    WindowFetchIn,
)
from tongban.sharing.settings import LIMITS

router = APIRouter(prefix="/sharing", tags=["sharing"])
stewards = require_roles("data_steward", "operator")
staff = require_roles(*STAFF_ROLES)


@router.get("/datasets", response_model=list[DatasetOut])
def list_datasets(registry: str | None = Query(None, max_length=40),
                  db: Session = DB_SESSION) -> list[DatasetOut]:
    """The sharing catalog: each dataset's fields, owner, frequency, terms, legal basis."""
    return [views.dataset_out(db, d) for d in registries.list_datasets(db_session=db,
                                                                  registry=registry)]


@router.get("/datasets/{code}", response_model=DatasetOut)
def get_dataset(code: str, db: Session = DB_SESSION) -> DatasetOut:
    """One dataset of the sharing catalog, with how many records it holds."""
    return views.dataset_out(db, registries.get_dataset(db_session=db, code=code), with_count=True)


@router.post("/catalog", response_model=CatalogReport)
def load_catalog(doc: dict[str, Any], db: Session = DB_SESSION,
                 actor: Actor = Depends(stewards)) -> CatalogReport:
    """Create or update datasets from a catalog document (docs/sharing.md), all or none."""
    return registries.load_catalog(db_session=db, actor=actor, doc=doc)


def _as_of(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput("as_of 应为日期或 ISO 时间 / as_of must be a date or ISO time",
                           details=[{"field": "as_of", "message": value}]) from None
    if len(value) == 10:
        parsed = datetime.combine(parsed.date(), time(), UTC)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@router.post("/datasets/{code}/imports", response_model=ImportReport, status_code=201)
def import_records(
    code: str, file: UploadFile = File(), mode: str = Form("incremental", max_length=12),
    source: str | None = Form(None, max_length=200), as_of: str | None = Form(None,
                                                                               max_length=40),
    db: Session = DB_SESSION, settings: Settings = Depends(get_settings_dep),
    actor: Actor = Depends(stewards),
) -> ImportReport:
    """Import a CSV or .xlsx file of records: all rows, or none with a report naming the
    row and field of every problem (422)."""
    data = file.file.read(LIMITS.max_import_bytes + 1)
    if len(data) > LIMITS.max_import_bytes:
        raise TooLarge(f"导入文件超过 {LIMITS.max_import_bytes} 字节 / the file is too large",
                       details={"limit": LIMITS.max_import_bytes})
    return importer.import_records(db_session=db, settings=settings, actor=actor,
                                   dataset=code, data=data, filename=file.filename or "upload",
                                   mode=mode, source=source, as_of=_as_of(as_of))


@router.get("/datasets/{code}/imports", response_model=list[dict[str, Any]])
def list_imports(code: str, db: Session = DB_SESSION,
                 _actor: Actor = Depends(stewards)) -> list[dict[str, Any]]:
    """A dataset's import batches, newest first: file, source, time, what changed."""
    return [{"batch_id": str(b.id), "filename": b.filename, "sha256": b.sha256,
             "format": b.format, "mode": b.mode, "source": b.source,
             "as_of": b.as_of.isoformat(), "imported_at": b.imported_at.isoformat(),
             "imported_by": b.imported_by_name, "rows": b.rows, "inserted": b.inserted,
             "updated": b.updated, "unchanged": b.unchanged, "deleted": b.deleted}
            for b in importer.list_batches(db_session=db, dataset=code)]


# --- requests (需求清单) and grants ----------------------------------------------------


@router.post("/requests", response_model=RequestOut, status_code=201)
def file_request(body: grants.RequestIn, db: Session = DB_SESSION,
                 actor: Actor = Depends(current_actor)) -> RequestOut:
    """A consumer department files a need (需求清单) for fields of a dataset."""
    req = grants.file_request(db_session=db, actor=actor, data=body)
    return views.request_out(db_session=db, req=req)


@router.get("/requests", response_model=list[RequestOut])
def list_requests(state: str | None = Query(None, max_length=12), db: Session = DB_SESSION,
                  _actor: Actor = Depends(staff)) -> list[RequestOut]:
    """The 需求清单, newest first."""
    return [views.request_out(db_session=db, req=r)
            for r in grants.list_requests(db_session=db, state=state)]


@router.post("/requests/{request_id}/decision", response_model=RequestOut)
def decide_request(request_id: uuid.UUID, body: DecideIn, db: Session = DB_SESSION,
                   settings: Settings = Depends(get_settings_dep),
                   actor: Actor = Depends(stewards)) -> RequestOut:
    """The owner grants (a signed grant on the request's terms) or refuses, with reason."""
    if body.decision == "grant":
        grants.grant_request(
            db_session=db, settings=settings, actor=actor, request_id=request_id,
            masking={k: Masking(v) for k, v in (body.masking or {}).items()},
            basis=body.basis, requires=body.requires, valid_days=body.valid_days,
            use_limit=body.use_limit, legal_ref=body.legal_ref)
    else:
        grants.refuse_request(db_session=db, actor=actor, request_id=request_id,
                              reason=body.reason or "")
    return views.request_out(db_session=db, req=grants.get_request(db_session=db,
                                                                   request_id=request_id))


@router.post("/grants", response_model=GrantOut, status_code=201)
def create_grant(body: grants.GrantTerms, db: Session = DB_SESSION,
                 settings: Settings = Depends(get_settings_dep),
                 actor: Actor = Depends(stewards)) -> GrantOut:
    """The owner grants a consumer department fields of a dataset (signed, v1)."""
    grant = grants.create_grant(db_session=db, settings=settings, actor=actor, terms=body)
    return views.grant_out(db_session=db, settings=settings, grant=grant)


@router.get("/grants", response_model=list[GrantOut])
def list_grants(dataset: str | None = Query(None, max_length=60),
                consumer: str | None = Query(None, max_length=18), db: Session = DB_SESSION,
                settings: Settings = Depends(get_settings_dep),
                _actor: Actor = Depends(staff)) -> list[GrantOut]:
    """Current grants, newest first."""
    return [views.grant_out(db_session=db, settings=settings, grant=g)
            for g in grants.list_grants(db_session=db, dataset=dataset,
                                        consumer_credit_code=consumer)]


@router.get("/grants/{grant_id}", response_model=list[GrantOut])
def grant_versions(grant_id: uuid.UUID, db: Session = DB_SESSION,
                   settings: Settings = Depends(get_settings_dep),
                   _actor: Actor = Depends(staff)) -> list[GrantOut]:
    """Every version of a grant, oldest first, each with its signature checked."""
    found = grants.versions(db_session=db, grant_id=grant_id)
    if not found:
        raise NotFound("授权不存在 / no such grant", details={"grant_id": str(grant_id)})
    return [views.grant_out(db_session=db, settings=settings, grant=g, check=True)
            for g in found]


@router.post("/grants/{grant_id}/amend", response_model=GrantOut)
def amend_grant(grant_id: uuid.UUID, body: grants.GrantChange, db: Session = DB_SESSION,
                settings: Settings = Depends(get_settings_dep),
                actor: Actor = Depends(stewards)) -> GrantOut:
    """A new signed version with changed fields, validity, use limit or requirement."""
    grant = grants.amend_grant(db_session=db, settings=settings, actor=actor,
                               grant_id=grant_id, change=body)
    return views.grant_out(db_session=db, settings=settings, grant=grant)


@router.post("/grants/{grant_id}/revoke", response_model=GrantOut)
def revoke_grant(grant_id: uuid.UUID, body: RevokeIn, db: Session = DB_SESSION,
                 settings: Settings = Depends(get_settings_dep),
                 actor: Actor = Depends(stewards)) -> GrantOut:
    """Revoke a grant (a signed version with status revoked); later queries are refused."""
    grant = grants.revoke_grant(db_session=db, settings=settings, actor=actor,
                                grant_id=grant_id, reason=body.reason)
    return views.grant_out(db_session=db, settings=settings, grant=grant)


@router.post("/grants/{grant_id}/{action}", response_model=GrantOut)
def suspend_grant(grant_id: uuid.UUID, action: Literal["pause", "resume"], body: RevokeIn,
                  db: Session = DB_SESSION, settings: Settings = Depends(get_settings_dep),
                  actor: Actor = Depends(stewards)) -> GrantOut:
    """Pause a grant (a signed version with status paused; queries are refused meanwhile)
    or resume it (a signed version with status active again)."""
    grant = grants.suspend_grant(db_session=db, settings=settings, actor=actor,
                                 grant_id=grant_id, action=action, reason=body.reason)
    return views.grant_out(db_session=db, settings=settings, grant=grant)


# --- queries and the access log ----------------------------------------------------------


@router.post("/queries", response_model=QueryOut,
             responses={403: {"description": "refused (and still logged): the reason"}})
def query(body: QueryIn, db: Session = DB_SESSION,
          settings: Settings = Depends(get_settings_dep),
          actor: Actor = Depends(current_actor)) -> Response:
    """Ask for fields of one subject for a named purpose under your department's grant;
    a refusal is 403 with its reason, and logged like an answer. With `provider_region`
    the query goes to that node (202: the answer arrives later, GET /queries/{id})."""
    if body.provider_region and body.provider_region != settings.node_region:
        sent = remote.ask(db_session=db, settings=settings, actor=actor, body=body)
        if isinstance(sent, queries.Denied):
            return _refusal(sent)
        return json_response(views.stored_answer(settings=settings, access=sent)
                             .model_dump_json(), status_code=202)
    outcome = queries.query(
        db_session=db, settings=settings, actor=actor, dataset=body.dataset,
        identifier=body.subject, purpose_code=body.purpose_code, purpose_text=body.purpose_text,
        fields=body.fields, case_number=body.case_number, consent_id=body.consent_id,
        consumer_credit_code=body.consumer_credit_code)
    if isinstance(outcome, queries.Denied):
        return _refusal(outcome)
    return json_response(views.answer_out(outcome=outcome).model_dump_json())


def _refusal(denied: queries.Denied) -> Response:
    """403 with the reason; returned, not raised, so the refusal's log rows commit with
    this response (the session commits after a normal return)."""
    return json_response(json.dumps(denied.error().as_dict(), ensure_ascii=False),
                         status_code=403)


@router.get("/queries/{access_id}", response_model=QueryOut)
def get_query(access_id: uuid.UUID, db: Session = DB_SESSION,
              settings: Settings = Depends(get_settings_dep),
              actor: Actor = Depends(current_actor)) -> QueryOut:
    """A query the caller made (a remote one: pending until the answer arrives)."""
    access = queries.get_access(db_session=db, access_id=access_id)
    if access is None or access.actor_id != actor.account_id:
        raise NotFound("查询不存在 / no such query", details={"access_id": str(access_id)})
    return views.stored_answer(settings=settings, access=access)


@router.get("/accesses", response_model=list[AccessOut])
def list_accesses(dataset: str | None = Query(None, max_length=60),
                  outcome: str | None = Query(None, max_length=10),
                  consumer: str | None = Query(None, max_length=18),
                  mine: bool = Query(False), limit: int = Query(100, ge=1, le=1000),
                  db: Session = DB_SESSION, actor: Actor = Depends(current_actor)
                  ) -> list[AccessOut]:
    """The access log (stewards, supervisors, operators), or with `mine` your queries."""
    return [AccessOut.model_validate(a) for a in queries.list_accesses(
        db_session=db, actor=actor, dataset=dataset, outcome=outcome,
        consumer_credit_code=consumer, mine=mine, limit=limit)]


# --- the subject: usage and consents ----------------------------------------------------


@router.get("/my-usage", response_model=UsageOut)
def my_usage(db: Session = DB_SESSION, settings: Settings = Depends(get_settings_dep),
             actor: Actor = Depends(current_actor)) -> UsageOut:
    """我的数据被谁用了: every read of your data (who, when, what, why), except those a
    grant delays, shown as the reason and the day they will show."""
    usage = queries.my_usage(db_session=db, settings=settings, actor=actor)
    return views.usage_out(db_session=db, usage=usage)


@router.post("/consents", response_model=ConsentOut, status_code=201)
def give_consent(body: ConsentIn, db: Session = DB_SESSION,
                 settings: Settings = Depends(get_settings_dep),
                 actor: Actor = Depends(current_actor)) -> ConsentOut:
    """The subject consents that a department reads a dataset for a purpose (signed)."""
    key = consents.subject_key_of(db_session=db, settings=settings, actor=actor)
    consumer = catalog.get_department_by_credit_code(db_session=db,
                                                     credit_code=body.consumer_credit_code)
    consent = consents.give(
        db_session=db, settings=settings, actor=actor, subject_key=key,
        person_id=actor.person_id, enterprise_id=actor.enterprise_id,
        consumer_credit_code=consumer.credit_code, consumer_name=consumer.name,
        dataset=body.dataset, purpose_code=body.purpose_code, purpose_text=body.purpose_text,
        valid_days=body.valid_days, via="portal")
    return ConsentOut.model_validate(consent)


@router.get("/consents", response_model=list[ConsentOut])
def my_consents(db: Session = DB_SESSION, settings: Settings = Depends(get_settings_dep),
                actor: Actor = Depends(current_actor)) -> list[ConsentOut]:
    """Your consents, newest first."""
    key = consents.subject_key_of(db_session=db, settings=settings, actor=actor)
    return [ConsentOut.model_validate(c) for c in consents.mine(db_session=db,
                                                                 subject_key=key)]


@router.post("/consents/{consent_id}/revoke", response_model=ConsentOut)
def revoke_consent(consent_id: uuid.UUID, db: Session = DB_SESSION,
                   settings: Settings = Depends(get_settings_dep),
                   actor: Actor = Depends(current_actor)) -> ConsentOut:
    """Withdraw a consent; queries resting on it are refused from now on."""
    return ConsentOut.model_validate(consents.revoke(db_session=db, settings=settings,
                                                     actor=actor, consent_id=consent_id))


# --- 免提交: fetch, preview, keep or decline -----------------------------------------------


def _preview(preview: nofill.Preview) -> PreviewOut:
    return PreviewOut(
        fetch_id=preview.fetch.id if preview.fetch else None,
        state=preview.fetch.state if preview.fetch else None,
        material_code=preview.material_code, material_name=preview.material_name,
        dataset=preview.dataset_code, dataset_name=preview.dataset_name,
        owner_name=preview.owner_name, labels=preview.labels,
        records=[QueryRecord.model_validate(r) for r in preview.records],
        case_number=preview.fetch.case_number if preview.fetch else None)


@router.post("/fetches", response_model=PreviewOut, status_code=201,
             responses={403: {"description": "no grant covers it (logged): upload instead"},
                        409: {"description": "not in the sharing catalog: upload instead"}})
def fetch(body: FetchIn, db: Session = DB_SESSION,
          settings: Settings = Depends(get_settings_dep),
          actor: Actor = Depends(current_actor)) -> Response:
    """免提交: fetch a material's dataset for the handling department and preview it;
    nothing is attached until you keep it (`/attach`), or decline it and upload."""
    preview = nofill.fetch(db_session=db, settings=settings, actor=actor,
                           implementation_code=body.implementation_code,
                           material_code=body.material_code, case_number=body.case_number)
    return _preview_response(preview, body.material_code)


def _preview_response(preview: nofill.Preview, material_code: str) -> Response:
    """201 with the preview; 403 with the reason when the read was refused (committed
    with its log rows); 409 when the data is not in the catalog."""
    if preview.refused == "not_in_catalog":
        raise Conflict(preview.refused_message or "", code="not_in_catalog")
    if preview.refused is not None:
        return json_response(json.dumps(
            {"error": preview.refused, "message": preview.refused_message,
             "details": {"material_code": material_code}}, ensure_ascii=False),
            status_code=403)
    return json_response(_preview(preview).model_dump_json(), status_code=201)


@router.post("/cases/{number}/fetches", response_model=PreviewOut, status_code=201,
             responses={403: {"description": "no grant covers it (logged): upload instead"},
                        409: {"description": "not a window case, or not in the catalog"}})
def fetch_at_window(number: str, body: WindowFetchIn, db: Session = DB_SESSION,
                    settings: Settings = Depends(get_settings_dep),
                    actor: Actor = Depends(current_actor)) -> Response:
    """一窗受理: a window clerk fetches a walk-in applicant's material under the clerk's
    department's grant (the applicant present and agreeing) and shows them the preview;
    keep it with `/fetches/{id}/attach`, or decline it and upload."""
    preview = nofill.fetch_at_window(db_session=db, settings=settings, actor=actor,
                                     case_number=number, material_code=body.material_code,
                                     applicant_agrees=body.applicant_agrees)
    return _preview_response(preview, body.material_code)


@router.get("/fetches/{fetch_id}", response_model=PreviewOut)
def get_fetch(fetch_id: uuid.UUID, db: Session = DB_SESSION,
              settings: Settings = Depends(get_settings_dep),
              actor: Actor = Depends(current_actor)) -> PreviewOut:
    """A fetch you made, shown again."""
    return _preview(nofill.preview_of(db_session=db, settings=settings, actor=actor,
                                      fetch_id=fetch_id))


@router.post("/fetches/{fetch_id}/decline", response_model=PreviewOut)
def decline_fetch(fetch_id: uuid.UUID, db: Session = DB_SESSION,
                  settings: Settings = Depends(get_settings_dep),
                  actor: Actor = Depends(current_actor)) -> PreviewOut:
    """Do not use the fetched data (it is purged); upload the document instead."""
    nofill.decline(db_session=db, actor=actor, fetch_id=fetch_id)
    return _preview(nofill.preview_of(db_session=db, settings=settings, actor=actor,
                                      fetch_id=fetch_id))


@router.post("/fetches/{fetch_id}/attach", response_model=PreviewOut)
def attach_fetch(fetch_id: uuid.UUID, body: AttachIn, db: Session = DB_SESSION,
                 settings: Settings = Depends(get_settings_dep),
                 actor: Actor = Depends(current_actor)) -> PreviewOut:
    """Keep the fetched data as the case's material (免提交)."""
    nofill.attach(db_session=db, settings=settings, actor=actor, fetch_id=fetch_id,
                  case_number=body.case_number)
    return _preview(nofill.preview_of(db_session=db, settings=settings, actor=actor,
                                      fetch_id=fetch_id))


@router.get("/cases/{number}/fetched", response_model=list[FetchedOut])
def fetched_materials(number: str, db: Session = DB_SESSION,
                      settings: Settings = Depends(get_settings_dep),
                      actor: Actor = Depends(current_actor)) -> list[FetchedOut]:
    """A case's fetched materials with their source and time (reviewers, the applicant)."""
    return [FetchedOut(
        material_code=f.material_code, dataset=f.dataset_code, dataset_name=f.dataset_name,
        owner_name=f.owner_name, fetched_at=f.fetched_at, access_id=f.access_id,
        grant_id=f.grant_id, labels=f.labels,
        records=[QueryRecord.model_validate(r) for r in f.records])
        for f in nofill.fetched_for_case(db_session=db, settings=settings, actor=actor,
                                         case_number=number)]
