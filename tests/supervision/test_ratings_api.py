"""The ratings API: the applicant rates, the department handles, the public reads."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.cases.conftest import World
from tests.supervision.conftest import approved_case


def test_a_bad_rating_through_the_api_from_rating_to_the_raters_verdict(
        client: TestClient, world: World) -> None:
    case = approved_case(world)
    world.db.commit()
    applicant, reviewer = world.token("applicant"), world.token("reviewer")
    content = client.get("/api/v1/ratings/content").json()
    assert content["levels"]["1"] == "非常不满意" and "服务态度" in str(content["indicators"])
    bad = client.post("/api/v1/ratings", headers=applicant, json={
        "case_number": case.number, "level": 9})
    assert bad.status_code == 422 and bad.json()["details"]["field"] == "level"
    typo = client.post("/api/v1/ratings", headers=applicant, json={
        "case_number": case.number, "level": 2, "comentt": "x"})
    assert typo.status_code == 422
    made = client.post("/api/v1/ratings", headers=applicant, json={
        "case_number": case.number, "level": 2, "comment": "等太久"})
    assert made.status_code == 201, made.text
    rating = made.json()
    assert rating["level_label"] == "不满意"
    assert rating["rectification"]["state"] == "visit_pending"
    queue = client.get("/api/v1/ratings/queue", headers=reviewer).json()
    assert [r["rating"]["id"] for r in queue] == [rating["id"]]
    steps = f"/api/v1/ratings/{rating['id']}/steps"
    wrong = client.post(f"{steps}/accept", headers=reviewer, json={})
    assert wrong.status_code == 409
    fixed = client.post(f"{steps}/fix_now", headers=reviewer, json={
        "reason": "电话回访", "outcome": "已当场办结"})
    assert fixed.json()["allowed_actions"] == ["appeal"]  # it cannot close it itself
    seen = client.get(f"/api/v1/cases/{case.number}/ratings", headers=applicant).json()
    assert seen[0]["allowed_actions"] == ["accept", "reject"]
    closed = client.post(f"{steps}/accept", headers=applicant, json={})
    assert closed.json()["rectification"]["state"] == "closed"
    public = client.get("/api/v1/ratings/published", params={"region": "510000"}).json()
    assert public[0]["bad"] == 1 and public[0]["bad_rectified"] == 1
    assert "comment" not in public[0]
    stranger = client.get(f"/api/v1/ratings/{rating['id']}")
    assert stranger.status_code == 401
