"""Catalog rules: regions, departments, items, implementations and their versions."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.catalog.conftest import (
    CHENGDU_HF,
    CQ_HF,
    FORM,
    WUHOU_HR,
    Catalog,
    admin,
    code_of,
    guide,
)
from tongban.audit.models import AuditEntry
from tongban.catalog import service
from tongban.catalog.models import ImplementationVersion, Region, SearchEntry, VersionState
from tongban.catalog.schemas import DepartmentIn, DraftIn, ImplementationIn, ItemIn, ItemUpdate
from tongban.errors import Conflict, Forbidden, InvalidInput, NotFound
from tongban.identity.actor import SYSTEM_ACTOR
from tongban.identity.ids import make_uscc

HF_CODE = code_of(CHENGDU_HF, 3, "000101001000")


# ------------------------------------------------------------------ regions


def test_region_has_parent_chain_and_children(catalog: Catalog, db_session: Session) -> None:
    catalog.regions()
    detail = service.get_region(db_session=db_session, region_code="510100")
    assert [r.code for r in detail.parents] == ["100000", "510000"]
    assert [r.code for r in detail.children] == ["510104", "510107"]


def test_unknown_region_is_not_found(catalog: Catalog, db_session: Session) -> None:
    catalog.regions()
    with pytest.raises(NotFound) as err:
        service.ensure_region_exists(db_session=db_session, region_code="999999")
    assert err.value.details["field"] == "region_code"


def test_load_regions_upserts_and_is_idempotent(db_session: Session, tmp_path: Path) -> None:
    csv = tmp_path / "regions.csv"
    csv.write_text("# source: test\ncode,name,level,parent_code\n100000,全国,1,\n"
                   "510100,成都市,3,510000\n510000,四川省,2,100000\n", encoding="utf-8")
    first = service.load_regions(db_session=db_session, path=csv)
    second = service.load_regions(db_session=db_session, path=csv)
    assert first == {"inserted": 3, "updated": 0, "unchanged": 0}
    assert second == {"inserted": 0, "updated": 0, "unchanged": 3}
    csv.write_text("code,name,level,parent_code\n510100,成都,3,510000\n", encoding="utf-8")
    assert service.load_regions(db_session=db_session, path=csv)["updated"] == 1
    assert db_session.get(Region, "510100").name == "成都"  # type: ignore[union-attr]


def test_load_regions_rejects_bad_rows_with_line_numbers(db_session: Session,
                                                         tmp_path: Path) -> None:
    csv = tmp_path / "regions.csv"
    csv.write_text("# c\ncode,name,level,parent_code\n51x000,四川省,2,\n510100,成都市,three,\n",
                   encoding="utf-8")
    with pytest.raises(InvalidInput) as err:
        service.load_regions(db_session=db_session, path=csv)
    assert [(d["row"], d["field"]) for d in err.value.details] == [(3, "code"), (4, "level")]
    assert db_session.scalar(select(func.count()).select_from(Region)) == 0


def test_shipped_regions_table_loads(db_session: Session) -> None:
    if not service.DEFAULT_REGIONS_CSV.exists():
        pytest.skip("regions.csv not shipped yet")
    counts = service.load_regions(db_session=db_session)
    assert counts["inserted"] > 3000
    chain = service.region_chain(db_session=db_session, region_code="510107")
    assert [r.name for r in chain][-2:] == ["成都市", "武侯区"]


# ------------------------------------------------------------------ departments


def test_department_needs_a_valid_credit_code() -> None:
    with pytest.raises(ValueError, match="credit code"):
        DepartmentIn(name="x", region_code="510100", credit_code=CHENGDU_HF[:-1] + "0", level=3)


def test_department_in_unknown_region_is_refused(catalog: Catalog) -> None:
    catalog.regions()
    with pytest.raises(NotFound):
        catalog.department(make_uscc("1", "1", "510199", "MB999999"), "510199", "无名局")


def test_duplicate_credit_code_conflicts(catalog: Catalog, db_session: Session) -> None:
    catalog.regions()
    catalog.department(CHENGDU_HF, "510100", "成都住房公积金管理中心")
    with pytest.raises(Conflict):
        catalog.department(CHENGDU_HF, "510100", "again")
    found = service.get_department_by_credit_code(db_session=db_session,
                                                  credit_code=CHENGDU_HF.lower())
    assert found.name == "成都住房公积金管理中心"


def test_list_departments_includes_sub_regions(standard: Catalog, db_session: Session) -> None:
    rows, cursor = service.list_departments(db_session=db_session, region_code="510000")
    assert {d.credit_code for d in rows} == {CHENGDU_HF, WUHOU_HR}
    assert cursor is None
    page, cursor = service.list_departments(db_session=db_session, limit=1)
    assert len(page) == 1 and cursor is not None


def test_department_scope_is_checked(catalog: Catalog, db_session: Session) -> None:
    catalog.regions()
    data = DepartmentIn(name="重庆局", region_code="500103", credit_code=CQ_HF, level=3)
    with pytest.raises(Forbidden):
        service.create_department(db_session=db_session, actor=admin("510000"), data=data)
    dept = service.create_department(db_session=db_session, actor=admin("500000"), data=data)
    assert dept.region_code == "500103"


# ------------------------------------------------------------------ items


@pytest.mark.parametrize("field, value", [
    ("basic_code", "00010100100"), ("basic_code", "00010100100a"),
    ("item_type", "行政审批"), ("use_levels", [0, 3]), ("use_levels", [7]),
])
def test_bad_item_fields_are_rejected(field: str, value: object) -> None:
    data = {"basic_code": "000101001000", "name": "住房公积金提取", "item_type": "公共服务",
            "use_levels": [3], field: value}
    with pytest.raises(ValueError, match=field):
        ItemIn.model_validate(data)


def test_item_is_searchable_by_pinyin(catalog: Catalog, db_session: Session) -> None:
    catalog.item("000101001000", "住房公积金提取")
    catalog.item("000102002000", "社会保障卡申领")
    for q in ("公积金", "gjj", "gongjijin", "zfgjjtq"):
        rows, _ = service.list_items(db_session=db_session, q=q)
        assert [i.basic_code for i in rows] == ["000101001000"], q


def test_standard_items_need_a_province_wide_admin(catalog: Catalog,
                                                   db_session: Session) -> None:
    data = ItemIn(basic_code="000101001000", name="住房公积金提取", item_type="公共服务",
                  use_levels=[3])
    with pytest.raises(Forbidden):
        service.create_item(db_session=db_session, actor=admin("510100"), data=data)
    item = service.create_item(db_session=db_session, actor=admin("510000"), data=data)
    with pytest.raises(Conflict):
        service.create_item(db_session=db_session, actor=admin("510000"), data=data)
    assert item.name_initials == "zfgjjtq"


def test_renaming_an_item_updates_search(standard: Catalog, db_session: Session) -> None:
    service.update_item(db_session=db_session, actor=SYSTEM_ACTOR, basic_code="000101001000",
                        data=ItemUpdate(name="住房公积金支取"))
    hits = service.search(db_session=db_session, q="支取").items
    assert {h.item_name for h in hits} == {"住房公积金支取"}


# ------------------------------------------------------------------ implementation codes


def _impl(**over: object) -> ImplementationIn:
    data = {"basic_code": "000101001000", "department_credit_code": CHENGDU_HF,
            "region_code": "510100", "level": 3, "name": "住房公积金提取(成都)",
            "guide": guide(), "form_schema": FORM}
    data.update(over)
    return ImplementationIn.model_validate(data)


def test_implementation_code_is_derived(catalog: Catalog, db_session: Session) -> None:
    catalog.regions()
    catalog.department(CHENGDU_HF, "510100", "成都住房公积金管理中心")
    catalog.item("000101001000", "住房公积金提取")
    version = service.create_draft(db_session=db_session, actor=SYSTEM_ACTOR, data=_impl())
    assert version.implementation_code == HF_CODE
    assert len(HF_CODE) == 31
    assert version.state == VersionState.draft and version.version == 1


@pytest.mark.parametrize("given, part", [
    (code_of(CQ_HF, 3, "000101001000"), "1-18"),
    (code_of(CHENGDU_HF, 4, "000101001000"), "19"),
    (code_of(CHENGDU_HF, 3, "000102002000"), "20-31"),
    (HF_CODE[:-1], "31"),
])
def test_mismatched_implementation_code_names_the_part(
    catalog: Catalog, db_session: Session, given: str, part: str
) -> None:
    catalog.regions()
    catalog.department(CHENGDU_HF, "510100", "成都住房公积金管理中心")
    catalog.item("000101001000", "住房公积金提取")
    with pytest.raises(InvalidInput) as err:
        service.create_draft(db_session=db_session, actor=SYSTEM_ACTOR,
                             data=_impl(implementation_code=given))
    assert part in err.value.message
    assert err.value.details[0]["field"] == "implementation_code"


def test_implementation_region_must_lie_under_the_department(
    catalog: Catalog, db_session: Session
) -> None:
    catalog.regions()
    catalog.department(CHENGDU_HF, "510100", "成都住房公积金管理中心")
    catalog.item("000101001000", "住房公积金提取")
    with pytest.raises(InvalidInput) as err:
        service.create_draft(db_session=db_session, actor=SYSTEM_ACTOR,
                             data=_impl(region_code="500103"))
    assert err.value.details[0]["field"] == "region_code"
    version = service.create_draft(db_session=db_session, actor=SYSTEM_ACTOR,
                                   data=_impl(region_code="510107"))
    assert version.implementation.region_code == "510107"


def test_level_must_be_among_the_items_use_levels(catalog: Catalog,
                                                  db_session: Session) -> None:
    catalog.regions()
    catalog.department(CHENGDU_HF, "510100", "成都住房公积金管理中心")
    catalog.item("000101001000", "住房公积金提取", use_levels=[4])
    with pytest.raises(InvalidInput) as err:
        service.create_draft(db_session=db_session, actor=SYSTEM_ACTOR, data=_impl())
    assert err.value.details[0]["field"] == "level"


@pytest.mark.parametrize("schema", [{"type": "objekt"}, {"properties": 5}, {"type": "array"}])
def test_form_schema_must_be_valid_json_schema(catalog: Catalog, db_session: Session,
                                               schema: dict[str, object]) -> None:
    catalog.regions()
    catalog.department(CHENGDU_HF, "510100", "成都住房公积金管理中心")
    catalog.item("000101001000", "住房公积金提取")
    with pytest.raises(InvalidInput) as err:
        service.create_draft(db_session=db_session, actor=SYSTEM_ACTOR,
                             data=_impl(form_schema=schema))
    assert err.value.details[0]["field"] == "form_schema"


# ------------------------------------------------------------------ guide validation


@pytest.mark.parametrize("overrides, field", [
    ({"promised_days": 6}, "promised_days"),
    ({"item_kind": "immediate"}, "promised_days"),
    ({"online_depth": 5}, "online_depth"),
    ({"online_depth": 3}, "cross_region_modes"),
    ({"handling_forms": ["fax"]}, "handling_forms"),
    ({"cross_region_modes": ["teleport"]}, "cross_region_modes"),
    ({"item_kind": "someday"}, "item_kind"),
    ({"fees": [{"name": "工本费", "amount": "-1"}]}, "amount"),
    ({"fees": [{"name": "工本费", "amount": 1.5}]}, "amount"),
    ({"materials": [{"code": "M1", "name": "x", "key": True, "deficiency_allowed": True}]},
     "deficiency_allowed"),
    ({"materials": [{"code": "M1", "name": "x", "source": "licence"}]}, "licence_type"),
    ({"materials": [{"code": "M1", "name": "x"}, {"code": "M1", "name": "y"}]}, "materials"),
    ({"result": {"name": "营业执照", "kind": "licence"}}, "licence_type"),
    ({"surprise": 1}, "surprise"),
])
def test_bad_guides_are_rejected_naming_the_field(overrides: dict[str, object],
                                                  field: str) -> None:
    with pytest.raises(ValueError) as err:
        _impl(guide=guide(**overrides))
    assert field in str(err.value)


def test_fee_amounts_are_decimal_strings() -> None:
    data = _impl(guide=guide(fees=[{"name": "工本费", "amount": "20.50"}]))
    assert data.guide.model_dump(mode="json")["fees"][0]["amount"] == "20.50"


# ------------------------------------------------------------------ versions


def _draft(name: str, **overrides: object) -> DraftIn:
    return DraftIn(name=name, guide=guide(**overrides), form_schema=FORM)  # type: ignore[arg-type]


def test_publish_supersedes_the_previous_version(standard: Catalog, db_session: Session) -> None:
    first = service.get_current_version(db_session=db_session, implementation_code=HF_CODE)
    draft = service.update_draft(db_session=db_session, actor=SYSTEM_ACTOR,
                                 implementation_code=HF_CODE,
                                 data=_draft("住房公积金提取(成都)", promised_days=1))
    assert (draft.version, draft.state) == (2, VersionState.draft)
    # Applicants still see version 1 until the draft is published.
    assert service.get_current_version(db_session=db_session,
                                       implementation_code=HF_CODE).id == first.id
    published = service.publish(db_session=db_session, actor=SYSTEM_ACTOR,
                                implementation_code=HF_CODE)
    assert published.id == draft.id and published.published_at is not None
    assert first.state == VersionState.superseded
    assert first.promised_days == 3 and first.guide["promised_days"] == 3
    current = service.get_current_version(db_session=db_session, implementation_code=HF_CODE)
    assert (current.version, current.promised_days) == (2, 1)
    assert [v.state for v in service.list_versions(
        db_session=db_session, implementation_code=HF_CODE)] == ["superseded", "published"]
    assert service.get_version(db_session=db_session, version_id=first.id).version == 1


def test_editing_the_draft_twice_keeps_one_draft(standard: Catalog, db_session: Session) -> None:
    for days in (2, 1):
        service.update_draft(db_session=db_session, actor=SYSTEM_ACTOR,
                             implementation_code=HF_CODE,
                             data=_draft("住房公积金提取(成都)", promised_days=days))
    versions = service.list_versions(db_session=db_session, implementation_code=HF_CODE)
    assert [(v.version, v.state, v.promised_days) for v in versions] == [
        (1, "published", 3), (2, "draft", 1)]
    public = service.list_versions(db_session=db_session, implementation_code=HF_CODE,
                                   include_drafts=False)
    assert [v.version for v in public] == [1]


def test_a_published_version_cannot_be_edited(standard: Catalog, db_session: Session) -> None:
    version = service.get_current_version(db_session=db_session, implementation_code=HF_CODE)
    db_session.commit()
    version.guide = {**version.guide, "promised_days": 0}
    version.promised_days = 0
    with pytest.raises(Conflict) as err:
        db_session.flush()
    assert set(err.value.details["fields"]) == {"guide", "promised_days"}
    db_session.rollback()
    stored = service.get_current_version(db_session=db_session, implementation_code=HF_CODE)
    assert stored.promised_days == 3 and stored.guide["promised_days"] == 3


def test_a_published_version_cannot_be_deleted(standard: Catalog, db_session: Session) -> None:
    version = service.get_current_version(db_session=db_session, implementation_code=HF_CODE)
    db_session.delete(version)
    with pytest.raises(Conflict):
        db_session.flush()


def test_publishing_without_a_draft_conflicts(standard: Catalog, db_session: Session) -> None:
    with pytest.raises(Conflict):
        service.publish(db_session=db_session, actor=SYSTEM_ACTOR, implementation_code=HF_CODE)


def test_withdraw_removes_from_search_and_guide(standard: Catalog, db_session: Session) -> None:
    version = service.withdraw(db_session=db_session, actor=SYSTEM_ACTOR,
                               implementation_code=HF_CODE, reason="机构调整")
    assert version.state == VersionState.withdrawn
    assert db_session.scalar(select(func.count()).select_from(SearchEntry).where(
        SearchEntry.implementation_code == HF_CODE)) == 0
    with pytest.raises(NotFound):
        service.guide(db_session=db_session, implementation_code=HF_CODE)
    with pytest.raises(NotFound):
        service.withdraw(db_session=db_session, actor=SYSTEM_ACTOR, implementation_code=HF_CODE)
    # A new draft can bring it back.
    service.update_draft(db_session=db_session, actor=SYSTEM_ACTOR, implementation_code=HF_CODE,
                         data=_draft("住房公积金提取(成都)"))
    back = service.publish(db_session=db_session, actor=SYSTEM_ACTOR,
                           implementation_code=HF_CODE)
    assert back.version == 2
    assert service.get_version(db_session=db_session, version_id=version.id).state == "withdrawn"


def test_implementation_scope_follows_the_region(standard: Catalog,
                                                 db_session: Session) -> None:
    chongqing, chengdu = admin("500000"), admin("510100")
    for action in (service.publish, service.withdraw):
        with pytest.raises(Forbidden):
            action(db_session=db_session, actor=chongqing, implementation_code=HF_CODE)
    with pytest.raises(Forbidden):
        service.update_draft(db_session=db_session, actor=chongqing,
                             implementation_code=HF_CODE, data=_draft("x"))
    service.update_draft(db_session=db_session, actor=chengdu, implementation_code=HF_CODE,
                         data=_draft("住房公积金提取(成都)"))
    service.publish(db_session=db_session, actor=chengdu, implementation_code=HF_CODE)


def test_department_scoped_admin_only_edits_that_department(
    standard: Catalog, db_session: Session
) -> None:
    hr = service.get_department_by_credit_code(db_session=db_session, credit_code=WUHOU_HR)
    hf = service.get_department_by_credit_code(db_session=db_session, credit_code=CHENGDU_HF)
    with pytest.raises(Forbidden):
        service.update_draft(db_session=db_session, actor=admin("510000", hr.id),
                             implementation_code=HF_CODE, data=_draft("x"))
    service.update_draft(db_session=db_session, actor=admin("510000", hf.id),
                         implementation_code=HF_CODE, data=_draft("住房公积金提取(成都)"))


def test_every_write_is_audited(standard: Catalog, db_session: Session) -> None:
    actions = set(db_session.scalars(select(AuditEntry.action)))
    assert {"catalog.department.create", "catalog.item.create",
            "catalog.implementation.create", "catalog.implementation.publish"} <= actions


def test_service_never_commits(catalog: Catalog, db_session: Session) -> None:
    catalog.standard()
    db_session.rollback()
    assert db_session.scalar(select(func.count()).select_from(ImplementationVersion)) == 0


# ------------------------------------------------------------------ guide


def test_guide_has_everything_on_one_page(standard: Catalog, db_session: Session) -> None:
    page = service.guide(db_session=db_session, implementation_code=HF_CODE)
    assert page.item.name == "住房公积金提取"
    assert page.department.credit_code == CHENGDU_HF
    assert [r.name for r in page.region_chain] == ["全国", "四川省", "成都市"]
    assert page.guide.materials[0].licence_type == "居民身份证"
    assert page.form_schema == FORM and page.version == 1


def test_case_engine_reads_versions(standard: Catalog, db_session: Session) -> None:
    current = service.get_current_version(db_session=db_session, implementation_code=HF_CODE)
    assert current.implementation_code == HF_CODE
    assert current.guide["materials"][0]["code"] == "M1"
    with pytest.raises(NotFound):
        service.get_current_version(db_session=db_session, implementation_code="X" * 31)


def test_published_guides_lists_a_regions_published_implementations_and_below(
    standard: Catalog, db_session: Session
) -> None:
    standard.item("000104004000", "草稿事项")
    standard.implementation("000104004000", CHENGDU_HF, "510100", "草稿(成都)", publish=False)
    sichuan = service.published_guides(db_session=db_session, region_code="510000")
    assert [code for code, _ in sichuan] == sorted([
        code_of(CHENGDU_HF, 3, "000101001000"), code_of(WUHOU_HR, 4, "000102002000")])
    assert all(guide["legal_days"] == 5 for _, guide in sichuan)
    assert len(service.published_guides(db_session=db_session, region_code="100000")) == 4
    assert service.published_guides(db_session=db_session, region_code="110000") == []
