"""好差评: give a rating, handle a bad one to its end, publish the results.

A rating is given by the case's applicant, once per service: once per matter online
(一事一评), once per window visit (一次一评). A bad one (不满意, 非常不满意) opens its
handling at once, owned by the department that handled the case, with a return-visit
deadline in working days (the limits are local: RatingSettings). Every step is an event
checked against the table in workflow.py; the steps with legal weight (a rating given,
its handling closed, an appeal decided) also go to the ledger, which names ids, levels
and hashes, never the rater or the text.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from tongban.audit.service import record
from tongban.calendar import service as calendar
from tongban.cases import service as cases
from tongban.cases.workflow import DECIDED_STATES
from tongban.cases.workflow import State as CaseState
from tongban.db import utcnow
from tongban.errors import Conflict, Forbidden, InvalidInput, NotFound
from tongban.identity.actor import Actor, region_covers, region_prefix
from tongban.supervision import notices
from tongban.supervision.ratings import content
from tongban.supervision.ratings.models import Rating, Rectification, RectificationEvent
from tongban.supervision.ratings.workflow import (
    OPEN_STATES,
    RESUME,
    TRANSITIONS,
    Role,
    State,
    Transition,
    allowed,
)

MAX_COMMENT = 500
MAX_TEXT = 2000
# A case is rated online once it has a result: decided, refused, or delivered.
RATEABLE_STATES = frozenset({*DECIDED_STATES, CaseState.refused, CaseState.delivered})
DEPARTMENT_ROLES = ("clerk", "reviewer")


class RatingSettings(BaseSettings):
    """Local limits of 差评 handling (TONGBAN_RATINGS_*): 51号 sets none nationally.

    The defaults follow the strictest common local rules: a return visit within five
    working days (德州), rectification within fifteen (四川). `region_limits` overrides
    them per region code, e.g. {"510100": {"visit_days": 1, "rectify_days_max": 15}}; the
    most specific region covering the case wins.
    """

    model_config = SettingsConfigDict(env_prefix="TONGBAN_RATINGS_", extra="ignore")

    visit_days: int = 5
    rectify_days_max: int = 15
    region_limits: dict[str, dict[str, int]] = {}

    def limits_for(self, region_code: str) -> tuple[int, int]:
        """(visit_days, rectify_days_max) for a case handled in `region_code`."""
        covering = sorted((c for c in self.region_limits if region_covers(c, region_code)),
                          key=len)
        chosen = self.region_limits[covering[-1]] if covering else {}
        return (chosen.get("visit_days", self.visit_days),
                chosen.get("rectify_days_max", self.rectify_days_max))


@dataclass(frozen=True)
class RatingView:
    """A rating with its handling (if bad) and what the caller may do next."""

    rating: Rating
    rectification: Rectification | None
    events: list[RectificationEvent] = field(default_factory=list)
    allowed_actions: list[str] = field(default_factory=list)


# --- giving a rating ------------------------------------------------------------------------


def _check_text(value: str | None, *, name: str, limit: int, label: str) -> str:
    text = (value or "").strip()
    if len(text) > limit:
        raise InvalidInput(f"{label}最多{limit}字 / {name} is longer than {limit} characters",
                           details={"field": name})
    return text


def _check_level(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value not in content.LEVELS:
        raise InvalidInput("评价等级须为1到5(非常不满意到非常满意) / level must be 1 to 5",
                           details={"field": name, "value": value})
    return value


def _check_indicators(channel: str, level: int, given: dict[str, Any] | None) -> dict[str, int]:
    """The indicators of the channel, each 1–5; 整体满意度 is the rating's level."""
    known = content.indicators_for(channel)
    given = dict(given or {})
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise InvalidInput("评价指标不属于该渠道 / indicators not rated on this channel",
                           details={"field": "indicators", "unknown": unknown,
                                    "known": list(known)})
    checked = {k: _check_level(v, f"indicators.{k}") for k, v in given.items()}
    if checked.setdefault("overall", level) != level:
        raise InvalidInput("整体满意度须与评价等级一致 / overall must equal the level",
                           details={"field": "indicators.overall"})
    return checked


def _occasion(detail: cases.CaseDetail, channel: str, visit_seq: int | None) -> str:
    """一事一评 online once the case has a result; 一次一评 of one window visit."""
    if channel in content.ON_SITE_CHANNELS:
        visit = next((e for e in detail.events if e.seq == visit_seq), None)
        if visit is None or visit.actor_role != "clerk":
            raise InvalidInput("请指明所评价的窗口服务 / name the window visit being rated",
                               details={"field": "visit_seq", "value": visit_seq})
        return f"visit:{visit.seq}"
    if visit_seq is not None:
        raise InvalidInput("网上评价针对整个办件 / an online rating rates the whole case",
                           details={"field": "visit_seq"})
    if detail.case.state not in RATEABLE_STATES:
        raise Conflict("办结后才能评价 / a case can be rated once it is finished",
                       details={"state": detail.case.state})
    return "case"


def rate(*, db_session: Session, limits: RatingSettings | None = None, actor: Actor,
         case_number: str, channel: str, level: Any, indicators: dict[str, Any] | None = None,
         comment: str | None = "", visit_seq: int | None = None,
         now: datetime | None = None) -> RatingView:
    """好差评: the applicant rates one service; a bad rating opens its handling."""
    if actor.account_id is None:
        raise Forbidden("请使用个人账号评价 / a personal account is required")
    if channel not in content.CHANNEL_LABELS:
        raise InvalidInput("评价渠道无效 / unknown channel",
                           details={"field": "channel", "value": channel,
                                    "known": list(content.CHANNEL_LABELS)})
    level = _check_level(level, "level")
    now = now or utcnow()
    detail = cases.get(db_session=db_session, actor=actor, case_number=case_number)
    case = detail.case
    if case.applicant_account_id != actor.account_id:
        raise Forbidden("只有申请人可以评价 / only the applicant may rate this case")
    occasion = _occasion(detail, channel, visit_seq)
    checked = _check_indicators(channel, level, indicators)
    text = _check_text(comment, name="comment", limit=MAX_COMMENT, label="评价内容")
    if db_session.scalar(select(Rating.id).where(Rating.case_number == case.number,
                                                 Rating.occasion == occasion)):
        raise Conflict("该服务已评价 / this service was already rated",
                       details={"case_number": case.number, "occasion": occasion})
    rating = Rating(case_number=case.number, occasion=occasion, account_id=actor.account_id,
                    channel=channel, level=level, indicators=checked,
                    content_version=content.CONTENT_VERSION, comment=text,
                    department_id=case.department_id, region_code=case.region_code,
                    item_code=case.item_code, item_name=case.item_name, created_at=now)
    try:
        with db_session.begin_nested():
            db_session.add(rating)
    except IntegrityError:
        raise Conflict("该服务已评价 / this service was already rated",
                       details={"case_number": case.number, "occasion": occasion}) from None
    record(db_session=db_session, actor_id=actor.account_id, actor_name=actor.name,
           action="rating.create", entity="case", entity_id=case.number,
           details={"level": level, "channel": channel, "occasion": occasion})
    _ledger(db_session, "rating.given", _rating_payload(rating))
    handling = None
    if content.is_bad(level):
        handling = _open(db_session, limits or RatingSettings(), rating, now)
    return view(rating, handling, [] if handling is None else _events(db_session, handling),
                actor)


def _open(db_session: Session, limits: RatingSettings, rating: Rating,
          now: datetime) -> Rectification:
    """A bad rating's handling, with its return-visit deadline in working days."""
    visit_days, _ = limits.limits_for(rating.region_code)
    due = calendar.add_working_days(db_session=db_session, start=calendar.local_date(now),
                                    days=visit_days)
    handling = Rectification(rating_id=rating.id, case_number=rating.case_number,
                             department_id=rating.department_id,
                             region_code=rating.region_code, state=State.visit_pending,
                             visit_due=due.date, due_provisional=due.provisional)
    db_session.add(handling)
    db_session.flush()
    _append(db_session, handling, actor=None, role="system", action="open", from_state=None,
            reason=None, data={"visit_due": due.date.isoformat(), "level": rating.level},
            at=now)
    notices.rating_visit_due(
        db_session=db_session, rating_id=rating.id, case_number=rating.case_number,
        item_name=rating.item_name, level=(content.LEVELS[rating.level],
                                           notices.RATING_LEVELS_EN[rating.level]),
        region_code=rating.region_code, department_id=rating.department_id,
        visit_due=due.date, now=now)
    return handling


# --- handling a bad rating ------------------------------------------------------------------


def _roles_of(actor: Actor, rating: Rating) -> set[Role]:
    """Which parties of this rating the actor is (authorisation as data: ROLE_CHECKS)."""
    return {role for role, check in ROLE_CHECKS.items() if check(actor, rating)}


ROLE_CHECKS = {
    Role.rater: lambda a, r: a.account_id is not None and a.account_id == r.account_id,
    Role.department: lambda a, r: a.has(*DEPARTMENT_ROLES)
    and a.covers(r.region_code, r.department_id),
    Role.supervisor: lambda a, r: a.has("supervisor") and a.covers(r.region_code),
}


def view(rating: Rating, handling: Rectification | None, events: list[RectificationEvent],
         actor: Actor) -> RatingView:
    """A rating as `actor` sees it: the actions open to them now."""
    roles = _roles_of(actor, rating)
    acts = [] if handling is None else [
        a for a, t in allowed(handling.state).items() if t.role in roles]
    return RatingView(rating, handling, events, acts)


def _events(db_session: Session, handling: Rectification) -> list[RectificationEvent]:
    return list(db_session.scalars(
        select(RectificationEvent).where(RectificationEvent.rectification_id == handling.id)
        .order_by(RectificationEvent.seq)))


def _handling_of(db_session: Session, rating_id: uuid.UUID, *,
                 for_update: bool = False) -> Rectification | None:
    stmt = select(Rectification).where(Rectification.rating_id == rating_id)
    return db_session.scalar(stmt.with_for_update() if for_update else stmt)


def get(*, db_session: Session, actor: Actor, rating_id: uuid.UUID) -> RatingView:
    """A rating and its handling, for its rater, the department and supervisors only."""
    rating = db_session.get(Rating, rating_id)
    if rating is None or not _roles_of(actor, rating):
        raise NotFound("评价不存在 / no such rating", details={"rating_id": str(rating_id)})
    handling = _handling_of(db_session, rating.id)
    return view(rating, handling, _events(db_session, handling) if handling else [], actor)


def ratings_of_case(*, db_session: Session, actor: Actor, case_number: str) -> list[RatingView]:
    """Every rating of a case the actor may see, oldest first."""
    rows = db_session.scalars(select(Rating).where(Rating.case_number == case_number)
                              .order_by(Rating.created_at))
    return [get(db_session=db_session, actor=actor, rating_id=r.id) for r in rows
            if _roles_of(actor, r)]


def _require_fields(row: Transition, given: dict[str, Any]) -> None:
    missing = [n for n in sorted(row.needs) if given.get(n) in (None, "")]
    if missing:
        raise InvalidInput("请填写:" + "、".join(NEED_LABELS[n] for n in missing)
                           + f" / required: {', '.join(missing)}",
                           details=[{"field": n, "message": f"请填写{NEED_LABELS[n]}"}
                                    for n in missing])


NEED_LABELS = {"reason": "说明", "outcome": "处理结果", "days": "整改期限(工作日)",
               "evidence": "申诉证据"}


def act(*, db_session: Session, limits: RatingSettings | None = None, actor: Actor,
        rating_id: uuid.UUID, action: str, reason: str | None = None, outcome: str | None = None,
        days: int | None = None, evidence: str | None = None,
        now: datetime | None = None) -> RatingView:
    """One step of a bad rating's handling, checked against the table."""
    now = now or utcnow()
    rating = db_session.get(Rating, rating_id)
    if rating is None or not _roles_of(actor, rating):
        raise NotFound("评价不存在 / no such rating", details={"rating_id": str(rating_id)})
    handling = _handling_of(db_session, rating.id, for_update=True)
    if handling is None:
        raise Conflict("只有差评需要处置 / only a bad rating is handled",
                       details={"level": rating.level})
    row = TRANSITIONS.get((handling.state, action))
    if row is None:
        raise Conflict("当前状态不能进行该操作 / not allowed in this state",
                       details={"state": handling.state, "action": action,
                                "allowed": list(allowed(handling.state))})
    if row.role not in _roles_of(actor, rating):
        raise Forbidden(f"该操作须由{ROLE_LABELS[row.role]}进行 / only the {row.role} may "
                        "do this", details={"required_role": row.role})
    texts = {"reason": _check_text(reason, name="reason", limit=MAX_TEXT, label="说明"),
             "outcome": _check_text(outcome, name="outcome", limit=MAX_TEXT, label="处理结果"),
             "evidence": _check_text(evidence, name="evidence", limit=MAX_TEXT,
                                     label="申诉证据")}
    _require_fields(row, {**texts, "days": days})
    data = _apply(db_session, limits or RatingSettings(), handling, rating, action, row,
                  texts, days, now)
    from_state = handling.state
    handling.state = (handling.appealed_from or State.visit_pending) if row.to == RESUME \
        else row.to
    if action == "appeal":
        handling.appealed_from = from_state
    event = _append(db_session, handling, actor=actor, role=row.role, action=action,
                    from_state=from_state, reason=texts["reason"] or None, data=data, at=now,
                    notes={k: v for k, v in texts.items() if v and k != "reason"})
    try:
        db_session.flush()
    except StaleDataError as exc:
        raise Conflict("已被他人处理,请刷新 / changed by someone else; reload",
                       code="stale_version") from exc
    if row.legal_act:
        _ledger(db_session, f"rating.{action}", {**_rating_payload(rating),
                                                 **_event_payload(event)})
    return view(rating, handling, _events(db_session, handling), actor)


ROLE_LABELS = {Role.rater: "评价人", Role.department: "办理部门", Role.supervisor: "监督人员"}


def _apply(db_session: Session, limits: RatingSettings, handling: Rectification,
           rating: Rating, action: str, row: Transition, texts: dict[str, str],
           days: int | None, now: datetime) -> dict[str, Any]:
    """The action's effect on the handling's fields; returns the event's (plain) data."""
    data: dict[str, Any] = {}
    if action in ("fix_now", "explain", "plan_rectification"):
        handling.finding = action
    if "outcome" in row.needs:
        handling.outcome = texts["outcome"]
    if action == "plan_rectification":
        _, most = limits.limits_for(handling.region_code)
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= most:
            raise InvalidInput(f"整改期限须为1到{most}个工作日 / days must be 1 to {most}",
                               details={"field": "days", "value": days, "max": most})
        due = calendar.add_working_days(db_session=db_session,
                                        start=calendar.local_date(now), days=days)
        handling.rectify_due, handling.due_provisional = due.date, due.provisional
        data.update(days=days, rectify_due=due.date.isoformat())
    if action == "uphold_appeal":
        rating.annulled = True
    if row.to == State.closed:
        handling.closed_at = now
    return data


def _append(db_session: Session, handling: Rectification, *, actor: Actor | None, role: str,
            action: str, from_state: str | None, reason: str | None, data: dict[str, Any],
            at: datetime, notes: dict[str, str] | None = None) -> RectificationEvent:
    handling.last_event_seq += 1
    event = RectificationEvent(
        rectification_id=handling.id, seq=handling.last_event_seq, at=at,
        actor_id=actor.account_id if actor else None, actor_name=actor.name if actor else
        "system", actor_role=role, action=action, from_state=from_state,
        to_state=handling.state, reason=reason, data=data, notes=notes or {})
    db_session.add(event)
    return event


def _ledger(db_session: Session, kind: str, payload: dict[str, Any]) -> None:
    from tongban.ledger.service import record_act

    record_act(db_session=db_session, kind=kind, payload=payload)


def _rating_payload(rating: Rating) -> dict[str, Any]:
    """What the public log says of a rating: no rater, no text (bound by its hash)."""
    return {"rating_id": str(rating.id), "case_number": rating.case_number,
            "occasion": rating.occasion, "channel": rating.channel, "level": rating.level,
            "department_id": str(rating.department_id) if rating.department_id else None,
            "region_code": rating.region_code, "item_code": rating.item_code,
            "content_version": rating.content_version,
            "comment_sha256": cases.ledger_digest(rating.comment)}


def _event_payload(event: RectificationEvent) -> dict[str, Any]:
    return {"seq": event.seq, "action": event.action, "from_state": event.from_state,
            "to_state": event.to_state, "at": event.at.isoformat(),
            "actor_role": event.actor_role,
            "reason_sha256": cases.ledger_digest(event.reason),
            "data_sha256": cases.ledger_digest(event.data),
            "notes_sha256": cases.ledger_digest(event.notes)}


# --- queues and publication -------------------------------------------------------------------


@dataclass(frozen=True)
class QueueRow:
    rating: Rating
    rectification: Rectification
    overdue: bool


def queue(*, db_session: Session, actor: Actor, state: str | None = None,
          today: date | None = None, limit: int = 100) -> list[QueueRow]:
    """Bad ratings in the actor's scope still open (or in `state`), the oldest deadline
    first: the department's 差评处置 list, and the supervisor's appeals to decide."""
    if not actor.has(*DEPARTMENT_ROLES, "supervisor"):
        raise Forbidden("仅限工作人员 / staff only")
    if state is not None and state not in STATE_SET:
        raise InvalidInput("状态无效 / unknown state",
                           details={"field": "state", "value": state, "known": sorted(STATE_SET)})
    states = [state] if state else sorted(OPEN_STATES)
    today = today or calendar.now_local_date()
    stmt = (select(Rating, Rectification).join(Rectification,
                                               Rectification.rating_id == Rating.id)
            .where(Rectification.state.in_(states))
            .order_by(Rectification.visit_due, Rectification.created_at))
    rows = []
    for rating, handling in db_session.execute(stmt):
        if _roles_of(actor, rating) & {Role.department, Role.supervisor}:
            rows.append(QueueRow(rating, handling, _overdue(handling, today)))
        if len(rows) >= limit:
            break
    return rows


STATE_SET = frozenset(s.value for s in State)


def _overdue(handling: Rectification, today: date) -> bool:
    """Past the deadline of the step it waits for (the visit, or the rectification)."""
    if handling.state == State.visit_pending:
        return today > handling.visit_due
    if handling.state == State.rectifying and handling.rectify_due is not None:
        return today > handling.rectify_due
    return False


@dataclass
class PublishedRow:
    """One department's (and item's) published results."""

    department_id: uuid.UUID | None
    item_code: str | None
    item_name: str
    total: int = 0
    by_level: dict[int, int] = field(default_factory=lambda: dict.fromkeys(content.LEVELS, 0))
    bad: int = 0
    bad_rectified: int = 0
    annulled: int = 0

    @property
    def good_rate(self) -> float | None:
        """好评率: 非常满意 and 满意 over the ratings that count."""
        good = sum(self.by_level[lv] for lv in content.GOOD_LEVELS)
        return good / self.total if self.total else None

    @property
    def rectified_rate(self) -> float | None:
        """差评整改率: bad ratings rectified on time (the metric's definition), over all."""
        return self.bad_rectified / self.bad if self.bad else None


def published(*, db_session: Session, region_code: str | None = None,
              since: date | None = None, until: date | None = None) -> list[PublishedRow]:
    """Results per department and item (公开): levels, 好评率, 差评 and how many were
    rectified on time, by the same SQL and written definition as the metrics' 差评整改率
    (closed by the rater, within the deadlines); annulled (malicious) ones counted apart."""
    from tongban.supervision.metrics.feedback import rating_fact_select

    facts = rating_fact_select().subquery("facts")
    stmt = (select(Rating.department_id, Rating.item_code, func.max(Rating.item_name),
                   Rating.level, Rating.annulled, func.count(), func.sum(facts.c.bad_rectified))
            .join(facts, facts.c.rating_id == Rating.id)
            .group_by(Rating.department_id, Rating.item_code, Rating.level, Rating.annulled))
    if region_code is not None and region_code != "100000":
        stmt = stmt.where(Rating.region_code.startswith(region_prefix(region_code)))
    if since is not None:
        stmt = stmt.where(Rating.created_at >= _start_of(since))
    if until is not None:
        stmt = stmt.where(Rating.created_at < _start_of(until + timedelta(days=1)))
    rows: dict[tuple[Any, Any], PublishedRow] = {}
    for dept, item, name, level, annulled, count, rectified in db_session.execute(stmt):
        row = rows.setdefault((dept, item), PublishedRow(dept, item, name or ""))
        if annulled:
            row.annulled += count
            continue
        row.total += count
        row.by_level[level] += count
        if content.is_bad(level):
            row.bad += count
            row.bad_rectified += int(rectified or 0)
    return sorted(rows.values(), key=lambda r: (-r.bad, r.item_name))


def _start_of(day: date) -> datetime:
    """The first instant of a day in China, as the law counts days."""
    return datetime.combine(day, time.min, calendar.ZONE)


def case_rating(*, db_session: Session, actor: Actor, case_number: str) -> RatingView | None:
    """The online (一事一评) rating of a case, as `actor` sees it; None if none is seen."""
    rating = db_session.scalar(select(Rating).where(Rating.case_number == case_number,
                                                    Rating.occasion == "case"))
    if rating is None or not _roles_of(actor, rating):
        return None
    return get(db_session=db_session, actor=actor, rating_id=rating.id)
