"""Search: Chinese substrings, full pinyin, initials, filters, ranking and paging."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from tests.catalog.conftest import CHENGDU_HF, CQ_HF, Catalog, code_of
from tongban.catalog import service
from tongban.errors import InvalidInput, NotFound

HF_CODE = code_of(CHENGDU_HF, 3, "000101001000")


def names(db_session: Session, q: str | None, **filters: object) -> list[str]:
    return [h.name for h in service.search(db_session=db_session, q=q, **filters).items]


@pytest.mark.parametrize("q", ["公积金", "住房公积金提取", "gjj", "gongjijin", "GJJ", "zfgjj"])
def test_finds_housing_fund_by_chinese_pinyin_and_initials(
    standard: Catalog, db_session: Session, q: str
) -> None:
    assert set(names(db_session, q)) == {"住房公积金提取(成都)", "住房公积金提取(重庆)"}


def test_no_match_is_empty(standard: Catalog, db_session: Session) -> None:
    assert names(db_session, "驾驶证") == []
    assert names(db_session, "jsz") == []


def test_all_terms_must_match(standard: Catalog, db_session: Session) -> None:
    assert names(db_session, "公积金 成都") == ["住房公积金提取(成都)"]
    assert names(db_session, "gjj cq") == ["住房公积金提取(重庆)"]


def test_region_filter_includes_sub_regions(standard: Catalog, db_session: Session) -> None:
    assert set(names(db_session, None, region_code="510000")) == {
        "住房公积金提取(成都)", "社会保障卡申领"}
    assert names(db_session, "gjj", region_code="500000") == ["住房公积金提取(重庆)"]
    assert names(db_session, None, region_code="510107") == ["社会保障卡申领"]
    assert len(names(db_session, None, region_code="100000")) == 4


def test_unknown_region_filter_is_not_found(standard: Catalog, db_session: Session) -> None:
    with pytest.raises(NotFound):
        service.search(db_session=db_session, q="gjj", region_code="999999")


def test_filters_by_department_type_and_applicant(standard: Catalog,
                                                  db_session: Session) -> None:
    dept = service.get_department_by_credit_code(db_session=db_session, credit_code=CQ_HF)
    assert names(db_session, None, department_id=dept.id) == ["住房公积金提取(重庆)"]
    assert names(db_session, None, item_type="行政许可") == ["个体工商户设立登记"]
    assert names(db_session, None, applicant_type="enterprise") == ["个体工商户设立登记"]
    assert len(names(db_session, None, applicant_type="person")) == 3


def test_ranking_exact_then_prefix_then_substring(catalog: Catalog, db_session: Session) -> None:
    catalog.regions()
    catalog.department(CHENGDU_HF, "510100", "成都住房公积金管理中心")
    for code, name in (("000101001001", "提取住房公积金"), ("000101001002", "公积金"),
                       ("000101001003", "公积金贷款")):
        catalog.item(code, name)
        catalog.implementation(code, CHENGDU_HF, "510100", name)
    assert names(db_session, "公积金") == ["公积金", "公积金贷款", "提取住房公积金"]
    assert names(db_session, "gjj") == ["公积金", "公积金贷款", "提取住房公积金"]


def test_popularity_breaks_ties(standard: Catalog, db_session: Session) -> None:
    cq = code_of(CQ_HF, 3, "000101001000")
    service.bump_popularity(db_session=db_session, implementation_code=cq, by=5)
    assert names(db_session, "公积金") == ["住房公积金提取(重庆)", "住房公积金提取(成都)"]
    service.bump_popularity(db_session=db_session, implementation_code=HF_CODE, by=9)
    assert names(db_session, "公积金")[0] == "住房公积金提取(成都)"


def test_paging_with_a_cursor(standard: Catalog, db_session: Session) -> None:
    first = service.search(db_session=db_session, q=None, limit=3)
    assert len(first.items) == 3 and first.next_cursor
    rest = service.search(db_session=db_session, q=None, limit=3, cursor=first.next_cursor)
    assert len(rest.items) == 1 and rest.next_cursor is None
    seen = {h.implementation_code for h in first.items + rest.items}
    assert len(seen) == 4


@pytest.mark.parametrize("kwargs", [{"cursor": "not-a-cursor!"}, {"limit": 0},
                                    {"limit": 1000}])
def test_bad_paging_is_invalid(standard: Catalog, db_session: Session,
                               kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidInput):
        service.search(db_session=db_session, q="gjj", **kwargs)  # type: ignore[arg-type]


def test_like_wildcards_match_literally(standard: Catalog, db_session: Session) -> None:
    assert names(db_session, "%") == []
    assert names(db_session, "_") == []


def test_hit_carries_what_a_list_shows(standard: Catalog, db_session: Session) -> None:
    hit = service.search(db_session=db_session, q="社会保障卡 武侯").items[0]
    assert (hit.region_name, hit.item_type, hit.applicant_types) == (
        "武侯区", "公共服务", ["person"])
    assert hit.department_name == "成都市武侯区人力资源和社会保障局"
