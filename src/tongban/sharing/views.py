"""Grants, requests, answers and usage as the API and the pages show them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from tongban.catalog import service as catalog
from tongban.config import Settings
from tongban.db import utcnow
from tongban.sharing import grants, queries, registries
from tongban.sharing.models import Access, DataRequest, Dataset, Grant
from tongban.sharing.schemas import (
    DatasetOut,
    GrantOut,
    QueryOut,
    QueryRecord,
    RequestOut,
    UsageHidden,
    UsageOut,
    UsageRead,
)


def dataset_out(db: Session, dataset: Dataset, *, with_count: bool = False) -> DatasetOut:
    """A dataset with its owner's name and credit code (and its record count)."""
    owner = catalog.get_department(db_session=db, department_id=dataset.owner_department_id)
    out = DatasetOut.model_validate(dataset)
    out.owner_name, out.owner_credit_code = owner.name, owner.credit_code
    if with_count:
        out.records = registries.count_records(db_session=db, dataset_id=dataset.id)
    return out


def grant_out(*, db_session: Session, settings: Settings, grant: Grant,
              check: bool = False, now: datetime | None = None) -> GrantOut:
    """A grant version with its use count, status now and (if asked) its signature check."""
    used = grants.usage(db_session=db_session, grant_id=grant.grant_id).use_count
    d = grant.detail
    out = GrantOut(
        grant_id=grant.grant_id, version=grant.version, status=grant.status,
        effective_status=grants.effective_status(grant, used, now or utcnow()),
        dataset=grant.dataset_code, consumer_credit_code=grant.consumer_credit_code,
        consumer_name=d["parties"]["data_consumer"]["name"],
        consumer_region=grant.consumer_region,
        provider_name=d["parties"]["data_provider"]["name"],
        provider_region=grant.provider_region, purpose_code=grant.purpose_code,
        purpose_text=d["purpose"]["text"], basis=grant.basis, legal_ref=d["basis"]["legal_ref"],
        requires=grant.requires, fields=d["scope"]["fields"], valid_from=grant.valid_from,
        valid_until=grant.valid_until, use_limit=grant.use_limit, use_count=used,
        hidden_days=grant.hidden_days, hidden_reason=d["visibility"]["hidden_reason"],
        change_reason=grant.change_reason, created_at=grant.created_at, jws=grant.jws)
    if check:
        result = grants.check_signature(db_session=db_session, settings=settings, grant=grant)
        out.signature_ok, out.signature_problem = result.ok, result.problem
    return out


def request_out(*, db_session: Session, req: DataRequest) -> RequestOut:
    dataset = db_session.get(Dataset, req.dataset_id)
    consumer = catalog.get_department(db_session=db_session,
                                      department_id=req.consumer_department_id)
    assert dataset is not None
    return RequestOut(
        id=req.id, dataset=dataset.code, consumer_name=consumer.name,
        consumer_credit_code=consumer.credit_code, fields=req.fields,
        purpose_code=req.purpose_code, purpose_text=req.purpose_text, legal_ref=req.legal_ref,
        wanted_days=req.wanted_days, wanted_use_limit=req.wanted_use_limit, state=req.state,
        filed_by_name=req.filed_by_name, created_at=req.created_at, decided_at=req.decided_at,
        decision_reason=req.decision_reason, grant_id=req.grant_id)


def answer_out(*, outcome: queries.Outcome, records: list[dict] | None = None) -> QueryOut:
    """A query's answer: the masked records when allowed, the reason when refused."""
    access = outcome.access
    masking: dict[str, str] = {}
    rows = records if records is not None else []
    if isinstance(outcome, queries.Allowed):
        masking = {f: outcome.grant.detail["scope"]["fields"][f] for f in access.fields}
        rows = outcome.records
    return QueryOut(
        access_id=access.id, outcome=access.outcome, dataset=access.dataset_code,
        subject=access.subject_masked, fields=access.fields, purpose_code=access.purpose_code,
        grant_id=access.grant_id, grant_version=access.grant_version, masking=masking,
        records=[QueryRecord.model_validate(r) for r in rows],
        provider_region=access.provider_region, reason=access.reason)


def stored_answer(*, settings: Settings, access: Access) -> QueryOut:
    """An access as it stands (a remote query's answer arrives later)."""
    rows = queries.open_result(settings=settings, access=access) or []
    return QueryOut(
        access_id=access.id, outcome=access.outcome, dataset=access.dataset_code,
        subject=access.subject_masked, fields=access.fields, purpose_code=access.purpose_code,
        grant_id=access.grant_id, grant_version=access.grant_version,
        records=[QueryRecord.model_validate(r) for r in rows],
        provider_region=access.provider_region, reason=access.reason)


def usage_out(*, db_session: Session, usage: queries.Usage) -> UsageOut:
    names = {d.code: d.name for d in registries.list_datasets(db_session=db_session)}
    return UsageOut(
        reads=[UsageRead(at=a.at, who=a.consumer_name, by=a.actor_name, dataset=a.dataset_code,
                         dataset_name=names.get(a.dataset_code, a.dataset_code),
                         fields=a.fields, purpose=a.purpose_text or a.purpose_code,
                         legal_basis=a.legal_ref, case_number=a.case_number, kind=a.kind)
               for a in usage.reads],
        hidden=[UsageHidden(reason=h.reason, shows_on=h.until) for h in usage.hidden])
