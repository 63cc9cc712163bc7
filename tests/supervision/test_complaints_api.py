"""The complaints API: file, dispatch, reply and judge over HTTP, with clear errors."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.cases.conftest import World


def test_a_ticket_through_the_api(client: TestClient, world: World) -> None:
    applicant, agency = world.token("applicant"), world.token("supervisor")
    reviewer = world.token("reviewer")
    cats = client.get("/api/v1/complaints/categories").json()
    assert {"code": "complex", "name": "复杂诉求", "days": 15} in cats
    typo = client.post("/api/v1/complaints", headers=applicant, json={
        "category": "general", "subject": "s", "body": "b", "regon_code": "510104"})
    assert typo.status_code == 422
    unknown = client.post("/api/v1/complaints", headers=applicant, json={
        "category": "nope", "subject": "s", "body": "b", "region_code": "510104"})
    assert unknown.status_code == 422 and unknown.json()["details"]["field"] == "category"
    rule = client.post("/api/v1/complaints/routes", headers=agency, json={
        "category": "general", "region_code": "510104", "department_id": str(world.market_id)})
    assert rule.status_code == 201, rule.text
    denied = client.post("/api/v1/complaints/routes", headers=applicant, json={
        "category": "general", "region_code": "510104", "department_id": str(world.market_id)})
    assert denied.status_code == 403
    made = client.post("/api/v1/complaints", headers=applicant, json={
        "category": "general", "subject": "个体户登记要跑三次", "body": "材料清单不清楚",
        "region_code": "510104"})
    assert made.status_code == 201, made.text
    ticket = made.json()
    assert ticket["state"] == "dispatched" and ticket["department_id"] == str(world.market_id)
    steps = f"/api/v1/complaints/{ticket['number']}/steps"
    replied = client.post(f"{steps}/reply", headers=reviewer, json={"reply": "已更新办事指南"})
    assert replied.json()["state"] == "replied"
    again = client.post(f"{steps}/reply", headers=reviewer, json={"reply": "x"})
    assert again.status_code == 409
    done = client.post(f"{steps}/satisfied", headers=applicant, json={})
    assert done.json()["state"] == "closed"
    mine = client.get("/api/v1/complaints", headers=applicant).json()
    assert [t["number"] for t in mine] == [ticket["number"]]
    assert client.get(f"/api/v1/complaints/{ticket['number']}").status_code == 401
