"""Catalog import and export (docs/catalog-format.md), JSON or .xlsx, all or nothing.

Import validates the whole document first and collects every problem as
`{sheet, row, field, message}` (row 1-based as in the file: the list position in JSON, the
spreadsheet row in .xlsx); any problem raises InvalidInput with all of them and nothing is
written. Only then are departments, items and implementations written through the same
service functions the API uses.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from openpyxl import Workbook, load_workbook
from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from tongban.audit import service as audit
from tongban.catalog import service
from tongban.catalog.models import (
    Department,
    Implementation,
    ImplementationVersion,
    Region,
    ServiceItem,
)
from tongban.catalog.schemas import (
    FORMAT,
    DepartmentIn,
    ImportErrorRow,
    ImportImplementation,
    ImportReport,
    ItemIn,
)
from tongban.errors import Conflict, DomainError, Forbidden, InvalidInput
from tongban.identity.actor import Actor

SECTIONS = ("departments", "items", "implementations")
MAX_REPORTED_ERRORS = 500
Progress = Callable[[str, int, int], None]

# .xlsx layout: sheet -> columns (all written on export; `required` ones must be present).
DEPT_COLS = ["name", "region_code", "credit_code", "kind", "level"]
ITEM_COLS = ["basic_code", "name", "item_type", "use_levels", "legal_basis", "description",
             "topics"]
IMPL_COLS = [
    "implementation_code", "basic_code", "department_credit_code", "region_code", "level",
    "name", "publish", "item_kind", "applicant_types", "acceptance_conditions", "legal_days",
    "promised_days", "handling_forms", "online_depth", "visits", "cross_region_modes",
    "special_procedures", "legal_basis", "result_name", "result_kind", "result_licence_type",
    "window_address", "window_phone", "office_hours", "form_schema",
]
MATERIAL_COLS = ["implementation_code", "code", "name", "required", "key",
                 "deficiency_allowed", "form", "count", "source", "licence_type", "dataset",
                 "note"]
STEP_COLS = ["implementation_code", "name", "days", "description"]
FEE_COLS = ["implementation_code", "name", "amount", "basis"]
SHEETS: dict[str, tuple[list[str], set[str]]] = {
    "departments": (DEPT_COLS, {"name", "region_code", "credit_code", "level"}),
    "items": (ITEM_COLS, {"basic_code", "name", "item_type", "use_levels"}),
    "implementations": (IMPL_COLS, {
        "implementation_code", "basic_code", "department_credit_code", "region_code", "level",
        "name", "item_kind", "applicant_types", "legal_days", "promised_days",
        "handling_forms", "online_depth", "result_name", "form_schema"}),
    "materials": (MATERIAL_COLS, {"implementation_code", "code", "name"}),
    "steps": (STEP_COLS, {"implementation_code", "name"}),
    "fees": (FEE_COLS, {"implementation_code", "name", "amount"}),
}
NESTED = ("materials", "steps", "fees")
LIST_COLS = {"applicant_types", "acceptance_conditions", "handling_forms",
             "cross_region_modes", "special_procedures", "topics", "use_levels"}
BOOL_COLS = {"publish", "required", "key", "deficiency_allowed"}
INT_COLS = {"level", "legal_days", "promised_days", "online_depth", "visits", "count", "days"}
# Implementation columns that are not guide fields.
IMPL_OWN = {"implementation_code", "basic_code", "department_credit_code", "region_code",
            "level", "name", "publish", "form_schema"}
_TRUE = {"true", "1", "yes", "y", "是", "t"}
_FALSE = {"false", "0", "no", "n", "否", "f"}


# ================================================================ where an error is


class Locator:
    """Maps (section, index, pydantic loc) to (sheet, row as in the file, field)."""

    def where(self, section: str, index: int, loc: Sequence[Any]) -> tuple[str, int | None,
                                                                            str | None]:
        field_name = ""
        for part in loc:
            field_name += f"[{part}]" if isinstance(part, int) else (
                f".{part}" if field_name else str(part))
        return section, index + 1, field_name or None


@dataclass
class XlsxLocator(Locator):
    rows: dict[str, list[int]] = field(default_factory=dict)
    # nested[sheet][implementation index] -> spreadsheet rows of its materials/steps/fees.
    nested: dict[str, dict[int, list[int]]] = field(default_factory=dict)

    def where(self, section: str, index: int, loc: Sequence[Any]) -> tuple[str, int | None,
                                                                            str | None]:
        row = self.rows.get(section, [])[index] if index < len(self.rows.get(section, [])) \
            else None
        parts = list(loc)
        if section != "implementations" or not parts:
            return section, row, str(parts[0]) if parts else None
        if parts[0] != "guide" or len(parts) < 2:
            return section, row, str(parts[0])
        sub = parts[1]
        if sub in NESTED:
            rows = self.nested.get(sub, {}).get(index, [])
            if len(parts) > 2 and isinstance(parts[2], int) and parts[2] < len(rows):
                return sub, rows[parts[2]], str(parts[3]) if len(parts) > 3 else None
            return sub, rows[0] if rows else row, None
        if sub == "result":
            return section, row, f"result_{parts[2]}" if len(parts) > 2 else "result_name"
        return section, row, str(sub)


@dataclass
class _Errors:
    locator: Locator
    rows: list[ImportErrorRow] = field(default_factory=list)

    def add(self, section: str, index: int, loc: Sequence[Any], message: str) -> None:
        sheet, row, field_name = self.locator.where(section, index, loc)
        self.rows.append(ImportErrorRow(sheet=sheet, row=row, field=field_name, message=message))

    def add_validation(self, section: str, index: int, exc: ValidationError) -> None:
        for err in exc.errors():
            message = str(err["msg"]).removeprefix("Value error, ")
            self.add(section, index, err["loc"], message)


# ================================================================ reading .xlsx


def _cell(column: str, value: Any, put: Callable[[str], None]) -> Any:
    """One cell as the JSON value its column means; `put` reports a cell it cannot read."""
    if isinstance(value, str):
        value = value.strip()
    if value is None or value == "":
        return [] if column in LIST_COLS else None
    if column in LIST_COLS:
        parts = [p.strip() for p in str(value).split(";") if p.strip()]
        if column == "use_levels":
            return [int(p) if p.isdigit() else p for p in parts]
        return parts
    if column in BOOL_COLS:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        return True if text in _TRUE else False if text in _FALSE else value
    if column == "form_schema":
        try:
            return json.loads(value) if isinstance(value, str) else value
        except json.JSONDecodeError as exc:
            put(f"不是有效的 JSON / not valid JSON: {exc.msg} (char {exc.pos})")
            return None
    if column == "amount" and isinstance(value, int | float) and not isinstance(value, bool):
        return str(Decimal(str(value)))
    if column in INT_COLS:
        return value
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value) if not isinstance(value, bool) else value


def _sheet_rows(wb: Any, name: str, errors: list[ImportErrorRow]
                ) -> list[tuple[int, dict[str, Any]]]:
    """(spreadsheet row, {column: value}) of one sheet, checking its header."""
    columns, required = SHEETS[name]
    if name not in wb.sheetnames:
        errors.append(ImportErrorRow(sheet=name, row=None, field=None,
                                     message=f"缺少工作表 {name} / missing sheet {name}"))
        return []
    rows = wb[name].iter_rows(values_only=True)
    header = [str(h).strip() if h is not None else "" for h in next(rows, ())]
    for col in sorted(required - set(header)):
        errors.append(ImportErrorRow(sheet=name, row=1, field=col,
                                     message=f"缺少列 {col} / missing column {col}"))
    for col in header:
        if col and col not in columns:
            errors.append(ImportErrorRow(sheet=name, row=1, field=col,
                                         message=f"未知列 {col} / unknown column {col}"))
    out: list[tuple[int, dict[str, Any]]] = []
    for number, values in enumerate(rows, start=2):
        if all(v is None or (isinstance(v, str) and not v.strip()) for v in values):
            continue
        record: dict[str, Any] = {}
        for col, raw in zip(header, values, strict=False):
            if not col or col not in columns:
                continue

            def put(message: str, col: str = col, number: int = number) -> None:
                errors.append(ImportErrorRow(sheet=name, row=number, field=col, message=message))

            value = _cell(col, raw, put)
            if value is not None:
                record[col] = value
        out.append((number, record))
    return out


def _implementation_from_row(record: dict[str, Any]) -> dict[str, Any]:
    impl = {k: v for k, v in record.items() if k in IMPL_OWN}
    guide = {k: v for k, v in record.items() if k not in IMPL_OWN and not k.startswith("result_")}
    result = {k.removeprefix("result_"): v for k, v in record.items() if k.startswith("result_")}
    guide["result"] = result
    impl["guide"] = guide
    return impl


def read_xlsx(data: bytes) -> tuple[dict[str, Any], XlsxLocator, list[ImportErrorRow]]:
    """An exchange document from a workbook, where each value came from, and read errors."""
    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise InvalidInput(f"不是有效的 .xlsx 文件 / not a valid .xlsx file: {exc}") from None
    errors: list[ImportErrorRow] = []
    sheets = {name: _sheet_rows(wb, name, errors) for name in SHEETS}
    wb.close()
    loc = XlsxLocator(rows={s: [n for n, _ in sheets[s]] for s in SECTIONS})
    doc: dict[str, Any] = {"format": FORMAT,
                           "departments": [r for _, r in sheets["departments"]],
                           "items": [r for _, r in sheets["items"]], "implementations": []}
    by_code: dict[str, int] = {}
    for index, (_, record) in enumerate(sheets["implementations"]):
        impl = _implementation_from_row(record)
        doc["implementations"].append(impl)
        code = record.get("implementation_code") or "{}{}{}".format(
            record.get("department_credit_code", ""), record.get("level", ""),
            record.get("basic_code", ""))
        by_code.setdefault(str(code), index)
    for sheet in NESTED:
        loc.nested[sheet] = {}
        for number, record in sheets[sheet]:
            code = str(record.pop("implementation_code", "") or "")
            if code not in by_code:
                errors.append(ImportErrorRow(
                    sheet=sheet, row=number, field="implementation_code",
                    message=f"实施编码 {code!r} 不在 implementations 表中 / unknown "
                            f"implementation_code"))
                continue
            index = by_code[code]
            doc["implementations"][index]["guide"].setdefault(sheet, []).append(record)
            loc.nested[sheet].setdefault(index, []).append(number)
    return doc, loc, errors


# ================================================================ validation


@dataclass
class _Plan:
    departments: list[DepartmentIn]
    items: list[ItemIn]
    implementations: list[ImportImplementation]


def _existing(db_session: Session, column: Any, values: Iterable[str]) -> set[str]:
    """Which of `values` already exist in `column` (looked up in chunks)."""
    wanted, found = sorted(set(values)), set[str]()
    for start in range(0, len(wanted), 500):
        chunk = wanted[start:start + 500]
        found.update(db_session.scalars(select(column).where(column.in_(chunk))))
    return found


def _parse(errors: _Errors, section: str, raws: list[Any], model: type[BaseModel]
           ) -> list[tuple[int, Any]]:
    parsed = []
    for index, raw in enumerate(raws):
        try:
            parsed.append((index, model.model_validate(raw)))
        except ValidationError as exc:
            errors.add_validation(section, index, exc)
    return parsed


def _duplicates(errors: _Errors, section: str, rows: list[tuple[int, Any]], key: str,
                in_db: set[str], label: str) -> list[tuple[int, Any]]:
    """Rows whose `key` is new to the file and the database; errors for the rest."""
    seen: dict[str, int] = {}
    fresh = []
    for index, row in rows:
        value = getattr(row, key)
        if value in seen:
            errors.add(section, index, [key], f"{label} {value} 在文件中重复(见第 "
                       f"{errors.locator.where(section, seen[value], [])[1]} 行)/ duplicate "
                       f"{key} in the file")
        elif value in in_db:
            errors.add(section, index, [key], f"{label} {value} 已存在于数据库 / {key} "
                                              f"already exists")
        else:
            seen[value] = index
            fresh.append((index, row))
    return fresh


def _check_scope(errors: list[ImportErrorRow], where: tuple[str, int | None, str | None],
                 actor: Actor, region_code: str, department_id: Any = None) -> None:
    try:
        service.authorise_region(actor=actor, region_code=region_code,
                                 department_id=department_id)
    except Forbidden as exc:
        errors.append(ImportErrorRow(sheet=where[0], row=where[1], field=where[2],
                                     message=exc.message))


def _validate(db_session: Session, doc: Any, locator: Locator, actor: Actor
              ) -> tuple[_Plan, list[ImportErrorRow], list[ImportErrorRow]]:
    """Every problem of the document (and every scope problem), before any write."""
    errors = _Errors(locator)
    scope: list[ImportErrorRow] = []
    if not isinstance(doc, dict):
        raise InvalidInput("导入文件应为 JSON 对象 / the document must be a JSON object")
    if doc.get("format") != FORMAT:
        errors.rows.append(ImportErrorRow(sheet="document", row=None, field="format",
                                          message=f"format 应为 {FORMAT!r} / format must be "
                                                  f"{FORMAT!r}"))
    for key in sorted(set(doc) - {"format", *SECTIONS}):
        errors.rows.append(ImportErrorRow(sheet="document", row=None, field=key,
                                          message=f"未知字段 / unknown field {key}"))
    sections: dict[str, list[Any]] = {}
    for section in SECTIONS:
        value = doc.get(section, [])
        if not isinstance(value, list):
            errors.rows.append(ImportErrorRow(sheet=section, row=None, field=None,
                                              message=f"{section} 应为列表 / must be a list"))
            value = []
        sections[section] = value

    departments = _parse(errors, "departments", sections["departments"], DepartmentIn)
    items = _parse(errors, "items", sections["items"], ItemIn)
    impls = _parse(errors, "implementations", sections["implementations"],
                   ImportImplementation)
    region_codes = {d.region_code for _, d in departments} | {i.region_code for _, i in impls}
    regions = {r.code: r for r in db_session.scalars(
        select(Region).where(Region.code.in_(sorted(region_codes))))} if region_codes else {}

    departments = _duplicates(errors, "departments", departments, "credit_code", _existing(
        db_session, Department.credit_code, [d.credit_code for _, d in departments]),
        "统一社会信用代码")
    for index, dept in departments:
        if dept.region_code not in regions:
            errors.add("departments", index, ["region_code"],
                       f"行政区划代码 {dept.region_code} 不存在 / unknown region code")
        else:
            _check_scope(scope, locator.where("departments", index, ["region_code"]), actor,
                         dept.region_code)
    items = _duplicates(errors, "items", items, "basic_code", _existing(
        db_session, ServiceItem.basic_code, [i.basic_code for _, i in items]), "基本编码")
    _validate_implementations(db_session, errors, scope, impls, departments, items, regions,
                              actor)
    plan = _Plan([d for _, d in departments], [i for _, i in items], [i for _, i in impls])
    return plan, errors.rows, scope


def _validate_implementations(
    db_session: Session, errors: _Errors, scope: list[ImportErrorRow],
    impls: list[tuple[int, ImportImplementation]], departments: list[tuple[int, DepartmentIn]],
    items: list[tuple[int, ItemIn]], regions: dict[str, Region], actor: Actor,
) -> None:
    """Each implementation against its department and item (in the file or the database)."""
    dept_facts: dict[str, tuple[str, Any]] = {d.credit_code: (d.region_code, None)
                                              for _, d in departments}
    for d in db_session.scalars(select(Department).where(Department.credit_code.in_(
            sorted({i.department_credit_code for _, i in impls} - set(dept_facts))))):
        dept_facts[d.credit_code] = (d.region_code, d.id)
    item_levels: dict[str, list[int]] = {i.basic_code: i.use_levels for _, i in items}
    for it in db_session.scalars(select(ServiceItem).where(ServiceItem.basic_code.in_(
            sorted({i.basic_code for _, i in impls} - set(item_levels))))):
        item_levels[it.basic_code] = list(it.use_levels)
    in_db = _existing(db_session, Implementation.implementation_code, [
        service.derive_implementation_code(credit_code=i.department_credit_code,
                                           level=i.level, basic_code=i.basic_code)
        for _, i in impls])
    seen: dict[str, int] = {}
    for index, impl in impls:
        facts = dept_facts.get(impl.department_credit_code)
        if facts is None:
            errors.add("implementations", index, ["department_credit_code"],
                       f"部门 {impl.department_credit_code} 不在文件或数据库中 / unknown "
                       f"department")
        if impl.basic_code not in item_levels:
            errors.add("implementations", index, ["basic_code"],
                       f"基本编码 {impl.basic_code} 不在文件或数据库中 / unknown item")
        if facts is None or impl.basic_code not in item_levels:
            continue
        for field_name, message in service.implementation_problems(
                data=impl, department_region=facts[0],
                department_credit_code=impl.department_credit_code,
                item_use_levels=item_levels[impl.basic_code],
                region_known=impl.region_code in regions):
            errors.add("implementations", index, [field_name], message)
        code = service.derive_implementation_code(
            credit_code=impl.department_credit_code, level=impl.level,
            basic_code=impl.basic_code)
        if code in seen:
            errors.add("implementations", index, ["implementation_code"],
                       f"实施编码 {code} 在文件中重复 / duplicate implementation_code in the file")
        elif code in in_db:
            errors.add("implementations", index, ["implementation_code"],
                       f"实施编码 {code} 已存在于数据库 / implementation_code already exists")
        seen.setdefault(code, index)
        _check_scope(scope, errors.locator.where("implementations", index, ["region_code"]),
                     actor, impl.region_code, facts[1])


# ================================================================ import


def import_document(*, db_session: Session, doc: dict[str, Any] | bytes, actor: Actor,
                    progress: Progress | None = None) -> ImportReport:
    """Import a catalog document (a JSON object, or .xlsx bytes): all of it, or nothing."""
    read_errors: list[ImportErrorRow] = []
    locator: Locator
    if isinstance(doc, dict) and _too_deep(doc):
        raise _nested_too_deep()
    if isinstance(doc, bytes | bytearray):
        parsed, locator, read_errors = read_xlsx(bytes(doc))
        source = "xlsx"
    else:
        parsed, locator, source = doc, Locator(), "json"
    plan, errors, scope = _validate(db_session, parsed, locator, actor)
    errors = sorted(read_errors + errors, key=_file_order)
    if errors:
        raise InvalidInput(
            f"导入失败:共 {len(errors)} 处错误,未写入任何数据 / import failed with "
            f"{len(errors)} errors; nothing was written. First: " + _describe(errors[0]),
            details=[e.model_dump() for e in errors[:MAX_REPORTED_ERRORS]],
        )
    if scope:
        raise Forbidden(
            "导入内容超出您的管理范围 / the document reaches outside your scope. First: "
            + _describe(scope[0]),
            details=[e.model_dump() for e in scope[:MAX_REPORTED_ERRORS]],
        )
    report = _write(db_session, plan, actor, progress)
    audit.record(db_session=db_session, actor_id=actor.account_id, actor_name=actor.name,
                 action="catalog.import", entity="catalog", entity_id=source,
                 details=report.model_dump())
    return report


def _file_order(error: ImportErrorRow) -> tuple[int, int]:
    """Errors in the order a person reads the file: sheet by sheet, row by row."""
    order = ["document", *SHEETS]
    sheet = order.index(error.sheet) if error.sheet in order else len(order)
    return sheet, error.row or 0


def _describe(error: ImportErrorRow) -> str:
    where = ", ".join(p for p in (error.sheet, f"row {error.row}" if error.row else "",
                                  error.field or "") if p)
    return f"[{where}] {error.message}"


def _write(db_session: Session, plan: _Plan, actor: Actor, progress: Progress | None
           ) -> ImportReport:
    """Write a validated plan through the service (same rules and audit as the API)."""
    total = len(plan.departments) + len(plan.items) + len(plan.implementations)
    done, published = 0, 0

    def tick(stage: str) -> None:
        nonlocal done
        done += 1
        if progress:
            progress(stage, done, total)

    try:
        for dept in plan.departments:
            service.create_department(db_session=db_session, actor=actor, data=dept)
            tick("departments")
        for item in plan.items:
            service.create_item(db_session=db_session, actor=actor, data=item)
            tick("items")
        for impl in plan.implementations:
            version = service.create_draft(db_session=db_session, actor=actor, data=impl)
            if impl.publish:
                service.publish(db_session=db_session, actor=actor,
                                implementation_code=version.implementation_code)
                published += 1
            tick("implementations")
    except DomainError as exc:  # validated above, so only a concurrent writer gets here
        raise type(exc)(f"导入中止,未写入任何数据 / import aborted, nothing written: "
                        f"{exc.message}", details=exc.details) from exc
    return ImportReport(departments=len(plan.departments), items=len(plan.items),
                        implementations=len(plan.implementations), published=published)


def read_file(path: Any) -> dict[str, Any] | bytes:
    """A document from a .json or .xlsx file, as import_document takes it."""
    from pathlib import Path

    p = Path(path)
    if p.suffix.lower() == ".xlsx":
        return p.read_bytes()
    if p.suffix.lower() != ".json":
        raise InvalidInput(f"只支持 .json 和 .xlsx / only .json and .xlsx files: {p.name}")
    return parse_json(p.read_bytes())


# A catalog document is a few levels deep (sections, rows, guide, materials, a form schema):
# anything far deeper is refused before it is walked (a 50,000-deep import was a 500).
MAX_DEPTH = 40


def parse_json(raw: bytes) -> dict[str, Any]:
    """A JSON catalog document; InvalidInput when it is not JSON, not an object or nested
    deeper than MAX_DEPTH."""
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"JSON 无效 / invalid JSON: {exc.msg} (line {exc.lineno})") from None
    except UnicodeDecodeError:
        raise InvalidInput("JSON 无效 / invalid JSON: not UTF-8") from None
    except RecursionError:
        value = None  # deeper than the parser goes
    if value is None or _too_deep(value):
        raise _nested_too_deep()
    if not isinstance(value, dict):
        raise InvalidInput("导入文件应为 JSON 对象 / the document must be a JSON object")
    return value


def _nested_too_deep() -> InvalidInput:
    return InvalidInput(f"JSON 嵌套超过 {MAX_DEPTH} 层 / the document is nested deeper than "
                        f"{MAX_DEPTH} levels", code="too_deep")


def _too_deep(value: Any) -> bool:
    """Whether a parsed JSON value nests more than MAX_DEPTH levels (without recursion)."""
    level: list[Any] = [value]
    for _ in range(MAX_DEPTH + 1):
        level = [child for node in level
                 for child in (node.values() if isinstance(node, dict) else
                               node if isinstance(node, list) else ())]
        if not level:
            return False
    return True


# ================================================================ export


def _exported_version(db_session: Session, impl: Implementation
                      ) -> tuple[ImplementationVersion, bool]:
    """The published version if there is one, else the latest (kept as a draft)."""
    if impl.current_version_id is not None:
        return service.get_version(db_session=db_session, version_id=impl.current_version_id), True
    latest = db_session.scalars(
        select(ImplementationVersion).where(ImplementationVersion.implementation_id == impl.id)
        .order_by(ImplementationVersion.version.desc()).limit(1)).one()
    return latest, False


def _exported_item(item: ServiceItem) -> dict[str, Any]:
    """An item as the document carries it; a row written before its rules were checked on
    write (an empty use_levels) is named with what to fix, never a bare server error."""
    try:
        return ItemIn.model_validate(item, from_attributes=True).model_dump(mode="json")
    except ValidationError as exc:
        fields = sorted({str(e["loc"][0]) for e in exc.errors() if e["loc"]})
        raise Conflict(f"事项 {item.basic_code} 的数据不完整,无法导出:{', '.join(fields)} / "
                       f"item {item.basic_code} cannot be exported until {', '.join(fields)} "
                       f"is fixed (PATCH /items/{item.basic_code})", code="item_invalid",
                       details={"basic_code": item.basic_code, "fields": fields}) from None


def build_document(*, db_session: Session) -> dict[str, Any]:
    """The whole catalog as an exchange document (regions excepted: they are shipped)."""
    departments = db_session.scalars(select(Department).order_by(Department.credit_code))
    items = db_session.scalars(select(ServiceItem).order_by(ServiceItem.basic_code))
    impls = db_session.scalars(select(Implementation).order_by(
        Implementation.implementation_code))
    doc: dict[str, Any] = {
        "format": FORMAT,
        "departments": [DepartmentIn.model_validate(d, from_attributes=True).model_dump(
            mode="json") for d in departments],
        "items": [_exported_item(i) for i in items],
        "implementations": [],
    }
    for impl in impls:
        version, published = _exported_version(db_session, impl)
        code = impl.implementation_code
        doc["implementations"].append({
            "basic_code": code[19:], "department_credit_code": code[:18],
            "region_code": impl.region_code, "level": int(code[18]),
            "implementation_code": code, "name": version.name, "publish": published,
            "guide": version.guide, "form_schema": version.form_schema,
        })
    return doc


def _flat(value: Any) -> Any:
    if isinstance(value, list):
        return ";".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return value


def _sheet(wb: Workbook, name: str, rows: Iterable[dict[str, Any]]) -> None:
    ws = wb.create_sheet(name)
    columns = SHEETS[name][0]
    ws.append(columns)
    for row in rows:
        ws.append([_flat(row.get(c)) for c in columns])


def document_to_xlsx(doc: dict[str, Any]) -> bytes:
    """The .xlsx form of an exchange document (nested lists in their own sheets)."""
    wb = Workbook()
    wb.remove(wb.active)
    _sheet(wb, "departments", doc["departments"])
    _sheet(wb, "items", doc["items"])
    impl_rows: list[dict[str, Any]] = []
    nested: dict[str, list[dict[str, Any]]] = {s: [] for s in NESTED}
    for impl in doc["implementations"]:
        guide = impl["guide"]
        row = {k: v for k, v in impl.items() if k != "guide"}
        row.update({k: v for k, v in guide.items() if k not in (*NESTED, "result")})
        row.update({f"result_{k}": v for k, v in guide["result"].items()})
        impl_rows.append(row)
        for sheet in NESTED:
            nested[sheet].extend({"implementation_code": impl["implementation_code"], **entry}
                                 for entry in guide.get(sheet, []))
    _sheet(wb, "implementations", impl_rows)
    for sheet in NESTED:
        _sheet(wb, sheet, nested[sheet])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def export_document(*, db_session: Session, fmt: str = "json") -> dict[str, Any] | bytes:
    """The catalog as a JSON document or .xlsx bytes; importing it elsewhere rebuilds it."""
    if fmt not in ("json", "xlsx"):
        raise InvalidInput("format 只能是 json 或 xlsx / format must be json or xlsx",
                           details={"field": "format"})
    doc = build_document(db_session=db_session)
    return doc if fmt == "json" else document_to_xlsx(doc)
