"""What eligibility plugs into the node (called by tongban.node.root, once)."""

from __future__ import annotations

from tongban.node.root import Wiring

NIGHTLY = 24 * 3600.0


def wire(w: Wiring) -> None:
    """The screening of every policy in effect: one worker at a time, about once a day
    node-wide (on demand: `tongban eligibility run`, POST /api/v1/eligibility/runs)."""
    from tongban.eligibility import proactive

    w.jobs.add("eligibility", proactive.job, every=NIGHTLY)
