"""The demo catalog imports into a real database (SQLite and PostgreSQL) and is found.

The whole document (~900 implementations) takes minutes through the import service, so
the everyday test imports the housing-fund (公积金) items and 成都's departments and
implementations (the fast tests check every row against the import models); set
TONGBAN_FULL_DEMO_IMPORT=1 to import all of it (marked `slow`).
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from sqlalchemy.orm import Session

from tongban.catalog import demo_data, exchange, service
from tongban.identity.actor import SYSTEM_ACTOR


def _import(db_session: Session, doc: dict[str, Any]) -> None:
    service.load_regions(db_session=db_session)
    report = exchange.import_document(db_session=db_session, doc=doc, actor=SYSTEM_ACTOR)
    counts = (report.departments, report.items, report.implementations, report.published)
    expected = (len(doc["departments"]), len(doc["items"]), len(doc["implementations"]),
                len(doc["implementations"]))
    assert counts == expected
    assert service.count_published(db_session=db_session) == len(doc["implementations"])


def _assert_gjj_finds_housing_fund(db_session: Session, doc: dict[str, Any]) -> None:
    hits = service.search(db_session=db_session, q="gjj", region_code="510100", limit=50).items
    names = [h.name for h in hits]
    assert "购买自住住房提取住房公积金(成都)" in names
    assert "公积金" in hits[0].item_name
    first = next(i for i in doc["implementations"] if i["region_code"] == "510100")
    page = service.guide(db_session=db_session, implementation_code=first["implementation_code"])
    assert page.guide.model_dump(mode="json") == first["guide"]
    assert page.department.credit_code == first["department_credit_code"]


def test_chengdu_housing_fund_demo_imports_and_gjj_finds_it(
    db_session: Session,
) -> None:
    doc = demo_data.build_demo_catalog()
    doc["departments"] = [d for d in doc["departments"] if d["region_code"] == "510100"]
    doc["items"] = [i for i in doc["items"] if i["basic_code"][2:4] == "01"]
    doc["implementations"] = [i for i in doc["implementations"]
                              if i["region_code"] == "510100" and i["basic_code"][2:4] == "01"]
    assert len(doc["implementations"]) >= 15
    _import(db_session, doc)
    _assert_gjj_finds_housing_fund(db_session, doc)


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("TONGBAN_FULL_DEMO_IMPORT") != "1",
                    reason="takes minutes; set TONGBAN_FULL_DEMO_IMPORT=1")
def test_the_whole_demo_catalog_imports_and_gjj_finds_it(db_session: Session) -> None:
    doc = demo_data.build_demo_catalog()
    _import(db_session, doc)
    _assert_gjj_finds_housing_fund(db_session, doc)
