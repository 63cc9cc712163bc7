"""Across regions: a node verifies another node's e-licences with that node's trust and
status lists (互认), and witnesses its peers' logs, reporting a fork."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from datetime import date

import pytest
from sqlalchemy import select

from tests.federation.harness import Federation
from tongban.catalog.models import Department
from tongban.federation import registry, transport, witness
from tongban.federation.models import Fork, WitnessedHead
from tongban.ledger import note
from tongban.ledger.service import record_act, run_once
from tongban.licences import service as licences
from tongban.licences.keys import node_key as licence_node_key

SOCIAL_CARD = "111000000000000355001"
API = "/api/v1/federation"


@pytest.fixture(autouse=True)
def routed(fed: Federation) -> Iterator[None]:
    """Peers' documents are fetched through the in-process router; caches start empty."""
    witness.forget_verifiers()
    with transport.use_client(fed.http):
        yield


def _issue_social_card(fed: Federation) -> str:
    """重庆 issues 王芳 a 社会保障卡 (signed by its human-resources department's key)."""
    with fed.cq.session() as s:
        department = s.scalar(select(Department).where(Department.region_code == "500000",
                                                       Department.kind == "人力资源和社会保障"))
        assert department is not None
        licence = licences.issue(
            db_session=s, settings=fed.cq.settings, licence_type_code=SOCIAL_CARD,
            holder_person_id=fed.cq.people["wangfang"], issuer_department_id=department.id,
            fields={"name": "王芳", "gender": "女", "card_number": "A12345678",
                    "issuing_region": "重庆市", "issued_on": "2026-01-05"},
            valid_from=date(2026, 1, 5))
        return licence.jws


def _verify(fed: Federation, token: str) -> dict[str, object]:
    response = fed.sc.client.post(f"{API}/licences/verify", json={"licence_jws": token})
    assert response.status_code == 200, response.text
    return response.json()


def test_a_licence_of_another_region_is_recognised_with_its_issuers_lists(
        fed: Federation) -> None:
    result = _verify(fed, _issue_social_card(fed))
    assert result["valid"] is True and result["outcome"] == "valid"
    assert result["issuing_node"] == {"region_code": "500000", "name": "chongqing"}
    assert result["status"] == "01"


def test_a_revoked_licence_of_another_region_is_seen_as_revoked(fed: Federation) -> None:
    token = _issue_social_card(fed)
    assert _verify(fed, token)["valid"] is True
    identifier = licences.signing.parse(token).payload["identifier"]
    with fed.cq.session() as s:
        licences.change_status(db_session=s, actor=fed.cq.actors["supervisor"],
                               identifier=identifier, status="07", reason="违法违规,依法吊销")
    witness.forget_verifiers()  # the status list's ttl has passed
    result = _verify(fed, token)
    assert result["outcome"] == "revoked" and result["status"] == "07"


def test_a_changed_licence_of_another_region_fails(fed: Federation) -> None:
    header, payload, signature = _issue_social_card(fed).split(".")
    doc = licences.signing.parse(f"{header}.{payload}.{signature}").payload
    doc["fields"] = {**doc.get("fields", {}), "name": "李四"}
    forged = f"{header}.{licences.signing.b64url(licences.signing.canonical(doc))}.{signature}"
    assert _verify(fed, forged)["valid"] is False


def test_a_licence_signed_outside_the_federation_is_an_unknown_issuer(fed: Federation) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    forged = licences.signing.sign({"identifier": "x"}, key=Ed25519PrivateKey.generate(),
                                   kid="not-on-any-trust-list", typ="licence+jwt")
    result = _verify(fed, forged)
    assert result["outcome"] == "unknown_issuer" and result["issuing_node"] is None


def test_garbage_is_reported_as_malformed(fed: Federation) -> None:
    assert _verify(fed, "this is not a licence")["outcome"] == "malformed"


# --- witnessing ------------------------------------------------------------------------------


def _checkpoint(fed: Federation, acts: int = 3) -> None:
    """上海 logs a few acts and signs a checkpoint over them."""
    with fed.sh.session() as s:
        for n in range(acts):
            record_act(db_session=s, kind="test.witnessed", payload={"n": n})
    with fed.sh.session() as s:
        run_once(db_session=s, settings=fed.sh.settings)


def _witness(fed: Federation) -> dict[str, str]:
    with fed.sc.session() as s:
        return witness.witness_peers(db_session=s, settings=fed.sc.settings)


def _head(fed: Federation) -> WitnessedHead:
    with fed.sc.read() as s:
        head = s.get(WitnessedHead, "310000")
        assert head is not None
        return head


def test_a_peer_checkpoint_is_checked_for_consistency_and_countersigned(
        fed: Federation) -> None:
    _checkpoint(fed)
    assert _witness(fed)["310000"] == "cosigned"
    first = _head(fed)
    _checkpoint(fed)
    assert _witness(fed)["310000"] == "cosigned"  # proven to extend the first
    second = _head(fed)
    assert second.tree_size > first.tree_size
    _text, signatures = note.split_note(second.cosigned_note)
    names = [sig.key_name for sig in signatures]
    assert names == ["tongban/310000/shanghai", "tongban/510000/sichuan"]
    ours = licence_node_key(fed.sc.settings)
    note.open_note(second.cosigned_note, key_name=ours.name, key_id=ours.key_id,
                   public_key=ours.private_key.public_key())  # our cosignature verifies
    assert _witness(fed)["310000"] == "same"
    listed = fed.sc.client.get(f"{API}/witness").json()
    assert any(w["peer_region"] == "310000" for w in listed)


def _signed_by_shanghai(fed: Federation, size: int, root: bytes) -> str:
    key = licence_node_key(fed.sh.settings)
    return note.sign_note(note.checkpoint_text(key.name, size, root), key)


@pytest.mark.parametrize(("grow", "reason"), [
    (0, "same size, different root"),
    (5, "not consistent"),
    (-1, "shrank"),
])
def test_a_peer_log_that_forks_is_reported(fed: Federation, grow: int, reason: str) -> None:
    _checkpoint(fed)
    assert _witness(fed)["310000"] in ("cosigned", "same")
    seen = _head(fed)
    bogus_root = hashlib.sha256(b"another history").digest()
    forged = _signed_by_shanghai(fed, seen.tree_size + grow, bogus_root)
    with fed.sc.read() as s:
        entry = registry.current(db_session=s).node("310000")
    assert entry is not None
    fake_proof = [base64.b64encode(hashlib.sha256(b"p").digest()).decode()]
    with fed.sc.session() as s:
        outcome = witness.witness_checkpoint(db_session=s, settings=fed.sc.settings,
                                             entry=entry, checkpoint_note=forged,
                                             consistency=lambda _a, _b: fake_proof)
    assert outcome == "fork"
    forks = fed.sc.client.get(f"{API}/forks").json()
    assert forks[0]["peer_region"] == "310000" and reason in forks[0]["reason"]
    with fed.sc.read() as s:
        assert s.scalar(select(Fork).where(Fork.new_note == forged)) is not None
    assert _head(fed).tree_size == seen.tree_size  # the fork was not countersigned


def test_a_checkpoint_not_signed_by_the_peer_is_unusable(fed: Federation) -> None:
    with fed.sc.read() as s:
        entry = registry.current(db_session=s).node("310000")
    assert entry is not None
    impostor = licence_node_key(fed.cq.settings)
    forged = note.sign_note(note.checkpoint_text("tongban/310000/shanghai", 9,
                                                 bytes(32)), impostor)
    with fed.sc.session() as s:
        outcome = witness.witness_checkpoint(db_session=s, settings=fed.sc.settings,
                                             entry=entry, checkpoint_note=forged)
    assert outcome.startswith("unusable")
