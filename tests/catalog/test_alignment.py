"""Alignment of local item lists: import (all or nothing), match, review, learning."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from tests.catalog.conftest import Catalog, admin
from tests.catalog.test_catalog_api import act_as
from tests.catalog.test_catalog_cli import run  # noqa: F401  (fixture)
from tongban.catalog import alignment
from tongban.catalog.matcher import Example, Line, Matcher, Standard, learn
from tongban.catalog.models import AlignmentBatch, AlignmentLine, AlignmentLink
from tongban.cli import app
from tongban.errors import Forbidden, InvalidInput
from tongban.identity.actor import SYSTEM_ACTOR

API = "/api/v1"
FUND, CARD, SHOP = "000101001000", "000102002000", "000103003000"


def xlsx(*rows: tuple[Any, ...]) -> bytes:
    return alignment.local_list_xlsx(list(rows))  # type: ignore[arg-type]


GOOD = xlsx(
    ("公积金提取", "", "公共服务", "身份证复印件、购房合同", "5个工作日", 3, "L1"),
    ("社保卡办理", "区人社局", "", "", None, None, "L2"),
    ("个体户开业登记", "市场监管局", "行政许可", "", "1", "即办", "L3"),
)


def lines_of(db_session: Session, batch: AlignmentBatch) -> list[AlignmentLine]:
    return alignment.list_lines(db_session=db_session, actor=SYSTEM_ACTOR, batch_id=batch.id)


def test_each_line_gets_a_match_with_confidence_reasons_and_runners_up(
        standard: Catalog, db_session: Session) -> None:
    standard.item("000101002000", "住房公积金个人住房贷款")
    batch = alignment.import_list(db_session=db_session, actor=SYSTEM_ACTOR,
                                  region_code="510100", data=GOOD, source_name="成都.xlsx")
    fund, card, shop = lines_of(db_session, batch)
    names = alignment.item_names(db_session=db_session, item_ids=[
        fund.suggested_item_id, card.suggested_item_id, shop.suggested_item_id])
    assert [names[line.suggested_item_id][0] for line in (fund, card, shop)] == [
        FUND, CARD, SHOP]
    assert (fund.legal_days, fund.promised_days, shop.promised_days) == (5, 3, 0)
    assert fund.materials == ["身份证复印件", "购房合同"]
    assert 0 < fund.confidence <= 1 and fund.margin > 0
    assert any("名称相似度" in r for r in fund.reason)
    for line in (fund, card, shop):
        assert all(r["score"] <= line.confidence for r in line.runners_up)
    assert fund.runners_up[0]["basic_code"] == "000101002000"


def test_a_bad_list_names_every_row_and_field_and_writes_nothing(
        standard: Catalog, db_session: Session) -> None:
    bad = xlsx(
        ("", "市公积金中心", "", "", None, None, "L1"),
        ("社保卡办理", "", "公共服务类", "", "十天", None, "L2"),
        ("个体户开业登记", "", "", "", 1, 5, "L2"),
    )
    with pytest.raises(InvalidInput) as err:
        alignment.import_list(db_session=db_session, actor=SYSTEM_ACTOR,
                              region_code="510100", data=bad)
    where = {(d["row"], d["field"]) for d in err.value.details}
    assert where == {(2, "name"), (3, "item_type"), (3, "legal_days"), (4, "local_code"),
                     (4, "promised_days")}
    assert "nothing was written" in err.value.message
    assert db_session.scalar(select(func.count()).select_from(AlignmentBatch)) == 0
    assert db_session.scalar(select(func.count()).select_from(AlignmentLine)) == 0


def test_a_wrong_header_or_a_file_that_is_not_a_workbook(standard: Catalog,
                                                         db_session: Session) -> None:
    wb = Workbook()
    wb.active.append(["名字", "部门"])
    wb.active.append(["公积金提取", "中心"])
    out = io.BytesIO()
    wb.save(out)
    with pytest.raises(InvalidInput) as err:
        alignment.import_list(db_session=db_session, actor=SYSTEM_ACTOR, region_code="510100",
                              data=out.getvalue())
    assert {(d["row"], d["field"]) for d in err.value.details} == {(1, "名字"), (1, "事项名称")}
    with pytest.raises(InvalidInput):
        alignment.import_list(db_session=db_session, actor=SYSTEM_ACTOR, region_code="510100",
                              data=b"not a zip")
    with pytest.raises(Forbidden):
        alignment.import_list(db_session=db_session, actor=admin("500000"),
                              region_code="510100", data=GOOD)


def test_an_ambiguous_line_goes_to_a_person(standard: Catalog, db_session: Session) -> None:
    batch = alignment.import_list(db_session=db_session, actor=SYSTEM_ACTOR,
                                  region_code="510100", data=xlsx(
                                      ("登记", "", "", "", None, None, ""),))
    [line] = lines_of(db_session, batch)
    assert line.status == "review"


def test_a_correction_teaches_the_next_import(standard: Catalog, db_session: Session) -> None:
    odd = xlsx(("五险一金之房产支取", "", "", "", None, None, "X1"),)
    first = alignment.import_list(db_session=db_session, actor=SYSTEM_ACTOR,
                                  region_code="510100", data=odd)
    [line] = lines_of(db_session, first)
    alignment.decide_line(db_session=db_session, actor=SYSTEM_ACTOR, line_id=line.id,
                          action="correct", basic_code=FUND)
    assert line.status in ("corrected", "confirmed")
    assert db_session.scalar(select(func.count()).select_from(AlignmentLink)) == 1
    second = alignment.import_list(db_session=db_session, actor=SYSTEM_ACTOR,
                                   region_code="500103", data=odd)
    [again] = lines_of(db_session, second)
    names = alignment.item_names(db_session=db_session, item_ids=[again.suggested_item_id])
    assert names[again.suggested_item_id][0] == FUND
    assert again.status == "matched" and again.confidence >= 0.9
    assert any("确认" in r for r in again.reason)


def test_substitutions_learnt_from_decisions_carry_over_to_new_names() -> None:
    catalog = [Standard("A", "公司设立登记"), Standard("B", "合伙企业设立登记"),
               Standard("C", "公司注销登记"), Standard("D", "合伙企业注销登记"),
               Standard("E", "个人独资企业设立登记"), Standard("F", "个人独资企业注销登记")]
    plain = Matcher(catalog)
    line = Line("个人独资企业开张")
    before = plain.match(line)
    assert before.needs_review and before.margin == 0  # 设立 or 注销: nothing says which
    taught = learn([Example("公司开张", "A"), Example("合伙企业开张", "B")], plain.normaliser,
                   {s.key: s for s in catalog})
    assert ("开张", "设立登记") in taught.rules
    after = Matcher(catalog, knowledge=taught).match(line)
    assert after.best is not None and after.best.key == "E" and after.margin > 0.1


def test_a_reviewer_outside_the_region_cannot_decide(standard: Catalog,
                                                     db_session: Session) -> None:
    batch = alignment.import_list(db_session=db_session, actor=SYSTEM_ACTOR,
                                  region_code="510100", data=GOOD)
    line = lines_of(db_session, batch)[0]
    with pytest.raises(Forbidden):
        alignment.decide_line(db_session=db_session, actor=admin("500000"), line_id=line.id,
                              action="confirm")
    with pytest.raises(InvalidInput):
        alignment.decide_line(db_session=db_session, actor=SYSTEM_ACTOR, line_id=line.id,
                              action="correct")


# ------------------------------------------------------------------ HTTP and CLI


def test_api_upload_review_and_report(client: TestClient, standard: Catalog,
                                      db_session: Session) -> None:
    db_session.commit()
    act_as(client, admin("510000"))
    upload = client.post(f"{API}/alignment/batches", params={"region": "510100"},
                         files={"file": ("成都.xlsx", GOOD)})
    assert upload.status_code == 201, upload.text
    batch = upload.json()
    assert batch["line_count"] == 3 and sum(batch["counts"].values()) == 3
    lines = client.get(f"{API}/alignment/batches/{batch['id']}/lines").json()
    assert lines[0]["suggested"]["basic_code"] == FUND
    decided = client.post(f"{API}/alignment/lines/{lines[1]['id']}/decision",
                          json={"action": "correct", "basic_code": SHOP})
    assert decided.json()["status"] == "corrected"
    assert decided.json()["decided_basic_code"] == SHOP
    report = client.get(f"{API}/alignment/batches/{batch['id']}/lines",
                        params={"format": "xlsx"})
    rows = list(load_workbook(io.BytesIO(report.content)).active.iter_rows(values_only=True))
    assert rows[2][8] == "corrected" and rows[2][9] == SHOP
    bad = client.post(f"{API}/alignment/batches", params={"region": "510100"},
                      content=xlsx(("", "", "", "", "x", None, ""),),
                      headers={"content-type": alignment_type()})
    assert bad.status_code == 422
    assert {(d["row"], d["field"]) for d in bad.json()["details"]} == {
        (2, "name"), (2, "legal_days")}
    assert [b["id"] for b in client.get(f"{API}/alignment/batches").json()] == [batch["id"]]
    act_as(client, admin("500000"))
    assert client.get(f"{API}/alignment/batches").json() == []


def alignment_type() -> str:
    return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def test_cli_import_lines_decide_and_report(run: CliRunner, standard: Catalog,  # noqa: F811
                                            db_session: Session, tmp_path: Path) -> None:
    db_session.commit()
    source = tmp_path / "成都.xlsx"
    source.write_bytes(GOOD)
    result = run.invoke(app, ["catalog", "align", "import", str(source), "--region", "510100"])
    assert result.exit_code == 0, result.output
    batch_id = result.output.split()[1].rstrip(":")
    listed = run.invoke(app, ["catalog", "align", "lines", batch_id])
    assert FUND in listed.output and "公积金提取" in listed.output
    line_id = listed.output.split()[0]
    decided = run.invoke(app, ["catalog", "align", "decide", line_id, "confirm"])
    assert decided.exit_code == 0 and "confirmed" in decided.output
    out = tmp_path / "report.xlsx"
    assert run.invoke(app, ["catalog", "align", "report", batch_id, str(out)]).exit_code == 0
    assert load_workbook(out).active.max_row == 4
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(xlsx(("", "", "", "", None, None, ""), ("x", "", "", "", "-1", None, "")))
    failed = run.invoke(app, ["catalog", "align", "import", str(bad), "--region", "510100"])
    assert failed.exit_code == 1 and "row 3" in failed.output and "legal_days" in failed.output
