"""12345 tickets: file, route (派单), return and reassign (退单/改派), merge duplicates
(并单), reply, and the complainant's verdict; deadlines in working days per category.

Every step is checked against workflow.TRANSITIONS and appended as an event naming the
department a ticket left and the one it went to, so returns and reassignments are counted
per department from the log. A ticket about a case goes to the department that handled
the case ("谁办理、谁负责"); any other ticket follows the routing rules (派单目录), the
most specific first, and waits for the 12345 agency when none applies.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from rapidfuzz import fuzz
from sqlalchemy import bindparam, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from tongban.calendar import service as calendar
from tongban.cases import service as cases
from tongban.catalog import service as catalog
from tongban.db import utcnow
from tongban.errors import Conflict, Forbidden, InvalidInput, NotFound
from tongban.identity.actor import Actor, region_covers
from tongban.supervision import notices
from tongban.supervision.complaints.categories import DEFAULT_CATEGORIES
from tongban.supervision.complaints.models import (
    Complaint,
    ComplaintCategory,
    ComplaintEvent,
    ComplaintNumberSequence,
    RoutingRule,
)
from tongban.supervision.complaints.workflow import (
    OPEN_STATES,
    RETURN_REASONS,
    TRANSITIONS,
    Action,
    Role,
    State,
    Transition,
    allowed,
)

CHANNELS = {"portal": "网上", "hotline": "12345热线", "app": "移动端"}
DEPARTMENT_ROLES = ("clerk", "reviewer")
MAX_SUBJECT, MAX_BODY, MAX_TEXT = 200, 5000, 2000
DUPLICATE_SCORE = 80  # rapidfuzz token-set similarity of subject + body, 0-100
DUPLICATE_WINDOW = 500  # the newest open tickets of a region and category compared


@dataclass(frozen=True)
class ComplaintView:
    complaint: Complaint
    events: list[ComplaintEvent] = field(default_factory=list)
    allowed_actions: list[str] = field(default_factory=list)
    merged_into: str | None = None


# --- categories and routing rules -----------------------------------------------------------


def ensure_categories(*, db_session: Session) -> int:
    """Add the default categories a node lacks (never changes one it has); how many."""
    have = set(db_session.scalars(select(ComplaintCategory.code)))
    added = [ComplaintCategory(code=c, name=n, days=d)
             for c, (n, d) in DEFAULT_CATEGORIES.items() if c not in have]
    db_session.add_all(added)
    db_session.flush()
    return len(added)


def categories(*, db_session: Session) -> list[ComplaintCategory]:
    """Every category, by code (the defaults, until the node stores its own)."""
    rows = list(db_session.scalars(select(ComplaintCategory).order_by(ComplaintCategory.code)))
    return rows or [ComplaintCategory(code=c, name=n, days=d)
                    for c, (n, d) in sorted(DEFAULT_CATEGORIES.items())]


def _require_agency(actor: Actor, region_code: str) -> None:
    if not (actor.has("supervisor", "operator") and actor.covers(region_code)):
        raise Forbidden("仅限12345热线工作机构(监督人员) / the 12345 agency (supervisors) only",
                        details={"required_roles": ["supervisor"]})


def set_category(*, db_session: Session, actor: Actor, code: str, name: str, days: int,
                 now: datetime | None = None) -> ComplaintCategory:
    """Create or change a category; open tickets of it get their deadline again."""
    if not actor.has("operator", "supervisor"):
        raise Forbidden("仅限运维或监督人员 / operators or supervisors only")
    if not code or len(code) > 30 or not code.replace("_", "").isalnum():
        raise InvalidInput("类别代码须为字母数字 / code must be letters and digits",
                           details={"field": "code", "value": code})
    if not name.strip() or len(name) > 60:
        raise InvalidInput("请填写类别名称(最多60字) / name is required (at most 60)",
                           details={"field": "name"})
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 60:
        raise InvalidInput("办理时限须为1到60个工作日 / days must be 1 to 60",
                           details={"field": "days", "value": days})
    ensure_categories(db_session=db_session)
    row = db_session.get(ComplaintCategory, code) or ComplaintCategory(code=code)
    row.name, row.days = name.strip(), days
    db_session.add(row)
    db_session.flush()
    recompute_deadlines(db_session=db_session, category_code=code, now=now)
    return row


def _category(db_session: Session, code: str) -> ComplaintCategory:
    ensure_categories(db_session=db_session)
    row = db_session.get(ComplaintCategory, code)
    if row is None:
        raise InvalidInput("诉求类别不存在 / unknown category",
                           details={"field": "category", "value": code,
                                    "known": [c.code for c in categories(db_session=db_session)]})
    return row


def _department(db_session: Session, department_id: Any) -> Any:
    try:
        return catalog.get_department(db_session=db_session,
                                      department_id=uuid.UUID(str(department_id)))
    except (ValueError, NotFound):
        raise InvalidInput("部门不存在 / no such department",
                           details={"field": "department_id", "value": str(department_id)}
                           ) from None


def add_rule(*, db_session: Session, actor: Actor, category_code: str, region_code: str,
             department_id: Any, keyword: str = "") -> RoutingRule:
    """A line of the 派单目录: this category (and keyword) in this region → this department."""
    _require_agency(actor, region_code)
    _category(db_session, category_code)
    department = _department(db_session, department_id)
    if not region_covers(region_code, department.region_code) and not region_covers(
            department.region_code, region_code):
        raise InvalidInput("部门不在该地区 / the department is not of that region",
                           details={"field": "department_id"})
    rule = RoutingRule(category_code=category_code, region_code=region_code,
                       keyword=(keyword or "").strip()[:40], department_id=department.id)
    db_session.add(rule)
    db_session.flush()
    return rule


def route(*, db_session: Session, category_code: str, region_code: str,
          text: str) -> uuid.UUID | None:
    """The department the 派单目录 names for a ticket: a keyword rule before a category
    rule, the narrowest region first; None when no rule covers it."""
    rules = db_session.scalars(select(RoutingRule).where(
        RoutingRule.category_code == category_code))
    fitting = [r for r in rules if region_covers(r.region_code, region_code)
               and (not r.keyword or r.keyword in text)]
    fitting.sort(key=lambda r: (bool(r.keyword), len(r.region_code.rstrip("0"))),
                 reverse=True)
    return fitting[0].department_id if fitting else None


# --- filing -----------------------------------------------------------------------------------


def _next_number(db_session: Session, region_code: str, day: date) -> str:
    """TS + region + YYYYMMDD + a 5-digit sequence of the region and day."""
    seq = ComplaintNumberSequence
    insert = pg_insert if db_session.get_bind().dialect.name == "postgresql" else sqlite_insert
    values = insert(seq).values(region_code=bindparam("r", type_=seq.region_code.type),
                                day=bindparam("d", type_=seq.day.type), last=1)
    upsert = values.on_conflict_do_update(index_elements=[seq.region_code, seq.day],
                                          set_={"last": seq.last + 1}).returning(seq.last)
    last = db_session.execute(upsert, {"r": region_code, "d": day}).scalar_one()
    return f"TS{region_code}{day:%Y%m%d}{last:05d}"


def _text(value: str | None, name: str, limit: int, label: str, *,
          required: bool = False) -> str:
    text = (value or "").strip()
    if required and not text:
        raise InvalidInput(f"请填写{label} / {name} is required", details={"field": name})
    if len(text) > limit:
        raise InvalidInput(f"{label}最多{limit}字 / {name} is longer than {limit}",
                           details={"field": name})
    return text


def _due(db_session: Session, received_on: date, days: int) -> calendar.DueDate:
    return calendar.add_working_days(db_session=db_session, start=received_on, days=days)


def file(*, db_session: Session, actor: Actor, category: str, subject: str, body: str,
         region_code: str | None = None, case_number: str | None = None,
         channel: str = "portal", now: datetime | None = None) -> ComplaintView:
    """A new ticket; routed at once when its case or the 派单目录 names a department."""
    now = now or utcnow()
    if channel not in CHANNELS:
        raise InvalidInput("渠道无效 / unknown channel",
                           details={"field": "channel", "value": channel})
    if channel == "hotline":
        _require_agency(actor, region_code or "")
    elif actor.account_id is None or not actor.has("applicant"):
        raise Forbidden("请使用个人账号提交诉求 / a personal account is required")
    cat = _category(db_session, category)
    subject = _text(subject, "subject", MAX_SUBJECT, "诉求标题", required=True)
    body = _text(body, "body", MAX_BODY, "诉求内容", required=True)
    department_id = None
    if case_number:
        try:
            case = cases.get_case(db_session=db_session, case_number=case_number.strip())
        except NotFound:
            case = None
        if case is None or not cases.can_see(actor, case):
            raise InvalidInput("关联办件不存在 / no such case of yours",
                               details={"field": "case_number", "value": case_number})
        region_code, department_id = case.region_code, case.department_id
    if not region_code or not region_code.isdigit() or len(region_code) != 6:
        raise InvalidInput("请选择诉求所在地区(6位代码) / region must be a six-digit code",
                           details={"field": "region_code", "value": region_code})
    department_id = department_id or route(db_session=db_session, category_code=cat.code,
                                           region_code=region_code, text=f"{subject} {body}")
    received_on = calendar.local_date(now)
    due = _due(db_session, received_on, cat.days)
    ticket = Complaint(
        number=_next_number(db_session, region_code, received_on), category_code=cat.code,
        subject=subject, body=body, region_code=region_code,
        case_number=case_number.strip() if case_number else None,
        complainant_account_id=actor.account_id if channel != "hotline" else None,
        channel=channel, state=State.received, received_on=received_on, due_date=due.date,
        due_provisional=due.provisional, due_computed_at=now, created_at=now)
    db_session.add(ticket)
    db_session.flush()
    _append(db_session, ticket, actor, "complainant" if channel != "hotline" else "agency",
            "file", None, data={"due_date": due.date.isoformat()}, at=now)
    if department_id is not None:
        _move(db_session, ticket, Action.dispatch, TRANSITIONS[(State.received,
                                                                Action.dispatch)],
              actor=None, role="system", department_id=department_id, at=now,
              reason="按派单目录自动派单" if not case_number else "按关联办件的办理部门派单")
    return view(db_session, ticket, actor)


# --- acting -------------------------------------------------------------------------------------


def _is_agency(actor: Actor, ticket: Complaint) -> bool:
    return actor.has("supervisor", "operator") and actor.covers(ticket.region_code)


ROLE_CHECKS = {
    # A hotline caller has no account: the 12345 agency calls them back (回访) and records
    # their verdict, so a phoned-in ticket can close like any other.
    Role.complainant: lambda a, t: (a.account_id is not None
                                    and a.account_id == t.complainant_account_id)
    or (t.complainant_account_id is None and _is_agency(a, t)),
    Role.agency: _is_agency,
    Role.department: lambda a, t: t.department_id is not None and a.has(*DEPARTMENT_ROLES)
    and a.covers(t.region_code, t.department_id),
}


def _roles(actor: Actor, ticket: Complaint) -> set[Role]:
    return {role for role, check in ROLE_CHECKS.items() if check(actor, ticket)}


def view(db_session: Session, ticket: Complaint, actor: Actor) -> ComplaintView:
    """A ticket with its history and the actions open to `actor`."""
    roles = _roles(actor, ticket)
    events = list(db_session.scalars(select(ComplaintEvent).where(
        ComplaintEvent.complaint_id == ticket.id).order_by(ComplaintEvent.seq)))
    into = db_session.get(Complaint, ticket.merged_into_id) if ticket.merged_into_id else None
    return ComplaintView(ticket, events,
                         [a for a, t in allowed(ticket.state).items() if t.role in roles],
                         into.number if into else None)


def _get(db_session: Session, actor: Actor, number: str, *, lock: bool = False) -> Complaint:
    stmt = select(Complaint).where(Complaint.number == number)
    ticket = db_session.scalar(stmt.with_for_update() if lock else stmt)
    if ticket is None or not _roles(actor, ticket):
        raise NotFound("诉求不存在 / no such ticket", details={"number": number})
    return ticket


def get(*, db_session: Session, actor: Actor, number: str) -> ComplaintView:
    """A ticket, for its complainant, its department and the 12345 agency."""
    return view(db_session, _get(db_session, actor, number), actor)


NEED_LABELS = {"department_id": "承办部门", "reason": "理由", "reason_code": "退单原因",
               "reply": "答复内容", "into": "并入的诉求编号"}


def act(*, db_session: Session, actor: Actor, number: str, action: str,
        department_id: Any = None, reason_code: str | None = None, reason: str | None = None,
        reply: str | None = None, into: str | None = None,
        now: datetime | None = None) -> ComplaintView:
    """One step of a ticket, checked against the table."""
    now = now or utcnow()
    ticket = _get(db_session, actor, number, lock=True)
    row = TRANSITIONS.get((ticket.state, action))
    if row is None:
        raise Conflict("当前状态不能进行该操作 / not allowed in this state",
                       details={"state": ticket.state, "action": action,
                                "allowed": list(allowed(ticket.state))})
    if row.role not in _roles(actor, ticket):
        raise Forbidden(f"该操作须由{ROLE_LABELS[row.role]}进行 / only the {row.role} may",
                        details={"required_role": row.role})
    given = {"department_id": department_id, "reason_code": reason_code,
             "reason": _text(reason, "reason", MAX_TEXT, "理由"),
             "reply": _text(reply, "reply", MAX_BODY, "答复内容"), "into": into}
    missing = [n for n in sorted(row.needs) if given[n] in (None, "")]
    if missing:
        raise InvalidInput("请填写:" + "、".join(NEED_LABELS[n] for n in missing)
                           + f" / required: {', '.join(missing)}",
                           details=[{"field": n, "message": f"请填写{NEED_LABELS[n]}"}
                                    for n in missing])
    role = ("agency" if row.role == Role.complainant and ticket.complainant_account_id is None
            else row.role)  # the agency spoke for a hotline caller: the history says so
    _move(db_session, ticket, action, row, actor=actor, role=role,
          department_id=department_id, reason_code=reason_code, reason=given["reason"] or None,
          reply=given["reply"], into=into, at=now)
    try:
        db_session.flush()
    except StaleDataError as exc:
        raise Conflict("诉求已被他人处理,请刷新 / changed by someone else; reload",
                       code="stale_version") from exc
    return view(db_session, ticket, actor)


ROLE_LABELS = {Role.complainant: "诉求人", Role.department: "承办部门",
               Role.agency: "12345热线工作机构"}


def _move(db_session: Session, ticket: Complaint, action: str, row: Transition, *,
          actor: Actor | None, role: str, at: datetime, department_id: Any = None,
          reason_code: str | None = None, reason: str | None = None, reply: str = "",
          into: str | None = None) -> None:
    """Apply one row: the ticket's fields, then its event."""
    from_state, from_dept = ticket.state, ticket.department_id
    data: dict[str, Any] = {}
    if row.picks_department:
        department = _department(db_session, department_id)
        if from_state == State.dispatched and department.id == from_dept:
            raise InvalidInput("改派须选择另一个部门 / reassign to another department",
                               details={"field": "department_id"})
        ticket.department_id = department.id
        category = db_session.get(ComplaintCategory, ticket.category_code)
        notices.complaint_routed(
            db_session=db_session, number=ticket.number, step=ticket.last_event_seq + 1,
            category=category.name if category else ticket.category_code,
            region_code=ticket.region_code, department_id=department.id,
            due=ticket.due_date, now=at)
    if action == Action.return_ticket:
        if reason_code not in RETURN_REASONS:
            raise InvalidInput("退单原因无效 / unknown return reason",
                               details={"field": "reason_code", "value": reason_code,
                                        "known": list(RETURN_REASONS)})
        ticket.returns += 1
    if action == Action.reply:
        ticket.reply, ticket.replied_at = reply, at
        notices.complaint_answered(db_session=db_session, number=ticket.number,
                                   step=ticket.last_event_seq + 1,
                                   account_id=ticket.complainant_account_id, now=at)
    if action in (Action.satisfied, Action.unsatisfied):
        ticket.satisfied = action == Action.satisfied
    if action == Action.merge:
        primary = _merge_target(db_session, ticket, into or "")
        ticket.merged_into_id = primary.id
        data["into"] = primary.number
    ticket.state = row.to
    if row.to in (State.closed, State.merged):
        ticket.closed_at = at
    _append(db_session, ticket, actor, role, action, from_state, from_department=from_dept,
            reason_code=reason_code, reason=reason, data=data, at=at)


def _merge_target(db_session: Session, ticket: Complaint, number: str) -> Complaint:
    primary = db_session.scalar(select(Complaint).where(Complaint.number == number.strip()))
    if primary is None or primary.id == ticket.id or primary.state == State.merged \
            or primary.region_code != ticket.region_code:
        raise InvalidInput("只能并入同一地区另一件未并单的诉求 / merge into another open "
                           "ticket of the same region", details={"field": "into",
                                                                  "value": number})
    return primary


def _append(db_session: Session, ticket: Complaint, actor: Actor | None, role: str,
            action: str, from_state: str | None, *, at: datetime,
            from_department: uuid.UUID | None = None, reason_code: str | None = None,
            reason: str | None = None, data: dict[str, Any] | None = None) -> None:
    ticket.last_event_seq += 1
    db_session.add(ComplaintEvent(
        complaint_id=ticket.id, seq=ticket.last_event_seq, at=at,
        actor_id=actor.account_id if actor else None,
        actor_name=actor.name if actor else "system", actor_role=role, action=action,
        from_state=from_state, to_state=ticket.state, from_department_id=from_department,
        to_department_id=ticket.department_id, reason_code=reason_code, reason=reason,
        data=data or {}))


# --- lists, duplicates, deadlines ------------------------------------------------------------


def list_for(*, db_session: Session, actor: Actor, state: str | None = None,
             limit: int = 100) -> list[Complaint]:
    """The tickets the actor has: their own, their department's, or their region's."""
    stmt = select(Complaint).order_by(Complaint.due_date, Complaint.created_at)
    if state:
        stmt = stmt.where(Complaint.state == state)
    if actor.has("supervisor", "operator", *DEPARTMENT_ROLES):
        rows = [t for t in db_session.scalars(stmt.limit(limit * 5)) if _roles(actor, t)]
        return rows[:limit]
    if actor.account_id is None:
        raise Forbidden("请先登录 / sign in first")
    return list(db_session.scalars(stmt.where(
        Complaint.complainant_account_id == actor.account_id).limit(limit)))


def duplicates(*, db_session: Session, actor: Actor, number: str) -> list[tuple[Complaint, int]]:
    """Open tickets of the same region and category that read like this one (并单
    candidates), the most similar first, with their similarity 0-100.

    Subjects and bodies are sealed, so SQL narrows the candidates by region, category and
    state, and the texts are opened and scored here: the newest DUPLICATE_WINDOW of them,
    which bounds the work whatever the number of tickets."""
    ticket = _get(db_session, actor, number)
    others = db_session.scalars(select(Complaint).where(
        Complaint.region_code == ticket.region_code,
        Complaint.category_code == ticket.category_code, Complaint.id != ticket.id,
        Complaint.state.in_([s.value for s in OPEN_STATES]))
        .order_by(Complaint.created_at.desc(), Complaint.id).limit(DUPLICATE_WINDOW))
    text = f"{ticket.subject} {ticket.body}"
    scored = [(o, int(fuzz.token_set_ratio(text, f"{o.subject} {o.body}"))) for o in others]
    return sorted([s for s in scored if s[1] >= DUPLICATE_SCORE], key=lambda s: -s[1])


def recompute_deadlines(*, db_session: Session, category_code: str | None = None,
                        now: datetime | None = None, batch: int = 500) -> int:
    """Due dates of open tickets again, from the calendar as it is now (a year loaded, a
    调休 notice corrected, a category's limit changed); an event for each one that moved."""
    now = now or utcnow()
    stmt = select(Complaint).where(Complaint.state.in_([s.value for s in OPEN_STATES]))
    if category_code is not None:
        stmt = stmt.where(Complaint.category_code == category_code)
    days = {c.code: c.days for c in categories(db_session=db_session)}
    moved, after = 0, None
    while True:
        page = stmt if after is None else stmt.where(Complaint.id > after)
        tickets = list(db_session.scalars(page.order_by(Complaint.id).limit(batch)))
        for ticket in tickets:
            moved += _recompute(db_session, ticket, days[ticket.category_code], now)
        db_session.flush()
        if len(tickets) < batch:
            return moved
        after = tickets[-1].id


def _recompute(db_session: Session, ticket: Complaint, days: int, now: datetime) -> int:
    due = _due(db_session, ticket.received_on, days)
    if (due.date, due.provisional) == (ticket.due_date, ticket.due_provisional):
        return 0
    old = ticket.due_date
    ticket.due_date, ticket.due_provisional, ticket.due_computed_at = (
        due.date, due.provisional, now)
    _append(db_session, ticket, None, "system", "deadline", ticket.state, at=now,
            reason="法定节假日安排或时限变更,重新计算办理期限",
            data={"from": old.isoformat(), "to": due.date.isoformat(),
                  "provisional": due.provisional})
    return 1


def return_counts(*, db_session: Session, region_code: str) -> dict[uuid.UUID, int]:
    """退单 per department in a region, from the event log."""
    stmt = (select(ComplaintEvent.from_department_id, func.count())
            .join(Complaint, Complaint.id == ComplaintEvent.complaint_id)
            .where(ComplaintEvent.action == Action.return_ticket,
                   Complaint.region_code.startswith(region_code.rstrip("0") or region_code))
            .group_by(ComplaintEvent.from_department_id))
    return {dept: count for dept, count in db_session.execute(stmt) if dept is not None}

