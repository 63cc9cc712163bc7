"""Standardisation and alignment reports: API shapes and Excel workbooks.

One source for every view: the API, the pages and the CLI turn the same service results
into these shapes, and the workbooks hold the same rows the pages show.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterable
from typing import Any

from openpyxl import Workbook
from sqlalchemy.orm import Session

from tongban.catalog import alignment
from tongban.catalog import standardisation as std
from tongban.catalog.models import AlignmentBatch, AlignmentLine, Variance
from tongban.catalog.standard_schemas import (
    BatchOut,
    ColumnOut,
    ConformanceOut,
    DifferenceOut,
    ItemDiffOut,
    LineOut,
    RegionScoreOut,
    RunnerUp,
    VarianceOut,
)

DIRECTIONS = {"favourable": "有利于申请人", "unfavourable": "不利于申请人", "neutral": "中性"}


def item_diff_out(diff: std.ItemDiff) -> ItemDiffOut:
    """An item's diff as the API returns it."""
    return ItemDiffOut(
        basic_code=diff.basic_code, item_name=diff.item_name,
        standard_version=diff.standard_version, score=diff.score,
        columns=[ColumnOut(
            implementation_code=c.implementation_code, region_code=c.region_code,
            region_name=c.region_name, department_name=c.department_name, version=c.version,
            score=c.score, differences=[DifferenceOut.model_validate(d) for d in c.differences])
            for c in diff.columns])


def conformance_out(diffs: list[std.ItemDiff], with_items: bool = True) -> ConformanceOut:
    """Scores per region and per item, and the overall score (mean over implementations)."""
    columns = [c for d in diffs for c in d.columns]
    return ConformanceOut(
        overall=round(sum(c.score for c in columns) / len(columns), 1) if columns else None,
        regions=[RegionScoreOut.model_validate(r) for r in std.region_scores(diffs)],
        items=[item_diff_out(d) for d in diffs] if with_items else [])


def variance_out(variance: Variance, basic_code: str) -> VarianceOut:
    return VarianceOut.model_validate({**{k: getattr(variance, k) for k in VarianceOut.model_fields
                                          if k != "basic_code"}, "basic_code": basic_code})


def variances_out(db_session: Session, rows: list[Variance]) -> list[VarianceOut]:
    codes = std.item_codes(db_session=db_session, item_ids=[v.item_id for v in rows])
    return [variance_out(v, codes[v.item_id]) for v in rows]


def batch_out(db_session: Session, batch: AlignmentBatch) -> BatchOut:
    out = BatchOut.model_validate(batch)
    out.counts = alignment.batch_counts(db_session=db_session, batch_id=batch.id)
    return out


def lines_out(db_session: Session, lines: list[AlignmentLine]) -> list[LineOut]:
    names = alignment.item_names(db_session=db_session, item_ids=[
        i for line in lines for i in (line.suggested_item_id, line.decided_item_id)])

    def suggested(item_id: uuid.UUID | None, score: float) -> RunnerUp | None:
        if item_id is None or item_id not in names:
            return None
        code, name = names[item_id]
        return RunnerUp(basic_code=code, name=name, score=score)

    return [LineOut(
        id=line.id, row=line.row, local_code=line.local_code, name=line.name,
        department=line.department, item_type=line.item_type, materials=line.materials,
        legal_days=line.legal_days, promised_days=line.promised_days,
        suggested=suggested(line.suggested_item_id, line.confidence),
        confidence=line.confidence, margin=line.margin, reason=line.reason,
        runners_up=[RunnerUp.model_validate(r) for r in line.runners_up], status=line.status,
        decided_basic_code=names[line.decided_item_id][0] if line.decided_item_id in names
        else None) for line in lines]


# ================================================================ workbooks


def _book(sheets: Iterable[tuple[str, list[str], Iterable[list[Any]]]]) -> bytes:
    wb = Workbook()
    wb.remove(wb.active)
    for title, header, rows in sheets:
        ws = wb.create_sheet(title)
        ws.append(header)
        for row in rows:
            ws.append([_cell(v) for v in row])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _cell(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return ";".join(str(v) for v in value)
    if isinstance(value, dict):
        return ";".join(f"{k}={v}" for k, v in value.items())
    return value


DIFF_HEADER = ["基本编码", "事项名称", "地区代码", "地区", "实施部门", "要素", "差异项", "标准值",
               "本地值", "对申请人", "已声明"]


def _difference_rows(diffs: list[std.ItemDiff]) -> Iterable[list[Any]]:
    for d in diffs:
        for c in d.columns:
            for x in c.differences:
                yield [d.basic_code, d.item_name, c.region_code, c.region_name,
                       c.department_name, std.ELEMENTS[x.element], x.key, x.standard, x.local,
                       DIRECTIONS[x.direction], "是" if x.declared else "否"]


def conformance_xlsx(diffs: list[std.ItemDiff]) -> bytes:
    """A conformance report: scores per region, per item and region, every difference."""
    report = conformance_out(diffs, with_items=False)
    return _book([
        ("地区得分", ["地区代码", "地区", "事项数", "符合度", "已声明差异", "未声明差异"],
         ([r.region_code, r.region_name, r.items, r.score, r.declared, r.undeclared]
          for r in report.regions)),
        ("事项得分", ["基本编码", "事项名称", "地区代码", "地区", "实施部门", "符合度"],
         ([d.basic_code, d.item_name, c.region_code, c.region_name, c.department_name, c.score]
          for d in diffs for c in d.columns)),
        ("差异明细", DIFF_HEADER, _difference_rows(diffs)),
    ])


def batch_xlsx(db_session: Session, lines: list[AlignmentLine]) -> bytes:
    """An alignment report: each local line with its match, confidence and status."""
    shown = lines_out(db_session, lines)
    return _book([("比对结果", [
        "行号", "地方编码", "事项名称", "实施主体", "建议基本编码", "建议事项", "置信度",
        "领先幅度", "状态", "确认基本编码", "理由", "备选"], (
        [line.row, line.local_code, line.name, line.department,
         line.suggested.basic_code if line.suggested else "",
         line.suggested.name if line.suggested else "", line.confidence, line.margin,
         line.status, line.decided_basic_code or "", line.reason,
         [f"{r.basic_code} {r.name} {r.score}" for r in line.runners_up]] for line in shown))])
