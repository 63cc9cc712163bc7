"""What 一件事 bundles plug into the node (called by tongban.node.root, once)."""

from __future__ import annotations

from tongban.node.root import Wiring


def wire(w: Wiring) -> None:
    """The bundle table, its partial approval, and the hook that moves a bundle when one
    of its tasks moves."""
    from tongban.bundles import service
    from tongban.bundles import workflow as bundle_wf

    w.workflows.add(bundle_wf.NAME, bundle_wf.BUNDLE)
    w.effects.add(bundle_wf.BundleAction.partly_approve.value, service.partly_approve)
    w.transition_hooks.add("bundles.follow_tasks", service.after_transition)
