"""The subject's recorded consent (the consent artefact of wave2.md §A.4/§A.6): who may
read which dataset, for what, until when; the notice the subject saw is bound by its
hash, and the node (the collector) signs the record. Revocable at any time."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from tongban.audit.service import record as audit
from tongban.config import Settings
from tongban.db import new_id, utcnow
from tongban.errors import Forbidden, InvalidInput, NotFound
from tongban.identity.actor import Actor
from tongban.licences import keys as licence_keys
from tongban.licences import signing
from tongban.sharing import registries
from tongban.sharing.models import Consent

CONSENT_TYP = "consent+jwt"
VIAS = ("portal", "window", "no_submit")
MAX_DAYS = 365


def notice_text(*, consumer_name: str, dataset_name: str, purpose_text: str,
                valid_until: datetime) -> str:
    """What the subject reads before agreeing (its SHA-256 is kept with the consent)."""
    day = valid_until.astimezone(UTC).date().isoformat()
    return (f"本人同意{consumer_name}为“{purpose_text}”查询本人的{dataset_name},"
            f"有效期至{day},可随时撤回。查询记录可在“我的数据被谁用了”中查看。")


def subject_key_of(*, db_session: Session, settings: Settings, actor: Actor) -> str:
    """The registry key of the signed-in applicant (a person or an enterprise)."""
    from tongban.identity import service as identity

    if actor.person_id is not None:
        person = identity.get_person(db_session=db_session, person_id=actor.person_id)
        return registries.person_key(id_number_hash=person.id_number_hash)
    if actor.enterprise_id is not None:
        enterprise = identity.get_enterprise(db_session=db_session,
                                             enterprise_id=actor.enterprise_id)
        return registries.enterprise_key(settings=settings, credit_code=enterprise.credit_code)
    raise Forbidden("只有申请人本人可以查看或授权 / only the data subject may do this",
                    code="not_subject")


def give(*, db_session: Session, settings: Settings, actor: Actor, subject_key: str,
         person_id: uuid.UUID | None, enterprise_id: uuid.UUID | None,
         consumer_credit_code: str, consumer_name: str, dataset: str, purpose_code: str,
         purpose_text: str, valid_days: int, via: str, now: datetime | None = None
         ) -> Consent:
    """Record a consent, signed by the node; `via` says how the subject gave it."""
    now = now or utcnow()
    if via not in VIAS:
        raise InvalidInput("未知的授权方式 / unknown way of giving consent",
                           details=[{"field": "via", "message": via}])
    if not 1 <= valid_days <= MAX_DAYS:
        raise InvalidInput(f"授权期限为1至{MAX_DAYS}天 / valid_days must be 1-{MAX_DAYS}",
                           details=[{"field": "valid_days", "message": str(valid_days)}])
    found = registries.get_dataset(db_session=db_session, code=dataset)
    until = now + timedelta(days=valid_days)
    notice = notice_text(consumer_name=consumer_name, dataset_name=found.name,
                         purpose_text=purpose_text, valid_until=until)
    consent_id = new_id()
    detail = {"consent_id": str(consent_id), "subject_key": subject_key,
              "consumer": consumer_credit_code, "dataset": found.code,
              "purpose_code": purpose_code, "given_via": via, "given_at": now.isoformat(),
              "valid_until": until.isoformat(),
              "notice_sha256": hashlib.sha256(notice.encode()).hexdigest()}
    node = licence_keys.node_key(settings)
    jws = signing.sign(detail, key=node.private_key, kid=licence_keys.node_kid(settings),
                       typ=CONSENT_TYP)
    consent = Consent(id=consent_id, subject_key=subject_key, person_id=person_id,
                      enterprise_id=enterprise_id, consumer_credit_code=consumer_credit_code,
                      dataset_code=found.code, purpose_code=purpose_code,
                      notice_sha256=detail["notice_sha256"], given_via=via,
                      given_by=actor.account_id, valid_until=until, jws=jws, created_at=now)
    db_session.add(consent)
    db_session.flush()
    audit(db_session=db_session, actor_id=actor.account_id, actor_name=actor.name,
          action="sharing.consent_give", entity="sharing_consent", entity_id=str(consent_id),
          details={"dataset": found.code, "consumer": consumer_credit_code, "via": via,
                   "purpose_code": purpose_code})
    return consent


def usable(*, db_session: Session, consent_id: uuid.UUID | None, subject_key: str,
           consumer_credit_code: str, dataset: str, purpose_code: str, now: datetime
           ) -> tuple[Consent | None, str | None]:
    """The consent a query may rest on, or the reason there is none: the one named, else
    any valid one of the subject for this consumer, dataset and purpose."""
    if consent_id is not None:
        consent = db_session.get(Consent, consent_id)
        if consent is None or consent.subject_key != subject_key or \
                consent.consumer_credit_code != consumer_credit_code or \
                consent.dataset_code != dataset or consent.purpose_code != purpose_code:
            return None, "consent_mismatch"
        if consent.revoked_at is not None:
            return None, "consent_revoked"
        if consent.valid_until <= now:
            return None, "consent_expired"
        return consent, None
    found = db_session.scalars(select(Consent).where(
        Consent.subject_key == subject_key, Consent.consumer_credit_code == consumer_credit_code,
        Consent.dataset_code == dataset, Consent.purpose_code == purpose_code,
        Consent.revoked_at.is_(None), Consent.valid_until > now)
        .order_by(Consent.created_at.desc())).first()
    return found, None if found is not None else "consent_required"


def mine(*, db_session: Session, subject_key: str) -> list[Consent]:
    """The subject's consents, newest first."""
    return list(db_session.scalars(select(Consent).where(Consent.subject_key == subject_key)
                                   .order_by(Consent.created_at.desc())))


def revoke(*, db_session: Session, settings: Settings, actor: Actor, consent_id: uuid.UUID,
           now: datetime | None = None) -> Consent:
    """The subject withdraws a consent; later queries resting on it are refused."""
    key = subject_key_of(db_session=db_session, settings=settings, actor=actor)
    consent = db_session.get(Consent, consent_id)
    if consent is None or consent.subject_key != key:
        raise NotFound("授权不存在 / no such consent", details={"id": str(consent_id)})
    if consent.revoked_at is None:
        consent.revoked_at = now or utcnow()
        db_session.flush()
        audit(db_session=db_session, actor_id=actor.account_id, actor_name=actor.name,
              action="sharing.consent_revoke", entity="sharing_consent",
              entity_id=str(consent_id), details={})
    return consent
