"""Base registries: demo records consistent with identity, imports that write all or
nothing and name row and field, incremental updates with history, sealed personal
fields, and the internal reads the rule engine builds on."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from openpyxl import Workbook
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from tests.pii_scan import database_bytes
from tests.sharing.conftest import World, steward
from tests.sharing.scan import (
    assert_nothing_in_plain,
        registry_secrets,
    scanned_node,
)
from tongban.config import Settings
from tongban.errors import Conflict, Forbidden, InvalidInput
from tongban.identity.models import Enterprise, Person
from tongban.sharing import importer, registries
from tongban.sharing.catalog_data import build_catalog
from tongban.sharing.demo import as_csv
from tongban.sharing.fields import FieldSpec, FieldType, Masking, mask, parse_value
from tongban.sharing.models import ImportBatch, Record


def _import(db: Session, world: World, dataset: str, data: bytes, **kw: object) -> object:
    return importer.import_records(db_session=db, settings=world.settings, actor=steward(),
                                   dataset=dataset, data=data, filename=f"{dataset}.csv", **kw)


def _count(db: Session, *where: object) -> int:
    return int(db.scalar(select(func.count()).select_from(Record).where(*where)) or 0)


def test_every_demo_person_and_enterprise_has_records_consistent_with_identity(
        db_session: Session, world: World) -> None:
    for person in db_session.scalars(select(Person)):
        found = registries.records_of(db_session=db_session, settings=world.settings,
                                      subject_key=person.id_number_hash)
        household = [r for r in found if r.dataset == "population.household"]
        assert len(household) == 1, person.name
        assert household[0].values["name"] == person.name
        assert household[0].values["id_number"] == world.ids[person.name]
        assert household[0].values["birth_date"] == person.birth_date.isoformat()
        assert household[0].source and household[0].as_of
    zhang = db_session.get(Person, world.people["张伟"])
    assert zhang is not None
    for enterprise in db_session.scalars(select(Enterprise)):
        key = registries.enterprise_key(settings=world.settings,
                                        credit_code=enterprise.credit_code)
        [reg] = registries.records_of(db_session=db_session, settings=world.settings,
                                      subject_key=key, datasets=["legal_entity.registration"])
        assert reg.values["name"] == enterprise.name
        assert enterprise.legal_representative_id == zhang.id
        assert reg.values["legal_representative"] == zhang.name
        assert reg.values["legal_representative_id"] == world.ids["张伟"]
    # every registry the issue names has records
    registries_with_records = {d.base_registry for d in registries.list_datasets(
        db_session=db_session) if registries.count_records(db_session=db_session,
                                                           dataset_id=d.id)}
    assert registries_with_records == {
        "population", "legal_entity", "social_insurance", "housing_fund", "credit",
        "real_estate", "vehicle", "income_tax", "disability", "civil_assistance"}


def test_personal_fields_are_sealed_at_rest(engine: Engine, settings: Settings,
                                            tmp_path: Path) -> None:
    with scanned_node(engine, settings, tmp_path) as (eng, db, world):
        db.commit()
        stored = database_bytes(eng)
    assert_nothing_in_plain(stored, registry_secrets(world))
    assert world.ids["张伟"][-4:].encode() in stored  # the masked form is there
    assert b"1420.00" in stored  # plain values stay queryable


def test_a_bad_file_names_row_and_field_and_writes_nothing(
        db_session: Session, world: World) -> None:
    before = _count(db_session)
    batches = db_session.scalar(select(func.count()).select_from(ImportBatch))
    good = {"id_number": world.ids["张伟"], "name": "张伟", "exam_date": "2026-12-01",
            "result": "合格"}
    bad_id = {**good, "id_number": world.ids["张伟"][:17] + "0"}
    bad_date = {**good, "id_number": world.ids["李娜"], "name": "李娜", "exam_date": "昨天"}
    bad_enum = {**good, "id_number": world.ids["王芳"], "name": "王芳", "result": "良好"}
    data = as_csv([good, bad_id, bad_date, bad_enum, good])
    with pytest.raises(InvalidInput) as caught:
        _import(db_session, world, "vehicle.driver_health", data)
    problems = {(p["row"], p["field"]) for p in caught.value.details}
    assert problems == {(3, "id_number"), (4, "exam_date"), (5, "result"), (6, "id_number")}
    assert "第3行" in caught.value.message
    db_session.rollback()
    assert _count(db_session) == before
    assert db_session.scalar(select(func.count()).select_from(ImportBatch)) == batches


@pytest.mark.parametrize(("header", "row", "field"), [
    (["id_number", "name", "colour"], ["x", "y", "z"], "colour"),  # unknown column
    (["name", "exam_date", "result"], ["张伟", "2026-01-01", "合格"], "id_number"),  # missing
    (["id_number", "name", "name"], ["x", "y", "z"], "name"),  # repeated
])
def test_a_bad_header_is_named(db_session: Session, world: World, header: list[str],
                               row: list[str], field: str) -> None:
    data = (",".join(header) + "\n" + ",".join(row) + "\n").encode()
    with pytest.raises(InvalidInput) as caught:
        _import(db_session, world, "vehicle.driver_health", data)
    assert (1, field) in {(p["row"], p["field"]) for p in caught.value.details}


def test_an_update_supersedes_the_record_and_keeps_its_history(
        db_session: Session, world: World) -> None:
    key = db_session.get(Person, world.people["刘洋"]).id_number_hash  # type: ignore[union-attr]
    before = datetime.now(UTC)
    [old] = registries.records_of(db_session=db_session, settings=world.settings,
                                  subject_key=key, datasets=["social_insurance.pension"])
    assert old.values["status"] == "暂停缴费"
    row = {**old.values, "status": "正常参保", "last_paid_month": "2026-11",
           "months_contributed": 211}
    report = _import(db_session, world, "social_insurance.pension", as_csv([row]),
                     source="成都市人社局 社保经办系统", now=before + timedelta(seconds=5))
    assert (report.inserted, report.updated, report.unchanged) == (0, 1, 0)  # type: ignore[attr-defined]
    [new] = registries.records_of(db_session=db_session, settings=world.settings,
                                  subject_key=key, datasets=["social_insurance.pension"])
    assert new.values["status"] == "正常参保" and new.source == "成都市人社局 社保经办系统"
    [then] = registries.records_of(db_session=db_session, settings=world.settings,
                                   subject_key=key, datasets=["social_insurance.pension"],
                                   at=before)
    assert then.values["status"] == "暂停缴费"
    superseded = db_session.get(Record, old.record_id)
    assert superseded is not None and superseded.end_reason == "superseded"
    assert superseded.superseded_by == new.record_id
    # the same file again changes nothing
    again = _import(db_session, world, "social_insurance.pension", as_csv([row]))
    assert (again.updated, again.unchanged) == (0, 1)  # type: ignore[attr-defined]


def test_delete_and_full_imports_end_records(db_session: Session, world: World) -> None:
    dataset = registries.get_dataset(db_session=db_session, code="vehicle.registration")
    assert registries.count_records(db_session=db_session, dataset_id=dataset.id) == 2
    gone = {"_op": "delete", "id_number": world.ids["王芳"], "plate_number": "渝A·8K888"}
    report = _import(db_session, world, "vehicle.registration", as_csv([gone]))
    assert report.deleted == 1  # type: ignore[attr-defined]
    assert registries.count_records(db_session=db_session, dataset_id=dataset.id) == 1
    snapshot = [{"id_number": world.ids["李娜"], "name": "李娜", "plate_number": "川A·N00001",
                 "vehicle_type": "小型汽车"}]
    report = _import(db_session, world, "vehicle.registration", as_csv(snapshot), mode="full")
    assert (report.inserted, report.deleted) == (1, 1)  # type: ignore[attr-defined]
    key = db_session.get(Person, world.people["张伟"]).id_number_hash  # type: ignore[union-attr]
    assert registries.records_of(db_session=db_session, settings=world.settings,
                                 subject_key=key, datasets=["vehicle.registration"]) == []


def test_two_rows_for_one_record_are_refused(db_session: Session, world: World) -> None:
    row = {"id_number": world.ids["张伟"], "name": "张伟", "exam_date": "2026-12-01",
           "result": "合格"}
    with pytest.raises(InvalidInput) as caught:
        _import(db_session, world, "vehicle.driver_health", as_csv([row, row]))
    assert caught.value.details[0]["row"] == 3


def test_excel_and_gb18030_files_with_chinese_headers(db_session: Session,
                                                      world: World) -> None:
    wb = Workbook()
    ws = wb.active
    ws.append(["公民身份号码", "姓名", "体检日期", "体检结论", "数据时间"])
    ws.append([world.ids["李娜"], "李娜", datetime(2026, 10, 1), "合格", "2026-10-02"])
    out = io.BytesIO()
    wb.save(out)
    report = importer.import_records(db_session=db_session, settings=world.settings,
                                     actor=steward(), dataset="vehicle.driver_health",
                                     data=out.getvalue(), filename="体检.xlsx")
    assert report.inserted == 1
    key = db_session.get(Person, world.people["李娜"]).id_number_hash  # type: ignore[union-attr]
    [rec] = registries.records_of(db_session=db_session, settings=world.settings,
                                  subject_key=key, datasets=["vehicle.driver_health"])
    assert rec.values["exam_date"] == "2026-10-01"
    assert rec.as_of == datetime(2026, 10, 2, tzinfo=UTC)
    gbk = f"公民身份号码,姓名,体检日期,体检结论\n{world.ids['王芳']},王芳,2026-10-03,合格\n"
    report = _import(db_session, world, "vehicle.driver_health", gbk.encode("gb18030"))
    assert report.inserted == 1  # type: ignore[attr-defined]


def test_only_a_steward_of_the_owner_imports(db_session: Session, world: World) -> None:
    row = {"id_number": world.ids["张伟"], "name": "张伟", "exam_date": "2026-12-01",
           "result": "合格"}
    with pytest.raises(Forbidden):
        importer.import_records(db_session=db_session, settings=world.settings,
                                actor=steward("320100"), dataset="vehicle.driver_health",
                                data=as_csv([row]), filename="x.csv")
    with pytest.raises(Forbidden):
        importer.import_records(db_session=db_session, settings=world.settings,
                                actor=world.staff("gjj", "reviewer"),
                                dataset="vehicle.driver_health", data=as_csv([row]),
                                filename="x.csv")


def test_bulk_read_gives_columns_of_plain_fields(db_session: Session, world: World) -> None:
    cols = registries.bulk_read(db_session=db_session, dataset="income_tax.annual",
                                fields=["year", "annual_income"])
    assert len(cols) == 6
    assert sorted(cols.values["annual_income"])[0] == "126000.00"
    assert set(cols.values["year"]) == {2024, 2025}
    with pytest.raises(InvalidInput):
        registries.bulk_read(db_session=db_session, dataset="population.household",
                             fields=["household_address"])
    sql = registries.current_records(dataset_id=registries.get_dataset(
        db_session=db_session, code="civil_assistance.recipient").id)
    assert {row.values["assistance_type"] for row in db_session.execute(sql)} == {
        "最低生活保障", "临时救助"}


def test_a_dataset_with_records_keeps_its_fields_sealed(db_session: Session,
                                                        world: World) -> None:
    doc = build_catalog(world.owners)
    for d in doc["datasets"]:
        if d["code"] == "housing_fund.deposit":
            for f in d["fields"]:
                if f["name"] == "account_number":
                    f["personal"] = False
    with pytest.raises(Conflict):
        registries.load_catalog(db_session=db_session, actor=steward(), doc=doc)
    report = registries.load_catalog(db_session=db_session, actor=steward(),
                                     doc=build_catalog(world.owners))
    assert report.updated == 0 and report.created == 0


def test_a_material_finds_its_dataset_by_code_name_or_alias(db_session: Session,
                                                           world: World) -> None:
    for name in ("population.household", "户籍信息", "人口库"):
        found = registries.find_dataset(db_session=db_session, name=name)
        assert found is not None and found.code == "population.household"
    assert registries.find_dataset(db_session=db_session, name="从业资格考试信息") is None


SPECS = [FieldSpec(name=f"f_{t.value}", label=t.value, type=t,
                   values=["甲", "乙"] if t == FieldType.enum else None) for t in FieldType]


@hsettings(max_examples=300, deadline=None)
@given(st.sampled_from(SPECS), st.one_of(st.text(max_size=30), st.integers(), st.floats(),
                                         st.booleans(), st.none()))
def test_any_cell_is_a_value_or_a_readable_error(spec: FieldSpec, raw: object) -> None:
    try:
        value = parse_value(spec, raw)
    except ValueError as exc:
        assert "/" in str(exc)  # Chinese / English
        return
    for how in Masking:
        mask(spec, value, how)
