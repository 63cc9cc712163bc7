"""Grants: signed by the owner, versioned, revocable, held to the purpose ceilings; the
需求清单 from filing to grant or refusal."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.sharing.conftest import WITHDRAWAL_ITEM, World, account, bearer, grant, steward
from tongban.errors import Conflict, Forbidden, InvalidInput
from tongban.sharing import grants
from tongban.sharing.fields import Masking
from tongban.sharing.models import Grant

FUND = "housing_fund.deposit"


def test_a_grant_is_signed_versioned_and_revocable(db_session: Session, world: World) -> None:
    made = grant(db_session, world, FUND, fields={"status": Masking.none}, use_limit=10)
    assert isinstance(made, Grant)
    check = grants.check_signature(db_session=db_session, settings=world.settings, grant=made)
    assert check.ok, check.problem
    detail = made.detail
    assert detail["parties"]["data_provider"]["name"] == "成都住房公积金管理中心"
    assert detail["parties"]["data_consumer"]["credit_code"] == world.owners["gjj"]
    assert detail["purpose"]["code"] == WITHDRAWAL_ITEM and detail["requires"] == \
        "case_or_consent"
    assert set(detail) >= {"parties", "basis", "purpose", "scope", "limits", "duties",
                           "visibility"}
    v2 = grants.amend_grant(db_session=db_session, settings=world.settings, actor=steward(),
                            grant_id=made.grant_id, change=grants.GrantChange(
                                reason="增加余额字段", fields={"status": Masking.none,
                                                          "balance": Masking.partial}))
    v3 = grants.revoke_grant(db_session=db_session, settings=world.settings,
                             actor=steward(), grant_id=made.grant_id, reason="需求已撤销")
    history = grants.versions(db_session=db_session, grant_id=made.grant_id)
    assert [(g.version, g.status, g.current) for g in history] == [
        (1, "active", False), (2, "active", False), (3, "revoked", True)]
    assert v2.detail["scope"]["fields"] == {"balance": "partial", "status": "none"}
    assert v3.detail["change_reason"] == "需求已撤销"
    for version in history:
        assert grants.check_signature(db_session=db_session, settings=world.settings,
                                      grant=version).ok
    # a stored column changed behind the signature's back is caught
    v3.use_limit = 1000
    tampered = grants.check_signature(db_session=db_session, settings=world.settings,
                                      grant=v3)
    assert not tampered.ok and "use_limit" in (tampered.problem or "")


@pytest.mark.parametrize(("terms", "field"), [
    ({"valid_days": 2000}, "valid_days"),
    ({"basis": "public_task", "requires": "none"}, "requires"),
    ({"basis": "statute", "legal_ref": ""}, "legal_ref"),
    ({"basis": "magic"}, "basis"),
    ({"basis": "contract"}, "basis"),  # not for 有条件共享
    ({"basis": "consent", "requires": "consent"}, "use_limit"),  # consent grants are capped
    ({"fields": {"colour": Masking.none}}, "fields"),
    ({"hidden_days": 30}, "hidden_reason"),
])
def test_grants_are_held_to_the_purpose_ceilings(db_session: Session, world: World,
                                                 terms: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        grant(db_session, world, FUND, **terms)
    assert caught.value.details[0]["field"] == field


def test_not_shared_data_and_other_owners_cannot_be_granted(db_session: Session,
                                                           world: World) -> None:
    with pytest.raises(Conflict):
        grant(db_session, world, "income_tax.returns", fields={"year": Masking.none})
    from tongban.sharing.models import Dataset

    fund = db_session.scalars(select(Dataset).where(Dataset.code == FUND)).one()
    with pytest.raises(Forbidden):
        grants.create_grant(db_session=db_session, settings=world.settings,
                            actor=steward("320100"), terms=grants.GrantTerms(
                                dataset=fund.code, consumer_credit_code=world.owners["hrss"],
                                purpose_code="X", purpose_text="x", legal_ref="x",
                                fields={"status": Masking.none}))


def test_a_request_is_filed_granted_or_refused(client: TestClient, db_session: Session,
                                               world: World) -> None:
    account(db_session, "rev.rs", ["reviewer"], [("510100", world.departments["hrss"].id)])
    account(db_session, "steward.sc", ["data_steward"], [("510000", None)])
    account(db_session, "steward.nj", ["data_steward"], [("320100", None)])
    rs, sc, nj = (bearer(client, u) for u in ("rev.rs", "steward.sc", "steward.nj"))
    need = {"dataset": "disability.certificate", "fields": ["id_number", "category", "grade"],
            "purpose_code": "000202001000", "purpose_text": "就业困难人员认定",
            "legal_ref": "《就业服务与就业管理规定》第四十二条", "wanted_days": 365}
    filed = client.post("/api/v1/sharing/requests", headers=rs, json=need)
    assert filed.status_code == 201, filed.text
    req = filed.json()
    assert req["state"] == "filed" and req["consumer_name"] == "成都市人力资源和社会保障局"
    assert client.get("/api/v1/sharing/requests", headers=sc).json()[0]["id"] == req["id"]
    url = f"/api/v1/sharing/requests/{req['id']}/decision"
    assert client.post(url, headers=nj, json={"decision": "grant"}).status_code == 403
    done = client.post(url, headers=sc, json={"decision": "grant",
                                              "masking": {"id_number": "partial"},
                                              "requires": "case_or_consent"})
    assert done.status_code == 200, done.text
    assert done.json()["state"] == "granted" and done.json()["grant_id"]
    versions = client.get(f"/api/v1/sharing/grants/{done.json()['grant_id']}",
                          headers=sc).json()
    assert versions[0]["signature_ok"] is True
    assert versions[0]["fields"] == {"id_number": "partial", "category": "none",
                                     "grade": "none"}
    assert client.post(url, headers=sc, json={"decision": "refuse", "reason": "x"}
                       ).json()["error"] == "request_decided"
    again = client.post("/api/v1/sharing/requests", headers=rs, json=need).json()
    refused = client.post(f"/api/v1/sharing/requests/{again['id']}/decision", headers=sc,
                          json={"decision": "refuse"})
    assert refused.status_code == 422  # a refusal needs its reason
    refused = client.post(f"/api/v1/sharing/requests/{again['id']}/decision", headers=sc,
                          json={"decision": "refuse", "reason": "已有同类授权"})
    assert refused.json()["state"] == "refused"
    assert refused.json()["decision_reason"] == "已有同类授权"


def test_a_paused_grant_refuses_until_resumed_and_a_revoked_one_stays_revoked(
        db_session: Session, world: World) -> None:
    from tongban.sharing import queries

    made = grant(db_session, world, FUND, requires="none")
    assert isinstance(made, Grant)
    staff = world.staff("gjj", "reviewer")

    def ask() -> str:
        out = queries.query(db_session=db_session, settings=world.settings, actor=staff,
                            dataset=FUND, identifier=world.ids["张伟"],
                            purpose_code=WITHDRAWAL_ITEM)
        return "allowed" if isinstance(out, queries.Allowed) else out.reason

    def step(action: str) -> Grant:
        return grants.suspend_grant(db_session=db_session, settings=world.settings,
                                    actor=steward(), grant_id=made.grant_id, action=action,
                                    reason="核查异常调用")

    paused = step("pause")
    assert (paused.version, paused.status) == (2, "paused") and ask() == "grant_paused"
    assert step("pause").version == 2  # once is enough
    resumed = step("resume")
    assert (resumed.version, resumed.status) == (3, "active") and ask() == "allowed"
    assert grants.check_signature(db_session=db_session, settings=world.settings,
                                  grant=resumed).ok
    grants.revoke_grant(db_session=db_session, settings=world.settings, actor=steward(),
                        grant_id=made.grant_id, reason="需求已撤销")
    with pytest.raises(Conflict) as caught:
        step("resume")
    assert caught.value.code == "grant_revoked"
    with pytest.raises(InvalidInput):
        grants.suspend_grant(db_session=db_session, settings=world.settings,
                             actor=steward(), grant_id=made.grant_id, action="pause",
                             reason=" ")
