"""The catalog over HTTP: public reads, scoped writes, the error contract, import/export."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.catalog.conftest import CHENGDU_HF, CQ_HF, FORM, Catalog, admin, code_of, guide
from tongban.identity.actor import Actor
from tongban.identity.deps import current_actor, optional_actor

API = "/api/v1"
HF_CODE = code_of(CHENGDU_HF, 3, "000101001000")


def act_as(client: TestClient, actor: Actor | None) -> None:
    app: Any = client.app
    app.dependency_overrides[optional_actor] = lambda: actor
    if actor is None:
        app.dependency_overrides.pop(current_actor, None)
    else:
        app.dependency_overrides[current_actor] = lambda: actor


@pytest.fixture
def api(client: TestClient, standard: Catalog, db_session: Session) -> TestClient:
    db_session.commit()
    return client


def test_region_with_parents_and_children(api: TestClient) -> None:
    body = api.get(f"{API}/regions/510100").json()
    assert body["name"] == "成都市"
    assert [p["code"] for p in body["parents"]] == ["100000", "510000"]
    assert [c["name"] for c in body["children"]] == ["锦江区", "武侯区"]
    assert [r["code"] for r in api.get(f"{API}/regions", params={"parent": "500000"}).json()] \
        == ["500100"]
    missing = api.get(f"{API}/regions/999999")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"


def test_items_search_by_initials(api: TestClient) -> None:
    body = api.get(f"{API}/items", params={"q": "gjj"}).json()
    assert [i["basic_code"] for i in body["items"]] == ["000101001000"]
    assert api.get(f"{API}/items/000101001000").json()["name"] == "住房公积金提取"
    assert api.get(f"{API}/items/000000000000").status_code == 404


def test_implementation_search_with_filters(api: TestClient) -> None:
    body = api.get(f"{API}/implementations", params={"q": "gongjijin", "region": "510000"}
                   ).json()
    assert [h["implementation_code"] for h in body["items"]] == [HF_CODE]
    bad = api.get(f"{API}/implementations", params={"limit": 0})
    assert bad.status_code == 422 and bad.json()["details"]["field"] == "limit"


def test_guide_page(api: TestClient) -> None:
    body = api.get(f"{API}/implementations/{HF_CODE}").json()
    assert body["item"]["basic_code"] == "000101001000"
    assert body["department"]["credit_code"] == CHENGDU_HF
    assert [r["name"] for r in body["region_chain"]] == ["全国", "四川省", "成都市"]
    assert body["guide"]["materials"][0]["key"] is True
    assert body["form_schema"] == FORM


def test_writes_need_sign_in_and_role(api: TestClient) -> None:
    act_as(api, None)
    assert api.post(f"{API}/implementations/{HF_CODE}/withdraw").status_code == 401
    act_as(api, Actor(account_id=None, name="clerk", roles=frozenset({"clerk"})))
    resp = api.post(f"{API}/implementations/{HF_CODE}/withdraw")
    assert resp.status_code == 403 and resp.json()["error"] == "forbidden"


def test_admin_scope_decides_which_region_it_may_edit(api: TestClient) -> None:
    act_as(api, admin("500000"))
    assert api.post(f"{API}/implementations/{HF_CODE}/withdraw").status_code == 403
    act_as(api, admin("510000"))
    resp = api.post(f"{API}/implementations/{HF_CODE}/withdraw", json={"reason": "机构调整"})
    assert resp.status_code == 200 and resp.json()["state"] == "withdrawn"
    assert api.get(f"{API}/implementations/{HF_CODE}").status_code == 404


def test_draft_publish_and_versions_over_http(api: TestClient) -> None:
    act_as(api, admin("510100"))
    draft = {"name": "住房公积金提取(成都)", "guide": guide(promised_days=1), "form_schema": FORM}
    resp = api.put(f"{API}/implementations/{HF_CODE}/draft", json=draft)
    assert resp.status_code == 200 and resp.json()["version"] == 2
    act_as(api, None)
    assert [v["version"] for v in api.get(f"{API}/implementations/{HF_CODE}/versions").json()] \
        == [1]
    assert api.get(f"{API}/implementations/{HF_CODE}/versions/2").status_code == 404
    act_as(api, admin("510100"))
    assert len(api.get(f"{API}/implementations/{HF_CODE}/versions").json()) == 2
    published = api.post(f"{API}/implementations/{HF_CODE}/publish").json()
    assert (published["version"], published["state"]) == (2, "published")
    assert api.get(f"{API}/implementations/{HF_CODE}").json()["guide"]["promised_days"] == 1
    old = api.get(f"{API}/implementations/{HF_CODE}/versions/1").json()
    assert (old["state"], old["promised_days"]) == ("superseded", 3)


def test_bad_guide_is_a_422_naming_the_field(api: TestClient) -> None:
    act_as(api, admin("510100"))
    draft = {"name": "x", "guide": guide(promised_days=9), "form_schema": FORM}
    resp = api.put(f"{API}/implementations/{HF_CODE}/draft", json=draft)
    assert resp.status_code == 422
    assert any("promised_days" in d["field"] for d in resp.json()["details"])


def test_create_department_and_implementation(api: TestClient) -> None:
    from tongban.identity.ids import make_uscc

    act_as(api, admin("510000"))
    credit = make_uscc("1", "1", "510104", "MB623456")
    resp = api.post(f"{API}/departments", json={"name": "锦江区政务服务中心",
                                                "region_code": "510104", "credit_code": credit,
                                                "kind": "政务服务", "level": 4})
    assert resp.status_code == 201
    again = api.post(f"{API}/departments", json={"name": "x", "region_code": "510104",
                                                 "credit_code": credit, "level": 4})
    assert again.status_code == 409
    impl = {"basic_code": "000102002000", "department_credit_code": credit,
            "region_code": "510104", "level": 4, "name": "社会保障卡申领(锦江)",
            "guide": guide(), "form_schema": FORM,
            "implementation_code": code_of(credit, 3, "000102002000")}
    bad = api.post(f"{API}/implementations", json=impl)
    assert bad.status_code == 422 and bad.json()["details"][0]["field"] == "implementation_code"
    impl["implementation_code"] = code_of(credit, 4, "000102002000")
    created = api.post(f"{API}/implementations", json=impl)
    assert created.status_code == 201 and created.json()["state"] == "draft"
    listed = api.get(f"{API}/departments", params={"region": "510104"}).json()
    assert [d["credit_code"] for d in listed["items"]] == [credit]


def test_export_then_import_over_http(api: TestClient) -> None:
    act_as(api, admin("100000"))
    doc = api.get(f"{API}/catalog/export").json()
    xlsx = api.get(f"{API}/catalog/export", params={"format": "xlsx"})
    assert xlsx.headers["content-type"].startswith("application/vnd.openxmlformats")
    # Importing the same catalog again: every code already exists.
    resp = api.post(f"{API}/catalog/import", json=doc)
    assert resp.status_code == 422
    assert {d["sheet"] for d in resp.json()["details"]} == {
        "departments", "items", "implementations"}
    upload = api.post(f"{API}/catalog/import",
                      files={"file": ("catalog.xlsx", io.BytesIO(xlsx.content))})
    assert upload.status_code == 422 and upload.json()["details"][0]["row"] == 2


def test_import_over_http_writes_a_new_catalog(client: TestClient, catalog: Catalog,
                                              db_session: Session) -> None:
    catalog.regions()
    db_session.commit()
    doc = {"format": "tongban-catalog/1",
           "departments": [{"name": "重庆市住房公积金管理中心", "region_code": "500103",
                            "credit_code": CQ_HF, "level": 3}],
           "items": [{"basic_code": "000101001000", "name": "住房公积金提取",
                      "item_type": "公共服务", "use_levels": [3]}],
           "implementations": [{"basic_code": "000101001000", "department_credit_code": CQ_HF,
                                "region_code": "500103", "level": 3, "name": "公积金提取",
                                "guide": guide(), "form_schema": FORM}]}
    act_as(client, admin("500000"))
    files = {"file": ("c.json", io.BytesIO(json.dumps(doc).encode()), "application/json")}
    resp = client.post(f"{API}/catalog/import", files=files)
    assert resp.status_code == 200, resp.json()
    assert resp.json() == {"departments": 1, "items": 1, "implementations": 1,
                           "published": 1}
    hits = client.get(f"{API}/implementations", params={"q": "gjj"}).json()["items"]
    assert [h["region_code"] for h in hits] == ["500103"]


def test_import_body_that_is_not_json(api: TestClient) -> None:
    act_as(api, admin("100000"))
    resp = api.post(f"{API}/catalog/import", content=b"{oops",
                    headers={"content-type": "application/json"})
    assert resp.status_code == 422 and resp.json()["error"] == "invalid"
