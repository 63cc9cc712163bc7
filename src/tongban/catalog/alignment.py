"""Alignment of a region's local item list (地方事项清单) to the standard catalog.

A region imports its list as it keeps it (.xlsx, Chinese or English headers); every line
is matched on import (catalog.matcher) and stored with its suggestion, confidence, reasons
and runners-up. Confident lines are `matched`; the others wait for a person (`review`).
A reviewer confirms or corrects a line; each decision is kept as an AlignmentLink and the
matcher of the next import learns from those links (and from nothing else).

Import is all or nothing: every bad cell is reported with its row and column and nothing
is written. Functions are keyword-only and never commit.
"""

from __future__ import annotations

import io
import re
import uuid
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from openpyxl import Workbook, load_workbook
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from tongban.catalog import service
from tongban.catalog import standardisation as std
from tongban.catalog.matcher import Example, Knowledge, Line, Match, Matcher, Standard, learn
from tongban.catalog.models import (
    AlignmentBatch,
    AlignmentLine,
    AlignmentLink,
    Department,
    Implementation,
    ItemType,
    LineStatus,
    ServiceItem,
)
from tongban.catalog.schemas import ImportErrorRow, StandardGuide
from tongban.db import new_id, utcnow
from tongban.errors import Conflict, InvalidInput, NotFound
from tongban.identity.actor import Actor

MAX_LINES = 200_000
MAX_REPORTED_ERRORS = 500
# Column headers as regions write them → field.
HEADERS: dict[str, str] = {
    "事项名称": "name", "名称": "name", "name": "name",
    "实施主体": "department", "实施部门": "department", "部门": "department",
    "department": "department",
    "事项类型": "item_type", "类型": "item_type", "item_type": "item_type",
    "申请材料": "materials", "材料": "materials", "materials": "materials",
    "法定时限": "legal_days", "法定办结时限": "legal_days", "legal_days": "legal_days",
    "承诺时限": "promised_days", "承诺办结时限": "promised_days",
    "promised_days": "promised_days",
    "地方编码": "local_code", "事项编码": "local_code", "编码": "local_code",
    "local_code": "local_code",
}
FIELD_LIMITS = {"name": 300, "department": 200, "local_code": 60}
_DAYS = re.compile(r"^(\d{1,4})\s*(个)?\s*(工作日|日|天)?$")
_IMMEDIATE = {"即办", "即办件", "当场办结", "立即办结"}
_SPLIT = re.compile(r"[、;；\n]+")
ITEM_TYPES = {t.value for t in ItemType}
Decision = str  # "confirm" | "correct" | "unmatched"


@dataclass(frozen=True)
class LocalRow:
    row: int
    line: Line
    local_code: str


# ================================================================ reading the list


def _days(value: Any, put: Callable[[str], None]) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        put("应为工作日数 / must be a number of working days")
        return None
    if isinstance(value, int | float):
        if float(value).is_integer() and 0 <= value <= 9999:
            return int(value)
        put(f"应为非负整数 / must be a whole number ≥ 0, got {value}")
        return None
    text = str(value).strip()
    if text in _IMMEDIATE:
        return 0
    found = _DAYS.match(text)
    if not found:
        put(f"无法识别的时限 {text!r},应如“20”或“20个工作日” / unreadable time limit")
        return None
    return int(found.group(1))


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def read_local_list(data: bytes) -> list[LocalRow]:
    """The lines of a local list workbook (first sheet), or every problem at once."""
    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise InvalidInput(f"不是有效的 .xlsx 文件 / not a valid .xlsx file: {exc}") from None
    try:
        sheet = wb.worksheets[0]
        rows = sheet.iter_rows(values_only=True)
        errors: list[ImportErrorRow] = []
        columns = _header(next(rows, ()), sheet.title, errors)
        # Without a name column every row would repeat that one error.
        out = _rows(rows, columns, sheet.title, errors) if "name" in columns.values() else []
    finally:
        wb.close()
    if errors:
        raise InvalidInput(
            f"导入失败:共 {len(errors)} 处错误,未写入任何数据 / import failed with "
            f"{len(errors)} errors; nothing was written. First: [{errors[0].sheet}, row "
            f"{errors[0].row}, {errors[0].field}] {errors[0].message}",
            details=[e.model_dump() for e in errors[:MAX_REPORTED_ERRORS]])
    if not out:
        raise InvalidInput("清单中没有事项 / the list has no lines")
    return out


def _header(header: Sequence[Any], sheet: str, errors: list[ImportErrorRow]
            ) -> dict[int, str]:
    columns: dict[int, str] = {}
    for index, raw in enumerate(header):
        title = _text(raw)
        if not title:
            continue
        field = HEADERS.get(title) or HEADERS.get(title.lower())
        if field is None:
            errors.append(ImportErrorRow(sheet=sheet, row=1, field=title,
                                         message=f"未知列 {title} / unknown column; known: "
                                                 + "、".join(sorted(HEADERS))))
        elif field in columns.values():
            errors.append(ImportErrorRow(sheet=sheet, row=1, field=title,
                                         message=f"列 {field} 重复 / column {field} twice"))
        else:
            columns[index] = field
    if "name" not in columns.values():
        errors.append(ImportErrorRow(sheet=sheet, row=1, field="事项名称",
                                     message="缺少列 事项名称 / missing column name"))
    return columns


def _rows(rows: Any, columns: dict[int, str], sheet: str, errors: list[ImportErrorRow]
          ) -> list[LocalRow]:
    out: list[LocalRow] = []
    codes: dict[str, int] = {}
    for number, values in enumerate(rows, start=2):
        cells = {field: values[i] if i < len(values) else None for i, field in columns.items()}
        if all(_text(v) == "" for v in cells.values()):
            continue
        if len(out) >= MAX_LINES:
            errors.append(ImportErrorRow(sheet=sheet, row=number, field=None,
                                         message=f"清单超过 {MAX_LINES} 行 / more than "
                                                 f"{MAX_LINES} lines"))
            break

        def put(message: str, field: str, number: int = number) -> None:
            errors.append(ImportErrorRow(sheet=sheet, row=number, field=field, message=message))

        text = {f: _text(cells.get(f)) for f in ("name", "department", "item_type", "local_code")}
        if not text["name"]:
            put("事项名称不能为空 / name is required", "name")
        for field, limit in FIELD_LIMITS.items():
            if len(text[field]) > limit:
                put(f"超过 {limit} 个字符 / longer than {limit} characters", field)
        if text["item_type"] and text["item_type"] not in ITEM_TYPES:
            put(f"事项类型 {text['item_type']!r} 不是 {'、'.join(sorted(ITEM_TYPES))} 之一 / "
                f"unknown item type", "item_type")
        code = text["local_code"]
        if code and code in codes:
            put(f"地方编码 {code} 重复(见第 {codes[code]} 行)/ duplicate local_code",
                "local_code")
        codes.setdefault(code, number) if code else None
        legal = _days(cells.get("legal_days"), lambda m: put(m, "legal_days"))
        promised = _days(cells.get("promised_days"), lambda m: put(m, "promised_days"))
        if legal is not None and promised is not None and promised > legal:
            put(f"承诺时限({promised})超过法定时限({legal}) / promised_days exceeds legal_days",
                "promised_days")
        materials = tuple(m.strip() for m in _SPLIT.split(_text(cells.get("materials")))
                          if m.strip())
        out.append(LocalRow(row=number, local_code=code, line=Line(
            name=text["name"], department=text["department"], item_type=text["item_type"],
            materials=materials, legal_days=legal, promised_days=promised)))
    return out


def local_list_xlsx(rows: Sequence[tuple[str, str, str, str, Any, Any, str]]) -> bytes:
    """A local list workbook (name, department, type, materials, limits, code): what
    regions send, for tests, the bench and the template download."""
    wb = Workbook()
    ws = wb.active
    ws.title = "地方事项清单"
    ws.append(["事项名称", "实施主体", "事项类型", "申请材料", "法定时限", "承诺时限", "地方编码"])
    for row in rows:
        ws.append(list(row))
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


# ================================================================ the matcher of a region


def standards(*, db_session: Session) -> list[Standard]:
    """Every standard item as the matcher sees it: its standard guide (materials,
    limits, 主管部门) and the departments that implement it."""
    guides = std.standard_guides(db_session=db_session)
    departments: dict[uuid.UUID, set[str]] = {}
    for item_id, name in db_session.execute(
            select(Implementation.item_id, Department.name)
            .join(Department, Department.id == Implementation.department_id).distinct()):
        departments.setdefault(item_id, set()).add(name)
    out = []
    for item in db_session.scalars(select(ServiceItem).order_by(ServiceItem.basic_code)):
        row = guides.get(item.id)
        guide = StandardGuide.model_validate(row.guide) if row else None
        depts = sorted(departments.get(item.id, set()))
        if guide and guide.competent_department:
            depts.insert(0, guide.competent_department)
        out.append(Standard(
            key=item.basic_code, name=item.name, item_type=item.item_type,
            departments=tuple(depts),
            materials=tuple(m.name for m in guide.materials) if guide else (),
            legal_days=guide.legal_days if guide else None,
            promised_days=guide.promised_days if guide else None))
    return out


def examples(*, db_session: Session) -> list[Example]:
    """Every reviewer decision, as the matcher learns from it."""
    stmt = (select(AlignmentLink.local_name, ServiceItem.basic_code, AlignmentLink.department)
            .join(ServiceItem, ServiceItem.id == AlignmentLink.item_id)
            .order_by(AlignmentLink.created_at, AlignmentLink.id))
    return [Example(name=n, key=k, department=d) for n, k, d in db_session.execute(stmt)]


def build_matcher(*, db_session: Session, region_code: str) -> Matcher:
    """The matcher for one region's list: the catalog, what reviewers taught, the
    region's names to ignore in item names."""
    chain = service.region_chain(db_session=db_session, region_code=region_code)
    names = [r.name for r in chain if len(r.name) >= 2]
    items = standards(db_session=db_session)
    if not items:
        raise Conflict("基本目录为空,无法比对 / the standard catalog is empty")
    plain = Matcher([], region_names=names)
    knowledge: Knowledge = learn(examples(db_session=db_session), plain.normaliser,
                                 {s.key: s for s in items})
    return Matcher(items, region_names=names, knowledge=knowledge)


# ================================================================ import and review


def import_list(*, db_session: Session, actor: Actor, region_code: str, data: bytes,
                source_name: str = "", workers: int = 1) -> AlignmentBatch:
    """Read, match and store a region's local list: all of it, or (on any error) nothing."""
    service.ensure_region_exists(db_session=db_session, region_code=region_code)
    service.authorise_region(actor=actor, region_code=region_code)
    rows = read_local_list(data)
    matcher = build_matcher(db_session=db_session, region_code=region_code)
    from tongban.catalog.matcher import match_all

    matches = match_all(matcher, [r.line for r in rows], workers=workers)
    ids = dict(db_session.execute(select(ServiceItem.basic_code, ServiceItem.id)).all())
    batch = AlignmentBatch(region_code=region_code, source_name=source_name[:200],
                           line_count=len(rows), created_by=actor.account_id,
                           created_by_name=actor.name)
    db_session.add(batch)
    db_session.flush()
    values = [_line_values(batch.id, r, m, ids) for r, m in zip(rows, matches, strict=True)]
    for start in range(0, len(values), 5000):
        db_session.execute(insert(AlignmentLine), values[start:start + 5000])
    db_session.flush()
    service._audit(db_session, actor, "alignment.import", "catalog_alignment_batch",
                   str(batch.id), region_code=region_code, lines=len(rows))
    return batch


def _line_values(batch_id: uuid.UUID, row: LocalRow, match: Match,
                 ids: dict[str, uuid.UUID]) -> dict[str, Any]:
    best = match.best
    return {
        "id": new_id(), "batch_id": batch_id, "row": row.row, "local_code": row.local_code,
        "name": row.line.name, "department": row.line.department,
        "item_type": row.line.item_type, "materials": list(row.line.materials),
        "legal_days": row.line.legal_days, "promised_days": row.line.promised_days,
        "suggested_item_id": ids.get(best.key) if best else None,
        "confidence": match.confidence, "margin": match.margin, "reason": list(match.reason),
        "runners_up": [{"basic_code": c.key, "name": c.name, "score": c.score}
                       for c in match.runners_up],
        "status": LineStatus.review if match.needs_review else LineStatus.matched,
        "decided_item_id": None, "decided_by": None, "decided_at": None,
    }


def get_batch(*, db_session: Session, batch_id: uuid.UUID) -> AlignmentBatch:
    """One imported list."""
    batch = db_session.get(AlignmentBatch, batch_id)
    if batch is None:
        raise NotFound("比对批次不存在 / alignment batch not found", details={"id": str(batch_id)})
    return batch


def list_batches(*, db_session: Session, actor: Actor) -> list[AlignmentBatch]:
    """The lists the actor's scope covers, newest first."""
    rows = db_session.scalars(select(AlignmentBatch).order_by(AlignmentBatch.created_at.desc()))
    return [b for b in rows if _sees(actor, b.region_code)]


def _sees(actor: Actor, region_code: str) -> bool:
    try:
        service.authorise_region(actor=actor, region_code=region_code)
    except Exception:
        return False
    return True


def batch_counts(*, db_session: Session, batch_id: uuid.UUID) -> dict[str, int]:
    """How many lines of a batch are in each status."""
    from sqlalchemy import func

    stmt = (select(AlignmentLine.status, func.count()).where(AlignmentLine.batch_id == batch_id)
            .group_by(AlignmentLine.status))
    counts = dict.fromkeys([s.value for s in LineStatus], 0)
    counts.update({str(s): int(n) for s, n in db_session.execute(stmt)})
    return counts


def list_lines(*, db_session: Session, actor: Actor, batch_id: uuid.UUID,
               status: str | None = None, limit: int = 50, offset: int = 0
               ) -> list[AlignmentLine]:
    """Lines of a batch in file order (a review queue with status=review)."""
    batch = get_batch(db_session=db_session, batch_id=batch_id)
    service.authorise_region(actor=actor, region_code=batch.region_code)
    stmt = select(AlignmentLine).where(AlignmentLine.batch_id == batch_id)
    if status:
        stmt = stmt.where(AlignmentLine.status == status)
    return list(db_session.scalars(stmt.order_by(AlignmentLine.row).offset(offset)
                                   .limit(limit)))


def decide_line(*, db_session: Session, actor: Actor, line_id: uuid.UUID, action: Decision,
                basic_code: str | None = None) -> AlignmentLine:
    """A reviewer's word on one line: confirm the suggestion, correct it, or say the
    catalog has no such item. A confirmation or correction teaches later matches."""
    line = db_session.get(AlignmentLine, line_id)
    if line is None:
        raise NotFound("清单行不存在 / line not found", details={"id": str(line_id)})
    batch = get_batch(db_session=db_session, batch_id=line.batch_id)
    service.authorise_region(actor=actor, region_code=batch.region_code)
    if action == "confirm":
        if line.suggested_item_id is None:
            raise Conflict("此行没有建议事项,请改为指定事项 / nothing to confirm; correct it")
        item_id, status = line.suggested_item_id, LineStatus.confirmed
    elif action == "correct":
        if not basic_code:
            raise InvalidInput("请指定标准事项 / name the standard item",
                               details={"field": "basic_code"})
        item_id = service.get_item_by_code(db_session=db_session, basic_code=basic_code).id
        status = LineStatus.confirmed if item_id == line.suggested_item_id \
            else LineStatus.corrected
    elif action == "unmatched":
        item_id, status = None, LineStatus.unmatched
    else:
        raise InvalidInput(f"未知操作 {action} / unknown action",
                           details={"field": "action", "value": action})
    line.status, line.decided_item_id = status, item_id
    line.decided_by, line.decided_at = actor.account_id, utcnow()
    _teach(db_session, line, batch.region_code, item_id, status == LineStatus.corrected)
    db_session.flush()
    service._audit(db_session, actor, f"alignment.{action}", "catalog_alignment_line",
                   str(line.id), status=status)
    return line


def _teach(db_session: Session, line: AlignmentLine, region_code: str,
           item_id: uuid.UUID | None, corrected: bool) -> None:
    """Keep the decision as training data (a later decision on the line replaces it)."""
    existing = db_session.scalar(select(AlignmentLink).where(AlignmentLink.line_id == line.id))
    if existing is not None:
        db_session.delete(existing)
        db_session.flush()
    if item_id is not None:
        db_session.add(AlignmentLink(item_id=item_id, region_code=region_code,
                                     local_name=line.name, department=line.department,
                                     line_id=line.id, corrected=corrected))


def item_names(*, db_session: Session, item_ids: Sequence[uuid.UUID | None]
               ) -> dict[uuid.UUID, tuple[str, str]]:
    """(基本编码, name) of some items, by id."""
    ids = [i for i in set(item_ids) if i is not None]
    if not ids:
        return {}
    rows = db_session.execute(select(ServiceItem.id, ServiceItem.basic_code, ServiceItem.name)
                              .where(ServiceItem.id.in_(ids)))
    return {i: (c, n) for i, c, n in rows}
