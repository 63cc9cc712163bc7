"""Lists and counts of cases: keyset pages for queues and searches, supervision counts.

Every query is limited to what the caller may see (access.visible_clause). Pages are
keyset-paginated with opaque cursors, and a page's statement is built once per caller and
filter set, so a queue asked for again and again reuses its compiled SQL.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, func, or_, select
from sqlalchemy.orm import Session, defer

from tongban.cases.access import visible_clause
from tongban.cases.models import Case
from tongban.cases.workflow import CLOSED_STATES, DECIDED_STATES
from tongban.errors import InvalidInput
from tongban.identity.actor import Actor, region_prefix

# 办结: decided or closed; what is left (delivery, a commitment check) is not handling.
FINISHED_STATES = frozenset(str(s) for s in DECIDED_STATES | CLOSED_STATES)


@dataclass(frozen=True)
class CaseFilters:
    state: str | None = None
    department_id: uuid.UUID | None = None
    region: str | None = None
    item_code: str | None = None
    warning_level: str | None = None
    applicant_person_id: uuid.UUID | None = None
    applicant_enterprise_id: uuid.UUID | None = None
    due_before: date | None = None
    kind: str | None = None
    parent_case_id: uuid.UUID | None = None
    # True: only decided or closed cases (办结); False: only those still in handling (待办).
    finished: bool | None = None


def _filter_clauses(f: CaseFilters) -> list[ColumnElement[bool]]:
    out: list[ColumnElement[bool]] = []
    pairs: list[tuple[Any, Any]] = [
        (Case.state, f.state), (Case.department_id, f.department_id),
        (Case.item_code, f.item_code), (Case.warning_level, f.warning_level),
        (Case.applicant_person_id, f.applicant_person_id),
        (Case.applicant_enterprise_id, f.applicant_enterprise_id), (Case.kind, f.kind),
        (Case.parent_case_id, f.parent_case_id),
    ]
    out += [col == value for col, value in pairs if value is not None]
    if f.region:
        out.append(Case.region_code.like(region_prefix(f.region) + "%"))
    if f.due_before:
        out.append(Case.promised_due_date <= f.due_before)
    if f.finished is not None:
        done = Case.state.in_(sorted(FINISHED_STATES))
        out.append(done if f.finished else ~done)
    return out


def encode_cursor(case_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(case_id.bytes).decode().rstrip("=")


def decode_cursor(cursor: str) -> uuid.UUID:
    try:
        return uuid.UUID(bytes=base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error):
        raise InvalidInput("分页游标无效 / invalid cursor",
                           details=[{"field": "cursor", "message": "invalid"}]) from None


def encode_due_cursor(due: date | None, case_id: uuid.UUID) -> str:
    """The position (promised due date, id) of the last case of a due-date page."""
    text = f"{due.isoformat() if due else '-'}~{case_id.hex}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_due_cursor(cursor: str) -> tuple[date | None, uuid.UUID]:
    """(due date or None, id) from encode_due_cursor, or InvalidInput."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        due_text, _, id_hex = text.partition("~")
        due = None if due_text == "-" else date.fromisoformat(due_text)
        return due, uuid.UUID(hex=id_hex)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidInput("分页游标无效 / invalid cursor",
                           details=[{"field": "cursor", "message": "invalid"}]) from None


# How a page of cases is ordered: "new" (newest first, the default) or "due" (the
# earliest promised due date first, cases without one last). Each has its own cursor.
CASE_ORDERS = ("new", "due")


def _page(
    db_session: Session, *, base: str, actor: Actor, filters: CaseFilters, cursor: str | None,
    limit: int, order: str,
) -> tuple[list[Any], str | None]:
    """One keyset page (Case objects, or rows of SUMMARY_COLUMNS) and its cursor."""
    if order not in CASE_ORDERS:
        raise InvalidInput("排序方式无效 / unknown order",
                           details=[{"field": "order", "message": f"{'|'.join(CASE_ORDERS)}"}])
    limit = max(1, min(limit, 200))
    params: dict[str, Any] = {}
    shape = None
    if cursor and order == "due":
        params["after_due"], params["after_id"] = decode_due_cursor(cursor)
        shape = "no_due" if params["after_due"] is None else "due"
    elif cursor:
        params["after_id"], shape = decode_cursor(cursor), "id"
    stmt = _page_statement(base, actor, filters, order, shape, limit)
    result = db_session.execute(stmt, params)
    rows = list(result.scalars() if base == "objects" else result)
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    next_cursor = (encode_due_cursor(last.promised_due_date, last.id) if order == "due"
                   else encode_cursor(last.id))
    return rows[:limit], next_cursor


_AFTER_ID = bindparam("after_id", type_=Case.id.type)
_AFTER_DUE = bindparam("after_due", type_=Case.promised_due_date.type)
_CURSOR_CLAUSES: dict[str, ColumnElement[bool]] = {
    "id": Case.id < _AFTER_ID,  # order "new"
    # order "due": after (due, id), due dates ascending, cases without one last
    "no_due": and_(Case.promised_due_date.is_(None), Case.id > _AFTER_ID),
    "due": or_(Case.promised_due_date > _AFTER_DUE,
               and_(Case.promised_due_date == _AFTER_DUE, Case.id > _AFTER_ID),
               Case.promised_due_date.is_(None)),
}
_PAGE_STATEMENTS: dict[tuple[Any, ...], Any] = {}
_PAGE_STATEMENTS_MAX = 2048


def _page_statement(base: str, actor: Actor, filters: CaseFilters, order: str,
                    shape: str | None, limit: int) -> Any:
    """The page query of one caller and filter set, built once: a queue asked for again
    and again reuses its compiled SQL (building it costs more than running it)."""
    key = (base, actor.roles, actor.account_id, actor.person_id, actor.enterprise_id,
           actor.scopes, filters, order, shape, limit)
    found = _PAGE_STATEMENTS.get(key)
    if found is not None:
        return found
    stmt = (select(*SUMMARY_COLUMNS) if base == "rows" else select(Case).options(
        defer(Case.form_data), defer(Case.deficient_materials)))
    stmt = stmt.where(visible_clause(actor), *_filter_clauses(filters))
    if shape is not None:
        stmt = stmt.where(_CURSOR_CLAUSES[shape])
    stmt = stmt.order_by(*((Case.promised_due_date.asc().nulls_last(), Case.id.asc())
                           if order == "due" else (Case.id.desc(),))).limit(limit + 1)
    if len(_PAGE_STATEMENTS) >= _PAGE_STATEMENTS_MAX:
        _PAGE_STATEMENTS.clear()
    _PAGE_STATEMENTS[key] = stmt
    return stmt


def list_cases(
    *, db_session: Session, actor: Actor, filters: CaseFilters, cursor: str | None = None,
    limit: int = 50, order: str = "new",
) -> tuple[list[Case], str | None]:
    """Cases the caller may see, newest first (or by due date), one keyset page at a time."""
    # A list row never shows the form or the owed materials: leave the JSON unread.
    return _page(db_session, base="objects", actor=actor, filters=filters, cursor=cursor,
                 limit=limit, order=order)


# What a list row of the API shows (schemas.CaseSummary): a page reads these columns
# only, as plain rows, instead of whole Case objects (half the columns, no identity map).
SUMMARY_COLUMNS = (
    Case.id, Case.number, Case.kind, Case.parent_case_id, Case.item_code, Case.item_name,
    Case.implementation_code, Case.department_id, Case.region_code,
    Case.receiving_region_code, Case.applicant_name, Case.channel, Case.state, Case.version,
    Case.submitted_at, Case.accepted_at, Case.decided_at, Case.decision,
    Case.legal_due_date, Case.promised_due_date, Case.due_provisional, Case.warning_level,
)


def list_case_rows(
    *, db_session: Session, actor: Actor, filters: CaseFilters, cursor: str | None = None,
    limit: int = 50, order: str = "new",
) -> tuple[list[Any], str | None]:
    """list_cases() as rows of SUMMARY_COLUMNS: the API's list, cheap to read."""
    return _page(db_session, base="rows", actor=actor, filters=filters, cursor=cursor,
                 limit=limit, order=order)


@dataclass(frozen=True)
class CaseCount:
    """How many visible cases one department has in one state at one warning level."""

    department_id: uuid.UUID | None
    state: str
    warning_level: str
    count: int


def counts_by(*, db_session: Session, actor: Actor, filters: CaseFilters | None = None
              ) -> list[CaseCount]:
    """Supervision: the caller's visible cases counted per department, state and warning,
    one grouped query (no rows loaded), so a dashboard stays cheap on many cases."""
    columns = (Case.department_id, Case.state, Case.warning_level)
    stmt = (select(*columns, func.count())
            .where(visible_clause(actor), *_filter_clauses(filters or CaseFilters()))
            .group_by(*columns))
    return [CaseCount(department_id=d, state=s, warning_level=w, count=int(n))
            for d, s, w, n in db_session.execute(stmt)]


def list_overdue(*, db_session: Session, actor: Actor, today: date, limit: int = 50
                 ) -> list[Case]:
    """Supervision: open cases past their promised due date, the most overdue first."""
    stmt = (select(Case)
            .where(visible_clause(actor), Case.promised_due_date < today,
                   Case.state.not_in(sorted(FINISHED_STATES)))
            .order_by(Case.promised_due_date.asc(), Case.id.asc())
            .limit(max(1, min(limit, 200))))
    return list(db_session.scalars(stmt))
