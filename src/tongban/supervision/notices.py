"""The seam to the `notify` domain: who supervision tells, and about what.

Supervision never sends a message itself. Each place that should tell someone calls one
function here, in the caller's transaction, with a key naming the event, so a retried
transaction or a second run of a job tells nobody twice:

- a bad rating's return visit due: the staff of the department that handled the case;
- a 12345 ticket routed (派单, 改派): the staff of the department it went to;
- a reply to a ticket: its complainant (their portal inbox; a hotline caller has none);
- a warning escalated: the department's head, or the region's supervisors;
- a 督办/纠错 order issued: the staff of the case's department; answered: its issuer.

notify resolves "the staff of a department with a role" to accounts (notify.Staff) and
writes one inbox entry each, shown on the workbench's 消息 page (and by e-mail or SMS
where the account asked for it). The queues (差评处置, 12345工单, 预警督办, 督办待答复)
stay where the work is done; a message only points there.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy.orm import Session

from tongban.notify.service import Staff, notify_staff

DEPARTMENT_ROLES = ("clerk", "reviewer")
LEVELS = {"yellow": ("黄牌", "yellow"), "red": ("红牌", "red")}
AUDIENCES = {"department_head": ("部门负责人", "the department head"),
             "supervisor": ("监督人员", "the supervisors")}
RATING_LEVELS_EN = {5: "very satisfied", 4: "satisfied", 3: "fairly satisfied",
                    2: "dissatisfied", 1: "very dissatisfied"}
ORDER_KINDS = {"supervise": ("督办", "supervision"), "correct": ("纠错", "correction")}


def department(region_code: str, department_id: uuid.UUID | None) -> Staff:
    """The staff (clerks, reviewers) of a department; the region's when it has none."""
    return Staff(region_code=region_code, roles=DEPARTMENT_ROLES, department_id=department_id)


def rating_visit_due(*, db_session: Session, rating_id: uuid.UUID, case_number: str,
                     item_name: str, level: tuple[str, str], region_code: str,
                     department_id: uuid.UUID | None, visit_due: date,
                     now: datetime) -> None:
    """A bad rating opened its handling: the department makes the return visit."""
    notify_staff(db_session=db_session, kind="supervision.rating_visit_due",
                 to=department(region_code, department_id), key=f"rating:{rating_id}:visit",
                 params={"case_number": case_number, "item_name": item_name or case_number,
                         "level": level[0], "level_en": level[1], "rating_id": str(rating_id),
                         "visit_due": visit_due.isoformat()}, now=now)


def complaint_routed(*, db_session: Session, number: str, step: int, category: str,
                     region_code: str, department_id: uuid.UUID, due: date,
                     now: datetime) -> None:
    """A ticket went to a department (派单 or 改派: `step` is the event that moved it)."""
    notify_staff(db_session=db_session, kind="supervision.complaint_routed",
                 to=department(region_code, department_id),
                 key=f"complaint:{number}:routed:{step}",
                 params={"complaint_number": number, "category": category,
                         "due": due.isoformat()}, now=now)


def complaint_answered(*, db_session: Session, number: str, step: int,
                       account_id: uuid.UUID | None, now: datetime) -> None:
    """A ticket was answered: its complainant reads the reply on the portal."""
    if account_id is None:
        return  # a hotline call: the 12345 agency calls back, there is no account
    notify_staff(db_session=db_session, kind="complaint.answered", to=account_id,
                 key=f"complaint:{number}:answered:{step}",
                 params={"complaint_number": number, "page": f"/my/complaints/{number}"},
                 now=now)


def warning_escalated(*, db_session: Session, watch_id: uuid.UUID, audience: str,
                      level: str, case_number: str, item_name: str, region_code: str,
                      department_id: uuid.UUID | None, now: datetime) -> None:
    """A case held at a warning went to its department's head or the region's supervisors."""
    to = (Staff(region_code=region_code, roles=("supervisor",), department_id=department_id,
                or_region=False) if audience == "department_head"
          else Staff(region_code=region_code, roles=("supervisor",)))
    notify_staff(db_session=db_session, kind="supervision.warning_escalated", to=to,
                 key=f"watch:{watch_id}:{audience}",
                 params={"case_number": case_number, "item_name": item_name or case_number,
                         "level": LEVELS[level][0], "level_en": LEVELS[level][1],
                         "audience": AUDIENCES[audience][0],
                         "audience_en": AUDIENCES[audience][1]}, now=now)


def order_issued(*, db_session: Session, order_id: uuid.UUID, kind: str, case_number: str,
                 item_name: str, region_code: str, department_id: uuid.UUID | None,
                 due: date, now: datetime) -> None:
    """A 督办/纠错 order to the case's department."""
    notify_staff(db_session=db_session, kind="supervision.order_issued",
                 to=department(region_code, department_id), key=f"order:{order_id}:issued",
                 params={"case_number": case_number, "item_name": item_name or case_number,
                         "kind": ORDER_KINDS[kind][0], "kind_en": ORDER_KINDS[kind][1],
                         "due": due.isoformat()}, now=now)


def order_answered(*, db_session: Session, order_id: uuid.UUID, step: int, kind: str,
                   case_number: str, issued_by: uuid.UUID | None, now: datetime) -> None:
    """The department answered an order: its issuer closes it or sends it back."""
    if issued_by is None:
        return
    notify_staff(db_session=db_session, kind="supervision.order_answered", to=issued_by,
                 key=f"order:{order_id}:answered:{step}",
                 params={"case_number": case_number, "kind": ORDER_KINDS[kind][0],
                         "kind_en": ORDER_KINDS[kind][1]}, now=now)


__all__ = ["complaint_answered", "complaint_routed", "department",
           "order_answered", "order_issued", "rating_visit_due", "warning_escalated"]
