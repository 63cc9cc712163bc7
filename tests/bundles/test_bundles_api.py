"""The bundles HTTP API and CLI: browse, define, apply once, read the bundle case with its
tasks, upload a shared material; errors as JSON."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tests.bundles.conftest import GOOD, BundleWorld
from tests.cases.conftest import PDF
from tests.conftest import use_node
from tongban.config import Settings

API = "/api/v1"
PARALLEL = ["birth_cert", "birth_reg", "social_card"]


def _apply(client: TestClient, headers: dict[str, str], **body: Any) -> Any:
    payload = {"form_data": GOOD, "channel": "window", **body}
    return client.post(f"{API}/bundles/XS/apply", json=payload, headers=headers)


def test_browse_a_bundle_with_its_merged_form_and_materials(
    client: TestClient, bw: BundleWorld
) -> None:
    bw.define("XS", PARALLEL, promised=8)
    listed = client.get(f"{API}/bundles", params={"region": "510104"}).json()
    assert [(b["code"], b["member_count"], b["promised_days"]) for b in listed] == [
        ("XS", 3, 8)]
    body = client.get(f"{API}/bundles/XS").json()
    assert body["form_schema"]["properties"]["child_name"]["type"] == "string"
    assert {f["name"]: len(f["members"]) for f in body["fields"]}["phone"] == 3
    assert [m["code"] for m in body["materials"]] == ["ID_COPY", "DELIVERY", "HUKOU", "PHOTO"]
    assert body["applicant_types"] == ["person"] and body["problems"] == []
    assert client.get(f"{API}/bundles/NOPE").status_code == 404


def test_define_and_publish_over_http_needs_a_catalog_admin(
    client: TestClient, bw: BundleWorld
) -> None:
    body = {"code": "HTTP", "name": "出生一件事", "region_code": "510100", "legal_days": 20,
            "promised_days": 10, "deny_rule": "continue_others",
            "members": [{"implementation_code": bw.codes["birth_cert"]},
                        {"implementation_code": bw.codes["birth_reg"],
                         "depends_on": [bw.codes["birth_cert"]]}]}
    assert client.post(f"{API}/bundles", json=body,
                       headers=bw.token("clerk")).status_code == 403
    admin = bw.token("catalog_admin")
    draft = client.post(f"{API}/bundles", json=body, headers=admin)
    assert draft.status_code == 201, draft.text
    assert draft.json()["state"] == "draft"
    assert client.get(f"{API}/bundles/HTTP").status_code == 404
    published = client.post(f"{API}/bundles/HTTP/publish", headers=admin).json()
    assert (published["state"], published["members"][1]["depends_on"]) == (
        "published", [bw.codes["birth_cert"]])
    bad = {**body, "promised_days": 30}
    resp = client.post(f"{API}/bundles", json=bad, headers=admin)
    assert resp.status_code == 422 and resp.json()["error"] == "invalid"


def test_apply_once_and_read_the_bundle_case_with_its_tasks(
    client: TestClient, bw: BundleWorld
) -> None:
    bw.define("XS", PARALLEL)
    applicant = bw.token("applicant")
    resp = _apply(client, applicant, idempotency_key="web-1")
    assert resp.status_code == 201, resp.text
    body = resp.json()
    number = body["case"]["number"]
    assert body["case"]["kind"] == "bundle" and body["case"]["state_label"] == "办理中(待部门受理)"
    assert [t["status"] for t in body["tasks"]] == ["started"] * 3
    assert {t["case"]["state"] for t in body["tasks"]} == {"submitted"}
    assert _apply(client, applicant, idempotency_key="web-1").json()["case"]["number"] == number

    up = client.post(f"{API}/bundle-cases/{number}/materials", data={"material_code": "ID_COPY"},
                     files={"file": ("id.pdf", PDF, "application/pdf")}, headers=applicant)
    assert up.status_code == 201, up.text
    assert len(up.json()["shared_with"]) == 3
    detail = client.get(f"{API}/bundle-cases/{number}", headers=applicant).json()
    assert [m["material_code"] for m in detail["materials"]] == ["ID_COPY"]
    tasks = client.get(f"{API}/cases", params={"parent_case_id": body["case"]["id"]},
                       headers=applicant).json()["items"]
    assert len(tasks) == 3
    assert client.get(f"{API}/bundle-cases/{tasks[0]['number']}",
                      headers=applicant).status_code == 404  # a task is not a bundle case


@pytest.mark.parametrize(("body", "status", "error"), [
    ({"form_data": {**GOOD, "phone": "x"}}, 422, "invalid_form"),
    ({"channel": "mobile"}, 422, "invalid"),
    ({"form_data": GOOD, "surprise": 1}, 422, "invalid"),
])
def test_bad_applications_are_clear_json_errors(
    client: TestClient, bw: BundleWorld, body: dict[str, Any], status: int, error: str
) -> None:
    bw.define("XS", PARALLEL)
    token = bw.token("applicant")
    before = bw.counts()
    resp = _apply(client, token, **body)
    assert resp.status_code == status, resp.text
    assert resp.json()["error"] == error and resp.json()["message"]
    assert bw.counts() == before


def test_unknown_bundle_and_anonymous_apply(client: TestClient, bw: BundleWorld) -> None:
    resp = client.post(f"{API}/bundles/NOPE/apply", json={"form_data": {}},
                       headers=bw.token("applicant"))
    assert resp.status_code == 404 and resp.json()["error"] == "not_found"
    assert client.post(f"{API}/bundles/NOPE/apply", json={}).status_code == 401


def test_cli_lists_and_shows_bundles(
    bw: BundleWorld, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tongban.cli import app
    from tongban.config import get_settings

    bw.define("XS", PARALLEL)
    use_node(monkeypatch, settings)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        listed = runner.invoke(app, ["bundles", "list"], env={"COLUMNS": "200"})
        assert listed.exit_code == 0, listed.output
        assert "XS" in listed.output and "XS一件事" in listed.output
        shown = runner.invoke(app, ["bundles", "show", "XS"], env={"COLUMNS": "200"})
        assert shown.exit_code == 0, shown.output
        assert "child_name" in shown.output and "ID_COPY" in shown.output
        missing = runner.invoke(app, ["bundles", "show", "NOPE"])
        assert missing.exit_code != 0
    finally:
        get_settings.cache_clear()
