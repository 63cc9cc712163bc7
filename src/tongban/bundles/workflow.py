"""The bundle case's workflow table, registered by the root (bundles.wiring) as "bundle".

A bundle case does not go through pre-review or acceptance itself: each department
accepts and decides its own task. The bundle only mirrors them, through acts of the
system (the bundle engine in service.py, run after every task transition):

- in_progress (办理中): tasks run; none accepted yet;
- accepted: the first task was accepted; the bundle's overall clock runs from then, so
  the case worker's yellow/red warnings cover the bundle's overall limit too;
- approved when every task is approved; denied, or partly_approved (部分准予, only under
  the continue_others rule), when one is not;
- the applicant withdraws, or staff terminate, the whole bundle: open tasks follow.

The bundle's decisions summarise the tasks' decisions, which are the legal acts (each in
the ledger); so none of these rows is a legal act itself.
"""

from __future__ import annotations

from enum import StrEnum
from typing import cast

from tongban.cases.workflow import (
    APPLICANT,
    STAFF_CLOSE,
    SYSTEM,
    Action,
    Clock,
    State,
    Transition,
    Workflow,
)

NAME = "bundle"


class BundleState(StrEnum):
    in_progress = "in_progress"
    partly_approved = "partly_approved"


class BundleAction(StrEnum):
    partly_approve = "partly_approve"


IN_PROGRESS = cast(State, BundleState.in_progress)
PARTLY_APPROVED = cast(State, BundleState.partly_approved)
PARTLY_APPROVE = cast(Action, BundleAction.partly_approve)
OPEN_STATES = frozenset({BundleState.in_progress.value, State.accepted.value})

T = Transition
ROWS: tuple[Transition, ...] = (
    T(IN_PROGRESS, Action.accept, State.accepted, SYSTEM, False, Clock.start),
    T(State.accepted, Action.approve, State.approved, SYSTEM, False, Clock.stop),
    T(State.accepted, PARTLY_APPROVE, PARTLY_APPROVED, SYSTEM, True, Clock.stop),
    *(T(s, Action.deny, State.denied, SYSTEM, True, Clock.stop)
      for s in (IN_PROGRESS, State.accepted)),
    *(T(s, Action.withdraw, State.withdrawn, APPLICANT, False, Clock.stop)
      for s in (IN_PROGRESS, State.accepted)),
    *(T(s, Action.terminate, State.terminated, STAFF_CLOSE, True, Clock.stop)
      for s in (IN_PROGRESS, State.accepted)),
)
BUNDLE = Workflow(
    NAME, ROWS,
    state_labels={BundleState.in_progress: "办理中(待部门受理)",
                  BundleState.partly_approved: "部分准予"},
    action_labels={BundleAction.partly_approve: "部分准予(一件事)"},
)
