"""The case workflow as data: a table of (state, action) -> transition.

The shape follows eGov DIGIT's workflow-v2 (states, each with actions, each with the next
state and the roles allowed), extended with what Chinese administrative law needs: the
clock effect of each transition (行政许可法 Art. 32, 42, 45), whether a reason is required,
and whether the act has legal weight (then it is written to the tamper-evident ledger).

Each implementation names its workflow by the guide's `item_kind`: promised items
(承诺件) use STANDARD; immediate items (即办件) use IMMEDIATE, where acceptance decides.
A bundle (一件事) will name its own table the same way.

Roles:
- applicant / agent: supply, withdraw (the applicant's own acts);
- clerk (窗口): pre-review, accept / refuse / request supplements, deliver, payments;
- reviewer (审查): decide, special procedures, post-acceptance supplements, verification;
- supervisor (负责人/监察): extensions (Art. 42: approved by the head of the body),
  termination; may also decide as the head of the body;
- system: the worker's automatic acts (deemed acceptance, Art. 32; termination when a
  容缺 promise is missed and the node is configured so).
Staff must also have the case's region and department in scope (checked by the service).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from tongban.node.root import wiring


class State(StrEnum):
    submitted = "submitted"
    pre_review = "pre_review"
    supplement_requested = "supplement_requested"
    accepted = "accepted"
    paused = "paused"
    supplement_in_process = "supplement_in_process"
    approved_on_commitment = "approved_on_commitment"
    approved = "approved"
    denied = "denied"
    revoked = "revoked"
    refused = "refused"
    withdrawn = "withdrawn"
    terminated = "terminated"
    delivered = "delivered"


_BASE_STATE_LABELS: dict[str, str] = {
    State.submitted: "已提交",
    State.pre_review: "预审中",
    State.supplement_requested: "补正中(受理前)",
    State.accepted: "已受理",
    State.paused: "特别程序",
    State.supplement_in_process: "补正中(受理后)",
    State.approved_on_commitment: "告知承诺已准予(待核查)",
    State.approved: "准予",
    State.denied: "不予",
    State.revoked: "撤销",
    State.refused: "不予受理",
    State.withdrawn: "撤回",
    State.terminated: "终止",
    State.delivered: "已送达",
}

# States after which nothing but delivery (or nothing at all) can happen.
DECIDED_STATES = frozenset(
    {State.approved, State.denied, State.revoked, State.approved_on_commitment,
     State.delivered}
)
CLOSED_STATES = frozenset(
    {State.refused, State.withdrawn, State.terminated, State.delivered}
)
# States in which the legal clock runs (so warnings apply).
CLOCK_RUNNING_STATES = frozenset({State.accepted})
# Accepted, with the clock stopped (Art. 45 special procedures, a supplement under way).
PAUSED_STATES = frozenset({State.paused, State.supplement_in_process})
# States before acceptance, where Art. 32's five-day rule applies.
BEFORE_ACCEPTANCE = frozenset({State.submitted, State.pre_review})


class Action(StrEnum):
    pre_review_pass = "pre_review_pass"
    request_supplement = "request_supplement"
    supply = "supply"
    accept = "accept"
    accept_with_deficiency = "accept_with_deficiency"
    accept_on_commitment = "accept_on_commitment"
    approve_on_commitment = "approve_on_commitment"
    confirm_commitment = "confirm_commitment"
    revoke_commitment = "revoke_commitment"
    refuse = "refuse"
    start_special_procedure = "start_special_procedure"
    end_special_procedure = "end_special_procedure"
    extend = "extend"
    approve = "approve"
    deny = "deny"
    deliver = "deliver"
    withdraw = "withdraw"
    terminate = "terminate"
    record_payment = "record_payment"
    deem_accept = "deem_accept"


_BASE_ACTION_LABELS: dict[str, str] = {
    Action.pre_review_pass: "预审通过",
    Action.request_supplement: "一次性告知补正",
    Action.supply: "补正材料",
    Action.accept: "受理",
    Action.accept_with_deficiency: "容缺受理",
    Action.accept_on_commitment: "告知承诺受理并准予",
    Action.approve_on_commitment: "告知承诺准予",
    Action.confirm_commitment: "承诺核查属实",
    Action.revoke_commitment: "承诺不实,撤销",
    Action.refuse: "不予受理",
    Action.start_special_procedure: "启动特别程序",
    Action.end_special_procedure: "结束特别程序",
    Action.extend: "延长办理时限",
    Action.approve: "准予",
    Action.deny: "不予",
    Action.deliver: "送达",
    Action.withdraw: "撤回申请",
    Action.terminate: "终止办理",
    Action.record_payment: "登记缴费",
    Action.deem_accept: "视为受理(逾期未告知补正)",
}


class Clock(StrEnum):
    """What a transition does to the legal clock."""

    none = "none"
    start = "start"  # acceptance: the limit starts counting
    pause = "pause"  # special procedure / post-acceptance supplement (Art. 45)
    resume = "resume"
    stop = "stop"  # decided or closed
    start_stop = "start_stop"  # decided at acceptance (immediate items, 告知承诺)


APPLICANT = ("applicant", "agent")
CLERK = ("clerk",)
REVIEWER = ("reviewer", "supervisor")
HEAD = ("supervisor",)
STAFF_CLOSE = ("clerk", "reviewer", "supervisor", "system")
SYSTEM = ("system",)


@dataclass(frozen=True)
class Transition:
    """One row of the table: in `state`, `action` by one of `roles` leads to `to_state`."""

    state: State
    action: Action
    to_state: State
    roles: tuple[str, ...]
    needs_reason: bool = False
    clock: Clock = Clock.none
    legal_act: bool = False
    # A named precondition the service checks (see rules.GUARDS).
    guard: str | None = None


T = Transition
_OPEN_BEFORE = (State.pre_review, State.submitted, State.supplement_requested)
_OPEN_AFTER = (State.accepted, State.paused, State.supplement_in_process)

STANDARD_ROWS: tuple[Transition, ...] = (
    # 预审 (online channel)
    T(State.pre_review, Action.pre_review_pass, State.submitted, CLERK),
    T(State.pre_review, Action.request_supplement, State.supplement_requested, CLERK,
      needs_reason=True),
    T(State.pre_review, Action.refuse, State.refused, CLERK, True, Clock.none, True),
    # received, before acceptance (Art. 32)
    T(State.submitted, Action.request_supplement, State.supplement_requested, CLERK,
      needs_reason=True),
    T(State.submitted, Action.accept, State.accepted, CLERK, False, Clock.start, True,
      guard="materials_complete"),
    T(State.submitted, Action.accept_with_deficiency, State.accepted, CLERK, False,
      Clock.start, True, guard="deficiency_allowed"),
    T(State.submitted, Action.accept_on_commitment, State.approved_on_commitment, CLERK,
      False, Clock.start_stop, True),
    T(State.submitted, Action.refuse, State.refused, CLERK, True, Clock.none, True),
    T(State.supplement_requested, Action.supply, State.submitted, APPLICANT + CLERK,
      guard="supplement_answered"),
    # accepted: the clock runs
    T(State.accepted, Action.approve, State.approved, REVIEWER, False, Clock.stop, True,
      guard="no_deficiency"),
    T(State.accepted, Action.deny, State.denied, REVIEWER, True, Clock.stop, True),
    T(State.accepted, Action.approve_on_commitment, State.approved_on_commitment, REVIEWER,
      False, Clock.stop, True),
    T(State.accepted, Action.start_special_procedure, State.paused, REVIEWER, True,
      Clock.pause, False),
    T(State.accepted, Action.request_supplement, State.supplement_in_process, REVIEWER,
      True, Clock.pause, False),
    T(State.accepted, Action.extend, State.accepted, HEAD, True, Clock.none, True),
    T(State.accepted, Action.supply, State.accepted, APPLICANT + CLERK,
      guard="deficiency_supplied"),
    T(State.paused, Action.end_special_procedure, State.accepted, REVIEWER, False,
      Clock.resume, False),
    T(State.paused, Action.extend, State.paused, HEAD, True, Clock.none, True),
    T(State.supplement_in_process, Action.supply, State.accepted, APPLICANT + CLERK,
      False, Clock.resume, False, guard="supplement_answered"),
    # 告知承诺: verify afterwards
    T(State.approved_on_commitment, Action.confirm_commitment, State.approved, REVIEWER,
      False, Clock.none, True),
    T(State.approved_on_commitment, Action.revoke_commitment, State.revoked, REVIEWER,
      True, Clock.none, True),
    T(State.approved_on_commitment, Action.deliver, State.approved_on_commitment, CLERK,
      guard="not_delivered"),
    # delivery of the decision (送达), incl. of a denial or revocation
    T(State.approved, Action.deliver, State.delivered, CLERK),
    T(State.denied, Action.deliver, State.delivered, CLERK),
    T(State.revoked, Action.deliver, State.delivered, CLERK),
    # payments while the case is open or decided
    *(T(s, Action.record_payment, s, CLERK) for s in (
        State.submitted, State.accepted, State.paused, State.approved,
        State.approved_on_commitment)),
    # the applicant withdraws before a decision; staff terminate with reasons
    *(T(s, Action.withdraw, State.withdrawn, APPLICANT, False, Clock.stop, False)
      for s in (*_OPEN_BEFORE, *_OPEN_AFTER)),
    *(T(s, Action.terminate, State.terminated, STAFF_CLOSE, True, Clock.stop, True)
      for s in (*_OPEN_BEFORE, *_OPEN_AFTER)),
    # Art. 32: no supplement notice within five working days => accepted from receipt
    *(T(s, Action.deem_accept, State.accepted, SYSTEM, True, Clock.start, True)
      for s in (State.submitted, State.pre_review)),
)


def _immediate_rows() -> tuple[Transition, ...]:
    """即办件: acceptance is the decision (approved at once, the clock starts and stops)."""
    rows = []
    for row in STANDARD_ROWS:
        if row.action == Action.accept:
            row = Transition(row.state, row.action, State.approved, row.roles,
                             row.needs_reason, Clock.start_stop, True, row.guard)
        rows.append(row)
    return tuple(rows)


@dataclass(frozen=True)
class Workflow:
    """A named table, indexed by (state, action), with the labels of any states and
    actions of its own (a bundle's 部分准予)."""

    name: str
    rows: tuple[Transition, ...]
    state_labels: Mapping[str, str] = field(default_factory=dict)
    action_labels: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        keys = [(r.state, r.action) for r in self.rows]
        if len(keys) != len(set(keys)):
            raise ValueError(f"workflow {self.name}: duplicate (state, action) rows")

    def find(self, state: str, action: str) -> Transition | None:
        """The row for (state, action), or None if the action is not allowed there."""
        for row in self.rows:
            if row.state == state and row.action == action:
                return row
        return None

    def allowed(self, state: str, roles: frozenset[str] | set[str]) -> list[str]:
        """The actions open in `state` to someone holding `roles` (DIGIT's nextActions)."""
        return [r.action.value for r in self.rows
                if r.state == state and any(role in roles for role in r.roles)]


STANDARD = Workflow("standard", STANDARD_ROWS)
IMMEDIATE = Workflow("immediate", _immediate_rows())
# The names a guide's item kind gives (promised, immediate) and the table's own name.
CASE_WORKFLOWS: dict[str, Workflow] = {"promised": STANDARD, "immediate": IMMEDIATE,
                                       "standard": STANDARD}


def workflow_for(name: str | None) -> Workflow:
    """The registered workflow a case names (an item kind, or "bundle"); an unknown name
    is a configuration error, never a silent fall-back to the standard table."""
    return wiring().workflows.get(name or "promised")


class _Labels(Mapping[str, str]):
    """Chinese labels of the case engine's states or actions, plus those of every
    registered workflow (read once the wiring exists)."""

    def __init__(self, base: dict[str, str], attr: str) -> None:
        self._base, self._attr = base, attr
        self._merged: dict[str, str] | None = None

    def _all(self) -> dict[str, str]:
        if self._merged is None:
            merged = dict(self._base)
            for workflow in wiring().workflows:
                merged.update(getattr(workflow, self._attr))
            self._merged = merged
        return self._merged

    def __getitem__(self, key: str) -> str:
        return self._all()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


STATE_LABELS: Mapping[str, str] = _Labels(_BASE_STATE_LABELS, "state_labels")
ACTION_LABELS: Mapping[str, str] = _Labels(_BASE_ACTION_LABELS, "action_labels")


def initial_state(channel: str) -> State:
    """Online and mobile applications start in pre-review; a window receives directly."""
    return State.submitted if channel == "window" else State.pre_review
