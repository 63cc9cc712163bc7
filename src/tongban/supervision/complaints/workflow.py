"""A ticket's life as a table (国办发〔2020〕53号: 受理、派单、办理、回复、办结、回访、评价;
国办函〔2025〕66号: 退单、改派 with review, 重复诉求并单).

The 12345 agency (a supervisor of the region) dispatches a ticket to a department, or
the routing rules do; the department answers it or returns it (退单) with a reason from
RETURN_REASONS, and the agency sends it on (改派). A reply is judged by the complainant:
satisfied closes the ticket, unsatisfied sends it back to the same department. A
duplicate is merged into the ticket that carries it (并单) and closes with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class State(StrEnum):
    received = "received"
    dispatched = "dispatched"
    returned = "returned"
    replied = "replied"
    closed = "closed"
    merged = "merged"


STATE_LABELS: dict[str, str] = {
    State.received: "待派单", State.dispatched: "办理中", State.returned: "已退单待改派",
    State.replied: "已答复待评价", State.closed: "已办结", State.merged: "已并单",
}
OPEN_STATES = frozenset({State.received, State.dispatched, State.returned, State.replied})


class Action(StrEnum):
    dispatch = "dispatch"
    return_ticket = "return"
    reassign = "reassign"
    reply = "reply"
    satisfied = "satisfied"
    unsatisfied = "unsatisfied"
    merge = "merge"


ACTION_LABELS: dict[str, str] = {
    Action.dispatch: "派单", Action.return_ticket: "退单", Action.reassign: "改派",
    Action.reply: "答复", Action.satisfied: "满意", Action.unsatisfied: "不满意",
    Action.merge: "并单",
}


class Role(StrEnum):
    agency = "agency"  # the 12345 agency: a supervisor of the region
    department = "department"  # staff of the department the ticket is with
    complainant = "complainant"


# 退单 reasons (66号 asks for 派单异议审核): counted per department, never free text only.
RETURN_REASONS: dict[str, str] = {
    "not_our_duty": "非本单位职责", "outside_region": "不属本地区管辖",
    "grassroots_misrouted": "应由职能部门办理", "unclear": "诉求不清无法办理",
    "other": "其他",
}


@dataclass(frozen=True)
class Transition:
    to: State
    role: Role
    needs: frozenset[str] = frozenset()
    # a department is chosen (dispatch, reassign); the ticket leaves its department (return)
    picks_department: bool = False


TRANSITIONS: dict[tuple[str, str], Transition] = {
    (State.received, Action.dispatch): Transition(
        State.dispatched, Role.agency, frozenset({"department_id"}), picks_department=True),
    (State.returned, Action.reassign): Transition(
        State.dispatched, Role.agency, frozenset({"department_id", "reason"}),
        picks_department=True),
    (State.dispatched, Action.reassign): Transition(
        State.dispatched, Role.agency, frozenset({"department_id", "reason"}),
        picks_department=True),
    (State.dispatched, Action.return_ticket): Transition(
        State.returned, Role.department, frozenset({"reason_code", "reason"})),
    (State.dispatched, Action.reply): Transition(
        State.replied, Role.department, frozenset({"reply"})),
    (State.replied, Action.satisfied): Transition(State.closed, Role.complainant),
    (State.replied, Action.unsatisfied): Transition(
        State.dispatched, Role.complainant, frozenset({"reason"})),
    **{(s, Action.merge): Transition(State.merged, Role.agency, frozenset({"into"}))
       for s in (State.received, State.dispatched, State.returned)},
}


def allowed(state: str) -> dict[str, Transition]:
    """The actions open in `state`, with their rows."""
    return {a: t for (s, a), t in TRANSITIONS.items() if s == state}
