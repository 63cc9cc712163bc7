"""What the case engine plugs into the node (called by tongban.node.root, once)."""

from __future__ import annotations

from tongban.node.root import Wiring


def wire(w: Wiring) -> None:
    """The standard and immediate tables, the engine's own effects, licence issue on a
    decision and annulment on its revocation, the reveal check identity asks about, window
    payments and the case job."""
    from tongban.cases import licensing, payments, rules, service, worker, workflow

    for name, table in workflow.CASE_WORKFLOWS.items():
        w.workflows.add(name, table)
    for action, effect in rules.EFFECTS.items():
        w.effects.add(action, effect)
    w.transition_hooks.add("cases.issue_licence", licensing.issue_licence_on_decision)
    w.transition_hooks.add("cases.end_licences", licensing.end_licences_on_revocation)
    w.case_handler_checks.add("cases.handles_person", service.handles_person)
    offline = payments.OfflineAdapter()
    w.payment_adapters.add(offline.name, offline)
    w.jobs.add("cases", worker.job)
