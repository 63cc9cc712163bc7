"""The cases domain's periodic job: deemed acceptance, warning levels, missed 容缺 promises.

Each step is idempotent (it acts only on cases whose stored state says the step is still
due), so a restart mid-batch or two workers never do a step twice in effect. Every
automatic act goes through the same workflow table and event log as a human one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import exists, or_, select
from sqlalchemy.orm import Session

from tongban.cases import clock, service
from tongban.cases.models import Case, SupplementNotice, WarningLevel
from tongban.cases.workflow import (
    BEFORE_ACCEPTANCE,
    CLOCK_RUNNING_STATES,
    PAUSED_STATES,
    Action,
    State,
)
from tongban.config import Settings
from tongban.db import database_key, utcnow

BATCH = 500
# Art. 32: a supplement notice is due within five working days of receipt.
NOTICE_DAYS = 5


class CaseSettings(BaseSettings):
    """Node settings of the case engine (TONGBAN_CASES_*)."""

    model_config = SettingsConfigDict(env_prefix="TONGBAN_CASES_", extra="ignore")

    # What happens when a 容缺 promise date passes without the material: a warning
    # event and a red warning ("warn"), or also termination of the case ("terminate").
    deficiency_missed_action: Literal["warn", "terminate"] = "warn"


@dataclass
class Report:
    deemed_accepted: int = 0
    warnings_changed: int = 0
    promises_missed: int = 0
    deadlines_recounted: int = 0

    @property
    def total(self) -> int:
        return (self.deemed_accepted + self.warnings_changed + self.promises_missed
                + self.deadlines_recounted)


def deem_acceptances(*, db_session: Session, settings: Settings, now: datetime) -> int:
    """Art. 32: no supplement notice within five working days => accepted from receipt."""
    today = clock.local_date(now)
    has_notice = exists().where(SupplementNotice.case_id == Case.id)
    stmt = (select(Case).where(Case.state.in_([s.value for s in BEFORE_ACCEPTANCE]),
                               Case.submitted_at <= now - timedelta(days=NOTICE_DAYS),
                               ~has_notice)
            .order_by(Case.submitted_at).limit(BATCH))
    done = 0
    for case in list(db_session.scalars(stmt)):
        received = clock.local_date(case.submitted_at)
        last_day, _ = clock.supplement_notice_deadline(
            db_session=db_session, received_on=received)
        if today <= last_day:
            continue
        reason = (f"收件后五个工作日内(截至 {last_day.isoformat()})未一次性告知补正,"
                  f"依《行政许可法》第三十二条自收到申请材料之日({received.isoformat()})"
                  "起即为受理 / no "
                  f"supplement notice by {last_day.isoformat()}: accepted from receipt "
                  "(Administrative Licensing Law art. 32)")
        service.act(db_session=db_session, settings=settings, actor=service.WORKER_ACTOR,
                    case_number=case.number, action=Action.deem_accept, reason=reason,
                    now=now)
        done += 1
    return done


def refresh_warnings(*, db_session: Session, settings: Settings, now: datetime) -> int:
    """Set yellow / red warnings on the running cases whose day to be looked at has come.

    Incremental: each case carries the first day its warning may change with time alone
    (`warning_recheck_on`, set by every act), so a pass reads only those cases, on an
    index, however many cases are running.
    """
    today = clock.local_date(now)
    stmt = (select(Case).where(Case.state.in_([s.value for s in CLOCK_RUNNING_STATES]),
                               Case.warning_recheck_on <= today)
            .order_by(Case.warning_recheck_on).limit(BATCH))
    changed = 0
    for case in list(db_session.scalars(stmt)):
        changed += _rewarn(db_session=db_session, settings=settings, case=case, now=now)
    return changed


def _rewarn(*, db_session: Session, settings: Settings, case: Case, now: datetime) -> int:
    """Set the warning a case deserves today (an event when it moves) and its next check."""
    today = clock.local_date(now)
    level = service.warning_for(db_session=db_session, settings=settings, case=case,
                                today=today)
    moved = level != case.warning_level
    if moved:
        before, case.warning_level = case.warning_level, level.value
        service.record_fact(
            db_session=db_session, case=case, action="warning_changed",
            reason=f"预警 {before} → {level.value} / warning {before} -> {level.value}",
            data={"from": before, "to": level.value,
                  "promised_due_date": (case.promised_due_date.isoformat()
                                        if case.promised_due_date else None)},
            now=now)
    service.schedule_warning_check(db_session=db_session, settings=settings, case=case,
                                   today=today)
    return int(moved)


def redate_deadlines(*, db_session: Session, settings: Settings, now: datetime) -> int:
    """Recount the due dates of open cases counted with an older calendar (a year's notice
    loaded or replaced): provisional dates firm up, a corrected holiday moves a date.

    Only the cases counted with another version are read, and only after the calendar
    changed: the check itself is one small query per pass.
    """
    current = clock.calendar_version(db_session=db_session)
    if _swept.get(database_key(db_session)) == current:
        return 0
    open_states = [s.value for s in CLOCK_RUNNING_STATES | PAUSED_STATES]
    stmt = (select(Case).where(Case.state.in_(open_states), Case.accepted_at.is_not(None),
                               or_(Case.deadlines_calendar.is_(None),
                                   Case.deadlines_calendar != current))
            .limit(BATCH))
    cases = list(db_session.scalars(stmt))
    redated = 0
    for case in cases:
        redated += _redate(db_session=db_session, settings=settings, case=case, now=now)
    if len(cases) < BATCH:
        _swept[database_key(db_session)] = current
    return redated


def _redate(*, db_session: Session, settings: Settings, case: Case, now: datetime) -> int:
    """Recount one case's due dates; an event when a date moved."""
    before = (case.legal_due_date, case.promised_due_date, case.due_provisional)
    service.refresh_deadlines(db_session=db_session, settings=settings, case=case,
                              today=clock.local_date(now))
    after = (case.legal_due_date, case.promised_due_date, case.due_provisional)
    if after == before:
        return 0
    service.record_fact(
        db_session=db_session, case=case, action="deadlines_recounted",
        reason="工作日历已更新,期限重新计算 / the working calendar changed: due dates recounted",
        data={"legal_due_date": [_iso(before[0]), _iso(after[0])],
              "promised_due_date": [_iso(before[1]), _iso(after[1])],
              "provisional": [before[2], after[2]], "calendar": case.deadlines_calendar},
        now=now)
    return 1


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


# The calendar version each database's open cases were last all counted with, per process:
# an optimisation only (a fresh process sweeps once; the rows are the truth).
_swept: dict[str, str] = {}


def check_deficiency_promises(
    *, db_session: Session, settings: Settings, now: datetime,
    action: Literal["warn", "terminate"] = "warn",
) -> int:
    """A 容缺 promise date passed without the material: a warning event, then `action`."""
    today = clock.local_date(now)
    stmt = (select(Case).where(Case.state == State.accepted,
                               Case.deficiency_promise_date < today,
                               Case.deficiency_missed_at.is_(None)).limit(BATCH))
    missed = 0
    for case in list(db_session.scalars(stmt)):
        if not case.deficient_materials:
            continue
        promised = case.deficiency_promise_date
        reason = (f"容缺材料未在承诺日期 {promised} 前补齐 / deficient materials not supplied "
                  f"by the promised date {promised}")
        case.deficiency_missed_at = now
        case.warning_level, case.warning_recheck_on = WarningLevel.red, None
        service.record_fact(db_session=db_session, case=case,
                            action="deficiency_promise_missed", reason=reason,
                            data={"missing": case.deficient_materials, "then": action},
                            now=now)
        if action == "terminate":
            service.act(db_session=db_session, settings=settings, actor=service.WORKER_ACTOR,
                        case_number=case.number, action=Action.terminate, reason=reason,
                        now=now)
        missed += 1
    return missed


def run_once(*, db_session: Session, settings: Settings, now: datetime | None = None) -> Report:
    """One pass of every step, in the caller's transaction."""
    now = now or utcnow()
    action = CaseSettings().deficiency_missed_action
    return Report(
        deemed_accepted=deem_acceptances(db_session=db_session, settings=settings, now=now),
        promises_missed=check_deficiency_promises(db_session=db_session, settings=settings,
                                                  now=now, action=action),
        deadlines_recounted=redate_deadlines(db_session=db_session, settings=settings,
                                             now=now),
        warnings_changed=refresh_warnings(db_session=db_session, settings=settings, now=now),
    )


def job(db_session: Session, settings: Settings) -> int:
    """The node worker's entry (tongban.worker.jobs): how many cases were touched."""
    return run_once(db_session=db_session, settings=settings).total
