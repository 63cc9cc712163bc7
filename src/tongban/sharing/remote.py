"""Sharing across regions: grants and queries as federation envelopes.

A grant to a department of a peer node travels to that node (`sharing.grant`, again on
every amendment and on revocation), which keeps a copy: its staff query under it, and the
consumer node checks the query against the copy first (status, validity, fields, and the
case, which only the consumer node holds). The query then travels (`sharing.query`); the
provider node checks it again against its own grant, with the same function a local
query passes (purpose, grant, fields, consent, use limit), logs it, and answers
(`sharing.answer`). Both nodes keep the access in their log, tied by the consumer's
access id. Envelopes are signed by the node keys and sealed at rest (they carry an ID
number).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tongban.audit.service import record as audit
from tongban.config import Settings
from tongban.db import utcnow
from tongban.errors import Forbidden, InvalidInput
from tongban.federation import service as federation
from tongban.federation.envelopes import Envelope
from tongban.identity.actor import Actor
from tongban.ledger.service import record_act
from tongban.licences import signing
from tongban.sharing import grants, queries, registries
from tongban.sharing.models import Access, AccessOutcome, Grant
from tongban.sharing.schemas import QueryIn

GRANT = "sharing.grant"
QUERY = "sharing.query"
ANSWER = "sharing.answer"


# --- grants to a peer's departments ------------------------------------------------------


def after_grant_change(*, db_session: Session, settings: Settings, grant: Grant) -> None:
    """Send a grant version to its consumer's node, if the consumer is a peer's."""
    if grant.consumer_region == settings.node_region:
        return
    federation.send(db_session=db_session, settings=settings, receiver=grant.consumer_region,
                    kind=GRANT, payload={"jws": grant.jws, "detail": grant.detail},
                    require_registry=False)


def handle_grant(*, db_session: Session, settings: Settings, envelope: Envelope,
                 now: datetime) -> str:
    """Consumer node: keep (or update) the copy of a peer's grant to one of ours."""
    detail = envelope.payload["detail"]
    if detail["parties"]["data_provider"]["node"] != envelope.sender:
        raise InvalidInput("授权的提供方不是发送节点 / the grant's provider is not the sender")
    if detail["parties"]["data_consumer"]["node"] != settings.node_region:
        raise InvalidInput("授权的使用方不在本节点 / the grant's consumer is not on this node")
    grant_id, version = uuid.UUID(detail["grant_id"]), int(detail["version"])
    if db_session.get(Grant, (grant_id, version)) is not None:
        return "duplicate"
    newer = db_session.scalar(select(Grant).where(Grant.grant_id == grant_id,
                                                  Grant.version > version))
    for older in db_session.scalars(select(Grant).where(Grant.grant_id == grant_id,
                                                        Grant.current.is_(True))):
        older.current = False
    db_session.flush()
    limits = detail["limits"]
    db_session.add(Grant(
        grant_id=grant_id, version=version, current=newer is None, status=detail["status"],
        dataset_code=detail["scope"]["dataset"], provider_department_id=None,
        provider_region=envelope.sender,
        consumer_credit_code=detail["parties"]["data_consumer"]["credit_code"],
        consumer_region=settings.node_region, purpose_code=detail["purpose"]["code"],
        basis=detail["basis"]["basis"], requires=detail["requires"],
        valid_from=datetime.fromisoformat(limits["valid_from"]),
        valid_until=datetime.fromisoformat(limits["valid_until"]),
        use_limit=limits["use_limit"], hidden_days=detail["visibility"]["hidden_days"],
        detail=detail, jws=envelope.payload["jws"], kid=signing.parse(envelope.payload["jws"]).kid,
        created_at=datetime.fromisoformat(detail["created_at"]),
        change_reason=detail.get("change_reason")))
    db_session.flush()
    return f"grant {grant_id} v{version}"


# --- queries ---------------------------------------------------------------------------


def _copy_for(db_session: Session, body: QueryIn, consumer: queries.Consumer,
              now: datetime) -> tuple[Grant | None, str | None]:
    grant, why = queries._grant_for(db_session, body.dataset, consumer, body.purpose_code,
                                    now)
    if grant is not None and grant.provider_region != body.provider_region:
        return None, "no_grant"
    return grant, why


def ask(*, db_session: Session, settings: Settings, actor: Actor, body: QueryIn,
        now: datetime | None = None) -> Access | queries.Denied:
    """Consumer node: check the query against our copy of the grant, log it pending and
    send it to the provider node; a refusal here is logged and returned (as locally)."""
    now = now or utcnow()
    if body.provider_region is None:
        raise InvalidInput("须指明数据提供节点 / name the provider node",
                           details=[{"field": "provider_region", "message": "必填"}])
    subject = registries.guess_subject(settings=settings, identifier=body.subject)
    ask_ = queries.Ask(dataset=body.dataset, subject=subject, fields=body.fields,
                       purpose_code=body.purpose_code.strip(),
                       purpose_text=body.purpose_text.strip(),
                       case_number=(body.case_number or "").strip() or None,
                       consent_id=body.consent_id, kind="remote_query")
    try:
        department = grants.consumer_department(db_session=db_session, actor=actor,
                                                credit_code=body.consumer_credit_code)
    except Forbidden:
        return _refused(db_session, settings, actor, None, ask_, now, "not_consumer_staff"
                        )
    consumer = queries.local_consumer(department)
    if not ask_.purpose_code:
        return _refused(db_session, settings, actor, consumer, ask_, now, "purpose_missing")
    grant, why = _copy_for(db_session, body, consumer, now)
    if grant is None or why is not None:
        return _refused(db_session, settings, actor, consumer, ask_, now, why or "no_grant")
    granted = grant.detail["scope"]["fields"]
    wanted = list(body.fields or granted)
    if set(wanted) - set(granted):
        return _refused(db_session, settings, actor, consumer, ask_, now, "field_not_granted")
    case_checked = bool(ask_.case_number) and queries._case_serves(
        db_session, settings, ask_.case_number or "", consumer, subject)
    if grant.requires == "case" and not case_checked:
        return _refused(db_session, settings, actor, consumer, ask_, now,
                       "case_mismatch" if ask_.case_number else "case_required")
    pending = queries.Ask(**{**ask_.__dict__, "fields": wanted})
    access = queries._log(db_session, settings, actor, consumer, pending, now,
                          outcome=AccessOutcome.pending, grant=grant,
                          provider_region=body.provider_region)
    federation.send(db_session=db_session, settings=settings, receiver=body.provider_region,
                    kind=QUERY, user_id=str(actor.account_id) if actor.account_id else None,
                    payload={
                        "access_id": str(access.id), "grant_id": str(grant.grant_id),
                        "dataset": body.dataset, "subject": subject.identifier,
                        "fields": wanted, "purpose_code": pending.purpose_code,
                        "purpose_text": pending.purpose_text,
                        "case_number": pending.case_number, "case_checked": case_checked,
                        "actor_name": actor.name,
                        "consumer": {"credit_code": consumer.credit_code,
                                     "name": consumer.name}}, now=now)
    db_session.flush()
    return access


def _refused(db_session: Session, settings: Settings, actor: Actor,
             consumer: queries.Consumer | None, ask_: queries.Ask, now: datetime,
             reason: str) -> queries.Denied:
    return queries._deny(db_session, settings, actor, consumer, ask_, now, reason)


def handle_query(*, db_session: Session, settings: Settings, envelope: Envelope,
                 now: datetime) -> str:
    """Provider node: check the query against our grant, read, log, answer."""
    p = envelope.payload
    consumer = queries.Consumer(p["consumer"]["credit_code"], p["consumer"]["name"],
                                envelope.sender, None)
    dataset = registries.find_dataset(db_session=db_session, name=p["dataset"])
    kind = dataset.subject_kind if dataset is not None else "person"
    subject = registries.subject_of(settings=settings, kind=kind, identifier=p["subject"])
    ask_ = queries.Ask(dataset=p["dataset"], subject=subject, fields=p["fields"],
                       purpose_code=p["purpose_code"], purpose_text=p["purpose_text"],
                       case_number=p.get("case_number"), consent_id=None, kind="remote_query")
    actor = Actor(account_id=None, name=f"{p['actor_name']}({envelope.sender})")
    outcome = queries.read(db_session=db_session, settings=settings, actor=actor,
                           consumer=consumer, ask=ask_, case_checked=bool(p["case_checked"]),
                           now=now)
    answer: dict[str, Any] = {"access_id": p["access_id"],
                              "provider_access_id": str(outcome.access.id),
                              "outcome": outcome.access.outcome,
                              "reason": outcome.access.reason,
                              "grant_version": outcome.access.grant_version}
    if isinstance(outcome, queries.Allowed):
        answer["records"] = outcome.records
    federation.send(db_session=db_session, settings=settings, receiver=envelope.sender,
                    kind=ANSWER, payload=answer, now=now, require_registry=False)
    return f"{outcome.access.outcome} {outcome.access.reason or ''}".strip()


def handle_answer(*, db_session: Session, settings: Settings, envelope: Envelope,
                  now: datetime) -> str:
    """Consumer node: the provider's answer completes our pending access."""
    p = envelope.payload
    access = db_session.get(Access, uuid.UUID(p["access_id"]))
    if access is None or access.provider_region != envelope.sender:
        raise InvalidInput("应答不对应本节点的查询 / the answer matches no query of ours")
    if access.outcome != AccessOutcome.pending:
        return "duplicate"
    records = p.get("records") or []
    access.outcome, access.reason = p["outcome"], p.get("reason")
    access.result_count = len(records)
    access.grant_version = p.get("grant_version") or access.grant_version
    access.result_enc = queries.seal_result(settings, records) if records else None
    access.answered_at = now
    db_session.flush()
    details = {"access_id": str(access.id), "outcome": access.outcome,
               "reason": access.reason, "provider": envelope.sender,
               "provider_access_id": p.get("provider_access_id"),
               "result_count": access.result_count}
    audit(db_session=db_session, actor_id=None, actor_name=envelope.sender,
          action="sharing.remote_answer", entity="sharing_access", entity_id=str(access.id),
          details=details)
    record_act(db_session=db_session, kind="sharing.access_answered",
               payload={**details, "at": now.isoformat()})
    return access.outcome
