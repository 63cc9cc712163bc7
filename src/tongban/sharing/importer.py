"""Import registry records from CSV or Excel: every row checked first, a report naming
row and field for each problem, and nothing written unless the whole file is good.

A file has a header row of field names or their Chinese labels (docs/sharing.md), and
optionally `_op` (操作: upsert / delete) and `_as_of` (数据时间) columns. Imports are
incremental: a row replaces the subject's current record of the same record key (a row
equal to it changes nothing), `delete` ends it. A `full` import is a snapshot: current
records the file does not name are ended too.
"""

from __future__ import annotations

import csv
import hashlib
import io
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from tongban.audit.service import record as audit
from tongban.config import Settings
from tongban.db import new_id, utcnow
from tongban.errors import InvalidInput
from tongban.identity.actor import Actor
from tongban.sharing import registries
from tongban.sharing.fields import FieldSpec, parse_value
from tongban.sharing.models import Dataset, ImportBatch, Record
from tongban.sharing.schemas import ImportProblem, ImportReport

MAX_REPORTED = 200
MAX_ROWS = 2_000_000
CHUNK = 2_000
OP_COLUMNS = ("_op", "操作")
AS_OF_COLUMNS = ("_as_of", "数据时间")
OPS = {"upsert": "upsert", "": "upsert", "新增或更新": "upsert", "更新": "upsert",
       "delete": "delete", "删除": "delete"}
MODES = ("incremental", "full")


class _Problems:
    def __init__(self) -> None:
        self.items: list[ImportProblem] = []
        self.total = 0

    def add(self, row: int | None, field_name: str | None, message: str) -> None:
        self.total += 1
        if len(self.items) < MAX_REPORTED:
            self.items.append(ImportProblem(row=row, field=field_name, message=message))

    def raise_if_any(self) -> None:
        if not self.total:
            return
        first = self.items[0]
        where = ", ".join(p for p in (f"第{first.row}行 / row {first.row}" if first.row else "",
                                      first.field or "") if p)
        raise InvalidInput(
            f"导入失败:共 {self.total} 处错误,未写入任何数据 / import failed with "
            f"{self.total} problems; nothing was written. First: [{where}] {first.message}",
            code="import_invalid", details=[p.model_dump() for p in self.items])


# --- reading the file --------------------------------------------------------------------


def _decode(data: bytes) -> str:
    """UTF-8 (with or without BOM), else GB18030, which government exports often use."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise InvalidInput("无法识别文件编码(应为 UTF-8 或 GB18030) / the file is neither UTF-8 "
                       "nor GB18030", code="import_invalid")


def _csv_rows(data: bytes) -> Iterator[list[Any]]:
    yield from csv.reader(io.StringIO(_decode(data), newline=""))


def _xlsx_rows(data: bytes) -> Iterator[list[Any]]:
    from openpyxl import load_workbook

    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a broken file
        raise InvalidInput(f"不是有效的 .xlsx 文件 / not a valid .xlsx file: {exc}",
                           code="import_invalid") from None
    try:
        for row in wb.worksheets[0].iter_rows(values_only=True):
            yield list(row)
    finally:
        wb.close()


def read_rows(data: bytes, filename: str) -> tuple[str, Iterator[list[Any]]]:
    """The file's format and its rows (header first): .xlsx by content, else CSV."""
    if data[:4] == b"PK\x03\x04" or filename.lower().endswith(".xlsx"):
        return "xlsx", _xlsx_rows(data)
    return "csv", _csv_rows(data)


# --- checking -------------------------------------------------------------------------


@dataclass
class _Columns:
    fields: dict[int, FieldSpec] = field(default_factory=dict)
    op: int | None = None
    as_of: int | None = None
    # Required columns the header lacks: wrong only if a row adds or replaces a record.
    missing: list[str] = field(default_factory=list)


def _columns(header: list[Any], specs: dict[str, FieldSpec], problems: _Problems) -> _Columns:
    by_label = {s.label: s for s in specs.values()}
    cols = _Columns()
    seen: set[str] = set()
    for index, cell in enumerate(header):
        name = str(cell or "").strip()
        if not name:
            continue
        if name in OP_COLUMNS:
            cols.op = index
            continue
        if name in AS_OF_COLUMNS:
            cols.as_of = index
            continue
        spec = specs.get(name) or by_label.get(name)
        if spec is None:
            problems.add(1, name, "未知的列,应为本数据集的字段名或中文名 / unknown column")
            continue
        if spec.name in seen:
            problems.add(1, name, "列重复 / repeated column")
            continue
        seen.add(spec.name)
        cols.fields[index] = spec
    for spec in specs.values():
        if spec.required and spec.name not in seen:
            cols.missing.append(spec.name)
    return cols


def _as_of(raw: Any, default: datetime) -> datetime:
    if raw is None or str(raw).strip() == "":
        return default
    if isinstance(raw, datetime):
        return raw if raw.tzinfo else raw.replace(tzinfo=UTC)
    if isinstance(raw, date):
        return datetime.combine(raw, time(), UTC)
    try:
        parsed = datetime.fromisoformat(str(raw).strip())
    except ValueError:
        raise ValueError("数据时间应为 YYYY-MM-DD 或 ISO 时间 / _as_of must be a date or an "
                         "ISO time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass
class _Row:
    line: int
    op: str
    subject: registries.Subject
    record_key: str
    plain: dict[str, Any]
    personal: dict[str, Any]
    as_of: datetime


def _cell(row: list[Any], index: int | None) -> Any:
    if index is None or index >= len(row):
        return None
    return row[index]


def _parse_row(line: int, row: list[Any], cols: _Columns, dataset: Dataset,
               settings: Settings, default_as_of: datetime, problems: _Problems) -> _Row | None:
    before = problems.total
    op = OPS.get(str(_cell(row, cols.op) or "").strip().lower())
    if op is None:
        problems.add(line, "_op", "操作应为 upsert 或 delete / _op must be upsert or delete")
    values: dict[str, Any] = {}
    for index, spec in cols.fields.items():
        raw = _cell(row, index)
        if op == "delete" and not (spec.subject or spec.name == dataset.record_key):
            continue  # a deletion names only its record
        try:
            values[spec.name] = parse_value(spec, raw)
        except ValueError as exc:
            problems.add(line, spec.name, str(exc))
    try:
        as_of = _as_of(_cell(row, cols.as_of), default_as_of)
    except ValueError as exc:
        problems.add(line, "_as_of", str(exc))
    if problems.total > before or op is None:
        return None
    specs = registries.field_specs(dataset)
    subject_spec = registries.subject_field(dataset)
    subject = registries.subject_of(settings=settings, kind=dataset.subject_kind,
                                    identifier=values[subject_spec.name])
    if dataset.record_key and values.get(dataset.record_key) in (None, ""):
        problems.add(line, dataset.record_key, "记录标识必填 / the record key is required")
        return None
    plain = {k: v for k, v in values.items() if not specs[k].sealed and v is not None}
    personal = {k: v for k, v in values.items() if specs[k].sealed and v is not None
                and k != subject_spec.name}
    key = registries.record_key_hash(settings=settings, dataset_code=dataset.code,
                                     value=values.get(dataset.record_key or ""))
    return _Row(line, op, subject, key, plain, personal, as_of)


def check_file(*, settings: Settings, dataset: Dataset, data: bytes, filename: str,
               as_of: datetime) -> tuple[str, list[_Row]]:
    """Every row of the file parsed and checked; InvalidInput listing each problem by row
    and field when any row is wrong."""
    problems = _Problems()
    fmt, rows = read_rows(data, filename)
    try:
        header = next(rows)
    except StopIteration:
        raise InvalidInput("文件为空 / the file is empty", code="import_invalid") from None
    cols = _columns(header, registries.field_specs(dataset), problems)
    key_columns = [registries.subject_field(dataset).name, dataset.record_key]
    for name in cols.missing:
        if name in key_columns:
            problems.add(1, name, "缺少必填列 / a required column is missing")
    problems.raise_if_any()
    parsed: list[_Row] = []
    seen: dict[tuple[str, str], int] = {}
    for line, row in enumerate(rows, start=2):
        if not any(str(c or "").strip() for c in row):
            continue
        if len(parsed) >= MAX_ROWS:
            raise InvalidInput(f"单个文件至多 {MAX_ROWS} 行 / at most {MAX_ROWS} rows per file",
                               code="import_invalid")
        item = _parse_row(line, row, cols, dataset, settings, as_of, problems)
        if item is None:
            continue
        where = (item.subject.key, item.record_key)
        if where in seen:
            problems.add(line, dataset.record_key or registries.subject_field(dataset).name,
                         f"与第{seen[where]}行是同一条记录 / the same record as row {seen[where]}")
            continue
        seen[where] = line
        parsed.append(item)
    if any(r.op == "upsert" for r in parsed):
        for name in cols.missing:
            if name not in key_columns:
                problems.add(1, name, "缺少必填列 / a required column is missing")
    problems.raise_if_any()
    if not parsed:
        raise InvalidInput("文件没有数据行 / the file has no data rows", code="import_invalid")
    return fmt, parsed


# --- writing ----------------------------------------------------------------------------


def _current(db_session: Session, dataset_id: uuid.UUID, keys: list[str]
             ) -> dict[tuple[str, str], tuple[uuid.UUID, str]]:
    """(subject, record key) -> (id, digest) of the current records of these subjects."""
    out: dict[tuple[str, str], tuple[uuid.UUID, str]] = {}
    for start in range(0, len(keys), 900):
        part = keys[start:start + 900]
        for rid, subject_key, record_key, digest in db_session.execute(
                select(Record.id, Record.subject_key, Record.record_key, Record.digest).where(
                    Record.dataset_id == dataset_id, Record.ended_at.is_(None),
                    Record.subject_key.in_(part))):
            out[(subject_key, record_key)] = (rid, digest)
    return out


def _end(db_session: Session, ends: list[dict[str, Any]]) -> None:
    stmt = (update(Record).where(Record.id == bindparam("rid"))
            .values(ended_at=bindparam("ended_at"), end_reason=bindparam("end_reason"),
                    superseded_by=bindparam("successor")))
    for start in range(0, len(ends), CHUNK):
        db_session.connection().execute(stmt, ends[start:start + CHUNK])


def _all_current(db_session: Session, dataset_id: uuid.UUID) -> Iterator[tuple[Any, ...]]:
    yield from db_session.execute(select(Record.id, Record.subject_key, Record.record_key)
                                  .where(Record.dataset_id == dataset_id,
                                         Record.ended_at.is_(None)))


@dataclass
class _Plan:
    inserts: list[dict[str, Any]] = field(default_factory=list)
    ends: list[dict[str, Any]] = field(default_factory=list)
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0


def _plan(db_session: Session, settings: Settings, dataset: Dataset, rows: list[_Row],
          batch: ImportBatch, mode: str, now: datetime) -> _Plan:
    current = _current(db_session, dataset.id, sorted({r.subject.key for r in rows}))
    plan = _Plan()
    named: set[tuple[str, str]] = set()
    for row in rows:
        where = (row.subject.key, row.record_key)
        named.add(where)
        existing = current.get(where)
        if row.op == "delete":
            if existing is not None:
                plan.ends.append({"rid": existing[0], "ended_at": now, "end_reason": "deleted",
                                  "successor": None})
                plan.deleted += 1
            continue
        digest = registries.values_digest(settings=settings, values={
            "plain": row.plain, "personal": row.personal, "subject": row.subject.key})
        if existing is not None and existing[1] == digest:
            plan.unchanged += 1
            continue
        rid = new_id()
        plan.inserts.append({
            "id": rid, "dataset_id": dataset.id, "subject_key": row.subject.key,
            "subject_enc": registries.seal_subject(settings=settings,
                                                   identifier=row.subject.identifier),
            "subject_masked": row.subject.masked, "record_key": row.record_key,
            "values": row.plain,
            "personal_enc": registries.seal_values(settings=settings, values=row.personal),
            "digest": digest, "source": batch.source, "as_of": row.as_of, "recorded_at": now,
            "batch_id": batch.id, "ended_at": None, "end_reason": None, "superseded_by": None})
        if existing is None:
            plan.inserted += 1
        else:
            plan.ends.append({"rid": existing[0], "ended_at": now, "end_reason": "superseded",
                              "successor": rid})
            plan.updated += 1
    if mode == "full":
        for rid, subject_key, record_key in _all_current(db_session, dataset.id):
            if (subject_key, record_key) not in named:
                plan.ends.append({"rid": rid, "ended_at": now, "end_reason": "deleted",
                                  "successor": None})
                plan.deleted += 1
    return plan


def import_records(*, db_session: Session, settings: Settings, actor: Actor, dataset: str,
                   data: bytes, filename: str, mode: str = "incremental",
                   source: str | None = None, as_of: datetime | None = None,
                   now: datetime | None = None) -> ImportReport:
    """Import a CSV or .xlsx file into a dataset: all of it, or (with a report naming row
    and field of each problem) nothing."""
    if mode not in MODES:
        raise InvalidInput("导入方式应为 incremental 或 full / mode must be incremental or full",
                           details=[{"field": "mode", "message": mode}])
    now = now or utcnow()
    found = registries.get_dataset(db_session=db_session, code=dataset, for_update=True)
    owner = registries.authorise_owner(db_session=db_session, actor=actor, dataset=found)
    as_of = as_of or now
    fmt, rows = check_file(settings=settings, dataset=found, data=data, filename=filename,
                           as_of=as_of)
    batch = ImportBatch(
        id=new_id(), dataset_id=found.id, filename=(filename or "upload")[:255],
        sha256=hashlib.sha256(data).hexdigest(), format=fmt, mode=mode,
        source=(source or owner.name)[:200], as_of=as_of, rows=len(rows), imported_at=now,
        imported_by=actor.account_id, imported_by_name=actor.name)
    db_session.add(batch)
    db_session.flush()
    plan = _plan(db_session, settings, found, rows, batch, mode, now)
    _end(db_session, [e for e in plan.ends if e["successor"] is None])
    # A superseded record ends before its successor is inserted: one current row per key.
    _end(db_session, [e for e in plan.ends if e["successor"] is not None])
    for start in range(0, len(plan.inserts), CHUNK):
        db_session.execute(insert(Record), plan.inserts[start:start + CHUNK])
    batch.inserted, batch.updated = plan.inserted, plan.updated
    batch.unchanged, batch.deleted = plan.unchanged, plan.deleted
    db_session.flush()
    report = ImportReport(batch_id=batch.id, dataset=found.code, rows=len(rows),
                          inserted=plan.inserted, updated=plan.updated,
                          unchanged=plan.unchanged, deleted=plan.deleted, as_of=as_of,
                          source=batch.source)
    audit(db_session=db_session, actor_id=actor.account_id, actor_name=actor.name,
          action="sharing.import", entity="sharing_dataset", entity_id=found.code,
          details={**report.model_dump(mode="json"), "filename": batch.filename,
                   "sha256": batch.sha256, "mode": mode})
    return report


def list_batches(*, db_session: Session, dataset: str, limit: int = 50) -> list[ImportBatch]:
    """A dataset's imports, newest first."""
    found = registries.get_dataset(db_session=db_session, code=dataset)
    return list(db_session.scalars(select(ImportBatch).where(
        ImportBatch.dataset_id == found.id).order_by(ImportBatch.imported_at.desc())
        .limit(max(1, min(limit, 500)))))
