"""The metrics report as an Excel workbook: the same rows the API and the page show, plus a
sheet of the definitions the figures were computed under."""

from __future__ import annotations

import io

from openpyxl import Workbook
from openpyxl.styles import Font

from tongban.supervision.metrics.definitions import by_id
from tongban.supervision.metrics.service import MetricValue, Report

BY_LABELS = {"total": "合计", "month": "月份", "province": "省份", "region": "地区",
             "department": "部门", "item": "事项"}


def _cell(v: MetricValue) -> float | int | None:
    if v.value is None:
        return None
    return round(v.value, 4) if v.definition.kind != "count" else int(v.value)


def report_xlsx(report: Report) -> bytes:
    """Sheet 指标: one row per group (and 合计); sheet 指标定义: the versioned definitions."""
    wb = Workbook()
    ws = wb.active
    ws.title = "指标"
    q = report.query
    ws.append([f"统计期 {q.from_month} 至 {q.to_month}", f"分组 {BY_LABELS[q.by]}",
               f"数据截至 {report.refreshed_at.isoformat() if report.refreshed_at else '未刷新'}",
               f"定义文件 SHA-256 {report.definitions_hash}"])
    defs = [v.definition for v in report.total.values]
    header = [BY_LABELS[q.by], "代码"] + [f"{d.name} (v{d.version})" for d in defs]
    header += [f"{d.name} 分子/分母" for d in defs if d.denominator]
    ws.append(header)
    for cell in ws[2]:
        cell.font = Font(bold=True)
    for row in [*report.rows, report.total]:
        ws.append([row.label, row.key] + [_cell(v) for v in row.values]
                  + [f"{v.numerator}/{v.denominator}" if v.available else "—"
                     for v in row.values if v.definition.denominator])
    sheet = wb.create_sheet("指标定义")
    sheet.append(["指标", "Metric", "版本", "生效日期", "口径", "Definition", "数据来源",
                  "统计期归属"])
    for d in by_id().values():
        sheet.append([d.name, d.name_en, d.version, d.effective_from.isoformat(),
                      d.definition, d.definition_en, d.source, d.basis])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
