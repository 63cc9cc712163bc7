"""A decision undone takes its licences with it: when a 告知承诺 is found false and the
approval revoked, the licence issued on it is annulled (03 撤销) in the same transaction,
in the status list, and in public verification."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from tongban.cases.models import Case
from tongban.licences import service as licences
from tongban.licences import signing
from tongban.licences import status_list as sl
from tongban.licences import verify as licence_verify
from tongban.licences.models import Licence, LicenceStatusChange
from tongban.outbox.models import OutboxMessage

from .conftest import World, at
from .test_cases_licensing import RESIDENCE_FIELDS, _residence_implementation


def _approved_on_commitment(w: World) -> tuple[Case, Licence]:
    case = w.submit(code=_residence_implementation(w), when=at(2026, 9, 21))
    w.act("clerk", case, "accept_on_commitment", when=at(2026, 9, 22),
          commitment="本人承诺在本市有合法稳定住所", verify_by="2026-11-30",
          licence_fields=RESIDENCE_FIELDS)
    w.db.commit()
    licence = w.db.scalars(select(Licence).where(Licence.case_id == case.id)).one()
    assert licence.status == "01"
    return case, licence


def _status_in_list(w: World, licence: Licence) -> int:
    token = licences.status_list_token(db_session=w.db, settings=w.settings,
                                       list_id=licence.status_list_id)
    raw, bits = sl.decode(signing.parse(token).payload["status_list"])
    return sl.value_at(raw, licence.status_idx, bits=bits)


def _status_changes(w: World) -> int:
    return len(w.db.scalars(select(OutboxMessage).where(
        OutboxMessage.kind == "licence.status_changed")).all())


def test_revoking_a_false_commitment_annuls_its_licence_in_the_same_transaction(
        world: World) -> None:
    w = world
    case, licence = _approved_on_commitment(w)
    before = _status_changes(w)
    w.act("reviewer", case, "revoke_commitment", when=at(2026, 10, 20),
          reason="核查发现承诺的住所不实")
    assert case.state == "revoked" and licence.status == "03"  # before any commit
    assert _status_changes(w) == before + 1  # logged with the revocation
    w.db.rollback()  # the revocation did not happen: neither did the annulment
    w.db.expire_all()
    assert w.db.get(Licence, licence.id).status == "01"  # type: ignore[union-attr]

    w.act("reviewer", case, "revoke_commitment", when=at(2026, 10, 20),
          reason="核查发现承诺的住所不实")
    w.db.commit()
    w.db.expire_all()
    assert licence.status == "03" and _status_in_list(w, licence) == sl.STATUS_VALUES["03"]
    change = w.db.scalars(select(LicenceStatusChange).where(
        LicenceStatusChange.licence_id == licence.id, LicenceStatusChange.to_status == "03")
    ).one()
    assert case.number in change.reason and "核查发现承诺的住所不实" in change.reason
    result = licence_verify.verify(db_session=w.db, settings=w.settings,
                                   identifier=licence.identifier)
    assert not result.valid and result.outcome == "annulled" and result.status == "03"


def test_public_verification_says_revoked_after_the_api_revokes(
        world: World, client: TestClient) -> None:
    w = world
    case, licence = _approved_on_commitment(w)
    shown = client.post("/api/v1/licences/verify", json={"identifier": licence.identifier})
    assert shown.json()["outcome"] == "valid"
    revoked = client.post(f"/api/v1/cases/{case.number}/actions/revoke_commitment",
                          headers=w.token("reviewer"), json={"reason": "承诺不实"})
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["state"] == "revoked"
    verdict = client.post("/api/v1/licences/verify", json={"identifier": licence.identifier})
    assert verdict.json()["outcome"] == "annulled" and verdict.json()["status"] == "03"
    page = client.get("/verify", params={"identifier": licence.identifier}).text
    assert "证照无效" in page and "证照已撤销" in page


def test_a_revoked_licence_no_longer_satisfies_a_material(world: World) -> None:
    """一证通办 after the annulment: the revoked 居住证 is not attached to a new case."""
    w = world
    case, _ = _approved_on_commitment(w)
    w.act("reviewer", case, "revoke_commitment", when=at(2026, 10, 20), reason="承诺不实")
    found = licences.find_valid_licence(db_session=w.db, holder_person_id=w.people["self"],
                                        licence_type_code="居住证")
    assert found is None
