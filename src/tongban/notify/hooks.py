"""Case events that tell the applicant: a transition hook (registered by notify.wiring).

Which event says what is a table (`CASE_NOTICES`: entered state → kind, with the state
it must come from), not an if-chain. The hook runs after the case engine's own hooks,
so a licence issued (or annulled) on this transition already exists and is told too.
Keys are the event's and the licence's, so a retried transaction or a second hook run
never tells anyone twice. Tasks of a 一件事 are not told: their bundle is. The agent who
filed a case for a principal is told too, while their authorisation holds.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from tongban.cases.models import Case, CaseEvent
from tongban.config import Settings
from tongban.identity import service as identity
from tongban.licences import service as licences
from tongban.licences.models import LicenceStatus
from tongban.notify.licence_watch import tell_status_change
from tongban.notify.service import Recipient, notify

BEFORE_ACCEPTANCE = frozenset({"submitted", "pre_review", "supplement_requested"})
ANY = frozenset[str]()  # no restriction on the state left


@dataclass(frozen=True)
class CaseNotice:
    kind: str
    from_states: Collection[str] = ANY  # empty: any state but the one entered
    outcome: tuple[str, str] | None = None  # (zh, en) of a decision


CASE_NOTICES: dict[str, CaseNotice] = {
    "supplement_requested": CaseNotice("case.supplement_requested"),
    "supplement_in_process": CaseNotice("case.supplement_requested"),
    "accepted": CaseNotice("case.accepted", BEFORE_ACCEPTANCE),
    "approved": CaseNotice("case.decided", BEFORE_ACCEPTANCE | {"accepted"},
                           ("准予", "approved")),
    "approved_on_commitment": CaseNotice("case.decided", outcome=("告知承诺准予",
                                                                  "approved on commitment")),
    "denied": CaseNotice("case.decided", outcome=("不予许可", "denied")),
    "refused": CaseNotice("case.decided", outcome=("不予受理", "not accepted")),
    "revoked": CaseNotice("case.decided", outcome=("撤销", "revoked")),
    "terminated": CaseNotice("case.decided", outcome=("终止办理", "terminated")),
}


def _case_params(case: Case, event: CaseEvent, notice: CaseNotice) -> dict[str, Any]:
    params: dict[str, Any] = {"case_number": case.number, "item_name": case.item_name,
                              "reason": event.reason or ""}
    if notice.outcome is not None:
        params["outcome"], params["outcome_en"] = notice.outcome
    if notice.kind == "case.accepted" and case.promised_due_date is not None:
        params["due"] = f"承诺办结日期：{case.promised_due_date.isoformat()}。"
        params["due_en"] = f"Promised by {case.promised_due_date.isoformat()}."
    return params


def _licence_notices(db_session: Session, settings: Settings, case: Case, event: CaseEvent,
                     to: Recipient) -> None:
    """A licence this transition issued or ended, told once (keys: the licence's issue,
    the status change's id, which the licence watch uses too)."""
    for licence in licences.issued_for_case(db_session=db_session, case_id=case.id):
        if licence.status == LicenceStatus.valid:
            name = licences.get_type(db_session=db_session, code=licence.type_code).name
            notify(db_session=db_session, settings=settings, kind="licence.issued", to=to,
                   params={"licence_name": name, "identifier": licence.identifier},
                   key=f"licence:{licence.identifier}:issued", now=event.at)
            continue
        changes = licences.history(db_session=db_session, licence_id=licence.id)
        if changes:
            tell_status_change(db_session=db_session, settings=settings, licence=licence,
                               change=changes[-1], reason=event.reason or "")


def tell_applicant(*, db_session: Session, settings: Settings, case: Case,
                   event: CaseEvent) -> None:
    """Transition hook: tell the applicant what this event means for them."""
    notice = CASE_NOTICES.get(event.to_state)
    if notice is None or case.parent_case_id is not None or event.from_state == event.to_state:
        return
    if notice.from_states and event.from_state not in notice.from_states:
        return
    to = Recipient.applicant(person_id=case.applicant_person_id,
                             enterprise_id=case.applicant_enterprise_id)
    if to is None:
        return
    params = _case_params(case, event, notice)
    notify(db_session=db_session, settings=settings, kind=notice.kind, to=to, params=params,
           key=f"case-event:{event.id}", now=event.at)
    agent = _agent_in_force(db_session, case, event)
    if agent is not None:
        notify(db_session=db_session, settings=settings, kind=notice.kind,
               to=Recipient.account(agent), params=params, key=f"case-event:{event.id}:agent",
               now=event.at)
    if notice.kind == "case.decided":
        _licence_notices(db_session, settings, case, event, to)


def _agent_in_force(db_session: Session, case: Case, event: CaseEvent) -> uuid.UUID | None:
    """The account of the agent (代办) who filed the case, while their authorisation holds:
    they follow the case for the principal; once it ends, they hear nothing more of it."""
    if case.agent_authorisation_id is None or case.submitted_by_account_id is None:
        return None
    auth = identity.authorisation_in_force(
        db_session=db_session, authorisation_id=case.agent_authorisation_id, at=event.at)
    if auth is None or auth.agent_account_id != case.submitted_by_account_id:
        return None
    return case.submitted_by_account_id
