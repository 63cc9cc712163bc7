"""Across regions: mutual recognition of e-licences (互认) and witnessing of peers' logs.

A licence from another node is verified the way that node's own verifier would, but
with keys learnt from the registry: the issuing node's key (registry) signs its trust
list (department keys) and its status lists. Each peer gets one cached `Verifier`.

Witnessing: each node fetches every peer's latest checkpoint, checks the peer's
signature (key from the registry), proves it consistent with the last checkpoint it saw
(RFC 9162 consistency proof from the peer's API) and countersigns it; a checkpoint that
cannot be proven consistent is a fork: stored, and served at /federation/forks.
"""

from __future__ import annotations

import base64
import binascii
import threading
from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tongban.config import Settings
from tongban.db import utcnow
from tongban.errors import InvalidInput
from tongban.federation import registry, transport
from tongban.federation.models import Fork, WitnessedHead
from tongban.ledger import merkle, note
from tongban.licences import service as licences
from tongban.licences import signing
from tongban.licences.verify import MESSAGES, Outcome, VerificationResult, Verifier
from tongban.node.keys import node_key

_verifiers: dict[tuple[str, str], Verifier] = {}
_lock = threading.Lock()


def _status_fetcher(entry: registry.NodeEntry) -> Any:
    def fetch(uri: str) -> str | None:
        list_id = licences.list_id_from_uri(uri)
        if list_id is None:
            return None
        # The list is fetched from the issuer's registered endpoint, whatever host the
        # licence names; the token's `sub` must still equal the URI (Verifier checks).
        return transport.fetch_text(f"{entry.endpoint}{licences.STATUS_LIST_PATH}{list_id}")
    return fetch


def peer_verifier(entry: registry.NodeEntry) -> Verifier:
    """The cached verifier of one peer's licences (trust list and status lists)."""
    key = (entry.region_code, entry.kid)
    with _lock:
        verifier = _verifiers.get(key)
        if verifier is None:
            verifier = _verifiers[key] = Verifier(
                node_keys={entry.kid: entry.public_key},
                fetch_trust_list=lambda: transport.fetch_text(entry.trust_list_url) or "",
                fetch_status_list=_status_fetcher(entry))
        return verifier


def forget_verifiers() -> None:
    """Drop cached trust and status lists (tests; after a registry change)."""
    with _lock:
        _verifiers.clear()


def _issuer_node(reg: registry.Registry, kid: str) -> registry.NodeEntry | None:
    for entry in reg.nodes.values():
        try:
            if kid in peer_verifier(entry).trusted_keys():
                return entry
        except (ValueError, KeyError):
            continue  # that node's trust list is unavailable or invalid
    return None


def verify_licence(*, db_session: Session, settings: Settings, licence_jws: str
                   ) -> dict[str, Any]:
    """互认: verify a licence of any node in the federation with its own lists."""
    reg = registry.current(db_session=db_session)
    try:
        jws = signing.parse(licence_jws)
    except signing.JwsFormatError:
        result = VerificationResult(outcome=Outcome.malformed, failures=[Outcome.malformed])
        return _report(result, None)
    entry = _issuer_node(reg, jws.kid)
    if entry is None:
        result = VerificationResult(outcome=Outcome.unknown_issuer,
                                    failures=[Outcome.unknown_issuer],
                                    identifier=str(jws.payload.get("identifier", "")) or None)
        return _report(result, None)
    return _report(peer_verifier(entry).check(licence_jws), entry)


def _report(result: VerificationResult, entry: registry.NodeEntry | None) -> dict[str, Any]:
    out = asdict(result)
    out["valid"] = result.valid
    out["message"] = MESSAGES[result.outcome]
    out["issuing_node"] = ({"region_code": entry.region_code, "name": entry.name}
                           if entry else None)
    return out


# --- witnessing ------------------------------------------------------------------------------


def _b64(value: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput("哈希不是 base64 / not base64") from exc


def _fork(db_session: Session, entry: registry.NodeEntry, seen: WitnessedHead, new_note: str,
          new_size: int, reason: str, now: datetime) -> Fork:
    fork = Fork(peer_region=entry.region_code, detected_at=now, seen_size=seen.tree_size,
                seen_note=seen.note, new_size=new_size, new_note=new_note, reason=reason)
    db_session.add(fork)
    from tongban.ledger.service import record_act

    record_act(db_session=db_session, kind="federation.fork_detected", payload={
        "peer_region": entry.region_code, "seen_size": seen.tree_size, "new_size": new_size,
        "reason": reason})
    return fork


def cosign(settings: Settings, peer_note: str, text: str) -> str:
    """The peer's note with this node's signature line added (a witness cosignature)."""
    ours = note.sign_note(text, node_key(settings))
    return peer_note + ours[len(text) + 1:]


def witness_checkpoint(*, db_session: Session, settings: Settings,
                       entry: registry.NodeEntry, checkpoint_note: str,
                       consistency: Any = None, now: datetime | None = None) -> str:
    """Check one peer checkpoint against what was seen; returns "cosigned", "same",
    "fork" or a reason it was not usable. `consistency(first, second)` fetches a proof."""
    now = now or utcnow()
    name, key_id = entry.kid.rsplit("+", 1)
    try:
        text = note.open_note(checkpoint_note, key_name=name, key_id=bytes.fromhex(key_id),
                              public_key=entry.public_key)
        parsed = note.parse_checkpoint(text)
    except note.NoteError as exc:
        return f"unusable: {exc}"
    if parsed.origin != name:
        return "unusable: origin is not the peer's log"
    seen = db_session.get(WitnessedHead, entry.region_code)
    if seen is not None:
        verdict, reason = _compare(seen, parsed, consistency)
        if verdict == "fork":
            _fork(db_session, entry, seen, checkpoint_note, parsed.tree_size, reason, now)
            return "fork"
        if verdict != "extends":
            return verdict if not reason else f"{verdict}: {reason}"
    head = seen or WitnessedHead(peer_region=entry.region_code)
    head.tree_size, head.root_hash = parsed.tree_size, parsed.root_hash
    head.note, head.cosigned_note = checkpoint_note, cosign(settings, checkpoint_note, text)
    head.checked_at = now
    db_session.add(head)
    db_session.flush()
    return "cosigned"


def _compare(seen: WitnessedHead, parsed: note.Checkpoint, consistency: Any
             ) -> tuple[str, str]:
    """("extends" | "same" | "fork" | "unverifiable", reason) of a new checkpoint against
    the last one seen; a missing proof is unverifiable (retried later), never a fork."""
    if parsed.tree_size == seen.tree_size:
        if parsed.root_hash == seen.root_hash:
            return "same", ""
        return "fork", "same size, different root"
    if parsed.tree_size < seen.tree_size:
        return "fork", f"the log shrank from {seen.tree_size} to {parsed.tree_size}"
    proof = consistency(seen.tree_size, parsed.tree_size) if consistency else None
    if proof is None:
        return "unverifiable", "no consistency proof"
    try:
        merkle.verify_consistency(seen.tree_size, parsed.tree_size, bytes(seen.root_hash),
                                  parsed.root_hash, [_b64(h) for h in proof])
    except (merkle.ProofError, InvalidInput) as exc:
        return "fork", f"not consistent with size {seen.tree_size}: {exc}"
    return "extends", ""


def witness_peers(*, db_session: Session, settings: Settings, now: datetime | None = None
                  ) -> dict[str, str]:
    """Fetch, check and countersign every peer's latest checkpoint. All fetching comes
    before the first write (no write lock held while waiting on a peer)."""
    reg = registry.current(db_session=db_session, now=now)
    fetched: list[tuple[registry.NodeEntry, str, list[str] | None]] = []
    results = {}
    for entry in reg.nodes.values():
        if entry.region_code == settings.node_region:
            continue
        doc = transport.fetch_json(f"{entry.endpoint}/api/v1/ledger/checkpoint")
        if not isinstance(doc, dict) or not isinstance(doc.get("note"), str):
            results[entry.region_code] = "unreachable"
            continue
        seen = db_session.get(WitnessedHead, entry.region_code)
        proof = None
        if seen is not None and int(doc.get("tree_size") or 0) > seen.tree_size:
            got = transport.fetch_json(f"{entry.endpoint}/api/v1/ledger/proof/consistency"
                                       f"?first={seen.tree_size}&second={doc['tree_size']}")
            proof = got.get("proof") if isinstance(got, dict) else None
        fetched.append((entry, doc["note"], proof))
    for entry, checkpoint_note, proof in fetched:
        results[entry.region_code] = witness_checkpoint(
            db_session=db_session, settings=settings, entry=entry,
            checkpoint_note=checkpoint_note,
            consistency=lambda _first, _second, p=proof: p, now=now)
    return results


def witnessed(*, db_session: Session) -> list[WitnessedHead]:
    """The peers' checkpoints this node countersigned."""
    return list(db_session.scalars(select(WitnessedHead).order_by(WitnessedHead.peer_region)))


def forks(*, db_session: Session) -> list[Fork]:
    """Forks detected, newest first."""
    return list(db_session.scalars(select(Fork).order_by(Fork.detected_at.desc())))
