"""Batch check of a file of applicants (CSV or .xlsx): every row checked first (a bad
file names row and field and nothing is read or written), then one vectorised
screening over the subjects it names, and a result file with a verdict, a mark per rule
and an explanation of every failed rule (the value read, the threshold, the source)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from tongban.config import Settings
from tongban.eligibility import rules, screening, service, vector
from tongban.errors import InvalidInput
from tongban.identity.actor import Actor
from tongban.sharing import importer, registries

MAX_ROWS = 200_000
MAX_REPORTED = 100
SUBJECT_COLUMNS = {"person": ("id_number", "公民身份号码", "身份证号", "身份证号码"),
                   "enterprise": ("credit_code", "统一社会信用代码")}
OP_TEXT = {"eq": "等于", "ne": "不等于", "lt": "小于", "le": "不高于", "gt": "大于",
           "ge": "不低于", "in": "属于", "not_in": "不属于", "prefix": "以此开头"}


@dataclass(frozen=True)
class Applicant:
    line: int
    subject: registries.Subject
    cells: dict[str, Any]  # the file's other columns, kept for the result


def _text(cell: Any) -> str:
    return "" if cell is None else str(cell).strip()


def read_applicants(*, settings: Settings, subject_kind: str, data: bytes, filename: str
                    ) -> tuple[str, list[str], list[Applicant]]:
    """(format, other column names, applicants) of a file; 422 listing each bad row and
    field (up to 100) if any row is bad."""
    fmt, rows = importer.read_rows(data, filename)
    header = [_text(c) for c in next(rows, [])]
    wanted = SUBJECT_COLUMNS[subject_kind]
    column = next((i for i, name in enumerate(header) if name in wanted), None)
    if column is None:
        raise InvalidInput(f"文件第1行须有列 {wanted[0]} 或 {wanted[1]} / the header needs a "
                           f"{wanted[0]} column", code="batch_invalid",
                           details=[{"row": 1, "field": wanted[0],
                                     "message": "缺少主体标识列 / no subject column"}])
    others = [(i, name) for i, name in enumerate(header) if i != column and name]
    problems: list[dict[str, Any]] = []
    applicants: list[Applicant] = []
    for line, row in enumerate(rows, start=2):
        if not any(_text(c) for c in row):
            continue  # a blank row (spreadsheets end with them)
        if len(applicants) >= MAX_ROWS:
            raise InvalidInput(f"文件超过 {MAX_ROWS} 行 / more than {MAX_ROWS} rows",
                               code="batch_too_long")
        raw = _text(row[column]) if column < len(row) else ""
        try:
            subject = registries.subject_of(settings=settings, kind=subject_kind,
                                            identifier=raw)
        except InvalidInput as exc:
            problems.append({"row": line, "field": header[column], "message": exc.message})
            continue
        applicants.append(Applicant(line, subject, {
            name: _text(row[i]) if i < len(row) else "" for i, name in others}))
    if problems:
        first = problems[0]
        raise InvalidInput(
            f"申请人文件有 {len(problems)} 处错误,未核对任何一行 / {len(problems)} bad rows, "
            f"nothing was checked. First: row {first['row']}, {first['field']}: "
            f"{first['message']}", code="batch_invalid", details=problems[:MAX_REPORTED])
    if not applicants:
        raise InvalidInput("文件中没有申请人 / the file names no applicant", code="batch_empty",
                           details=[{"row": 2, "field": header[column], "message": "empty"}])
    return fmt, [name for _, name in others], applicants


def shown(value: Any) -> str:
    """A value as a person reads it (lists joined, booleans as 是/否, exact decimals)."""
    if isinstance(value, tuple | list):
        return "、".join(shown(v) for v in value)
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, Decimal):
        return f"{value.normalize():f}"
    return str(value)


def explain(bound: rules.BoundRuleSet, verdicts: dict[str, Any]) -> str:
    """Why a subject failed: each failed rule with the values read and its source."""
    if not verdicts:
        return f"不在适用人群({bound.doc.population})中 / not in the population screened"
    out = []
    for rule in bound.rules:
        if verdicts[rule.rule.id]:
            continue
        parts = []
        for i, part in enumerate(rule.parts):
            value = verdicts.get(f"{rule.rule.id}.{i}")
            if part.aggregate == "count" and value is None:
                value = 0
            seen = "无记录" if value is None else shown(value)
            parts.append(f"{part.dataset}.{part.field or '记录数'} = {seen}, 要求"
                         f"{OP_TEXT[part.op]} {shown(part.threshold)}")
        out.append(f"{rule.rule.label}({'; '.join(parts)}) [{rule.rule.source}]")
    return " | ".join(out)


@dataclass
class BatchResult:
    rule_set: str
    version: int
    format: str
    header: list[str]
    rows: list[list[Any]]

    @property
    def eligible(self) -> int:
        return sum(1 for r in self.rows if r[2] == "符合")

    def to_bytes(self) -> bytes:
        """The result file, in the format of the file checked."""
        if self.format == "xlsx":
            from openpyxl import Workbook

            wb = Workbook(write_only=True)
            sheet = wb.create_sheet("核对结果")
            sheet.append(self.header)
            for row in self.rows:
                sheet.append(row)
            out = io.BytesIO()
            wb.save(out)
            return out.getvalue()
        text = io.StringIO()
        writer = csv.writer(text)
        writer.writerow(self.header)
        writer.writerows(self.rows)
        return text.getvalue().encode("utf-8-sig")


def check_file(*, db_session: Session, settings: Settings, actor: Actor, code: str,
               data: bytes, filename: str, progress: Callable[[str], None] | None = None
               ) -> BatchResult | service.Refused:
    """Check every applicant of a file against the rule set in effect."""
    rule_set = service.current_rule_set(db_session=db_session, code=code)
    fmt, others, applicants = read_applicants(settings=settings,
                                              subject_kind=rule_set.subject_kind,
                                              data=data, filename=filename)
    keys = sorted({a.subject.key for a in applicants})
    done = screening.screen(db_session=db_session, settings=settings, actor=actor, code=code,
                            keys=keys, values=True, progress=progress)
    if isinstance(done, service.Refused):
        return done
    by_key = {r.pop(vector.KEY): r for r in done.table.to_dicts()}
    ids = [r.rule.id for r in done.bound.rules]
    header = ["行号 row", "主体 subject", "结论 result", *others,
              *[f"{r.rule.id} {r.rule.label}" for r in done.bound.rules], "说明 explanation"]
    out = []
    for a in applicants:
        verdicts = by_key.get(a.subject.key, {})
        ok = bool(verdicts.get("eligible"))
        marks = ["✓" if verdicts.get(i) else "✗" for i in ids]
        out.append([a.line, a.subject.masked, "符合" if ok else "不符合",
                    *[a.cells[o] for o in others], *marks,
                    "" if ok else explain(done.bound, verdicts)])
    return BatchResult(code, done.rule_set.version, fmt, header, out)



