"""Where cases meet e-licences: 一证通办 on application, issuance on approval.

On application, a material whose guide names a licence type is satisfied by the
applicant's valid licence of that type (no upload); the reviewer sees the reference and
verifies it. On approval, the e-licence the guide promises is issued in the same
transaction as the decision, so a decision never lacks its licence.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tongban.cases.models import Case, CaseEvent, CaseMaterial
from tongban.cases.rules import forget_materials
from tongban.config import Settings
from tongban.errors import NotFound
from tongban.identity.actor import Actor
from tongban.licences import service as licences
from tongban.licences.models import LicenceStatus

# States whose entry issues the promised licence (告知承诺 issues at once, verified later).
ISSUING_STATES = frozenset({"approved", "approved_on_commitment"})
# Decisions that undo an approval: entering one ends the licences the case issued (撤销).
UNDOING_STATES = frozenset({"revoked", "denied", "refused"})


def _known_type(db_session: Session, name: str) -> bool:
    """True if this node's licence catalog has the type (a guide may name a paper one)."""
    try:
        licences.get_type(db_session=db_session, code=name)
    except NotFound:
        return False
    return True


def attach_held_licences(
    *, db_session: Session, case: Case, guide: dict[str, Any], now: datetime
) -> list[CaseMaterial]:
    """一证通办: reference the applicant's valid licences for the guide's licence materials."""
    attached = []
    for material in guide.get("materials", []):
        type_name = material.get("licence_type")
        if material.get("source") != "licence" or not type_name:
            continue
        held = licences.held_valid_licence(  # None too for a type this node does not know
            db_session=db_session, holder_person_id=case.applicant_person_id,
            holder_enterprise_id=None if case.applicant_person_id else
            case.applicant_enterprise_id,
            type_code_or_name=type_name, on=licences.today_in_china(now),
        )
        if held is None:
            continue
        row = CaseMaterial(
            case_id=case.id, material_code=material["code"], name=material["name"],
            source="licence", reference=held.identifier, supplied_at=now,
            supplied_by=case.submitted_by_account_id,
        )
        db_session.add(row)
        attached.append(row)
    if attached:
        forget_materials(db_session, case.id)
    return attached


def attached_licences(*, db_session: Session,
                      case_ids: Collection[uuid.UUID]) -> list[CaseMaterial]:
    """The current licence references (一证通办) of these cases, oldest first."""
    if not case_ids:
        return []
    return list(db_session.scalars(
        select(CaseMaterial).where(CaseMaterial.case_id.in_(list(case_ids)),
                                   CaseMaterial.source == "licence",
                                   CaseMaterial.superseded_by.is_(None))
        .order_by(CaseMaterial.supplied_at, CaseMaterial.id)))


def issue_licence_on_decision(
    *, db_session: Session, settings: Settings, case: Case, event: CaseEvent
) -> None:
    """Transition hook: entering an approving state issues the guide's licence once."""
    if event.to_state not in ISSUING_STATES or event.from_state in ISSUING_STATES:
        return
    if case.applicant_person_id is None and case.applicant_enterprise_id is None:
        return
    from tongban.cases.service import guide_of

    guide, _ = guide_of(db_session=db_session, case=case)  # read once per process
    result = guide.get("result") or {}
    if result.get("kind") != "licence" or not result.get("licence_type"):
        return
    if not _known_type(db_session, result["licence_type"]):
        return
    licences.issue_for_approved_case(db_session=db_session, settings=settings, case=case,
                                     fields=event.data.get("licence_fields"),
                                     decided_at=event.at)


def end_licences_on_revocation(
    *, db_session: Session, settings: Settings, case: Case, event: CaseEvent
) -> None:
    """AFTER_TRANSITION hook: a decision undone (告知承诺 found false and revoked, on any
    path into an undoing state) annuls its licences (03 撤销) in the same transaction, so
    the status list and public verification say so at once."""
    if event.to_state not in UNDOING_STATES or event.from_state in UNDOING_STATES:
        return
    actor = Actor(account_id=event.actor_id, name=event.actor_name,
                  roles=frozenset({event.actor_role}))
    licences.end_for_case(
        db_session=db_session, actor=actor, case_id=case.id, status=LicenceStatus.annulled,
        reason=f"办件 {case.number} 的准予决定已撤销:{event.reason or ''} / the decision of "
               f"case {case.number} was revoked")
