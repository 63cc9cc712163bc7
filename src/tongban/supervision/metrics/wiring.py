"""What the metrics plug into the node: the worker's incremental refresh."""

from __future__ import annotations

from tongban.node.root import Wiring

REFRESH_SECONDS = 60.0


def wire(w: Wiring) -> None:
    """A leased job: one worker at a time re-reads the cases whose events moved."""
    from tongban.supervision.metrics import service

    w.jobs.add("supervision.metrics", service.job, every=REFRESH_SECONDS)
