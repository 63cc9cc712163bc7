"""数据回流 on every node: what a node held only to serve another region goes once served.

- The handling node of a 全程网办 / 异地代收 case (or of a 多地联办 task) keeps the case
  record its decision stands on (number, item, decision, dates, events, material hashes)
  but, once the case is closed and its result has gone to the receiving node and the
  person's home region, not the foreign applicant's data: the form, the material files
  and the stored envelope bodies go.
- The receiving node drops its forwarding copies when the handling node closes the case
  (modes.purge); a 多地联办 task is decided, never delivered, so its copies go when the
  joint case is completed or failed, and any copy a missed envelope left is caught here.

The worker runs `run` as a leased job: a batch at a time, each purge marked (purged_at)
and skipped when run again, so a crash half-way repeats nothing already done.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from tongban.audit.service import record as audit
from tongban.cases.blobs import blob_store
from tongban.cases.models import Case, CaseMaterial
from tongban.config import Settings
from tongban.db import utcnow
from tongban.federation import modes
from tongban.federation.models import CaseLink, ForwardedCase, InboxEnvelope, JointCase
from tongban.ledger.service import record_act

BATCH = 100


def run(db_session: Session, settings: Settings, now: datetime | None = None) -> int:
    """One pass of both sides; how many cases were purged."""
    now = now or utcnow()
    return (purge_handled(db_session=db_session, settings=settings, now=now)
            + purge_forwarded(db_session=db_session, settings=settings, now=now))


def _due_links(db_session: Session) -> list[CaseLink]:
    pending_in = exists().where(InboxEnvelope.case_ref == CaseLink.peer_case_ref,
                                InboxEnvelope.processed_at.is_(None))
    return list(db_session.scalars(
        select(CaseLink).join(Case, Case.id == CaseLink.case_id)
        .where(CaseLink.purged_at.is_(None), CaseLink.result_sent_at.is_not(None),
               Case.state.in_(modes.CLOSED), ~pending_in)
        .order_by(CaseLink.created_at).limit(BATCH)))


def purge_handled(*, db_session: Session, settings: Settings, now: datetime) -> int:
    """Handling side: closed cases handled for a peer, their result sent, lose the
    foreign applicant's form, files and envelope bodies."""
    done = 0
    for link in _due_links(db_session):
        case = db_session.get(Case, link.case_id)
        assert case is not None
        fields = sorted((case.form_data or {}).keys())
        case.form_data = {}
        removed = _drop_files(db_session, settings, case)
        modes.drop_envelopes(db_session=db_session, case_ref=link.peer_case_ref)
        link.purged_at = now
        audit(db_session=db_session, actor_id=None, actor_name="system",
              action="federation.handled_purged", entity="case", entity_id=str(case.id),
              details={"case_number": case.number, "fields": fields,
                       "blobs_removed": removed, "peer_region": link.peer_region})
        record_act(db_session=db_session, kind="federation.handled_purged", payload={
            "case_number": case.number, "peer_region": link.peer_region,
            "materials_sha256": removed})
        done += 1
    db_session.flush()
    return done


def _drop_files(db_session: Session, settings: Settings, case: Case) -> list[str]:
    """Delete the case's material files no other case of this node still uses."""
    mine = set(db_session.scalars(select(CaseMaterial.sha256).where(
        CaseMaterial.case_id == case.id, CaseMaterial.sha256.is_not(None))))
    shared = set(db_session.scalars(select(CaseMaterial.sha256).where(
        CaseMaterial.sha256.in_(mine), CaseMaterial.case_id != case.id)))
    store = blob_store(settings)
    removed = sorted(d for d in mine - shared if d)
    for digest in removed:
        store.delete(digest)
    return removed


def purge_forwarded(*, db_session: Session, settings: Settings, now: datetime) -> int:
    """Receiving side: joint tasks of a finished joint case, and any closed forwarded
    case a missed envelope left unpurged."""
    finished = select(JointCase.id).where(JointCase.state != "open")
    rows = list(db_session.scalars(
        select(ForwardedCase).where(
            ForwardedCase.purged_at.is_(None),
            (ForwardedCase.joint_case_id.in_(finished)
             & ForwardedCase.state.in_(modes.DECIDED | modes.CLOSED))
            | ForwardedCase.state.in_(modes.CLOSED))
        .order_by(ForwardedCase.created_at).limit(BATCH)))
    for fc in rows:
        modes.purge(db_session=db_session, settings=settings, fc=fc, now=now)
    db_session.flush()
    return len(rows)
