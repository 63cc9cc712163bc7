"""From 好差评 ratings and 12345 tickets to facts, and from facts to the cells' rows: the
same set-based SQL on SQLite and PostgreSQL as the case facts (facts.py).

A rating's facts come from the rating (its level, the day it was given, the department,
region and item it copied from the case) and its handling's appended events; a ticket's
from its appended events, its region and department, and the item of its linked case.
Which events mean what is the two workflow tables (ratings/workflow.py,
complaints/workflow.py); the written rules are the definitions (definitions.json). Nothing
here writes to the ratings' or complaints' tables.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import Select, and_, case, func, insert, literal, or_, select
from sqlalchemy.orm import aliased

from tongban.cases.models import Case
from tongban.supervision.complaints.models import Complaint, ComplaintEvent
from tongban.supervision.complaints.workflow import Action as TicketAction
from tongban.supervision.metrics.definitions import CELL_COUNTERS
from tongban.supervision.metrics.models import MetricComplaintFact, MetricRatingFact
from tongban.supervision.metrics.sql import flag, iso_date, local_day, month_of, series_of
from tongban.supervision.ratings.content import BAD_LEVELS, GOOD_LEVELS
from tongban.supervision.ratings.models import Rating, Rectification, RectificationEvent
from tongban.supervision.ratings.workflow import Action as RatingAction
from tongban.supervision.ratings.workflow import State as RatingState

# The return visit's findings (回访核实): 立行立改, 解释说明, 限期整改.
FINDINGS = (RatingAction.fix_now, RatingAction.explain, RatingAction.plan_rectification)
# The events that set (or reset) a ticket's deadline, and the data field holding it.
TICKET_DEADLINES = {"file": "due_date", "deadline": "to"}


# --- ratings -----------------------------------------------------------------------------


def _per_handling() -> Any:
    """One row per bad rating's handling: what its events say."""
    e = RectificationEvent
    return (
        select(
            e.rectification_id.label("rectification_id"),
            func.max(e.seq).label("event_seq"),
            func.max(flag(e.action == RatingAction.uphold_appeal)).label("annulled"),
            # only the rater's acceptance closes it (State.closed)
            local_day(func.min(case((e.to_state == RatingState.closed, e.at))))
            .label("closed_on"),
            local_day(func.min(case((e.action.in_(list(FINDINGS)), e.at))))
            .label("found_on"),
            func.min(case((e.action == "open", e.data["visit_due"].as_string())))
            .label("visit_due"),
            func.min(case((e.action == RatingAction.plan_rectification,
                           e.data["rectify_due"].as_string()))).label("rectify_due"),
        )
        .group_by(e.rectification_id)
    )


RATING_COLUMNS = ("rating_id", "series", "region_code", "department_id", "item_code",
                  "event_seq", "rated_on", "rated", "good", "bad", "bad_rectified")


def rating_fact_select(rating_ids: Collection[Any] | None = None) -> Select[Any]:
    """The facts of every rating (or of `rating_ids`), in MetricRatingFact's order."""
    r, rect, inner = Rating, Rectification, _per_handling()
    if rating_ids is not None:  # aggregate only the handlings of these ratings
        inner = inner.where(RectificationEvent.rectification_id.in_(
            select(rect.id).where(rect.rating_id.in_(list(rating_ids)))))
    h = inner.subquery("handling")
    counted = func.coalesce(h.c.annulled, 0) == 0
    bad = and_(counted, r.level.in_(sorted(BAD_LEVELS)))
    visit_due = iso_date(h.c.visit_due)
    deadline = iso_date(func.coalesce(h.c.rectify_due, h.c.visit_due))
    rectified = and_(bad, h.c.closed_on.is_not(None), h.c.found_on <= visit_due,
                     h.c.closed_on <= deadline)
    columns = (r.id, series_of(r.region_code, r.department_id, r.item_code), r.region_code,
               r.department_id, r.item_code, func.coalesce(h.c.event_seq, 0),
               local_day(r.created_at), flag(counted),
               flag(and_(counted, r.level.in_(sorted(GOOD_LEVELS)))), flag(bad),
               flag(rectified))
    labelled: list[Any] = [c.label(n) for c, n in zip(columns, RATING_COLUMNS, strict=True)]
    stmt: Select[Any] = (select(*labelled)
            .outerjoin(rect, rect.rating_id == r.id)
            .outerjoin(h, h.c.rectification_id == rect.id))
    return stmt if rating_ids is None else stmt.where(r.id.in_(list(rating_ids)))


def insert_rating_facts(rating_ids: Collection[Any] | None = None) -> Any:
    """INSERT INTO rating facts SELECT ... (every rating, or `rating_ids`)."""
    return insert(MetricRatingFact).from_select(list(RATING_COLUMNS),
                                                rating_fact_select(rating_ids))


def changed_ratings(limit: int) -> Select[Any]:
    """Ratings without facts, or whose handling has moved since."""
    f = MetricRatingFact
    return (select(Rating.id).outerjoin(f, f.rating_id == Rating.id)
            .outerjoin(Rectification, Rectification.rating_id == Rating.id)
            .where(or_(f.rating_id.is_(None),
                       f.event_seq != func.coalesce(Rectification.last_event_seq, 0)))
            .limit(limit))


# --- complaints --------------------------------------------------------------------------


def _per_ticket() -> Any:
    """One row per ticket: its last event, the day it closed, its last deadline event."""
    e = ComplaintEvent
    return (
        select(
            e.complaint_id.label("complaint_id"),
            func.max(e.seq).label("event_seq"),
            local_day(func.min(case((e.action == TicketAction.satisfied, e.at))))
            .label("closed_on"),
            func.max(case((e.action.in_(list(TICKET_DEADLINES)), e.seq)))
            .label("deadline_seq"),
        )
        .group_by(e.complaint_id)
    )


COMPLAINT_COLUMNS = ("complaint_id", "series", "region_code", "department_id", "item_code",
                     "event_seq", "closed_on", "on_time")


def complaint_fact_select(complaint_ids: Collection[Any] | None = None) -> Select[Any]:
    """The facts of every ticket (or of `complaint_ids`), in MetricComplaintFact's order.
    The deadline is the one the last deadline-setting event (filing, a recomputation)
    left in force: a closed ticket's deadline is never recomputed."""
    t, inner = Complaint, _per_ticket()
    if complaint_ids is not None:
        inner = inner.where(ComplaintEvent.complaint_id.in_(list(complaint_ids)))
    p = inner.subquery("ticket")
    d = aliased(ComplaintEvent)
    due = iso_date(case(*[(d.action == action, d.data[field].as_string())
                          for action, field in TICKET_DEADLINES.items()]))
    columns = (t.id, series_of(t.region_code, t.department_id, Case.item_code),
               t.region_code, t.department_id, Case.item_code, p.c.event_seq, p.c.closed_on,
               flag(and_(p.c.closed_on.is_not(None), p.c.closed_on <= due)))
    labelled: list[Any] = [c.label(n) for c, n in zip(columns, COMPLAINT_COLUMNS, strict=True)]
    stmt: Select[Any] = (select(*labelled)
            .join(p, p.c.complaint_id == t.id)
            .outerjoin(d, and_(d.complaint_id == t.id, d.seq == p.c.deadline_seq))
            .outerjoin(Case, Case.number == t.case_number))
    return stmt if complaint_ids is None else stmt.where(t.id.in_(list(complaint_ids)))


def insert_complaint_facts(complaint_ids: Collection[Any] | None = None) -> Any:
    """INSERT INTO complaint facts SELECT ... (every ticket, or `complaint_ids`)."""
    return insert(MetricComplaintFact).from_select(list(COMPLAINT_COLUMNS),
                                                   complaint_fact_select(complaint_ids))


def changed_complaints(limit: int) -> Select[Any]:
    """Tickets without facts, or with events since."""
    f = MetricComplaintFact
    return (select(Complaint.id).outerjoin(f, f.complaint_id == Complaint.id)
            .where(or_(f.complaint_id.is_(None), f.event_seq != Complaint.last_event_seq))
            .limit(limit))


# --- cell rows -----------------------------------------------------------------------------


def cell_row(month: Any, f: Any, **counters: Any) -> Select[Any]:
    """One fact's contribution to its month's cell: every cell counter, 0 unless given."""
    zero = literal(0)
    return select(month.label("month"), f.series, f.region_code, f.department_id,
                  f.item_code, *[counters.get(n, zero).label(n) for n in CELL_COUNTERS])


def cell_rows(series: Collection[str] | None) -> list[Select[Any]]:
    """Each rating in the month it was given; each ticket in the month it closed."""
    r, c = MetricRatingFact.__table__.c, MetricComplaintFact.__table__.c
    rated = cell_row(month_of(r.rated_on), r, rated=r.rated, good=r.good, bad=r.bad,
                 bad_rectified=r.bad_rectified)
    closed = cell_row(month_of(c.closed_on), c, complaints_closed=literal(1),
                  complaints_on_time=c.on_time).where(c.closed_on.is_not(None))
    if series is not None:
        rated = rated.where(r.series.in_(list(series)))
        closed = closed.where(c.series.in_(list(series)))
    return [rated, closed]
