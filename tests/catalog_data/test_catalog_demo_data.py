"""The demo catalog (catalog/demo_data.py): believable, valid and deterministic."""

from __future__ import annotations

import csv
import json
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from pydantic import ValidationError

from tongban.catalog import demo_data
from tongban.catalog.models import ItemType
from tongban.catalog.schemas import DepartmentIn, Guide, ImportImplementation, ItemIn
from tongban.identity.ids import validate_uscc

TABLE = Path(demo_data.__file__).parent / "data" / "regions.csv"


@cache
def doc() -> dict[str, Any]:
    return demo_data.build_demo_catalog()


@cache
def region_levels() -> dict[str, int]:
    with TABLE.open(encoding="utf-8") as fh:
        reader = csv.DictReader(line for line in fh if not line.startswith("#"))
        return {r["code"]: int(r["level"]) for r in reader}


def implementations() -> list[dict[str, Any]]:
    return list(doc()["implementations"])


def test_two_builds_are_equal() -> None:
    assert demo_data.build_demo_catalog() == demo_data.build_demo_catalog()


def test_document_has_the_exchange_format() -> None:
    assert doc()["format"] == "tongban-catalog/1"
    assert set(doc()) == {"format", "departments", "items", "implementations"}


def test_at_least_110_items_with_unique_12_character_codes() -> None:
    codes = [i["basic_code"] for i in doc()["items"]]
    assert len(codes) >= 110
    assert len(set(codes)) == len(codes)
    assert all(len(c) == 12 and c.isdigit() and c.startswith("00") for c in codes)


def test_basic_code_carries_the_item_type() -> None:
    type_codes = {name: code for name, code in demo_data.ITEM_TYPES.values()}
    for item in doc()["items"]:
        assert item["basic_code"][4:6] == type_codes[item["item_type"]], item["name"]


def test_every_item_is_a_valid_standard_item() -> None:
    for item in doc()["items"]:
        ItemIn.model_validate(item)
        assert item["item_type"] in {t.value for t in ItemType}
        assert item["legal_basis"].startswith("《"), item["name"]
        assert item["topics"], item["name"]
    assert len({i["name"] for i in doc()["items"]}) == len(doc()["items"])


@pytest.mark.parametrize("name", [
    "购买自住住房提取住房公积金", "住房公积金个人住房贷款", "正常缴存住房公积金证明出具",
    "社会保障卡申领", "社会保障卡补领", "居住证申领", "有限责任公司设立登记",
    "公司名称变更登记", "公司注销登记", "出生登记", "出生医学证明首次签发", "户口迁出",
    "夫妻投靠户口迁入", "机动车驾驶证有效期满换证", "机动车驾驶证遗失补证",
    "企业职工基本养老保险关系转移接续(转出)", "企业职工基本养老保险关系转移接续(转入)",
    "基本医疗保险关系转移接续", "异地长期居住人员异地就医备案", "内地居民结婚登记", "失业登记",
    "就业创业证申领", "食品经营许可(新办)", "药品零售企业药品经营许可(新办)",
    "建设工程规划许可证核发", "建筑工程施工许可证核发", "公众移动通信基站(5G)无线电台执照核发",
    "道路货物运输经营许可",
])
def test_common_cross_province_items_are_there(name: str) -> None:
    assert name in {i["name"] for i in doc()["items"]}


def test_departments_have_valid_unique_credit_codes_in_their_region() -> None:
    depts = doc()["departments"]
    codes = [d["credit_code"] for d in depts]
    assert len(set(codes)) == len(codes)
    for dept in depts:
        DepartmentIn.model_validate(dept)
        assert validate_uscc(dept["credit_code"]) == dept["credit_code"]
        assert dept["credit_code"][2:8] == dept["region_code"]
        assert region_levels()[dept["region_code"]] == dept["level"]
    assert len({d["name"] for d in depts}) == len(depts)


def test_departments_cover_the_six_cities_and_their_kinds() -> None:
    by_region = Counter(d["region_code"] for d in doc()["departments"])
    for city in ("510100", "500000", "310000", "320100", "330100", "340100"):
        assert by_region[city] >= 10
    kinds = {d["kind"] for d in doc()["departments"]}
    assert {"市场监管", "公安", "人力资源和社会保障", "住房公积金管理中心", "卫生健康", "民政",
            "医疗保障", "交通运输", "住房和城乡建设", "政务服务管理"} <= kinds
    names = {d["name"] for d in doc()["departments"]}
    assert {"成都住房公积金管理中心", "上海市公积金管理中心", "成都市公安局锦江区分局",
            "合肥市市场监督管理局"} <= names


def test_most_items_are_implemented_in_at_least_six_regions() -> None:
    regions_per_item = Counter(i["basic_code"] for i in implementations())
    assert len({i["region_code"] for i in implementations()}) >= 12
    assert all(n >= 6 for n in regions_per_item.values())
    assert set(regions_per_item) == {i["basic_code"] for i in doc()["items"]}


def test_implementation_codes_are_credit_code_level_and_basic_code() -> None:
    depts = {d["credit_code"]: d for d in doc()["departments"]}
    items = {i["basic_code"]: i for i in doc()["items"]}
    codes = []
    for impl in implementations():
        dept = depts[impl["department_credit_code"]]
        assert impl["implementation_code"] == (
            f"{dept['credit_code']}{impl['level']}{impl['basic_code']}")
        assert impl["level"] == dept["level"] and impl["region_code"] == dept["region_code"]
        assert impl["level"] in items[impl["basic_code"]]["use_levels"]
        codes.append(impl["implementation_code"])
    assert len(set(codes)) == len(codes)
    assert all(len(c) == 31 for c in codes)


def test_every_guide_passes_the_catalog_guide_model() -> None:
    for impl in implementations():
        try:
            Guide.model_validate(impl["guide"])
            ImportImplementation.model_validate(impl)
        except ValidationError as exc:  # pragma: no cover - shows which one
            pytest.fail(f"{impl['implementation_code']} {impl['name']}: {exc}")


def test_guides_keep_their_time_limits_and_steps_consistent() -> None:
    for impl in implementations():
        guide = impl["guide"]
        assert 0 <= guide["promised_days"] <= guide["legal_days"], impl["name"]
        assert sum(s["days"] for s in guide["steps"]) == guide["promised_days"], impl["name"]
        assert (guide["item_kind"] == "immediate") == (guide["promised_days"] == 0)
        assert guide["window_address"] and guide["window_phone"] and guide["office_hours"]


def test_some_items_are_immediate() -> None:
    immediate = {i["name"] for i in implementations() if i["guide"]["item_kind"] == "immediate"}
    assert any(name.startswith("内地居民结婚登记") for name in immediate)
    assert len({n.split("(")[0] for n in immediate}) >= 5


def test_materials_use_every_source_with_their_references() -> None:
    sources: Counter[str] = Counter()
    licence_types, datasets = set(), set()
    for impl in implementations():
        for m in impl["guide"]["materials"]:
            sources[m["source"]] += 1
            if m["source"] == "licence":
                licence_types.add(m["licence_type"])
            if m["source"] == "shared_data":
                datasets.add(m["dataset"])
            assert not (m["key"] and m["deficiency_allowed"])
    assert set(sources) == {"upload", "licence", "shared_data"}
    assert {"居民身份证", "营业执照", "居住证", "出生医学证明", "结婚证", "社会保障卡",
            "机动车驾驶证", "住房公积金缴存证明"} <= licence_types
    assert {"人口库", "法人库", "社保参保信息"} <= datasets


def test_driving_licence_reissue_charges_its_10_yuan_fee() -> None:
    impl = next(i for i in implementations() if i["name"] == "机动车驾驶证遗失补证(成都)")
    basis = demo_data.FEES["driving_licence"][2]
    assert impl["guide"]["fees"] == [
        {"name": "机动车驾驶证工本费", "amount": "10.00", "basis": basis}]
    free = [i for i in implementations() if not i["guide"]["fees"]]
    assert len(free) > 0.8 * len(implementations())


def test_items_that_issue_an_e_licence_name_its_type() -> None:
    results = {i["name"]: i["guide"]["result"] for i in implementations()}
    assert results["有限责任公司设立登记(杭州)"] == {
        "name": "营业执照", "kind": "licence", "licence_type": "营业执照"}
    assert results["内地居民结婚登记(浦东新区)"]["licence_type"] == "结婚证"


def test_every_form_schema_is_valid_draft_2020_12_with_chinese_titles() -> None:
    distinct = {json.dumps(i["form_schema"], sort_keys=True) for i in implementations()}
    assert len(distinct) >= len(doc()["items"])  # one per item at least; check each once
    for text in distinct:
        schema = json.loads(text)
        Draft202012Validator.check_schema(schema)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert all(any("\u4e00" <= c <= "\u9fff" for c in p["title"])
                   for p in schema["properties"].values())


def test_a_form_accepts_a_good_application_and_rejects_a_bad_one() -> None:
    impl = next(i for i in implementations() if i["name"] == "租赁住房提取住房公积金(成都)")
    validator = Draft202012Validator(impl["form_schema"],
                                     format_checker=Draft202012Validator.FORMAT_CHECKER)
    good = {"applicant_name": "张三", "id_number": "11010519491231002X",
            "phone": "13800138000", "address": "成都市锦江区春熙路1号", "bank_account":
            "6222020000000000000", "bank_name": "中国工商银行成都分行", "house_address":
            "成都市武侯区人民南路四段1号", "rent_monthly": 2500, "withdraw_amount": 7500}
    assert list(validator.iter_errors(good)) == []
    bad = {**good, "id_number": "11010519491231002", "phone": "2800"}
    assert {e.path[0] for e in validator.iter_errors(bad)} == {"id_number", "phone"}


def _guide(basic_code: str, region: str) -> dict[str, Any]:
    return next(i["guide"] for i in implementations()
                if i["basic_code"] == basic_code and i["region_code"] == region)


def test_shanghai_promises_3_days_where_chengdu_promises_5_for_withdrawal() -> None:
    assert _guide("000108005001", "310000")["promised_days"] == 3
    assert _guide("000108005001", "510100")["promised_days"] == 5


def test_every_local_difference_changes_the_local_guide() -> None:
    for rule in demo_data.LOCAL_DIFFERENCES:
        item = demo_data.ITEMS_BY_CODE[rule.basic_code]
        local = _guide(rule.basic_code, rule.region_code)
        region = next(r for r in (*demo_data.CITIES, *(c for c, _, _ in demo_data.COUNTIES))
                      if r.code == rule.region_code)
        assert local != demo_data.build_guide(item, region), rule
        assert bool(rule.legal_basis) == bool(rule.approver), rule


def test_the_standard_guide_is_the_guide_without_its_window() -> None:
    from tongban.catalog.schemas import StandardGuide

    for item in demo_data.ITEMS:
        standard = StandardGuide.model_validate(demo_data.build_standard_guide(item))
        assert standard.promised_days == item.promised_days
        assert standard.competent_department


def test_demo_regions_exist_in_the_shipped_table() -> None:
    known = region_levels()
    for impl in implementations():
        assert known[impl["region_code"]] == impl["level"]
