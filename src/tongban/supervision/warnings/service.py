"""Warnings that escalate, and supervision orders (督办, 纠错) with their answers.

The case engine sets each running case's warning level (黄牌 near its promised date, 红牌
past it); a bundle's tasks are cases of their own, so each department's part of a 一件事
is watched apart. The supervision job follows those levels: a case that stays yellow or
red longer than WarningSettings allows is escalated, first to its department's head (a
supervisor scoped to that department), then to the region's supervisors. A supervisor
may order the department to act by a deadline (督办) or tell it the case was handled
wrongly and must be handled again (纠错, with the reason); the department answers, and
the supervisor closes the order or sends it back. Orders are legal acts for the ledger
and appear on the case's own timeline.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from tongban.calendar import service as calendar
from tongban.cases import service as cases
from tongban.cases.models import Case
from tongban.cases.queries import CaseFilters
from tongban.db import utcnow
from tongban.errors import Conflict, Forbidden, InvalidInput, NotFound
from tongban.identity.actor import Actor, region_covers
from tongban.supervision import notices
from tongban.supervision.warnings.models import SupervisionEvent, SupervisionOrder, WarningWatch

LEVELS = ("yellow", "red")
LEVEL_LABELS = {"yellow": "黄牌", "red": "红牌"}
KINDS = {"supervise": "督办", "correct": "纠错"}
ORDER_STATES = {"open": "待答复", "answered": "已答复待确认", "closed": "已办结"}
MAX_TEXT = 2000
PAGE = 200


class WarningSettings(BaseSettings):
    """Escalation delays in hours per warning level (TONGBAN_WARNINGS_*); a level missing
    from a map is never escalated that far. Orders are due in `order_days` working days
    unless the supervisor says otherwise."""

    model_config = SettingsConfigDict(env_prefix="TONGBAN_WARNINGS_", extra="ignore")

    head_after_hours: dict[str, float] = {"yellow": 24.0, "red": 0.0}
    supervisor_after_hours: dict[str, float] = {"red": 24.0}
    order_days: int = 3


# An order's steps: (state, action) -> (next state, who may take it).
ORDER_TRANSITIONS: dict[tuple[str, str], tuple[str, str]] = {
    ("open", "answer"): ("answered", "department"),
    ("answered", "close"): ("closed", "supervisor"),
    ("answered", "reopen"): ("open", "supervisor"),
}
ORDER_ACTION_LABELS = {"answer": "答复", "close": "确认办结", "reopen": "退回重办"}
# What supervision writes on a case's own timeline (cases.record_fact), for its pages.
CASE_FACT_LABELS = {
    "supervision_escalated": "预警上报", "supervision_supervise": "督办",
    "supervision_correct": "纠错", "supervision_order_answer": "答复督办",
    "supervision_order_close": "督办办结", "supervision_order_reopen": "督办退回重办",
}


# --- who is who ---------------------------------------------------------------------------


def is_head(actor: Actor, department_id: uuid.UUID | None, region_code: str) -> bool:
    """A supervisor scoped to this very department (its head)."""
    return department_id is not None and actor.has("supervisor") and any(
        s.department_id == department_id and region_covers(s.region_code, region_code)
        for s in actor.scopes)


def is_region_supervisor(actor: Actor, region_code: str) -> bool:
    """A supervisor of the whole region (no department in the scope)."""
    return actor.has("supervisor") and any(
        s.department_id is None and region_covers(s.region_code, region_code)
        for s in actor.scopes)


def _is_department(actor: Actor, order: SupervisionOrder) -> bool:
    return actor.has("clerk", "reviewer", "supervisor") and actor.covers(
        order.region_code, order.department_id) and not is_region_supervisor(
        actor, order.region_code)


ORDER_ROLES = {
    "department": _is_department,
    "supervisor": lambda a, o: is_region_supervisor(a, o.region_code)
    or is_head(a, o.department_id, o.region_code),
}


# --- the escalation job -----------------------------------------------------------------------


def _warned_cases(db_session: Session) -> dict[uuid.UUID, Case]:
    found: dict[uuid.UUID, Case] = {}
    for level in LEVELS:
        cursor = None
        while True:
            rows, cursor = cases.list_cases(
                db_session=db_session, actor=cases.WORKER_ACTOR, cursor=cursor, limit=PAGE,
                filters=CaseFilters(warning_level=level, finished=False))
            found.update({c.id: c for c in rows})
            if cursor is None:
                break
    return found


def _last_seq(db_session: Session, subject_id: uuid.UUID) -> int:
    return db_session.scalar(select(SupervisionEvent.seq).where(
        SupervisionEvent.subject_id == subject_id).order_by(SupervisionEvent.seq.desc())
        .limit(1)) or 0


def _event(db_session: Session, subject: str, subject_id: uuid.UUID, case_number: str,
           action: str, at: datetime, actor: Actor | None = None,
           data: dict[str, Any] | None = None) -> None:
    last = _last_seq(db_session, subject_id)
    db_session.add(SupervisionEvent(
        subject=subject, subject_id=subject_id, seq=last + 1, at=at,
        actor_id=actor.account_id if actor else None,
        actor_name=actor.name if actor else "system", action=action,
        case_number=case_number, data=data or {}))


def escalate(*, db_session: Session, settings: WarningSettings | None = None,
             now: datetime | None = None) -> int:
    """Follow every warned case: begin and end watches, escalate those held too long.
    Idempotent: a second run at the same moment changes nothing."""
    settings, now = settings or WarningSettings(), now or utcnow()
    warned = _warned_cases(db_session)
    open_watches = {w.case_id: w for w in db_session.scalars(
        select(WarningWatch).where(WarningWatch.ended_at.is_(None)))}
    changed = 0
    for case in warned.values():
        watch = open_watches.pop(case.id, None)
        if watch is not None and watch.level != case.warning_level:
            changed += _end(db_session, watch, now)
            watch = None
        if watch is None:
            watch = _begin(db_session, case, now)
            changed += 1
        changed += _escalate_one(db_session, settings, watch, case, now)
    for watch in open_watches.values():
        changed += _end(db_session, watch, now)
    db_session.flush()
    return changed


def _begin(db_session: Session, case: Case, now: datetime) -> WarningWatch:
    watch = WarningWatch(case_id=case.id, case_number=case.number, case_kind=case.kind,
                         parent_case_id=case.parent_case_id, item_name=case.item_name,
                         department_id=case.department_id, region_code=case.region_code,
                         level=case.warning_level, promised_due_date=case.promised_due_date,
                         since=now)
    db_session.add(watch)
    db_session.flush()
    _event(db_session, "watch", watch.id, case.number, "began", now,
           data={"level": watch.level})
    return watch


def _end(db_session: Session, watch: WarningWatch, now: datetime) -> int:
    watch.ended_at = now
    _event(db_session, "watch", watch.id, watch.case_number, "ended", now)
    return 1


def _escalate_one(db_session: Session, settings: WarningSettings, watch: WarningWatch,
                  case: Case, now: datetime) -> int:
    done = 0
    for audience, delays, attr in (("department_head", settings.head_after_hours, "to_head_at"),
                                   ("supervisor", settings.supervisor_after_hours,
                                    "to_supervisor_at")):
        hours = delays.get(watch.level)
        if hours is None or getattr(watch, attr) is not None or \
                now - watch.since < timedelta(hours=hours):
            continue
        setattr(watch, attr, now)
        _event(db_session, "watch", watch.id, watch.case_number, f"to_{audience}", now,
               data={"level": watch.level, "after_hours": hours})
        cases.record_fact(db_session=db_session, case=case, action="supervision_escalated",
                          reason=f"{LEVEL_LABELS[watch.level]}预警已上报"
                          f"{'部门负责人' if audience == 'department_head' else '监督人员'}"
                          f" / {watch.level} warning escalated to the {audience}",
                          data={"level": watch.level, "to": audience}, now=now)
        notices.warning_escalated(
            db_session=db_session, watch_id=watch.id, audience=audience, level=watch.level,
            case_number=watch.case_number, item_name=watch.item_name,
            region_code=watch.region_code, department_id=watch.department_id, now=now)
        done += 1
    return done


# --- queues -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueRow:
    watch: WarningWatch
    audience: str  # department_head or supervisor


def escalated_to(*, db_session: Session, actor: Actor, limit: int = 200) -> list[QueueRow]:
    """The warned cases escalated to the actor: as their department's head, or as a
    supervisor of the region; red first, the longest held first."""
    if not actor.has("supervisor"):
        raise Forbidden("仅限监督人员 / supervisors only",
                        details={"required_roles": ["supervisor"]})
    stmt = (select(WarningWatch).where(WarningWatch.ended_at.is_(None),
                                       WarningWatch.to_head_at.is_not(None)
                                       | WarningWatch.to_supervisor_at.is_not(None))
            .order_by(WarningWatch.level.desc(), WarningWatch.since))
    rows = []
    for watch in db_session.scalars(stmt):
        if watch.to_supervisor_at and is_region_supervisor(actor, watch.region_code):
            rows.append(QueueRow(watch, "supervisor"))
        elif watch.to_head_at and is_head(actor, watch.department_id, watch.region_code):
            rows.append(QueueRow(watch, "department_head"))
        if len(rows) >= limit:
            break
    return rows


# --- orders -----------------------------------------------------------------------------------


def _text(value: str | None, name: str, label: str) -> str:
    text = (value or "").strip()
    if not text:
        raise InvalidInput(f"请填写{label} / {name} is required", details={"field": name})
    if len(text) > MAX_TEXT:
        raise InvalidInput(f"{label}最多{MAX_TEXT}字 / {name} is too long",
                           details={"field": name})
    return text


def issue(*, db_session: Session, actor: Actor, case_number: str, kind: str, text: str,
          days: int | None = None, settings: WarningSettings | None = None,
          now: datetime | None = None) -> SupervisionOrder:
    """督办 or 纠错 on a case in the supervisor's scope, due in working days."""
    settings, now = settings or WarningSettings(), now or utcnow()
    if kind not in KINDS:
        raise InvalidInput("类型须为督办或纠错 / kind must be supervise or correct",
                           details={"field": "kind", "value": kind, "known": list(KINDS)})
    case = cases.get(db_session=db_session, actor=actor, case_number=case_number).case
    if not (is_region_supervisor(actor, case.region_code)
            or is_head(actor, case.department_id, case.region_code)):
        raise Forbidden("仅限该办件的监督人员 / only a supervisor of this case",
                        details={"required_roles": ["supervisor"]})
    body = _text(text, "text", "督办内容" if kind == "supervise" else "纠错理由")
    days = settings.order_days if days is None else days
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 30:
        raise InvalidInput("期限须为1到30个工作日 / days must be 1 to 30",
                           details={"field": "days", "value": days})
    due = calendar.add_working_days(db_session=db_session, start=calendar.local_date(now),
                                    days=days)
    order = SupervisionOrder(kind=kind, case_id=case.id, case_number=case.number,
                             department_id=case.department_id, region_code=case.region_code,
                             text=body, due=due.date, due_provisional=due.provisional,
                             issued_by=actor.account_id, issued_by_name=actor.name,
                             issued_at=now, state="open")
    db_session.add(order)
    db_session.flush()
    _event(db_session, "order", order.id, case.number, "issued", now, actor,
           {"kind": kind, "due": due.date.isoformat()})
    # The case's timeline names the order, not its text: the text is the order's, shown
    # to those the order concerns, and held once.
    cases.record_fact(db_session=db_session, case=case, action=f"supervision_{kind}",
                      reason=f"{KINDS[kind]}(内容见督办单) / {kind} order (see the order)",
                      data={"order_id": str(order.id), "due": due.date.isoformat()},
                      now=now, actor=actor)
    _ledger(db_session, f"supervision.{kind}", order, "issued", now)
    notices.order_issued(db_session=db_session, order_id=order.id, kind=kind,
                         case_number=case.number, item_name=case.item_name,
                         region_code=case.region_code, department_id=case.department_id,
                         due=due.date, now=now)
    return order


def _ledger(db_session: Session, kind: str, order: SupervisionOrder, step: str,
            at: datetime) -> None:
    from tongban.ledger.service import record_act

    record_act(db_session=db_session, kind=kind, payload={
        "order_id": str(order.id), "case_number": order.case_number, "step": step,
        "kind": order.kind, "state": order.state, "due": order.due.isoformat(),
        "department_id": str(order.department_id) if order.department_id else None,
        "region_code": order.region_code, "at": at.isoformat(),
        "text_sha256": cases.ledger_digest(order.text),
        "answer_sha256": cases.ledger_digest(order.answer)})


def act_on_order(*, db_session: Session, actor: Actor, order_id: uuid.UUID, action: str,
                 text: str | None = None, now: datetime | None = None) -> SupervisionOrder:
    """The department answers an order; the supervisor closes it or sends it back."""
    now = now or utcnow()
    order = db_session.get(SupervisionOrder, order_id, with_for_update=True)
    if order is None or not any(check(actor, order) for check in ORDER_ROLES.values()):
        raise NotFound("督办不存在 / no such order", details={"order_id": str(order_id)})
    row = ORDER_TRANSITIONS.get((order.state, action))
    if row is None:
        raise Conflict("当前状态不能进行该操作 / not allowed in this state",
                       details={"state": order.state, "action": action})
    to_state, role = row
    if not ORDER_ROLES[role](actor, order):
        raise Forbidden("该操作须由" + ("承办部门" if role == "department" else "监督人员")
                        + f"进行 / only the {role} may", details={"required_role": role})
    if action in ("answer", "reopen"):
        body = _text(text, "text", "答复内容" if action == "answer" else "退回理由")
    else:
        body = (text or "").strip()[:MAX_TEXT]
    if action == "answer":
        order.answer, order.answered_by_name, order.answered_at = body, actor.name, now
        notices.order_answered(db_session=db_session, order_id=order.id,
                               step=_last_seq(db_session, order.id) + 1, kind=order.kind,
                               case_number=order.case_number, issued_by=order.issued_by,
                               now=now)
    order.state = to_state
    _event(db_session, "order", order.id, order.case_number, action, now, actor,
           {"text": body} if body else {})
    case = cases.get_case(db_session=db_session, case_number=order.case_number)
    cases.record_fact(db_session=db_session, case=case, action=f"supervision_order_{action}",
                      reason=ORDER_ACTION_LABELS[action],
                      data={"order_id": str(order.id)}, now=now, actor=actor)
    _ledger(db_session, f"supervision.order_{action}", order, action, now)
    try:
        db_session.flush()
    except StaleDataError as exc:
        raise Conflict("已被他人处理,请刷新 / changed by someone else; reload",
                       code="stale_version") from exc
    return order


def orders(*, db_session: Session, actor: Actor, state: str | None = None,
           case_number: str | None = None, limit: int = 200) -> list[SupervisionOrder]:
    """The orders the actor issued in scope or must answer, the nearest deadline first."""
    if state is not None and state not in ORDER_STATES:
        raise InvalidInput("状态无效 / unknown state",
                           details={"field": "state", "value": state})
    stmt = select(SupervisionOrder).order_by(SupervisionOrder.due, SupervisionOrder.issued_at)
    if state:
        stmt = stmt.where(SupervisionOrder.state == state)
    if case_number:
        stmt = stmt.where(SupervisionOrder.case_number == case_number)
    visible = [o for o in db_session.scalars(stmt)
               if any(check(actor, o) for check in ORDER_ROLES.values())]
    return visible[:limit]


def events_of(*, db_session: Session, subject_id: uuid.UUID) -> list[SupervisionEvent]:
    """A watch's or an order's steps, in order."""
    return list(db_session.scalars(select(SupervisionEvent).where(
        SupervisionEvent.subject_id == subject_id).order_by(SupervisionEvent.seq)))


def overdue(order: SupervisionOrder, today: date) -> bool:
    """An open order past its deadline."""
    return order.state == "open" and today > order.due
