"""What notifications plug into the node (called by tongban.node.root, once)."""

from __future__ import annotations

from tongban.node.root import Wiring


def wire(w: Wiring) -> None:
    """The hook that tells applicants about their cases (after the case engine's own
    hooks: a licence issued on the decision is told with it), the job that tells holders
    of status changes made outside a case, the channel adapters (settings choose one per
    channel) and the delivery job, which every worker runs on its own batch."""
    from tongban.notify import adapters, delivery, hooks, licence_watch

    w.transition_hooks.add("notify.tell_applicant", hooks.tell_applicant)
    for adapter in (adapters.SmtpEmail(), adapters.LoggingSms()):
        w.notify_adapters.add(f"{adapter.channel}.{adapter.name}", adapter)
    w.jobs.add("notify.licence_status", licence_watch.job, every=10.0)
    w.jobs.add("notify.deliver", delivery.job, claim="shared")
