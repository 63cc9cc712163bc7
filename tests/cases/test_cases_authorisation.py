"""Who may do what, as data: state × action × actor -> outcome. A refused action writes
nothing (no event, no ledger row, no audit entry)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.cases.conftest import World, at
from tongban.cases.models import Case
from tongban.cases.workflow import IMMEDIATE, STANDARD, Action, State
from tongban.errors import DomainError


def _pre_review(w: World) -> Case:
    return w.submit(channel="online")


def _submitted(w: World) -> Case:
    case = w.submit()
    w.complete(case)
    return case


def _accepted(w: World) -> Case:
    case = _submitted(w)
    w.act("clerk", case, "accept")
    return case


def _approved(w: World) -> Case:
    case = _accepted(w)
    w.act("reviewer", case, "approve", when=at(2026, 9, 23))
    return case


SETUP: dict[str, Callable[[World], Case]] = {
    "pre_review": _pre_review, "submitted": _submitted, "accepted": _accepted,
    "approved": _approved,
}
ARGS: dict[str, dict[str, Any]] = {
    "extend": {"reason": "案情复杂", "days": 3},
    "terminate": {"reason": "申请人注销"},
    "deem_accept": {"reason": "逾期未告知"},
    "deliver": {"method": "pickup", "pickup_window": "3号窗口"},
}

OK = "ok"
# (state, action, actor, outcome): outcome is "ok" or the error code expected.
MATRIX: list[tuple[str, str, str, str]] = [
    ("pre_review", "pre_review_pass", "clerk", OK),
    ("pre_review", "pre_review_pass", "reviewer", "wrong_role"),
    ("pre_review", "accept", "clerk", "action_not_allowed"),
    ("submitted", "accept", "clerk", OK),
    ("submitted", "accept", "reviewer", "wrong_role"),
    ("submitted", "accept", "applicant", "wrong_role"),
    ("submitted", "accept", "clerk_bj", "out_of_scope"),
    ("submitted", "accept", "catalog_admin", "wrong_role"),
    ("submitted", "approve", "reviewer", "action_not_allowed"),
    ("submitted", "deem_accept", "clerk", "wrong_role"),
    ("submitted", "deem_accept", "system", OK),
    ("accepted", "approve", "reviewer", OK),
    ("accepted", "approve", "supervisor", OK),
    ("accepted", "approve", "reviewer_health", "out_of_scope"),
    ("accepted", "approve", "reviewer_bj", "out_of_scope"),
    ("accepted", "approve", "clerk", "wrong_role"),
    ("accepted", "approve", "applicant", "wrong_role"),
    ("accepted", "approve", "operator", "wrong_role"),
    ("accepted", "extend", "supervisor", OK),
    ("accepted", "extend", "reviewer", "wrong_role"),
    ("accepted", "withdraw", "applicant", OK),
    ("accepted", "withdraw", "principal", "not_found"),
    ("accepted", "withdraw", "clerk", "wrong_role"),
    ("accepted", "terminate", "clerk", OK),
    ("accepted", "terminate", "applicant", "wrong_role"),
    ("accepted", "accept", "clerk", "action_not_allowed"),
    ("approved", "deliver", "clerk", OK),
    ("approved", "deliver", "reviewer", "wrong_role"),
    ("approved", "deny", "reviewer", "action_not_allowed"),
    ("approved", "withdraw", "applicant", "action_not_allowed"),
    ("approved", "no_such_action", "clerk", "action_not_allowed"),
]


@pytest.mark.parametrize(("state", "action", "who", "outcome"), MATRIX,
                         ids=[f"{s}-{a}-{w}" for s, a, w, _ in MATRIX])
def test_authorisation_matrix(world: World, state: str, action: str, who: str,
                              outcome: str) -> None:
    case = SETUP[state](world)
    assert case.state == state
    args = dict(ARGS.get(action, {}))
    reason = args.pop("reason", None)
    before = world.counts()
    version = case.version
    if outcome == OK:
        world.act(who, case, action, reason=reason, when=at(2026, 9, 24), **args)
        assert world.events(case)[-1].action == action
        return
    with pytest.raises(DomainError) as exc:
        world.act(who, case, action, reason=reason, when=at(2026, 9, 24), **args)
    assert exc.value.code == outcome
    assert world.counts() == before and case.state == state and case.version == version
    if outcome in ("wrong_role", "out_of_scope", "action_not_allowed"):
        assert "allowed_actions" in exc.value.details


def test_a_refusal_lists_what_the_caller_may_do_instead(world: World) -> None:
    case = _accepted(world)
    with pytest.raises(DomainError) as exc:
        world.act("reviewer", case, "accept")
    assert exc.value.status == 409
    assert exc.value.details["allowed_actions"] == [
        "approve", "deny", "approve_on_commitment", "start_special_procedure",
        "request_supplement", "terminate"]


def test_every_table_row_names_roles_and_decisions_are_legal_acts() -> None:
    for wf in (STANDARD, IMMEDIATE):
        for row in wf.rows:
            assert row.roles, row
            decides = row.to_state in (State.approved, State.denied, State.refused,
                                       State.revoked, State.approved_on_commitment)
            if decides and row.to_state != row.state:
                assert row.legal_act, row
            if row.action in (Action.refuse, Action.deny, Action.terminate,
                              Action.revoke_commitment, Action.extend):
                assert row.needs_reason, row


def test_the_immediate_workflow_decides_at_acceptance_and_otherwise_matches() -> None:
    accept = IMMEDIATE.find("submitted", "accept")
    assert accept is not None and accept.to_state == State.approved
    standard = {(r.state, r.action) for r in STANDARD.rows}
    assert standard == {(r.state, r.action) for r in IMMEDIATE.rows}


def test_closed_cases_allow_nothing() -> None:
    for state in ("refused", "withdrawn", "terminated", "delivered"):
        assert STANDARD.allowed(state, {"applicant", "agent", "clerk", "reviewer",
                                        "supervisor", "system"}) == []
