"""The catalog's rules: regions, departments, standard items, implementations and their
versions, the guide page and search.

Every function is keyword-only and never commits: the request or CLI command owns the
transaction. Writes check the actor's scope and append an audit entry in the same
transaction. Other domains call `get_version`, `get_current_version`, `guide`,
`get_department*`, `get_item_by_code`, `get_region`, `ensure_region_exists` and `search`.
"""

from __future__ import annotations

import csv
import json
import uuid
from collections.abc import Callable, Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from tongban.audit import service as audit
from tongban.catalog import search as search_sql
from tongban.catalog.models import (
    Department,
    Implementation,
    ImplementationVersion,
    Region,
    SearchEntry,
    ServiceItem,
    VersionState,
)
from tongban.catalog.schemas import (
    REGION_CODE_RE,
    DepartmentIn,
    DepartmentOut,
    DraftIn,
    Guide,
    GuidePage,
    ImplementationIn,
    ItemIn,
    ItemOut,
    ItemUpdate,
    RegionDetail,
    RegionOut,
    SearchHit,
    SearchPage,
)
from tongban.db import new_id, utcnow
from tongban.errors import Conflict, Forbidden, InvalidInput, NotFound
from tongban.identity.actor import SYSTEM_ACTOR, Actor, region_covers, region_prefix
from tongban.identity.models import Role

DEFAULT_REGIONS_CSV = Path(__file__).parent / "data" / "regions.csv"
REGION_COLUMNS = ("code", "name", "level", "parent_code")
# Placeholder names in GB/T 2260 that say nothing to a person searching.
_PLACEHOLDER_REGIONS = {"全国", "市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划"}

# Version state machine: (action, from) -> to. Anything else is refused.
TRANSITIONS: dict[tuple[str, str], str] = {
    ("publish", VersionState.draft): VersionState.published,
    ("supersede", VersionState.published): VersionState.superseded,
    ("withdraw", VersionState.published): VersionState.withdrawn,
}

Progress = Callable[[int, int], None]


# ================================================================ authorisation and audit


def _is_node(actor: Actor) -> bool:
    """The node itself (CLI, seeding) acts as the system operator, without an account."""
    return actor.account_id is None and actor.has(Role.operator)


def authorise_region(*, actor: Actor, region_code: str,
                     department_id: uuid.UUID | None = None) -> None:
    """Catalog writes need catalog_admin with a scope covering the region (and department)."""
    if _is_node(actor):
        return
    if actor.has(Role.catalog_admin) and actor.covers(region_code, department_id):
        return
    raise Forbidden(
        f"您的管理范围不包含地区 {region_code} / your scope does not cover region {region_code}",
        details={"region_code": region_code, "required_roles": [Role.catalog_admin.value]},
    )


def authorise_standard(*, actor: Actor) -> None:
    """The standard catalog is kept at province level or above, not per department."""
    if _is_node(actor):
        return
    if actor.has(Role.catalog_admin) and any(
        s.department_id is None and (len(s.region_code) == 6 and s.region_code.endswith("0000"))
        for s in actor.scopes
    ):
        return
    raise Forbidden(
        "基本目录须由省级及以上事项管理员维护 / only a province-wide (or national) "
        "catalog_admin may change the standard catalog",
        details={"required_roles": [Role.catalog_admin.value]},
    )


def _audit(db_session: Session, actor: Actor, action: str, entity: str, entity_id: str,
           **details: Any) -> None:
    audit.record(
        db_session=db_session, actor_id=actor.account_id, actor_name=actor.name,
        action=f"catalog.{action}", entity=entity, entity_id=entity_id, details=details,
    )


# ================================================================ regions


def _read_regions_csv(path: Path) -> list[tuple[int, dict[str, str]]]:
    """(line number, row) of a regions CSV; '#' lines are comments."""
    with path.open(encoding="utf-8-sig", newline="") as fh:
        numbered = [(n, line) for n, line in enumerate(fh, start=1)
                    if line.strip() and not line.lstrip().startswith("#")]
    if not numbered:
        raise InvalidInput(f"行政区划文件为空 / regions file {path} is empty")
    reader = csv.DictReader(line for _, line in numbered)
    missing = [c for c in REGION_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise InvalidInput(
            f"行政区划文件缺少列 {missing} / regions file lacks columns {missing}",
            details=[{"sheet": path.name, "row": numbered[0][0], "field": c,
                      "message": "missing column"} for c in missing],
        )
    return [(numbered[i + 1][0], row) for i, row in enumerate(reader)]


def _region_rows(path: Path, known: set[str]) -> list[Region]:
    """Validated regions of a CSV, parents before children."""
    errors: list[dict[str, Any]] = []
    rows: dict[str, Region] = {}
    for line, raw in _read_regions_csv(path):
        code = (raw.get("code") or "").strip()
        parent_code = (raw.get("parent_code") or "").strip()

        def bad(field: str, message: str, line: int = line) -> None:
            errors.append({"sheet": path.name, "row": line, "field": field, "message": message})

        if not REGION_CODE_RE.match(code):
            bad("code", f"行政区划代码无效 / invalid region code {code!r}")
            continue
        if code in rows:
            bad("code", f"行政区划代码重复 / duplicate region code {code}")
        try:
            level = int((raw.get("level") or "").strip())
        except ValueError:
            bad("level", f"层级应为整数 / level must be an integer, got {raw.get('level')!r}")
            continue
        rows[code] = Region(code=code, name=(raw.get("name") or "").strip(), level=level,
                            parent_code=parent_code or None)
    for region in rows.values():
        parent = region.parent_code
        if parent and parent not in rows and parent not in known:
            errors.append({"sheet": path.name, "row": None, "field": "parent_code",
                           "message": f"{region.code}: 上级区划 {region.parent_code} 不存在 / "
                                      f"unknown parent region"})
    if errors:
        raise InvalidInput(
            f"行政区划文件有 {len(errors)} 处错误 / regions file has {len(errors)} errors",
            details=errors,
        )

    def depth(region: Region) -> int:
        n, code = 0, region.parent_code
        while code in rows and n < 10:
            n, code = n + 1, rows[code].parent_code
        return n

    return sorted(rows.values(), key=lambda r: (depth(r), r.code))


def load_regions(*, db_session: Session, path: Path | None = None, actor: Actor = SYSTEM_ACTOR,
                 progress: Progress | None = None) -> dict[str, int]:
    """Upsert the shipped GB/T 2260 table (idempotent), so codes elsewhere can be checked."""
    authorise_standard(actor=actor)
    path = path or DEFAULT_REGIONS_CSV
    existing = {r.code: r for r in db_session.scalars(select(Region))}
    incoming = _region_rows(path, set(existing))
    counts = {"inserted": 0, "updated": 0, "unchanged": 0}
    last_level: int | None = None
    for n, region in enumerate(incoming, start=1):
        if last_level is not None and region.level != last_level:
            db_session.flush()  # parents reach the database before their children
        last_level = region.level
        old = existing.get(region.code)
        if old is None:
            db_session.add(region)
            counts["inserted"] += 1
        elif (old.name, old.level, old.parent_code) != (region.name, region.level,
                                                        region.parent_code):
            old.name, old.level, old.parent_code = region.name, region.level, region.parent_code
            counts["updated"] += 1
        else:
            counts["unchanged"] += 1
        if progress and (n % 200 == 0 or n == len(incoming)):
            progress(n, len(incoming))
    db_session.flush()
    _audit(db_session, actor, "regions.load", "catalog_regions", path.name, **counts)
    return counts


def ensure_region_exists(*, db_session: Session, region_code: str) -> Region:
    """The region, or a 404 naming the code: other domains check codes with this."""
    region = db_session.get(Region, region_code)
    if region is None:
        raise NotFound(
            f"行政区划代码 {region_code} 不存在 / unknown region code {region_code}",
            details={"field": "region_code", "value": region_code},
        )
    return region


def region_chain(*, db_session: Session, region_code: str) -> list[Region]:
    """The region and every region above it, top first (national root included)."""
    chain = [ensure_region_exists(db_session=db_session, region_code=region_code)]
    while chain[-1].parent_code and len(chain) < 10:
        parent = db_session.get(Region, chain[-1].parent_code)
        if parent is None:
            break
        chain.append(parent)
    return list(reversed(chain))


def list_children(*, db_session: Session, parent_code: str | None) -> list[Region]:
    """The regions directly below a region (or the roots, for None), by code."""
    if parent_code is not None:
        ensure_region_exists(db_session=db_session, region_code=parent_code)
    cond = Region.parent_code.is_(None) if parent_code is None else (
        Region.parent_code == parent_code)
    return list(db_session.scalars(select(Region).where(cond).order_by(Region.code)))


def get_region(*, db_session: Session, region_code: str) -> RegionDetail:
    """A region with its parent chain and its children, for pickers and breadcrumbs."""
    chain = region_chain(db_session=db_session, region_code=region_code)
    region = chain[-1]
    return RegionDetail(
        **RegionOut.model_validate(region).model_dump(),
        parents=[RegionOut.model_validate(r) for r in chain[:-1]],
        children=[RegionOut.model_validate(r)
                  for r in list_children(db_session=db_session, parent_code=region.code)],
    )


# ================================================================ departments


def create_department(*, db_session: Session, actor: Actor, data: DepartmentIn) -> Department:
    """Register a 实施主体 in a known region, once per credit code."""
    ensure_region_exists(db_session=db_session, region_code=data.region_code)
    authorise_region(actor=actor, region_code=data.region_code)
    if _department_by_code(db_session, data.credit_code) is not None:
        raise Conflict(
            f"统一社会信用代码 {data.credit_code} 已登记 / credit code already registered",
            details={"field": "credit_code", "value": data.credit_code},
        )
    department = Department(**data.model_dump())
    db_session.add(department)
    db_session.flush()
    _audit(db_session, actor, "department.create", "catalog_department", str(department.id),
           credit_code=department.credit_code, region_code=department.region_code)
    return department


def _department_by_code(db_session: Session, credit_code: str) -> Department | None:
    return db_session.scalar(select(Department).where(Department.credit_code == credit_code))


def get_department(*, db_session: Session, department_id: uuid.UUID) -> Department:
    """One department by id."""
    department = db_session.get(Department, department_id)
    if department is None:
        raise NotFound("部门不存在 / department not found", details={"id": str(department_id)})
    return department


def get_department_by_credit_code(*, db_session: Session, credit_code: str) -> Department:
    """One department by its 统一社会信用代码 (the code that travels between nodes)."""
    department = _department_by_code(db_session, credit_code.strip().upper())
    if department is None:
        raise NotFound(
            f"统一社会信用代码 {credit_code} 对应的部门不存在 / "
            f"no department with this credit code",
            details={"field": "credit_code", "value": credit_code},
        )
    return department


def list_departments(*, db_session: Session, region_code: str | None = None, limit: int = 50,
                     cursor: str | None = None) -> tuple[list[Department], str | None]:
    """Departments, optionally in a region and the regions under it, by name."""
    search_sql.check_limit(limit)
    offset = search_sql.decode_cursor(cursor)
    stmt = select(Department).order_by(Department.region_code, Department.name, Department.id)
    if region_code:
        ensure_region_exists(db_session=db_session, region_code=region_code)
        stmt = stmt.where(search_sql.region_filter(Department.region_code, region_code))
    rows = list(db_session.scalars(stmt.offset(offset).limit(limit + 1)))
    return _page(rows, offset, limit)


def _page(rows: list[Any], offset: int, limit: int) -> tuple[list[Any], str | None]:
    more = len(rows) > limit
    return rows[:limit], search_sql.encode_cursor(offset + limit) if more else None


# ================================================================ standard items


def _item_pinyin(item: ServiceItem) -> None:
    item.name_pinyin, item.name_initials = search_sql.pinyin_of(item.name)


def create_item(*, db_session: Session, actor: Actor, data: ItemIn) -> ServiceItem:
    """Add a standard item; its 基本编码 is unique and never changes."""
    authorise_standard(actor=actor)
    if _item_by_code(db_session, data.basic_code) is not None:
        raise Conflict(
            f"基本编码 {data.basic_code} 已存在 / basic_code already exists",
            details={"field": "basic_code", "value": data.basic_code},
        )
    item = ServiceItem(**data.model_dump(mode="json"))
    _item_pinyin(item)
    db_session.add(item)
    db_session.flush()
    _audit(db_session, actor, "item.create", "catalog_item", str(item.id),
           basic_code=item.basic_code)
    return item


def update_item(*, db_session: Session, actor: Actor, basic_code: str,
                data: ItemUpdate) -> ServiceItem:
    """Change a standard item's description; search entries follow its new name."""
    authorise_standard(actor=actor)
    item = get_item_by_code(db_session=db_session, basic_code=basic_code)
    if data.use_levels is not None:
        _check_levels_in_use(db_session, item, data.use_levels)
    before = ItemOut.model_validate(item).model_dump(mode="json")
    for field, value in data.model_dump(mode="json", exclude_unset=True).items():
        if value is not None:
            setattr(item, field, value)
    _item_pinyin(item)
    db_session.flush()
    after = ItemOut.model_validate(item).model_dump(mode="json")
    changed = sorted(k for k in after if after[k] != before[k])
    for impl in db_session.scalars(select(Implementation).where(Implementation.item_id == item.id)):
        if impl.current_version_id is not None:
            _refresh_search_entry(db_session, impl)
    _audit(db_session, actor, "item.update", "catalog_item", str(item.id),
           basic_code=basic_code, changed=changed)
    return item


def _check_levels_in_use(db_session: Session, item: ServiceItem, levels: list[int]) -> None:
    """The item's implementations stay at one of its levels (the level is the 19th
    character of their code): dropping a level one of them uses is refused, 409."""
    codes = db_session.scalars(select(Implementation.implementation_code).where(
        Implementation.item_id == item.id).order_by(Implementation.implementation_code))
    stranded = [code for code in codes if int(code[18]) not in levels]
    if stranded:
        raise Conflict(f"仍有实施清单在层级 {sorted({int(c[18]) for c in stranded})} 实施,"
                       f"不能删去该层级 / implementations of this item are at a level left "
                       f"out of use_levels", code="levels_in_use",
                       details={"use_levels": levels, "implementations": stranded[:50]})


def _item_by_code(db_session: Session, basic_code: str) -> ServiceItem | None:
    return db_session.scalar(select(ServiceItem).where(ServiceItem.basic_code == basic_code))


def names_of(*, db_session: Session, kind: str, keys: Iterable[str]) -> dict[str, str]:
    """Names of many regions (codes), departments (ids as text) or items (basic codes) in
    one query: report labels. Unknown keys are left out."""
    wanted = sorted(set(keys))
    if not wanted:
        return {}
    stmt: Any
    if kind == "region":
        stmt = select(Region.code, Region.name).where(Region.code.in_(wanted))
    elif kind == "department":
        ids = []
        for key in wanted:
            try:
                ids.append(uuid.UUID(key))
            except ValueError:
                continue
        stmt = select(Department.id, Department.name).where(Department.id.in_(ids))
    elif kind == "item":
        stmt = select(ServiceItem.basic_code, ServiceItem.name).where(
            ServiceItem.basic_code.in_(wanted))
    else:
        raise ValueError(f"unknown kind {kind!r}")
    return {str(key): name for key, name in db_session.execute(stmt)}


def get_item_by_code(*, db_session: Session, basic_code: str) -> ServiceItem:
    """One standard item by its 基本编码."""
    item = _item_by_code(db_session, basic_code)
    if item is None:
        raise NotFound(
            f"基本编码 {basic_code} 不存在 / no item with basic_code {basic_code}",
            details={"field": "basic_code", "value": basic_code},
        )
    return item


def list_items(*, db_session: Session, q: str | None = None, item_type: str | None = None,
               limit: int = 20, cursor: str | None = None
               ) -> tuple[list[ServiceItem], str | None]:
    """Standard items, searched by Chinese, pinyin or initials, best match first."""
    search_sql.check_query(q)
    search_sql.check_limit(limit)
    offset = search_sql.decode_cursor(cursor)
    stmt = search_sql.items_query(q=q, item_type=item_type).offset(offset).limit(limit + 1)
    rows = [row[0] for row in db_session.execute(stmt)]
    return _page(rows, offset, limit)


# ================================================================ implementations: rules


def derive_implementation_code(*, credit_code: str, level: int, basic_code: str) -> str:
    """实施编码 = department credit code (18) + level digit (1) + 基本编码 (12)."""
    return f"{credit_code}{level}{basic_code}"


def implementation_code_problem(*, given: str, credit_code: str, level: int,
                                basic_code: str) -> str | None:
    """Why a given 实施编码 does not fit its department, level and item (None if it does)."""
    if len(given) != 31:
        return f"实施编码应为31位,实为{len(given)}位 / implementation_code must be 31 characters"
    parts = (
        (given[:18], credit_code, "第1-18位应为部门统一社会信用代码 / characters 1-18 must be "
                                  "the department's credit code"),
        (given[18], str(level), "第19位应为行使层级 / character 19 must be the level digit"),
        (given[19:], basic_code, "第20-31位应为基本编码 / characters 20-31 must be the "
                                 "basic_code"),
    )
    for got, want, message in parts:
        if got != want:
            return f"{message}: {got} ≠ {want}"
    return None


def form_schema_problem(schema: dict[str, Any]) -> str | None:
    """Why a form schema is not a usable JSON Schema (2020-12) of an object (None if it is)."""
    if not isinstance(schema, dict):
        return "form_schema 应为 JSON 对象 / form_schema must be a JSON object"
    return _schema_problem(json.dumps(schema, sort_keys=True, ensure_ascii=False))


@lru_cache(maxsize=4096)
def _schema_problem(canonical: str) -> str | None:
    """Checking against the meta-schema is slow (~10 ms); forms repeat, so remember."""
    schema = json.loads(canonical)
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = "/".join(str(p) for p in exc.path) or "(root)"
        return (f"表单不是有效的 JSON Schema / form_schema is not a valid JSON Schema "
                f"(2020-12) at {where}: {exc.message}")
    if schema.get("type") != "object":
        return 'form_schema 的 type 应为 "object" / a form schema must have "type": "object"'
    return None


def implementation_problems(*, data: ImplementationIn, department_region: str,
                            department_credit_code: str, item_use_levels: Iterable[int],
                            region_known: bool) -> list[tuple[str, str]]:
    """(field, message) for each rule an implementation breaks; shared with import."""
    problems: list[tuple[str, str]] = []
    if not region_known:
        problems.append(("region_code", f"行政区划代码 {data.region_code} 不存在 / "
                                        f"unknown region code"))
    elif not region_covers(department_region, data.region_code):
        problems.append(("region_code", f"实施地区 {data.region_code} 不在部门所在地区 "
                                        f"{department_region} 内 / region must be the "
                                        f"department's region or lie under it"))
    levels = list(item_use_levels)
    if levels and data.level not in levels:
        problems.append(("level", f"事项的行使层级为 {levels},不含 {data.level} / level "
                                  f"{data.level} is not among the item's use_levels"))
    if data.implementation_code:
        problem = implementation_code_problem(
            given=data.implementation_code, credit_code=department_credit_code,
            level=data.level, basic_code=data.basic_code)
        if problem:
            problems.append(("implementation_code", problem))
    schema_problem = form_schema_problem(data.form_schema)
    if schema_problem:
        problems.append(("form_schema", schema_problem))
    return problems


def _raise_problems(problems: list[tuple[str, str]]) -> None:
    if problems:
        raise InvalidInput(
            problems[0][1] if len(problems) == 1 else
            f"实施清单有 {len(problems)} 处错误 / implementation has {len(problems)} errors: "
            + "; ".join(m for _, m in problems),
            details=[{"field": f, "message": m} for f, m in problems],
        )


# ================================================================ implementations: writes


def _new_version(impl: Implementation, number: int, data: DraftIn, actor: Actor
                 ) -> ImplementationVersion:
    guide = data.guide
    return ImplementationVersion(
        implementation_id=impl.id, version=number, state=VersionState.draft, name=data.name,
        guide=guide.model_dump(mode="json"), form_schema=data.form_schema,
        legal_days=guide.legal_days, promised_days=guide.promised_days,
        created_by=actor.account_id,
    )


def create_draft(*, db_session: Session, actor: Actor,
                 data: ImplementationIn) -> ImplementationVersion:
    """Claim an item for a department in its region: the implementation and its draft v1."""
    department = get_department_by_credit_code(
        db_session=db_session, credit_code=data.department_credit_code)
    item = get_item_by_code(db_session=db_session, basic_code=data.basic_code)
    _raise_problems(implementation_problems(
        data=data, department_region=department.region_code,
        department_credit_code=department.credit_code, item_use_levels=item.use_levels,
        region_known=db_session.get(Region, data.region_code) is not None))
    authorise_region(actor=actor, region_code=data.region_code, department_id=department.id)
    code = derive_implementation_code(
        credit_code=department.credit_code, level=data.level, basic_code=item.basic_code)
    if _impl_by_code(db_session, code) is not None:
        raise Conflict(f"实施编码 {code} 已存在 / implementation_code already exists",
                       details={"field": "implementation_code", "value": code})
    impl = Implementation(id=new_id(), implementation_code=code, item_id=item.id,
                          department_id=department.id, region_code=data.region_code)
    impl.item, impl.department = item, department
    version = _new_version(impl, 1, data, actor)
    version.implementation = impl
    db_session.add_all([impl, version])
    db_session.flush()
    _audit(db_session, actor, "implementation.create", "catalog_implementation", code,
           version=1)
    return version


# Built once: every application looks its implementation up by code.
_IMPL_BY_CODE = select(Implementation).where(
    Implementation.implementation_code == bindparam("code"))


def _impl_by_code(db_session: Session, code: str) -> Implementation | None:
    return db_session.scalar(_IMPL_BY_CODE, {"code": code})


def get_implementation(*, db_session: Session, implementation_code: str) -> Implementation:
    """One implementation by its 实施编码."""
    impl = _impl_by_code(db_session, implementation_code)
    if impl is None:
        raise NotFound(
            f"实施编码 {implementation_code} 不存在 / no implementation with this code",
            details={"field": "implementation_code", "value": implementation_code},
        )
    return impl


def _latest(db_session: Session, impl: Implementation) -> ImplementationVersion | None:
    return db_session.scalar(
        select(ImplementationVersion)
        .where(ImplementationVersion.implementation_id == impl.id)
        .order_by(ImplementationVersion.version.desc()).limit(1))


def update_draft(*, db_session: Session, actor: Actor, implementation_code: str,
                 data: DraftIn) -> ImplementationVersion:
    """Edit the open draft, or open a new one: published versions are never edited."""
    impl = get_implementation(db_session=db_session, implementation_code=implementation_code)
    authorise_region(actor=actor, region_code=impl.region_code, department_id=impl.department_id)
    problem = form_schema_problem(data.form_schema)
    if problem:
        _raise_problems([("form_schema", problem)])
    latest = _latest(db_session, impl)
    if latest is not None and latest.state == VersionState.draft:
        fresh = _new_version(impl, latest.version, data, actor)
        for field in ("name", "guide", "form_schema", "legal_days", "promised_days",
                      "created_by"):
            setattr(latest, field, getattr(fresh, field))
        version, action = latest, "draft.update"
    else:
        version = _new_version(impl, (latest.version if latest else 0) + 1, data, actor)
        db_session.add(version)
        action = "draft.create"
    db_session.flush()
    _audit(db_session, actor, f"implementation.{action}", "catalog_implementation",
           implementation_code, version=version.version)
    return version


def _move(version: ImplementationVersion, action: str) -> None:
    """Apply one row of TRANSITIONS, or refuse."""
    target = TRANSITIONS.get((action, version.state))
    if target is None:
        raise Conflict(
            f"版本 {version.version} 处于 {version.state} 状态,不能 {action} / "
            f"cannot {action} a {version.state} version",
            details={"version": version.version, "state": version.state, "action": action},
        )
    version.state = target


def publish(*, db_session: Session, actor: Actor,
            implementation_code: str) -> ImplementationVersion:
    """Make the draft the guide applicants see; the previous one is superseded, unchanged."""
    impl = get_implementation(db_session=db_session, implementation_code=implementation_code)
    authorise_region(actor=actor, region_code=impl.region_code, department_id=impl.department_id)
    draft = _latest(db_session, impl)
    if draft is None or draft.state != VersionState.draft:
        raise Conflict("没有待发布的草稿 / there is no draft to publish",
                       details={"implementation_code": implementation_code})
    previous = db_session.get(ImplementationVersion, impl.current_version_id) \
        if impl.current_version_id else None
    if previous is not None:
        _move(previous, "supersede")
        db_session.flush()
    _move(draft, "publish")
    draft.published_at, draft.published_by = utcnow(), actor.account_id
    impl.current_version_id = draft.id
    db_session.flush()
    _refresh_search_entry(db_session, impl)
    _audit(db_session, actor, "implementation.publish", "catalog_implementation",
           implementation_code, version=draft.version,
           superseded=previous.version if previous else None)
    return draft


def withdraw(*, db_session: Session, actor: Actor, implementation_code: str,
             reason: str = "") -> ImplementationVersion:
    """Stop offering an implementation: its current version is withdrawn and leaves search."""
    impl = get_implementation(db_session=db_session, implementation_code=implementation_code)
    authorise_region(actor=actor, region_code=impl.region_code, department_id=impl.department_id)
    current = get_current_version(db_session=db_session, implementation_code=implementation_code)
    _move(current, "withdraw")
    impl.current_version_id = None
    entry = _search_entry(db_session, impl.id)
    if entry is not None:
        search_sql.drop_tokens(db_session, doc=entry.doc,
                               wanted=search_sql.tokens.entry_tokens(entry.text))
        db_session.delete(entry)
    db_session.flush()
    _audit(db_session, actor, "implementation.withdraw", "catalog_implementation",
           implementation_code, version=current.version, reason=reason)
    return current


def bump_popularity(*, db_session: Session, implementation_code: str, by: int = 1) -> None:
    """Count one more use (e.g. a case applied) so popular items rank first among equals."""
    impl = get_implementation(db_session=db_session, implementation_code=implementation_code)
    db_session.execute(update(SearchEntry).where(SearchEntry.implementation_id == impl.id)
                       .values(popularity=SearchEntry.popularity + by))


# ================================================================ implementations: reads


def get_version(*, db_session: Session, version_id: uuid.UUID) -> ImplementationVersion:
    """One version by id: the case engine reads the guide a case was applied under."""
    version = db_session.get(ImplementationVersion, version_id)
    if version is None:
        raise NotFound("实施清单版本不存在 / implementation version not found",
                       details={"version_id": str(version_id)})
    return version


def get_current_version(*, db_session: Session,
                        implementation_code: str) -> ImplementationVersion:
    """The published version applicants apply under now; 404 if none is published."""
    impl = get_implementation(db_session=db_session, implementation_code=implementation_code)
    if impl.current_version_id is None:
        raise NotFound(
            f"实施清单 {implementation_code} 尚未发布或已停止办理 / no published version",
            details={"implementation_code": implementation_code},
        )
    return get_version(db_session=db_session, version_id=impl.current_version_id)


def get_version_by_number(*, db_session: Session, implementation_code: str,
                          version: int, include_drafts: bool = True) -> ImplementationVersion:
    """Version `version` (1, 2, …) of an implementation (drafts only for its keepers)."""
    impl = get_implementation(db_session=db_session, implementation_code=implementation_code)
    found = db_session.scalar(select(ImplementationVersion).where(
        ImplementationVersion.implementation_id == impl.id,
        ImplementationVersion.version == version))
    if found is None or (found.state == VersionState.draft and not include_drafts):
        raise NotFound(f"版本 {version} 不存在 / version {version} not found",
                       details={"implementation_code": implementation_code, "version": version})
    return found


def list_versions(*, db_session: Session, implementation_code: str,
                  include_drafts: bool = True) -> list[ImplementationVersion]:
    """Every version of an implementation, oldest first (drafts only for its keepers)."""
    impl = get_implementation(db_session=db_session, implementation_code=implementation_code)
    stmt = select(ImplementationVersion).where(ImplementationVersion.implementation_id == impl.id)
    if not include_drafts:
        stmt = stmt.where(ImplementationVersion.state != VersionState.draft)
    return list(db_session.scalars(stmt.order_by(ImplementationVersion.version)))


def published_guides(*, db_session: Session, region_code: str) -> list[tuple[str, dict[str, Any]]]:
    """(实施编码, current guide) of every published implementation in a region and below,
    by code."""
    prefix = "" if region_code == "100000" else region_prefix(region_code)
    stmt = (select(Implementation.implementation_code, ImplementationVersion.guide)
            .join(ImplementationVersion,
                  ImplementationVersion.id == Implementation.current_version_id)
            .where(Implementation.region_code.like(prefix + "%"),
                   ImplementationVersion.state == VersionState.published)
            .order_by(Implementation.implementation_code))
    return [(code, guide or {}) for code, guide in db_session.execute(stmt)]


def guide(*, db_session: Session, implementation_code: str) -> GuidePage:
    """Everything an applicant needs on one page: the current guide with its context."""
    impl = get_implementation(db_session=db_session, implementation_code=implementation_code)
    version = get_current_version(db_session=db_session, implementation_code=implementation_code)
    chain = region_chain(db_session=db_session, region_code=impl.region_code)
    return GuidePage(
        implementation_code=implementation_code, name=version.name, version=version.version,
        version_id=version.id, published_at=version.published_at,
        item=ItemOut.model_validate(impl.item),
        department=DepartmentOut.model_validate(impl.department),
        region=RegionOut.model_validate(chain[-1]),
        region_chain=[RegionOut.model_validate(r) for r in chain],
        guide=Guide.model_validate(version.guide), form_schema=version.form_schema,
    )


# ================================================================ search


def _refresh_search_entry(db_session: Session, impl: Implementation) -> SearchEntry:
    """Rewrite the search row of a published implementation (keeping its popularity)."""
    version = get_version(db_session=db_session, version_id=impl.current_version_id) \
        if impl.current_version_id else None
    if version is None:
        raise Conflict("未发布的实施清单不能被检索 / only published implementations are searchable")
    chain = region_chain(db_session=db_session, region_code=impl.region_code)
    places = [r.name for r in chain if r.name not in _PLACEHOLDER_REGIONS]
    item, department = impl.item, impl.department
    text, pinyin, initials = search_sql.segments(
        [version.name, item.name, department.name, *places, *item.topics])
    entry = _search_entry(db_session, impl.id) or SearchEntry(implementation_id=impl.id,
                                                              popularity=0)
    old_text = entry.text if entry.doc is not None else None
    guide_data = Guide.model_validate(version.guide)
    values = dict(
        implementation_code=impl.implementation_code, version_id=version.id,
        region_code=impl.region_code, department_id=department.id, item_type=item.item_type,
        applicant_types=",".join(guide_data.applicant_types), name=version.name,
        basic_code=item.basic_code, item_name=item.name, department_name=department.name,
        region_name=chain[-1].name, text=text, pinyin=pinyin, initials=initials[:400],
    )
    for key, value in values.items():
        setattr(entry, key, value)
    db_session.add(entry)
    db_session.flush()
    search_sql.sync_tokens(db_session, doc=entry.doc, old_text=old_text, text=text)
    return entry


def _search_entry(db_session: Session, implementation_id: uuid.UUID) -> SearchEntry | None:
    return db_session.scalar(select(SearchEntry).where(
        SearchEntry.implementation_id == implementation_id))


def search(*, db_session: Session, q: str | None, region_code: str | None = None,
           department_id: uuid.UUID | None = None, item_type: str | None = None,
           applicant_type: str | None = None, limit: int = 20,
           cursor: str | None = None) -> SearchPage:
    """Published implementations matching Chinese, pinyin or initials, best first."""
    search_sql.check_query(q)
    search_sql.check_limit(limit)
    offset = search_sql.decode_cursor(cursor)
    if region_code:
        ensure_region_exists(db_session=db_session, region_code=region_code)
    rows = search_sql.find_entries(
        db_session, q=q, region_code=region_code, department_id=department_id,
        item_type=item_type, applicant_type=applicant_type, offset=offset, count=limit + 1)
    page, next_cursor = _page(rows, offset, limit)
    return SearchPage(
        items=[SearchHit(**{**_entry_dict(e), "applicant_types": e.applicant_types.split(",")})
               for e in page],
        next_cursor=next_cursor,
    )


def _entry_dict(entry: SearchEntry) -> dict[str, Any]:
    return {field: getattr(entry, field) for field in SearchHit.model_fields}


def count_published(*, db_session: Session) -> int:
    """How many implementations are searchable (for dashboards and the benchmark)."""
    return int(db_session.scalar(select(func.count()).select_from(SearchEntry)) or 0)
