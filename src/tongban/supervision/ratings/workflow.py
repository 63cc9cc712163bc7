"""The handling of a bad rating (差评处置) as a table: state × action → next state, who may
take it, and whether it is a legal act for the ledger.

"谁办理、谁负责": the department that handled the case makes the return visit (回访核实)
and finds one of three things: it fixes the problem at once (立行立改), it explains that
the request lacks a legal basis (解释说明), or it plans a rectification (限期整改) with a
deadline. Only the rater's verdict on what was done closes the matter: a rater who is
still unhappy sends it back to rectification. The department may instead appeal a
malicious rating (申诉) with evidence; a supervisor upholds the appeal (the rating is
annulled and leaves the published figures) or dismisses it (handling resumes where it was).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class State(StrEnum):
    visit_pending = "visit_pending"
    rectifying = "rectifying"
    awaiting_verdict = "awaiting_verdict"
    appealed = "appealed"
    closed = "closed"
    annulled = "annulled"


STATE_LABELS: dict[str, str] = {
    State.visit_pending: "待回访核实", State.rectifying: "限期整改中",
    State.awaiting_verdict: "待评价人确认", State.appealed: "申诉复核中",
    State.closed: "已办结", State.annulled: "申诉成立(差评已撤销)",
}
OPEN_STATES = frozenset({State.visit_pending, State.rectifying, State.awaiting_verdict,
                         State.appealed})


class Action(StrEnum):
    fix_now = "fix_now"
    explain = "explain"
    plan_rectification = "plan_rectification"
    report_outcome = "report_outcome"
    accept = "accept"
    reject = "reject"
    appeal = "appeal"
    uphold_appeal = "uphold_appeal"
    dismiss_appeal = "dismiss_appeal"


ACTION_LABELS: dict[str, str] = {
    Action.fix_now: "回访:立行立改", Action.explain: "回访:解释说明",
    Action.plan_rectification: "回访:限期整改", Action.report_outcome: "报告整改结果",
    Action.accept: "满意,办结", Action.reject: "仍不满意,继续整改",
    Action.appeal: "申诉(恶意差评)", Action.uphold_appeal: "申诉成立",
    Action.dismiss_appeal: "申诉不成立",
}


class Role(StrEnum):
    department = "department"  # staff of the department that handled the case
    rater = "rater"  # the account that gave the rating
    supervisor = "supervisor"


# A dismissed appeal goes back to the state it interrupted.
RESUME = "resume"


@dataclass(frozen=True)
class Transition:
    to: str
    role: Role
    # what the action must carry: a reason (text), an outcome, a deadline in working days
    needs: frozenset[str] = frozenset({"reason"})
    legal_act: bool = False


_AT_VISIT = (State.visit_pending, State.rectifying)  # a rejected fix is visited again
_APPEALABLE = (State.visit_pending, State.rectifying, State.awaiting_verdict)

TRANSITIONS: dict[tuple[str, str], Transition] = {
    **{(s, Action.fix_now): Transition(State.awaiting_verdict, Role.department,
                                        frozenset({"reason", "outcome"})) for s in _AT_VISIT},
    **{(s, Action.explain): Transition(State.awaiting_verdict, Role.department,
                                        frozenset({"reason", "outcome"})) for s in _AT_VISIT},
    **{(s, Action.plan_rectification): Transition(State.rectifying, Role.department,
                                                   frozenset({"reason", "days"}))
       for s in _AT_VISIT},
    (State.rectifying, Action.report_outcome): Transition(
        State.awaiting_verdict, Role.department, frozenset({"outcome"})),
    (State.awaiting_verdict, Action.accept): Transition(
        State.closed, Role.rater, frozenset(), legal_act=True),
    (State.awaiting_verdict, Action.reject): Transition(
        State.rectifying, Role.rater, frozenset({"reason"})),
    **{(s, Action.appeal): Transition(State.appealed, Role.department,
                                      frozenset({"reason", "evidence"})) for s in _APPEALABLE},
    (State.appealed, Action.uphold_appeal): Transition(
        State.annulled, Role.supervisor, legal_act=True),
    (State.appealed, Action.dismiss_appeal): Transition(
        RESUME, Role.supervisor, legal_act=True),
}


def allowed(state: str) -> dict[str, Transition]:
    """The actions open in `state`, with their rows."""
    return {a: t for (s, a), t in TRANSITIONS.items() if s == state}
