"""What federation plugs into the node (called by tongban.node.root, once)."""

from __future__ import annotations

from tongban.node.root import Wiring


def wire(w: Wiring) -> None:
    """The envelope types this node answers (the modes', 补正 and withdrawal; and what
    giving up on one means), the hook that reports a forwarded case's every step to its
    receiving node, and the worker's federation jobs."""
    from tongban.federation import modes, service, supplements, worker

    w.envelope_handlers.add("ping", service.ping)
    for kind, handler in {**modes.HANDLERS, **supplements.HANDLERS}.items():
        w.envelope_handlers.add(kind, handler)
    for kind, consequence in modes.UNDELIVERABLE.items():
        w.undeliverable.add(kind, consequence)
    w.transition_hooks.add("federation.report_to_peer", modes.after_transition)
    w.jobs.add("federation.registry", worker.registry_job)
    w.jobs.add("federation.deliver", worker.deliver_job)
    w.jobs.add("federation.inbox", worker.inbox_job)
    w.jobs.add("federation.witness", worker.witness_job, every=worker.WITNESS_EVERY)
    w.jobs.add("federation.retention", worker.retention_job, every=worker.RETENTION_EVERY)
