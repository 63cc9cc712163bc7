"""What the receiving window reads and may do about forwarded cases: the delivery stage
of each case, the 待送达 list, visibility by scope (staff whose scope covers this node's
region), and the 数据回流 records of people whose home region the reader's scope holds."""

from __future__ import annotations

import uuid
from typing import Any

from tests.federation.harness import PASSWORD, Federation, Node, b64
from tests.federation.test_federation_modes import (
    API,
    GJJ_SH,
    HUKOU_IN_SH,
    PDF,
    act,
    code_of,
    complete,
    form,
    view,
)
from tongban.federation import modes
from tongban.federation.models import ForwardedCase, ForwardedCaseEvent
from tongban.identity import service as identity
from tongban.identity.actor import SYSTEM_ACTOR
from tongban.outbox.models import OutboxMessage


def _staff_token(node: Node, role: str, region: str) -> dict[str, str]:
    """A bearer token of a new staff member of the node scoped to `region`."""
    username = f"{role}-{region}-{uuid.uuid4().hex[:8]}"
    with node.session() as s:
        identity.create_account(db_session=s, actor=SYSTEM_ACTOR, username=username,
                                password=PASSWORD, display_name=username, roles=[role],
                                scopes=[(region, None)])
        token, _ = identity.login(db_session=s, settings=node.settings, username=username,
                                  password=PASSWORD)
    return {"Authorization": f"Bearer {token}"}


def _received(fed: Federation) -> dict[str, Any]:
    """A 异地代收 application received at 四川's window for 上海, opened there."""
    response = fed.sc.client.post(f"{API}/cases", headers=fed.sc.token("clerk"), json={
        "implementation_code": code_of(fed.sc, HUKOU_IN_SH), "mode": "receive_and_forward",
        "form_data": form("zhangwei", HUKOU_IN_SH), "person_id": str(fed.sc.people["zhangwei"]),
        "checks": {"identity_checked": True, "form_checked": True},
        "materials": [{"code": "application_form", "filename": "申请表.pdf",
                       "content_base64": b64(PDF)}]})
    assert response.status_code == 201, response.text
    fed.pump()
    return view(fed.sc, response.json()["id"], "clerk")


def _stage(fed: Federation, fc_id: str) -> str:
    with fed.sc.read() as s:
        row = s.get(ForwardedCase, uuid.UUID(fc_id))
        assert row is not None
        return modes.delivery_stage(row)


def _ready_ids(fed: Federation, headers: dict[str, str]) -> set[str]:
    response = fed.sc.client.get(f"{API}/cases", params={"ready_to_deliver": "true"},
                                 headers=headers)
    assert response.status_code == 200, response.text
    return {c["id"] for c in response.json()}


def test_a_forwarded_case_is_ready_to_deliver_only_between_decision_and_delivery(
        fed: Federation) -> None:
    fc = _received(fed)
    clerk = fed.sc.token("clerk")
    assert _stage(fed, fc["id"]) == "waiting" and fc["id"] not in _ready_ids(fed, clerk)
    sent = fed.sc.count(OutboxMessage, OutboxMessage.topic == "federation")
    events = fed.sc.count(ForwardedCaseEvent,
                          ForwardedCaseEvent.forwarded_case_id == uuid.UUID(fc["id"]))
    early = fed.sc.client.post(f"{API}/cases/{fc['id']}/deliver", headers=clerk,
                               json={"method": "pickup", "pickup_window": "3 号窗口"})
    assert early.status_code == 409, early.text
    assert early.json()["details"]["stage"] == "waiting"
    assert "办理地尚未作出决定" in early.json()["message"]
    assert fed.sc.count(OutboxMessage, OutboxMessage.topic == "federation") == sent
    assert fed.sc.count(ForwardedCaseEvent, ForwardedCaseEvent.forwarded_case_id
                        == uuid.UUID(fc["id"])) == events

    complete(fed.sh, fc["remote_case_number"])
    act(fed.sh, fc["remote_case_number"], "clerk", "accept")
    act(fed.sh, fc["remote_case_number"], "reviewer", "approve")
    fed.pump()
    assert _stage(fed, fc["id"]) == "ready" and fc["id"] in _ready_ids(fed, clerk)
    delivered = fed.sc.client.post(f"{API}/cases/{fc['id']}/deliver", headers=clerk,
                                   json={"method": "post", "tracking_number": "SF0001"})
    assert delivered.status_code == 200, delivered.text
    assert _stage(fed, fc["id"]) == "delivered" and fc["id"] not in _ready_ids(fed, clerk)
    fed.pump()
    again = fed.sc.client.post(f"{API}/cases/{fc['id']}/deliver", headers=clerk,
                               json={"method": "post", "tracking_number": "SF0001"})
    assert again.status_code == 409 and again.json()["details"]["stage"] == "delivered"


def test_an_online_application_is_not_delivered_by_the_window(fed: Federation) -> None:
    response = fed.sc.client.post(f"{API}/cases", headers=fed.sc.token("zhangwei"), json={
        "implementation_code": code_of(fed.sc, GJJ_SH), "mode": "fully_online",
        "form_data": form("zhangwei", GJJ_SH)})
    fc_id = response.json()["id"]
    assert _stage(fed, fc_id) == "not_window"
    refused = fed.sc.client.post(f"{API}/cases/{fc_id}/deliver",
                                 headers=fed.sc.token("clerk"),
                                 json={"method": "pickup", "pickup_window": "3 号窗口"})
    assert refused.status_code == 409 and refused.json()["details"]["stage"] == "not_window"
    fed.pump()


def test_staff_see_forwarded_cases_only_when_their_scope_covers_the_node(
        fed: Federation) -> None:
    fc = _received(fed)
    for region in ("500000", "510104"):
        outsider = _staff_token(fed.sc, "supervisor", region)
        assert fed.sc.client.get(f"{API}/cases/{fc['id']}", headers=outsider
                                 ).status_code == 404
        listed = fed.sc.client.get(f"{API}/cases", headers=outsider).json()
        assert fc["id"] not in {c["id"] for c in listed}
    province = _staff_token(fed.sc, "supervisor", "510000")
    assert fed.sc.client.get(f"{API}/cases/{fc['id']}", headers=province).status_code == 200
    national = _staff_token(fed.sc, "operator", "100000")
    assert fc["id"] in {c["id"] for c in fed.sc.client.get(f"{API}/cases",
                                                            headers=national).json()}


def test_result_records_follow_the_home_region_of_their_person(fed: Federation) -> None:
    fc = _received(fed)
    number = fc["remote_case_number"]
    complete(fed.sh, number)
    act(fed.sh, number, "clerk", "accept")
    act(fed.sh, number, "reviewer", "approve")
    fed.pump()

    def numbers(headers: dict[str, str]) -> dict[str, Any]:
        response = fed.sc.client.get(f"{API}/results", headers=headers)
        assert response.status_code == 200, response.text
        return {r["case_number"]: r for r in response.json()}

    mine = numbers(fed.sc.token("zhangwei"))
    assert mine[number]["decision"] == "approved" and mine[number]["person_name"] == "张伟"
    assert number in numbers(fed.sc.token("clerk"))  # scope 510000: the node's region
    assert number in numbers(_staff_token(fed.sc, "clerk", "510104"))  # 张伟's district
    assert number not in numbers(_staff_token(fed.sc, "clerk", "500000"))
    assert numbers(_staff_token(fed.sc, "catalog_admin", "510000")) == {}  # serves no one
