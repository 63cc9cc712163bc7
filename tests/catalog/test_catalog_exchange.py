"""Import and export: round trips in JSON and .xlsx, and every bad input, all or nothing."""

from __future__ import annotations

import copy
import io
import json
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from tests.catalog.conftest import CHENGDU_HF, CQ_HF, FORM, Catalog, admin, code_of, guide
from tongban.catalog import exchange, service
from tongban.catalog.models import (
    Department,
    Implementation,
    ImplementationVersion,
    SearchEntry,
    ServiceItem,
)
from tongban.catalog.schemas import DraftIn
from tongban.errors import Forbidden, InvalidInput
from tongban.identity.actor import SYSTEM_ACTOR
from tongban.identity.ids import make_uscc

HF_CODE = code_of(CHENGDU_HF, 3, "000101001000")


def clear_catalog(db_session: Session) -> None:
    """Everything but the regions: an empty catalog on a node that shipped its regions."""
    db_session.execute(update(Implementation).values(current_version_id=None))
    db_session.execute(delete(SearchEntry))
    db_session.execute(delete(ImplementationVersion))
    db_session.execute(delete(Implementation))
    db_session.execute(delete(ServiceItem))
    db_session.execute(delete(Department))
    db_session.flush()
    db_session.expunge_all()


def counts(db_session: Session) -> tuple[int, ...]:
    return tuple(db_session.scalar(select(func.count()).select_from(m)) or 0
                 for m in (Department, ServiceItem, Implementation, ImplementationVersion))


def small_doc() -> dict[str, Any]:
    return {
        "format": "tongban-catalog/1",
        "departments": [{"name": "成都住房公积金管理中心", "region_code": "510100",
                         "credit_code": CHENGDU_HF, "kind": "公积金", "level": 3}],
        "items": [{"basic_code": "000101001000", "name": "住房公积金提取",
                   "item_type": "公共服务", "use_levels": [3, 4]}],
        "implementations": [{"basic_code": "000101001000", "department_credit_code": CHENGDU_HF,
                             "region_code": "510100", "level": 3, "name": "住房公积金提取(成都)",
                             "publish": True, "guide": guide(), "form_schema": FORM}],
    }


def import_errors(db_session: Session, doc: dict[str, Any] | bytes) -> list[dict[str, Any]]:
    before = counts(db_session)
    with pytest.raises(InvalidInput) as err:
        exchange.import_document(db_session=db_session, doc=doc, actor=SYSTEM_ACTOR)
    assert counts(db_session) == before, "a failed import must write nothing"
    return list(err.value.details)


# ------------------------------------------------------------------ round trips


def _with_history(standard: Catalog, db_session: Session) -> None:
    """A second published version, a pending draft and a draft-only implementation."""
    service.update_draft(db_session=db_session, actor=SYSTEM_ACTOR, implementation_code=HF_CODE,
                         data=DraftIn.model_validate({
                             "name": "住房公积金提取(成都)", "form_schema": FORM,
                             "guide": guide(fees=[{"name": "工本费", "amount": "10.50"}])}))
    service.publish(db_session=db_session, actor=SYSTEM_ACTOR, implementation_code=HF_CODE)
    service.update_draft(db_session=db_session, actor=SYSTEM_ACTOR, implementation_code=HF_CODE,
                         data=DraftIn.model_validate({"name": "未发布草稿", "form_schema": FORM,
                                                      "guide": guide()}))
    standard.implementation("000102002000", CHENGDU_HF, "510104", "社会保障卡申领(锦江)",
                            publish=False)


def test_json_round_trip_rebuilds_the_catalog(standard: Catalog, db_session: Session) -> None:
    _with_history(standard, db_session)
    doc = exchange.export_document(db_session=db_session, fmt="json")
    assert isinstance(doc, dict)
    assert len(doc["implementations"]) == 5
    assert json.loads(json.dumps(doc, ensure_ascii=False)) == doc  # plain JSON
    clear_catalog(db_session)
    report = exchange.import_document(db_session=db_session, doc=copy.deepcopy(doc),
                                      actor=SYSTEM_ACTOR)
    assert (report.departments, report.items, report.implementations, report.published) == (
        4, 3, 5, 4)
    assert exchange.export_document(db_session=db_session, fmt="json") == doc
    assert service.guide(db_session=db_session, implementation_code=HF_CODE
                         ).guide.fees[0].amount == 10.5


def test_xlsx_round_trip_rebuilds_the_catalog(standard: Catalog, db_session: Session) -> None:
    _with_history(standard, db_session)
    doc = exchange.export_document(db_session=db_session, fmt="json")
    data = exchange.export_document(db_session=db_session, fmt="xlsx")
    assert isinstance(data, bytes)
    assert load_workbook(io.BytesIO(data)).sheetnames == [
        "departments", "items", "implementations", "materials", "steps", "fees"]
    clear_catalog(db_session)
    exchange.import_document(db_session=db_session, doc=data, actor=SYSTEM_ACTOR)
    assert exchange.export_document(db_session=db_session, fmt="json") == doc


def test_imported_implementations_are_searchable(catalog: Catalog, db_session: Session) -> None:
    catalog.regions()
    exchange.import_document(db_session=db_session, doc=small_doc(), actor=SYSTEM_ACTOR)
    hits = service.search(db_session=db_session, q="gjj").items
    assert [h.implementation_code for h in hits] == [HF_CODE]


def test_import_may_reference_departments_and_items_in_the_database(
    standard: Catalog, db_session: Session
) -> None:
    doc = small_doc()
    doc["departments"], doc["items"] = [], []
    doc["implementations"][0]["region_code"] = "510104"
    doc["implementations"][0]["level"] = 4
    report = exchange.import_document(db_session=db_session, doc=doc, actor=SYSTEM_ACTOR)
    assert report.implementations == 1


# ------------------------------------------------------------------ bad JSON documents


def _one(errors: list[dict[str, Any]]) -> tuple[Any, ...]:
    assert len(errors) == 1, errors
    e = errors[0]
    return e["sheet"], e["row"], e["field"]


def test_duplicate_codes_in_the_file(catalog: Catalog, db_session: Session) -> None:
    catalog.regions()
    doc = small_doc()
    doc["departments"].append(dict(doc["departments"][0]))
    doc["items"].append(dict(doc["items"][0]))
    doc["implementations"].append(copy.deepcopy(doc["implementations"][0]))
    errors = import_errors(db_session, doc)
    assert [(e["sheet"], e["row"], e["field"]) for e in errors] == [
        ("departments", 2, "credit_code"), ("items", 2, "basic_code"),
        ("implementations", 2, "implementation_code")]


def test_duplicate_codes_in_the_database(standard: Catalog, db_session: Session) -> None:
    errors = import_errors(db_session, small_doc())
    assert [(e["sheet"], e["row"], e["field"]) for e in errors] == [
        ("departments", 1, "credit_code"), ("items", 1, "basic_code"),
        ("implementations", 1, "implementation_code")]
    assert "已存在" in errors[0]["message"]


def test_unknown_region(catalog: Catalog, db_session: Session) -> None:
    catalog.regions()
    doc = small_doc()
    doc["implementations"][0]["region_code"] = "510199"
    assert _one(import_errors(db_session, doc)) == ("implementations", 1, "region_code")
    doc = small_doc()
    doc["departments"][0]["region_code"] = "519900"
    errors = import_errors(db_session, doc)
    assert ("departments", 1, "region_code") in [(e["sheet"], e["row"], e["field"])
                                                 for e in errors]


def test_bad_credit_code(catalog: Catalog, db_session: Session) -> None:
    catalog.regions()
    doc = small_doc()
    doc["departments"][0]["credit_code"] = CHENGDU_HF[:-1] + ("0" if CHENGDU_HF[-1] != "0"
                                                             else "1")
    errors = import_errors(db_session, doc)
    assert errors[0]["sheet"] == "departments" and errors[0]["field"] == "credit_code"
    assert "credit code" in errors[0]["message"]


def test_mismatched_implementation_code(catalog: Catalog, db_session: Session) -> None:
    catalog.regions()
    doc = small_doc()
    doc["implementations"][0]["implementation_code"] = code_of(CHENGDU_HF, 4, "000101001000")
    errors = import_errors(db_session, doc)
    assert _one(errors) == ("implementations", 1, "implementation_code")
    assert "19" in errors[0]["message"]


def test_invalid_form_schema(catalog: Catalog, db_session: Session) -> None:
    catalog.regions()
    doc = small_doc()
    doc["implementations"][0]["form_schema"] = {"type": "object", "required": "amount"}
    errors = import_errors(db_session, doc)
    assert _one(errors) == ("implementations", 1, "form_schema")
    assert "JSON Schema" in errors[0]["message"]


def test_wrong_types_and_missing_fields(catalog: Catalog, db_session: Session) -> None:
    catalog.regions()
    doc = small_doc()
    doc["implementations"][0]["guide"]["legal_days"] = "five"
    del doc["items"][0]["item_type"]
    doc["implementations"][0]["guide"]["materials"][1]["count"] = 0
    errors = import_errors(db_session, doc)
    where = {(e["sheet"], e["row"], e["field"]) for e in errors}
    assert ("items", 1, "item_type") in where
    assert ("implementations", 1, "guide.legal_days") in where
    assert ("implementations", 1, "guide.materials[1].count") in where


def test_unknown_department_and_item(catalog: Catalog, db_session: Session) -> None:
    catalog.regions()
    doc = small_doc()
    doc["implementations"][0]["department_credit_code"] = CQ_HF
    doc["implementations"][0]["basic_code"] = "000199999000"
    fields = {e["field"] for e in import_errors(db_session, doc)}
    assert fields == {"department_credit_code", "basic_code"}


def test_wrong_format_marker_and_shape(catalog: Catalog, db_session: Session) -> None:
    catalog.regions()
    doc = small_doc()
    doc["format"] = "something-else"
    doc["departments"] = {"not": "a list"}
    fields = {(e["sheet"], e["field"]) for e in import_errors(db_session, doc)}
    assert ("document", "format") in fields and ("departments", None) in fields


def test_every_error_is_reported_not_just_the_first(catalog: Catalog,
                                                     db_session: Session) -> None:
    catalog.regions()
    doc = small_doc()
    for n in range(3):
        bad = copy.deepcopy(doc["implementations"][0])
        bad["guide"]["promised_days"] = 99
        bad["basic_code"] = f"00010100200{n}"
        doc["items"].append({**doc["items"][0], "basic_code": f"00010100200{n}"})
        doc["implementations"].append(bad)
    errors = import_errors(db_session, doc)
    assert [e["row"] for e in errors] == [2, 3, 4]


def test_import_outside_scope_is_forbidden_and_writes_nothing(
    catalog: Catalog, db_session: Session
) -> None:
    catalog.regions()
    before = counts(db_session)
    with pytest.raises(Forbidden) as err:
        exchange.import_document(db_session=db_session, doc=small_doc(), actor=admin("500000"))
    assert counts(db_session) == before
    assert err.value.details[0]["field"] == "region_code"
    report = exchange.import_document(db_session=db_session, doc=small_doc(),
                                      actor=admin("510000"))
    assert report.published == 1


# ------------------------------------------------------------------ bad .xlsx files


def _xlsx(standard: Catalog, db_session: Session) -> bytes:
    data = exchange.export_document(db_session=db_session, fmt="xlsx")
    clear_catalog(db_session)
    assert isinstance(data, bytes)
    return data


def _edit(data: bytes, sheet: str, cell: str, value: Any) -> bytes:
    wb = load_workbook(io.BytesIO(data))
    wb[sheet][cell] = value
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _column(data: bytes, sheet: str, name: str) -> str:
    ws = load_workbook(io.BytesIO(data))[sheet]
    for cell in ws[1]:
        if cell.value == name:
            return str(cell.column_letter)
    raise AssertionError(name)


def test_xlsx_missing_column(standard: Catalog, db_session: Session) -> None:
    data = _xlsx(standard, db_session)
    data = _edit(data, "implementations", _column(data, "implementations", "legal_days") + "1",
                 None)
    errors = import_errors(db_session, data)
    assert ("implementations", 1, "legal_days") in [(e["sheet"], e["row"], e["field"])
                                                    for e in errors]
    assert "missing column" in errors[0]["message"]


def test_xlsx_missing_sheet(standard: Catalog, db_session: Session) -> None:
    data = _xlsx(standard, db_session)
    wb = load_workbook(io.BytesIO(data))
    del wb["fees"]
    out = io.BytesIO()
    wb.save(out)
    errors = import_errors(db_session, out.getvalue())
    assert _one(errors) == ("fees", None, None)


def test_xlsx_wrong_type_names_sheet_row_and_column(standard: Catalog,
                                                    db_session: Session) -> None:
    data = _xlsx(standard, db_session)
    col = _column(data, "implementations", "online_depth")
    data = _edit(data, "implementations", f"{col}3", "four")
    assert _one(import_errors(db_session, data)) == ("implementations", 3, "online_depth")


def test_xlsx_errors_in_nested_sheets_point_at_their_rows(standard: Catalog,
                                                          db_session: Session) -> None:
    data = _xlsx(standard, db_session)
    data = _edit(data, "materials", _column(data, "materials", "count") + "4", -1)
    data = _edit(data, "steps", _column(data, "steps", "days") + "2", "two")
    where = [(e["sheet"], e["row"], e["field"]) for e in import_errors(db_session, data)]
    assert where == [("materials", 4, "count"), ("steps", 2, "days")]


def test_xlsx_bad_json_cell_and_result_field(standard: Catalog, db_session: Session) -> None:
    data = _xlsx(standard, db_session)
    data = _edit(data, "implementations", _column(data, "implementations", "form_schema") + "2",
                 "{not json")
    data = _edit(data, "implementations", _column(data, "implementations", "result_kind") + "3",
                 "licence")
    where = {(e["sheet"], e["row"], e["field"]) for e in import_errors(db_session, data)}
    assert ("implementations", 2, "form_schema") in where
    assert ("implementations", 3, "result_licence_type") in where


def test_xlsx_nested_row_of_unknown_implementation(standard: Catalog,
                                                   db_session: Session) -> None:
    data = _xlsx(standard, db_session)
    data = _edit(data, "fees", "A2", "X" * 31)
    data = _edit(data, "fees", "B2", "工本费")
    data = _edit(data, "fees", "C2", "5")
    assert _one(import_errors(db_session, data)) == ("fees", 2, "implementation_code")


def test_not_an_xlsx_file(db_session: Session) -> None:
    with pytest.raises(InvalidInput, match="xlsx"):
        exchange.import_document(db_session=db_session, doc=b"PK\x03\x04 nonsense",
                                 actor=SYSTEM_ACTOR)


def test_new_department_in_file_may_carry_implementations(catalog: Catalog,
                                                          db_session: Session) -> None:
    catalog.regions()
    doc = small_doc()
    other = make_uscc("1", "1", "510104", "MB523456")
    doc["departments"].append({"name": "锦江区医保局", "region_code": "510104",
                               "credit_code": other, "level": 4})
    doc["implementations"].append({**copy.deepcopy(doc["implementations"][0]),
                                   "department_credit_code": other, "region_code": "510104",
                                   "level": 4, "publish": False})
    report = exchange.import_document(db_session=db_session, doc=doc, actor=SYSTEM_ACTOR)
    assert (report.implementations, report.published) == (2, 1)
