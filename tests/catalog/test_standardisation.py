"""同标准: standard guides, the six-element diff, declared variances, conformance."""

from __future__ import annotations

import io
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.catalog.conftest import CQ_HF, FORM, Catalog, admin, code_of, guide
from tests.catalog.test_catalog_api import act_as
from tongban.catalog import service
from tongban.catalog import standardisation as std
from tongban.catalog.models import Variance
from tongban.catalog.schemas import DraftIn, Guide, StandardGuide
from tongban.errors import Conflict, Forbidden, InvalidInput
from tongban.identity.actor import SYSTEM_ACTOR

API = "/api/v1"
FUND = "000101001000"


def standard_of(**overrides: Any) -> StandardGuide:
    data = guide(**overrides)
    for key in ("window_address", "window_phone", "office_hours"):
        data.pop(key)
    return StandardGuide.model_validate({**data, "competent_department": "住房公积金管理中心"})


@pytest.fixture
def fund(standard: Catalog, db_session: Session) -> Catalog:
    """The fixture catalog, with a standard guide for 住房公积金提取 (成都 follows it; 重庆
    promises 2 days instead of 3)."""
    std.put_standard_guide(db_session=db_session, actor=SYSTEM_ACTOR, basic_code=FUND,
                           guide=standard_of())
    db_session.flush()
    return standard


def differences(db_session: Session, region: str) -> list[std.Difference]:
    diff = std.diff_item(db_session=db_session, basic_code=FUND, regions=[region])
    return [d for c in diff.columns for d in c.differences]


def test_a_guide_that_follows_the_standard_has_no_difference(fund: Catalog,
                                                             db_session: Session) -> None:
    diff = std.diff_item(db_session=db_session, basic_code=FUND, regions=["510100"])
    assert [c.region_name for c in diff.columns] == ["成都市"]
    assert diff.columns[0].differences == [] and diff.columns[0].score == 100.0


def test_time_limits_are_compared_as_numbers_and_judged_for_the_applicant(
        fund: Catalog, db_session: Session) -> None:
    [d] = differences(db_session, "500103")
    assert (d.element, d.key, d.standard, d.local) == (
        "time_limit", "time_limit.promised_days", 3, 2)
    assert d.direction == "favourable" and not d.declared
    assert std.diff_item(db_session=db_session, basic_code=FUND,
                         regions=["500103"]).columns[0].score == 87.5


def test_materials_are_matched_by_meaning_not_text() -> None:
    base = standard_of()
    local = guide()
    local["materials"][0] = {**local["materials"][0], "code": "X9", "name": "身份证复印件"}
    local["materials"].append({"code": "M3", "name": "劳动合同", "form": "copy"})
    found = std.compare(standard=base, local=Guide.model_validate(local))
    assert [d.key for d in found] == ["materials.extra:劳动合同"]
    assert found[0].direction == "unfavourable"


def test_a_dropped_material_and_a_changed_form_are_both_reported() -> None:
    local = guide()
    local["materials"] = [{**local["materials"][1], "form": "original"}]
    found = std.compare(standard=standard_of(), local=Guide.model_validate(local))
    assert {d.key: d.direction for d in found} == {
        "materials.missing:居民身份证": "favourable", "materials.changed:购房合同": "neutral"}


def test_fees_are_compared_as_amounts() -> None:
    fee = {"name": "工本费", "amount": "20.00"}
    base = standard_of(fees=[fee])
    cheaper = std.compare(standard=base, local=Guide.model_validate(
        guide(fees=[{"name": "证件工本费", "amount": "10.5"}])))
    assert [(d.key, d.standard, d.local, d.direction) for d in cheaper] == [
        ("fees.amount:工本费", "20.00", "10.50", "favourable")]
    free = std.compare(standard=base, local=Guide.model_validate(guide()))
    assert [(d.key, d.local) for d in free] == [("fees.missing:工本费", None)]


def test_the_six_elements_conditions_and_applicant_types_are_all_compared() -> None:
    local = Guide.model_validate(guide(
        handling_forms=["window"], visits=2, steps=[{"name": "受理"}],
        acceptance_conditions=["另加条件"], applicant_types=["person", "enterprise"],
        legal_basis="《某地方规定》", result={"name": "批复", "kind": "document"}))
    found = std.compare(standard=standard_of(), local=local)
    assert {d.element for d in found} == {"publication", "handling", "process",
                                          "conditions", "applicant_types"}
    assert {d.key for d in found} >= {"handling.handling_forms", "handling.visits",
                                      "process.steps", "publication.legal_basis",
                                      "publication.result", "applicant_types.applicant_types"}


def test_an_approved_variance_declares_the_difference_while_its_value_holds(
        fund: Catalog, db_session: Session) -> None:
    cq = admin("500000")
    variance = std.propose_variance(
        db_session=db_session, actor=cq, basic_code=FUND, region_code="500103",
        key="time_limit.promised_days", reason="重庆推行提速",
        legal_basis="《重庆市优化营商环境条例》")
    assert not differences(db_session, "500103")[0].declared  # proposed is not declared
    std.decide_variance(db_session=db_session, actor=admin("500000"), variance_id=variance.id,
                        action="approve")
    [d] = differences(db_session, "500103")
    assert d.declared and d.variance_id == variance.id
    assert std.diff_item(db_session=db_session, basic_code=FUND,
                         regions=["500103"]).columns[0].score == 100.0
    assert (variance.standard_value, variance.local_value) == (3, 2)


def test_a_changed_local_value_is_undeclared_again(fund: Catalog, db_session: Session) -> None:
    variance = std.propose_variance(
        db_session=db_session, actor=admin("500000"), basic_code=FUND, region_code="500103",
        key="time_limit.promised_days", reason="提速", legal_basis="条例")
    std.decide_variance(db_session=db_session, actor=admin("500000"), variance_id=variance.id,
                        action="approve")
    code = code_of(CQ_HF, 3, FUND)
    service.update_draft(db_session=db_session, actor=SYSTEM_ACTOR, implementation_code=code,
                         data=DraftIn(name="住房公积金提取(重庆)", form_schema=FORM,
                                      guide=Guide.model_validate(guide(promised_days=1))))
    service.publish(db_session=db_session, actor=SYSTEM_ACTOR, implementation_code=code)
    [d] = differences(db_session, "500103")
    assert d.local == 1 and not d.declared


def test_the_proposer_cannot_approve_and_a_city_admin_cannot_approve(
        fund: Catalog, db_session: Session) -> None:
    proposer = admin("500000")
    variance = std.propose_variance(
        db_session=db_session, actor=proposer, basic_code=FUND, region_code="500103",
        key="time_limit.promised_days", reason="提速", legal_basis="条例")
    with pytest.raises(Forbidden):
        std.decide_variance(db_session=db_session, actor=proposer, variance_id=variance.id,
                            action="approve")
    with pytest.raises(Forbidden):
        std.decide_variance(db_session=db_session, actor=admin("500100"),
                            variance_id=variance.id, action="approve")
    with pytest.raises(Forbidden):  # 四川 keeps no standard over 重庆
        std.decide_variance(db_session=db_session, actor=admin("510000"),
                            variance_id=variance.id, action="approve")
    with pytest.raises(InvalidInput):
        std.decide_variance(db_session=db_session, actor=admin("500000"),
                            variance_id=variance.id, action="reject")  # no reason
    std.decide_variance(db_session=db_session, actor=admin("500000"), variance_id=variance.id,
                        action="reject", note="依据不足")
    with pytest.raises(Conflict):
        std.decide_variance(db_session=db_session, actor=admin("500000"),
                            variance_id=variance.id, action="approve")


def test_only_a_real_difference_can_be_declared_and_only_once(fund: Catalog,
                                                              db_session: Session) -> None:
    with pytest.raises(InvalidInput) as err:
        std.propose_variance(db_session=db_session, actor=admin("510100"), basic_code=FUND,
                             region_code="510100", key="time_limit.promised_days",
                             reason="x", legal_basis="y")
    assert err.value.details == {"field": "key", "value": "time_limit.promised_days"}
    with pytest.raises(InvalidInput):
        std.propose_variance(db_session=db_session, actor=admin("500000"), basic_code=FUND,
                             region_code="500103", key="time_limit.promised_days",
                             reason=" ", legal_basis="")
    std.propose_variance(db_session=db_session, actor=admin("500000"), basic_code=FUND,
                         region_code="500103", key="time_limit.promised_days", reason="提速",
                         legal_basis="条例")
    with pytest.raises(Conflict):
        std.propose_variance(db_session=db_session, actor=admin("500000"), basic_code=FUND,
                             region_code="500103", key="time_limit.promised_days",
                             reason="提速", legal_basis="条例")
    with pytest.raises(Forbidden):
        std.propose_variance(db_session=db_session, actor=admin("510100"), basic_code=FUND,
                             region_code="500103", key="time_limit.promised_days",
                             reason="提速", legal_basis="条例")
    assert db_session.scalar(select(func.count()).select_from(Variance)) == 1


def test_standard_guides_are_versioned_not_overwritten(fund: Catalog,
                                                       db_session: Session) -> None:
    row = std.put_standard_guide(db_session=db_session, actor=SYSTEM_ACTOR, basic_code=FUND,
                                 guide=standard_of(promised_days=2), note="提速")
    assert row.version == 2
    assert std.get_standard_guide(db_session=db_session, basic_code=FUND).guide[
        "promised_days"] == 2
    assert differences(db_session, "500103") == []  # 重庆 now follows the standard
    with pytest.raises(Forbidden):
        std.put_standard_guide(db_session=db_session, actor=admin("510100"), basic_code=FUND,
                               guide=standard_of())


def test_conformance_per_region_and_overall(fund: Catalog, db_session: Session) -> None:
    scores = {r.region_code: r for r in std.region_scores(std.conformance(
        db_session=db_session))}
    assert (scores["500103"].score, scores["500103"].undeclared) == (87.5, 1)
    assert scores["510100"].score == 100.0


# ------------------------------------------------------------------ over HTTP


@pytest.fixture
def api(client: TestClient, fund: Catalog, db_session: Session) -> TestClient:
    db_session.commit()
    return client


def test_api_diff_declare_approve_and_reports(api: TestClient) -> None:
    diff = api.get(f"{API}/standard/items/{FUND}/diff", params={"region": ["500000"]}).json()
    [column] = diff["columns"]
    assert column["score"] == 87.5
    assert column["differences"][0]["key"] == "time_limit.promised_days"

    body = {"basic_code": FUND, "region_code": "500103", "key": "time_limit.promised_days",
            "reason": "提速", "legal_basis": "《重庆市优化营商环境条例》"}
    assert api.post(f"{API}/standard/variances", json=body).status_code == 401
    act_as(api, admin("500000"))
    created = api.post(f"{API}/standard/variances", json=body)
    assert created.status_code == 201 and created.json()["state"] == "proposed"
    act_as(api, admin("500000"))  # another account of the same scope
    approved = api.post(f"{API}/standard/variances/{created.json()['id']}/approve", json={})
    assert approved.status_code == 200 and approved.json()["state"] == "approved"
    assert approved.json()["approver"] == "admin-500000"

    report = api.get(f"{API}/standard/conformance", params={"items": "true"}).json()
    assert report["overall"] == 100.0
    xlsx = api.get(f"{API}/standard/conformance", params={"format": "xlsx"})
    book = load_workbook(io.BytesIO(xlsx.content))
    assert book.sheetnames == ["地区得分", "事项得分", "差异明细"]
    detail = [list(r) for r in book["差异明细"].iter_rows(values_only=True)]
    assert detail[1][6] == "time_limit.promised_days" and detail[1][10] == "是"
    per_item = api.get(f"{API}/standard/items/{FUND}/diff", params={"format": "xlsx"})
    assert per_item.headers["content-type"].startswith("application/vnd.openxmlformats")


def test_api_bad_variance_requests(api: TestClient) -> None:
    act_as(api, admin("500000"))
    missing = api.post(f"{API}/standard/variances", json={
        "basic_code": FUND, "region_code": "500103", "key": "fees.amount:x",
        "reason": "r", "legal_basis": "b"})
    assert missing.status_code == 422 and missing.json()["details"]["field"] == "key"
    unknown = api.post(f"{API}/standard/variances/{uuid.uuid4()}/approve", json={})
    assert unknown.status_code == 404
    wrong = api.post(f"{API}/standard/variances/{uuid.uuid4()}/bless", json={})
    assert wrong.status_code == 422
    assert api.get(f"{API}/items/000102002000/standard-guide").status_code == 404
