"""补领/换领: a licence of a kind a holder has once is replaced, never doubled. The old
one lapses (05 失效) with the reason and its successor, in its history, the ledger and the
status list, and verification says it was replaced; through the service, API and CLI."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from typer.testing import CliRunner

from tongban import cli
from tongban.calendar.service import ZONE
from tongban.config import Settings, get_settings
from tongban.errors import Conflict, Forbidden, InvalidInput
from tongban.identity import service as identity
from tongban.identity.actor import SYSTEM_ACTOR
from tongban.integrity import verify_records
from tongban.ledger import service as ledger
from tongban.licences import service, verify
from tongban.licences import status_list as sl
from tongban.licences.identifiers import make_identifier
from tongban.licences.models import Licence
from tongban.outbox.models import OutboxMessage

from .conftest import RESIDENCE_PERMIT, World

PASSWORD = "correct-horse-42"


def _verify(world: World, identifier: str) -> verify.VerificationResult:
    return verify.verify(db_session=world.db_session, settings=world.settings,
                         identifier=identifier)


def _status_bit(world: World, licence: Licence) -> str:
    token = service.status_list_token(db_session=world.db_session, settings=world.settings,
                                      list_id=licence.status_list_id)
    from tongban.licences import signing

    raw, bits = sl.decode(signing.parse(token).payload["status_list"])
    return sl.VALUE_STATUSES[sl.value_at(raw, licence.status_idx, bits=bits)]


def _replaced_acts(world: World, licence: Licence) -> list[dict[str, object]]:
    rows = world.db_session.scalars(select(OutboxMessage).where(
        OutboxMessage.kind == "licence.status_changed"))
    return [r.payload for r in rows if r.payload["licence_id"] == str(licence.id)]


def test_a_second_residence_permit_replaces_the_first(world: World) -> None:
    first = world.issue_residence()
    second = world.issue_residence(fields=world.residence_fields(
        residence_address="成都市锦江区红星路三段2号"))
    world.db_session.commit()
    world.db_session.refresh(first)
    assert (first.status, first.replaced_by, second.status) == ("05", second.identifier, "01")
    last = service.history(db_session=world.db_session, licence_id=first.id)[-1]
    assert (last.from_status, last.to_status) == ("01", "05")
    assert "换领" in last.reason and second.identifier in last.reason
    assert [(a["to"], a["replaced_by"]) for a in _replaced_acts(world, first)] == [
        ("05", second.identifier)]
    assert _status_bit(world, first) == "05" and _status_bit(world, second) == "01"
    old = _verify(world, first.identifier)
    assert (old.outcome, old.replaced_by, old.valid) == ("replaced", second.identifier, False)
    assert _verify(world, second.identifier).valid
    held = service.find_valid_licence(db_session=world.db_session,
                                      holder_person_id=world.person.id,
                                      licence_type_code=first.type_code)
    assert held is not None and held.id == second.id


def test_a_lost_card_is_reissued_at_the_desk_with_its_reason(world: World) -> None:
    old = world.issue_residence()
    world.db_session.commit()
    clerk = world.staff("clerk", region="510100", department=world.police)
    new = service.replace(db_session=world.db_session, settings=world.settings, actor=clerk,
                          identifier=old.identifier, kind="reissue", reason="持证人遗失,申请补领")
    world.db_session.commit()
    world.db_session.refresh(old)
    assert new.fields == old.fields and new.holder_person_id == old.holder_person_id
    assert old.status == "05" and old.replaced_by == new.identifier
    reason = service.history(db_session=world.db_session, licence_id=old.id)[-1].reason
    assert reason.startswith("补领") and "持证人遗失,申请补领" in reason
    ledger.run_once(db_session=world.db_session, settings=world.settings)
    world.db_session.commit()
    assert verify_records(db_session=world.db_session, settings=world.settings).ok


@pytest.mark.parametrize(("who", "kind", "reason", "error"), [
    ("applicant", "reissue", "遗失", Forbidden),
    ("clerk", "reissue", " ", InvalidInput),
    ("clerk", "duplicate", "遗失", InvalidInput),
])
def test_a_replacement_refused_writes_nothing(world: World, who: str, kind: str, reason: str,
                                              error: type[Exception]) -> None:
    old = world.issue_residence()
    world.db_session.commit()
    actor = world.holder if who == "applicant" else world.staff(
        who, region="510100", department=world.police)
    count = world.db_session.query(Licence).count()
    with pytest.raises(error):
        service.replace(db_session=world.db_session, settings=world.settings, actor=actor,
                        identifier=old.identifier, kind=kind, reason=reason)
    world.db_session.rollback()
    assert world.db_session.query(Licence).count() == count
    assert world.db_session.get(Licence, old.id).status == "01"  # type: ignore[union-attr]


def test_a_suspended_licence_is_neither_replaced_nor_bypassed(world: World) -> None:
    old = world.issue_residence()
    service.change_status(db_session=world.db_session, identifier=old.identifier, status="02",
                          reason="涉嫌违法,暂扣",
                          actor=world.staff("reviewer", region="510100",
                                            department=world.police))
    world.db_session.commit()
    clerk = world.staff("clerk", region="510100", department=world.police)
    with pytest.raises(Conflict) as replaced:
        service.replace(db_session=world.db_session, settings=world.settings, actor=clerk,
                        identifier=old.identifier, kind="reissue", reason="遗失")
    assert replaced.value.code == "not_replaceable"
    world.db_session.rollback()
    with pytest.raises(Conflict) as issued:
        world.issue_residence()
    assert issued.value.code == "licence_suspended"


def test_an_edited_successor_link_fails_verification(world: World) -> None:
    old = world.issue_residence()
    world.issue_residence()
    world.db_session.commit()
    ledger.run_once(db_session=world.db_session, settings=world.settings)
    world.db_session.commit()
    world.db_session.execute(update(Licence).where(Licence.id == old.id)
                             .values(replaced_by=None))
    world.db_session.commit()
    problems = verify_records(db_session=world.db_session, settings=world.settings).problems
    assert any(old.identifier in p and "replaced_by" in p for p in problems), problems


def _login(world: World, username: str, roles: list[str], scopes: list[tuple[str, object]]
           ) -> dict[str, str]:
    identity.create_account(db_session=world.db_session, actor=SYSTEM_ACTOR, username=username,
                            password=PASSWORD, display_name=username, roles=roles,
                            scopes=scopes)  # type: ignore[arg-type]
    world.db_session.commit()
    token, _ = identity.login(db_session=world.db_session, settings=world.settings,
                              username=username, password=PASSWORD)
    world.db_session.commit()
    return {"Authorization": f"Bearer {token}"}


def test_the_api_replaces_and_public_verification_says_replaced(client: TestClient,
                                                                world: World) -> None:
    old = world.issue_residence()
    world.db_session.commit()
    clerk = _login(world, "police-window", ["clerk"], [("510100", world.police.id)])
    empty = client.post(f"/api/v1/licences/{old.identifier}/replace", headers=clerk,
                        json={"kind": "reissue", "reason": ""})
    assert empty.status_code == 422
    response = client.post(f"/api/v1/licences/{old.identifier}/replace", headers=clerk,
                           json={"kind": "renewal", "reason": "居住地址变更",
                                 "fields": {"residence_address": "成都市锦江区东大街1号"}})
    assert response.status_code == 201, response.text
    new = response.json()
    assert new["status"] == "01" and new["fields"]["residence_address"] == "成都市锦江区东大街1号"
    verdict = client.post("/api/v1/licences/verify", json={"identifier": old.identifier}).json()
    assert verdict["outcome"] == "replaced" and verdict["replaced_by"] == new["identifier"]
    again = client.post(f"/api/v1/licences/{old.identifier}/replace", headers=clerk,
                        json={"kind": "reissue", "reason": "再次补领"})
    assert again.status_code == 409


@pytest.fixture
def on_test_node(settings: Settings, world: World, monkeypatch: pytest.MonkeyPatch
                 ) -> Iterator[World]:
    for name in ("database_url", "var_dir", "data_key", "index_key", "csrf_key", "node_key"):
        monkeypatch.setenv(f"TONGBAN_{name.upper()}", str(getattr(settings, name)))
    get_settings.cache_clear()
    yield world
    get_settings.cache_clear()


def test_the_cli_replaces_and_verify_names_the_successor(on_test_node: World) -> None:
    world = on_test_node
    old = world.issue_residence()
    world.db_session.commit()
    _login(world, "police-window", ["clerk"], [("510100", world.police.id)])
    runner = CliRunner()
    done = runner.invoke(cli.app, ["licences", "replace", old.identifier, "--kind", "reissue",
                                   "--reason", "证件损毁", "--as", "police-window"])
    assert done.exit_code == 0, done.output
    world.db_session.expire_all()
    new = world.db_session.get(Licence, old.id).replaced_by  # type: ignore[union-attr]
    assert new is not None and f"replaced by {new}" in done.output
    checked = runner.invoke(cli.app, ["licences", "verify", old.identifier])
    assert checked.exit_code == 1
    assert checked.output.startswith("replaced:") and f"replaced by {new}" in checked.output



# --- an import of a held-once kind -------------------------------------------------------


def _import_residence(world: World, serial: str, issued: datetime, **changes: str
                      ) -> Licence:
    """A 居住证 issued outside tongban at `issued`, imported by the bureau's reviewer."""
    identifier = make_identifier(type_code=RESIDENCE_PERMIT,
                                 issuer_code=world.police.credit_code, serial=serial)
    return service.import_existing(
        db_session=world.db_session, settings=world.settings,
        licence_type_code=RESIDENCE_PERMIT, identifier=str(identifier),
        holder_person_id=world.person.id, fields=world.residence_fields(**changes),
        issuer_department_id=world.police.id, issued_at=issued, valid_from=issued.date(),
        actor=world.staff("reviewer", region="510100", department=world.police))


def _in_force(world: World) -> list[str]:
    return sorted(world.db_session.scalars(select(Licence.identifier).where(
        Licence.holder_person_id == world.person.id, Licence.type_code == RESIDENCE_PERMIT,
        Licence.status.in_(("01", "02")))))


def test_importing_a_newer_residence_permit_ends_the_one_in_force(world: World) -> None:
    older = _import_residence(world, "2021000001", datetime(2021, 3, 1, 9, tzinfo=ZONE))
    world.db_session.commit()
    newer = _import_residence(world, "2024000002", datetime(2024, 6, 1, 9, tzinfo=ZONE),
                              residence_address="成都市锦江区红星路三段2号")
    world.db_session.commit()
    world.db_session.refresh(older)
    assert (older.status, older.replaced_by, newer.status) == ("05", newer.identifier, "01")
    assert _in_force(world) == [newer.identifier]
    last = service.history(db_session=world.db_session, licence_id=older.id)[-1]
    assert (last.from_status, last.to_status) == ("01", "05") and "导入" in last.reason
    assert [(a["to"], a["replaced_by"]) for a in _replaced_acts(world, older)] == [
        ("05", newer.identifier)]
    assert _status_bit(world, older) == "05" and _status_bit(world, newer) == "01"
    verdict = _verify(world, older.identifier)
    assert (verdict.outcome, verdict.replaced_by) == ("replaced", newer.identifier)
    ledger.run_once(db_session=world.db_session, settings=world.settings)
    world.db_session.commit()
    assert verify_records(db_session=world.db_session, settings=world.settings).ok


def test_an_import_older_than_the_licence_in_force_comes_in_replaced(world: World) -> None:
    current = world.issue_residence()
    world.db_session.commit()
    historic = _import_residence(world, "2019000003", datetime(2019, 1, 2, 9, tzinfo=ZONE))
    world.db_session.commit()
    world.db_session.refresh(current)
    assert (historic.status, historic.replaced_by) == ("05", current.identifier)
    assert current.status == "01" and current.replaced_by is None
    assert _in_force(world) == [current.identifier]
    assert [h.to_status for h in service.history(db_session=world.db_session,
                                                 licence_id=historic.id)] == ["01", "05"]
    assert _status_bit(world, historic) == "05"


def test_an_import_next_to_a_suspended_licence_is_refused_and_writes_nothing(
        world: World) -> None:
    held = _import_residence(world, "2021000004", datetime(2021, 3, 1, 9, tzinfo=ZONE))
    service.change_status(db_session=world.db_session, identifier=held.identifier,
                          status="02", reason="涉嫌违法,暂扣",
                          actor=world.staff("reviewer", region="510100",
                                            department=world.police))
    world.db_session.commit()
    count = world.db_session.query(Licence).count()
    with pytest.raises(Conflict) as refused:
        _import_residence(world, "2024000005", datetime(2024, 6, 1, 9, tzinfo=ZONE))
    assert refused.value.code == "licence_suspended"
    world.db_session.rollback()
    assert world.db_session.query(Licence).count() == count
