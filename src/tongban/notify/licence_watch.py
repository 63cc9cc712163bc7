"""Licence status changes made outside a case (a department's 吊销, 注销, 暂扣 through the
licences API or CLI) told to the holder.

What a case transition does to its licences is told by the case hook, in the same
transaction. A status changed directly is read back from the licences' history by this
leased job, about every ten seconds: from a cursor (the latest change it saw) minus a
look-back window, so a change whose transaction committed a little late is still seen.
The key is the status change's own (`licence-status:<id>`, shared with the hook), so a
change read twice, or told by the hook already, is told once.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tongban.config import Settings
from tongban.db import utcnow
from tongban.licences import service as licences
from tongban.licences.models import STATUS_NAMES, Licence, LicenceStatus, LicenceStatusChange
from tongban.notify.models import Cursor, Notification
from tongban.notify.service import Recipient, key_hash, notify

NAME = "licence_status"
LOOKBACK = timedelta(minutes=10)
STATUS_NAMES_EN = {"01": "valid", "02": "suspended", "03": "annulled", "04": "cancelled",
                   "05": "lapsed", "07": "revoked"}


def status_key(change: LicenceStatusChange) -> str:
    """The dedupe key of the notice of one status change."""
    return f"licence-status:{change.id}"


def tell_status_change(*, db_session: Session, settings: Settings, licence: Licence,
                       change: LicenceStatusChange, reason: str | None = None) -> bool:
    """Tell the holder that their licence left force (a return to 有效 is not news)."""
    if change.to_status == LicenceStatus.valid or change.to_status not in STATUS_NAMES:
        return False
    to = Recipient.applicant(person_id=licence.holder_person_id,
                             enterprise_id=licence.holder_enterprise_id)
    if to is None:
        return False
    params: dict[str, Any] = {
        "licence_name": licences.get_type(db_session=db_session, code=licence.type_code).name,
        "identifier": licence.identifier, "status": STATUS_NAMES[change.to_status],
        "status_en": STATUS_NAMES_EN.get(change.to_status, change.to_status),
        "reason": reason if reason is not None else change.reason}
    notify(db_session=db_session, settings=settings, kind="licence.revoked", to=to,
           params=params, key=status_key(change), now=change.at)
    return True


def _told(db_session: Session, settings: Settings, changes: list[LicenceStatusChange]
          ) -> set[str]:
    hashes = {key_hash(settings=settings, key=status_key(c)): status_key(c) for c in changes}
    if not hashes:
        return set()
    found = db_session.scalars(select(Notification.key_hash).where(
        Notification.key_hash.in_(list(hashes))))
    return {hashes[h] for h in found}


def run_once(*, db_session: Session, settings: Settings, now: datetime | None = None) -> int:
    """Tell holders of the status changes since the cursor; how many were told now."""
    now = now or utcnow()
    cursor = db_session.get(Cursor, NAME)
    if cursor is None:  # a node's first run: from now on, not its whole history
        db_session.add(Cursor(name=NAME, at=now))
        db_session.flush()
        return 0
    rows = licences.status_changes_since(db_session=db_session, since=cursor.at - LOOKBACK)
    told = _told(db_session, settings, [change for change, _licence in rows])
    count = 0
    for change, licence in rows:
        if status_key(change) not in told:
            count += tell_status_change(db_session=db_session, settings=settings,
                                        licence=licence, change=change)
    if rows:
        cursor.at = max(cursor.at, rows[-1][0].at)
    db_session.flush()
    return count


def job(db_session: Session, settings: Settings) -> int:
    """The worker job (leased: one worker at a time)."""
    return run_once(db_session=db_session, settings=settings)
