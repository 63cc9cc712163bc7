"""What data sharing plugs into the node (called by tongban.node.root, once)."""

from __future__ import annotations

from tongban.node.root import Wiring


def wire(w: Wiring) -> None:
    """The envelopes of grants and queries across regions."""
    from tongban.sharing import remote

    w.envelope_handlers.add(remote.GRANT, remote.handle_grant)
    w.envelope_handlers.add(remote.QUERY, remote.handle_query)
    w.envelope_handlers.add(remote.ANSWER, remote.handle_answer)
