"""What the supervision domain plugs into the node: each subpackage's wiring, in order."""

from __future__ import annotations

from tongban.node.root import Wiring


def wire(w: Wiring) -> None:
    """Every supervision subpackage's plug-ins: metrics, complaints' deadlines, warnings."""
    from tongban.supervision.complaints import wiring as complaints
    from tongban.supervision.metrics import wiring as metrics
    from tongban.supervision.warnings import wiring as warnings

    for part in (metrics, complaints, warnings):
        part.wire(w)
