"""免提交 made real: a guide's material that names a dataset is filled from the registry at
application, shown to the applicant first (EU OOTS preview), and kept or declined.

The applicant's explicit request ("获取并预览") is their consent for this one purpose,
recorded and signed (via "no_submit"); the read runs under the handling department's
grant like any query (purpose = the item's 基本编码), is logged, and its masked answer is
kept sealed with the access. Kept, it becomes the case's material (a reference the
reviewer opens with its source and time); declined, the answer is purged and the
applicant uploads the document instead. A required material is owed until it is either
attached or uploaded: the case engine's acceptance guard counts both and nothing else.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tongban.catalog import service as catalog
from tongban.config import Settings
from tongban.db import utcnow
from tongban.errors import Conflict, DomainError, InvalidInput, NotFound
from tongban.identity.actor import Actor
from tongban.sharing import consents, grants, queries, registries
from tongban.sharing.models import Access, Fetch, FetchState

REFERENCE_PREFIX = "sharing:fetch:"
CONSENT_DAYS = 30


@dataclass(frozen=True)
class Applicant:
    """Whose data is fetched: the signed-in applicant, or the principal of an agent."""

    person_id: uuid.UUID | None
    enterprise_id: uuid.UUID | None


def applicant_of(*, db_session: Session, actor: Actor) -> Applicant:
    """The subject a fetch is for: the applicant themself, or the principal an agent
    acts for under a recorded authorisation."""
    if actor.acting_for_authorisation_id is not None:
        from tongban.identity import service as identity

        auth = identity.get_agent_authorisation(
            db_session=db_session, authorisation_id=actor.acting_for_authorisation_id)
        return Applicant(auth.principal_person_id, auth.principal_enterprise_id)
    if actor.person_id or actor.enterprise_id:
        return Applicant(actor.person_id, None if actor.person_id else actor.enterprise_id)
    raise DomainError("只有申请人或其代办人可以获取共享数据 / only the applicant or their agent "
                      "may fetch shared data", code="not_applicant")


def _subject(db_session: Session, settings: Settings, applicant: Applicant,
             kind: str) -> registries.Subject:
    from tongban.identity import service as identity

    if kind == "person" and applicant.person_id is not None:
        person = identity.get_person(db_session=db_session, person_id=applicant.person_id)
        return registries.Subject(registries.SubjectKind.person, "", person.id_number_hash,
                                  person.id_number_masked)
    if kind == "enterprise" and applicant.enterprise_id is not None:
        ent = identity.get_enterprise(db_session=db_session,
                                      enterprise_id=applicant.enterprise_id)
        return registries.subject_of(settings=settings, kind=kind, identifier=ent.credit_code)
    raise Conflict("该材料的数据集与申请人类型不符 / the dataset is not about this kind of "
                   "applicant", code="wrong_subject_kind")


def material_of(guide: dict[str, Any], material_code: str) -> dict[str, Any]:
    """The guide's shared-data material of that code; 422 if there is none."""
    for material in guide.get("materials", []):
        if material.get("code") == material_code and material.get("source") == "shared_data":
            return dict(material)
    raise InvalidInput("办事指南中没有该共享数据材料 / no such shared-data material",
                       details=[{"field": "material_code", "message": material_code}])


@dataclass(frozen=True)
class Preview:
    """What the applicant is shown: the fetched records, where they come from, as of
    when; or why nothing could be fetched (then they upload)."""

    fetch: Fetch | None
    material_code: str
    material_name: str
    dataset_code: str | None
    dataset_name: str | None
    owner_name: str | None
    records: list[dict[str, Any]]
    labels: dict[str, str]
    refused: str | None = None  # a reason code of queries.REASONS, or "not_in_catalog"
    refused_message: str | None = None


def fetch(*, db_session: Session, settings: Settings, actor: Actor,
          implementation_code: str, material_code: str, case_number: str | None = None,
          now: datetime | None = None) -> Preview:
    """The applicant's explicit request: fetch the material's dataset for the handling
    department and show it (nothing is attached until they keep it)."""
    applicant = applicant_of(db_session=db_session, actor=actor)
    department = catalog.get_department_by_credit_code(db_session=db_session,
                                                       credit_code=implementation_code[:18])
    return _fetch(db_session, settings, actor, applicant, queries.local_consumer(department),
                  implementation_code, material_code, case_number, via="no_submit",
                  kind="no_submit", now=now or utcnow())


WINDOW_ROLES = frozenset({"clerk"})


def fetch_at_window(*, db_session: Session, settings: Settings, actor: Actor,
                    case_number: str, material_code: str, applicant_agrees: bool,
                    now: datetime | None = None) -> Preview:
    """一窗受理: the window clerk fetches a shared-data material of a walk-in applicant's
    case, under the clerk's department's grant for the item, with the case number; the
    applicant, present, agrees (recorded as a consent given at the window) and is shown
    the preview before it is kept. Logged and audited like any query."""
    from tongban.cases import service as cases

    now = now or utcnow()
    case = cases.get_case(db_session=db_session, case_number=case_number)
    if not actor.has(*WINDOW_ROLES) or not cases.can_see(actor, case) or \
            not cases.may_supply(actor, case):
        raise NotFound("办件不存在 / no such case", details={"case_number": case_number})
    if case.channel != "window":
        raise Conflict("网上申请的共享数据由申请人自行获取 / an online applicant fetches "
                       "shared data themself", code="not_window_case",
                       details={"channel": case.channel})
    if case.state not in cases.MATERIAL_STATES:
        raise Conflict("当前状态下不能提交材料 / materials cannot be supplied in this state",
                       code="action_not_allowed", details={"state": case.state})
    if not applicant_agrees:
        raise InvalidInput("须申请人当面同意获取其共享数据 / the applicant, present, must agree "
                           "to the fetch", details=[{"field": "applicant_agrees",
                                                     "message": "required"}])
    if case.implementation_code is None:
        raise Conflict("该办件没有实施清单 / the case names no implementation",
                       code="no_implementation")
    department = grants.consumer_department(db_session=db_session, actor=actor,
                                            credit_code=None)
    applicant = Applicant(case.applicant_person_id, case.applicant_enterprise_id)
    return _fetch(db_session, settings, actor, applicant, queries.local_consumer(department),
                  case.implementation_code, material_code, case.number, via="window",
                  kind="window_fetch", now=now)


def _fetch(db_session: Session, settings: Settings, actor: Actor, applicant: Applicant,
           consumer: queries.Consumer, implementation_code: str, material_code: str,
           case_number: str | None, *, via: str, kind: str, now: datetime) -> Preview:
    """Record the subject's consent for this one purpose, read the material's dataset
    under the consumer's grant (purpose = the item's 基本编码) keeping the masked answer,
    and open a fetch to preview; or say why nothing was fetched."""
    page = catalog.guide(db_session=db_session, implementation_code=implementation_code)
    material = material_of(page.guide.model_dump(mode="json"), material_code)
    dataset = registries.find_dataset(db_session=db_session, name=material["dataset"])
    base = {"material_code": material_code, "material_name": material["name"]}
    if dataset is None:
        return Preview(None, **base, dataset_code=None, dataset_name=None, owner_name=None,
                       records=[], labels={}, refused="not_in_catalog",
                       refused_message="该数据尚未纳入共享目录,请上传材料 / this data is not in "
                                       "the sharing catalog yet: upload the document")
    subject = _subject(db_session, settings, applicant, dataset.subject_kind)
    purpose_code, purpose_text = implementation_code[19:], f"办理“{page.name}”(免提交)"
    consent = consents.give(
        db_session=db_session, settings=settings, actor=actor, subject_key=subject.key,
        person_id=applicant.person_id, enterprise_id=applicant.enterprise_id,
        consumer_credit_code=consumer.credit_code, consumer_name=consumer.name,
        dataset=dataset.code, purpose_code=purpose_code, purpose_text=purpose_text,
        valid_days=CONSENT_DAYS, via=via, now=now)
    ask = queries.Ask(dataset=dataset.code, subject=subject, fields=None,
                      purpose_code=purpose_code, purpose_text=purpose_text,
                      case_number=case_number, consent_id=consent.id, kind=kind)
    outcome = queries.read(db_session=db_session, settings=settings, actor=actor,
                           consumer=consumer, ask=ask, keep=True, now=now)
    owner = catalog.get_department(db_session=db_session,
                                   department_id=dataset.owner_department_id)
    labels = {n: s.label for n, s in registries.field_specs(dataset).items()}
    named = {**base, "dataset_code": dataset.code, "dataset_name": dataset.name,
             "owner_name": owner.name, "labels": labels}
    if isinstance(outcome, queries.Denied):
        return Preview(None, **named, records=[], refused=outcome.reason,
                       refused_message=outcome.message)
    row = Fetch(access_id=outcome.access.id, implementation_code=implementation_code,
                material_code=material_code, dataset_code=dataset.code,
                subject_key=subject.key, requested_by=actor.account_id,
                state=FetchState.previewed, case_number=case_number,
                found=len(outcome.records), created_at=now)
    db_session.add(row)
    db_session.flush()
    return Preview(row, **named, records=outcome.records)


def open_at_window(*, db_session: Session, settings: Settings, actor: Actor,
                   case_number: str) -> list[Preview]:
    """The fetches a window clerk made for a case that wait for the applicant's
    decision (keep or decline), as previews."""
    rows = db_session.scalars(select(Fetch).where(
        Fetch.case_number == case_number, Fetch.requested_by == actor.account_id,
        Fetch.state == FetchState.previewed).order_by(Fetch.created_at))
    return [preview_of(db_session=db_session, settings=settings, actor=actor,
                       fetch_id=row.id) for row in rows]


def _mine(db_session: Session, actor: Actor, fetch_id: uuid.UUID) -> Fetch:
    row = db_session.get(Fetch, fetch_id)
    if row is None or row.requested_by != actor.account_id:
        raise NotFound("未找到该次获取 / no such fetch", details={"fetch_id": str(fetch_id)})
    return row


def decline(*, db_session: Session, actor: Actor, fetch_id: uuid.UUID,
            now: datetime | None = None) -> Fetch:
    """The applicant does not use the fetched data: its kept answer is purged (the read
    stays in the log) and they upload the document instead."""
    row = _mine(db_session, actor, fetch_id)
    if row.state == FetchState.attached:
        raise Conflict("该数据已作为申请材料提交 / the data is already a material of a case",
                       code="already_attached", details={"case_number": row.case_number})
    row.state, row.decided_at = FetchState.declined, now or utcnow()
    access = db_session.get(Access, row.access_id)
    if access is not None:
        access.result_enc = None
    db_session.flush()
    return row


def attach(*, db_session: Session, settings: Settings, actor: Actor, fetch_id: uuid.UUID,
           case_number: str, now: datetime | None = None) -> Fetch:
    """Keep the fetched data as the case's material (the case must be of the same
    implementation and applicant; found data only: no record means upload)."""
    from tongban.cases import service as cases

    now = now or utcnow()
    row = _mine(db_session, actor, fetch_id)
    if row.state == FetchState.attached and row.case_number == case_number:
        return row
    if row.state != FetchState.previewed:
        raise Conflict("该次获取已放弃或已使用 / this fetch was declined or used",
                       code="fetch_closed", details={"state": row.state})
    if row.found == 0:
        raise Conflict("未查到数据,请上传材料 / nothing was found: upload the document",
                       code="nothing_found")
    case = cases.get_case(db_session=db_session, case_number=case_number)
    if case.implementation_code != row.implementation_code or \
            _case_subject_key(db_session, settings, case) != row.subject_key:
        raise Conflict("该数据不是为此办件获取的 / the data was fetched for another "
                       "application", code="fetch_mismatch")
    cases.attach_fetched(db_session=db_session, actor=actor, case_number=case_number,
                         material_code=row.material_code,
                         reference=f"{REFERENCE_PREFIX}{row.id}", now=now)
    row.state, row.case_number, row.decided_at = FetchState.attached, case_number, now
    db_session.flush()
    return row


def _case_subject_key(db_session: Session, settings: Settings, case: Any) -> str | None:
    from tongban.identity import service as identity

    if case.applicant_person_id is not None:
        return identity.get_person(db_session=db_session,
                                   person_id=case.applicant_person_id).id_number_hash
    if case.applicant_enterprise_id is not None:
        ent = identity.get_enterprise(db_session=db_session,
                                      enterprise_id=case.applicant_enterprise_id)
        return registries.enterprise_key(settings=settings, credit_code=ent.credit_code)
    return None


@dataclass(frozen=True)
class Fetched:
    """A fetched material as the reviewer sees it: the values and where and when from."""

    material_code: str
    dataset_code: str
    dataset_name: str
    owner_name: str
    fetched_at: datetime
    access_id: uuid.UUID
    grant_id: uuid.UUID | None
    records: list[dict[str, Any]]
    labels: dict[str, str]


def fetched_for_case(*, db_session: Session, settings: Settings, actor: Actor,
                     case_number: str) -> list[Fetched]:
    """The case's fetched materials (source, time, values) for someone who may see it."""
    from tongban.cases import service as cases

    case = cases.get_case(db_session=db_session, case_number=case_number)
    if not cases.can_see(actor, case):
        raise NotFound("办件不存在 / no such case", details={"case_number": case_number})
    rows = db_session.scalars(select(Fetch).where(Fetch.case_number == case_number,
                                                  Fetch.state == FetchState.attached)
                              .order_by(Fetch.created_at))
    out = []
    for row in rows:
        access = db_session.get(Access, row.access_id)
        dataset = registries.get_dataset(db_session=db_session, code=row.dataset_code)
        owner = catalog.get_department(db_session=db_session,
                                       department_id=dataset.owner_department_id)
        assert access is not None
        out.append(Fetched(
            material_code=row.material_code, dataset_code=dataset.code,
            dataset_name=dataset.name, owner_name=owner.name, fetched_at=access.at,
            access_id=access.id, grant_id=access.grant_id,
            records=queries.open_result(settings=settings, access=access) or [],
            labels={n: s.label for n, s in registries.field_specs(dataset).items()}))
    return out


def preview_of(*, db_session: Session, settings: Settings, actor: Actor,
               fetch_id: uuid.UUID) -> Preview:
    """A fetch shown again (the applicant comes back to the materials page)."""
    row = _mine(db_session, actor, fetch_id)
    access = db_session.get(Access, row.access_id)
    dataset = registries.get_dataset(db_session=db_session, code=row.dataset_code)
    owner = catalog.get_department(db_session=db_session,
                                   department_id=dataset.owner_department_id)
    page = catalog.guide(db_session=db_session, implementation_code=row.implementation_code)
    material = material_of(page.guide.model_dump(mode="json"), row.material_code)
    records = queries.open_result(settings=settings, access=access) if access else None
    return Preview(row, row.material_code, material["name"], dataset.code, dataset.name,
                   owner.name, records or [],
                   {n: s.label for n, s in registries.field_specs(dataset).items()})
