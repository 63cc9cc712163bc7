"""同一事项同标准: standard guides, the six-element diff across regions, declared
variances (统异弹性空间) and conformance scores (docs/standardisation.md).

Keyword-only functions over a Session that never commit, like catalog.service. The diff
is computed, never stored: it compares each region's current published guide with the
item's current standard guide, so it is always the state applicants see. A difference
is identified by a `key` (e.g. `time_limit.promised_days`); a variance declares one key
with the value the region keeps, and covers the difference only while that value holds.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tongban.catalog import service
from tongban.catalog.matcher import Normaliser, dice
from tongban.catalog.models import (
    Implementation,
    ImplementationVersion,
    Region,
    ServiceItem,
    StandardGuideVersion,
    Variance,
    VarianceState,
)
from tongban.catalog.schemas import Fee, Guide, GuideElements, Material, StandardGuide
from tongban.db import utcnow
from tongban.errors import Conflict, Forbidden, InvalidInput, NotFound
from tongban.identity.actor import Actor, region_covers

# The six elements of 三级六同, then conditions and applicant types: the eight rows of a
# diff and the eight parts of a conformance score.
ELEMENTS: dict[str, str] = {
    "publication": "事项公开", "handling": "办理方式", "process": "办理流程",
    "materials": "申请材料", "time_limit": "办理时限", "fees": "收费标准",
    "conditions": "受理条件", "applicant_types": "服务对象",
}
# Variance life cycle: (action, from) -> to.
VARIANCE_TRANSITIONS: dict[tuple[str, str], str] = {
    ("approve", VarianceState.proposed): VarianceState.approved,
    ("reject", VarianceState.proposed): VarianceState.rejected,
    ("revoke", VarianceState.approved): VarianceState.revoked,
    ("revoke", VarianceState.proposed): VarianceState.revoked,
}
# Words of a material name that say how it is handed in, not what it is.
_MATERIAL_NOISE = ("复印件", "原件", "扫描件", "副本", "正本", "电子版", "一份", "及复印件")
_NORMALISER = Normaliser()


@dataclass(frozen=True)
class Difference:
    """One way a region's guide differs from the standard."""

    element: str
    key: str
    standard: Any
    local: Any
    # For the applicant: favourable (less to bring, sooner, cheaper), unfavourable, or
    # neutral.
    direction: str = "neutral"
    declared: bool = False
    variance_id: uuid.UUID | None = None


@dataclass
class Column:
    """One implementation of the item: its region, department and differences."""

    implementation_code: str
    region_code: str
    region_name: str
    department_name: str
    version: int
    guide: dict[str, Any]
    differences: list[Difference] = field(default_factory=list)

    @property
    def score(self) -> float:
        """Share of the eight elements with no undeclared difference, in per cent."""
        bad = {d.element for d in self.differences if not d.declared}
        return round(100 * (len(ELEMENTS) - len(bad)) / len(ELEMENTS), 1)

    def by_element(self, element: str) -> list[Difference]:
        return [d for d in self.differences if d.element == element]


@dataclass
class ItemDiff:
    """An item's standard guide beside each chosen region's guide."""

    basic_code: str
    item_name: str
    standard_version: int
    standard: dict[str, Any]
    columns: list[Column]

    @property
    def score(self) -> float | None:
        return round(sum(c.score for c in self.columns) / len(self.columns), 1) \
            if self.columns else None


# ================================================================ standard guides


def put_standard_guide(*, db_session: Session, actor: Actor, basic_code: str,
                       guide: StandardGuide, note: str = "") -> StandardGuideVersion:
    """Set an item's standard guide: a new version, the old ones kept as they were."""
    service.authorise_standard(actor=actor)
    item = service.get_item_by_code(db_session=db_session, basic_code=basic_code)
    latest = _latest_standard(db_session, item.id)
    row = StandardGuideVersion(item_id=item.id, version=(latest.version if latest else 0) + 1,
                               guide=guide.model_dump(mode="json"),
                               created_by=actor.account_id, note=note)
    db_session.add(row)
    db_session.flush()
    service._audit(db_session, actor, "standard_guide.put", "catalog_item", basic_code,
                   version=row.version)
    return row


def _latest_standard(db_session: Session, item_id: uuid.UUID) -> StandardGuideVersion | None:
    return db_session.scalar(select(StandardGuideVersion)
                             .where(StandardGuideVersion.item_id == item_id)
                             .order_by(StandardGuideVersion.version.desc()).limit(1))


def get_standard_guide(*, db_session: Session, basic_code: str) -> StandardGuideVersion:
    """The current standard guide of an item; 404 if it has none yet."""
    item = service.get_item_by_code(db_session=db_session, basic_code=basic_code)
    row = _latest_standard(db_session, item.id)
    if row is None:
        raise NotFound(f"事项 {basic_code} 尚无标准办事指南 / item has no standard guide yet",
                       details={"basic_code": basic_code})
    return row


def standard_guides(*, db_session: Session) -> dict[uuid.UUID, StandardGuideVersion]:
    """The current standard guide of every item that has one, by item id."""
    out: dict[uuid.UUID, StandardGuideVersion] = {}
    for row in db_session.scalars(select(StandardGuideVersion)
                                  .order_by(StandardGuideVersion.version)):
        out[row.item_id] = row
    return out


# ================================================================ comparing


def _num(value: Decimal | int | None) -> str | None:
    return None if value is None else f"{Decimal(value):.2f}"


def _lower_is_better(std: float, local: float) -> str:
    return "neutral" if std == local else "favourable" if local < std else "unfavourable"


def _texts(values: Iterable[str]) -> list[str]:
    return [_NORMALISER.base(v) for v in values]


@lru_cache(maxsize=8192)
def material_key(name: str) -> str:
    """A material name reduced to what it is (身份证复印件 and 居民身份证 → 身份证); cached:
    a region-wide conformance report compares the same few hundred names tens of
    thousands of times."""
    text = _NORMALISER.name(name)
    for word in _MATERIAL_NOISE:
        text = text.replace(word, "")
    return text or _NORMALISER.base(name)


def pair_materials(standard: list[Material], local: list[Material]
                   ) -> tuple[list[tuple[Material, Material]], list[Material], list[Material]]:
    """Match materials by meaning: the same code, else the most similar name (≥ 0.6)."""
    pairs: list[tuple[Material, Material]] = []
    left = list(local)
    unmatched_std: list[Material] = []
    scored = []
    for s in standard:
        ks = material_key(s.name)
        for m in left:
            km = material_key(m.name)
            score = 2.0 if s.code == m.code else dice(ks, km)
            if score < 2.0 and min(len(ks), len(km)) >= 2 and (ks in km or km in ks):
                score = max(score, 0.8)
            scored.append((score, s.code, m.code, s, m))
    used_s: set[str] = set()
    used_m: set[str] = set()
    for score, s_code, m_code, s, m in sorted(scored, key=lambda t: -t[0]):
        if score >= 0.6 and s_code not in used_s and m_code not in used_m:
            pairs.append((s, m))
            used_s.add(s_code)
            used_m.add(m_code)
    unmatched_std = [s for s in standard if s.code not in used_s]
    left = [m for m in local if m.code not in used_m]
    return pairs, unmatched_std, left


def _materials(std: GuideElements, local: GuideElements) -> list[Difference]:
    pairs, missing, extra = pair_materials(std.materials, local.materials)
    out = [Difference("materials", f"materials.missing:{s.name}", s.name, None, "favourable")
           for s in missing]
    out += [Difference("materials", f"materials.extra:{m.name}", None, m.name,
                       "unfavourable" if m.required else "neutral") for m in extra]
    for s, m in pairs:
        changed = {k: (getattr(s, k), getattr(m, k)) for k in ("required", "form", "count",
                                                               "source")
                   if getattr(s, k) != getattr(m, k)}
        if changed:
            out.append(Difference(
                "materials", f"materials.changed:{s.name}",
                {k: str(v[0]) for k, v in changed.items()} | {"name": s.name},
                {k: str(v[1]) for k, v in changed.items()} | {"name": m.name}))
    return out


def _fees(std: GuideElements, local: GuideElements) -> list[Difference]:
    out: list[Difference] = []
    left: list[Fee] = list(local.fees)
    for s in std.fees:
        best = max(left, key=lambda f: dice(_NORMALISER.base(s.name), _NORMALISER.base(f.name)),
                   default=None)
        if best is None or dice(_NORMALISER.base(s.name), _NORMALISER.base(best.name)) < 0.5:
            out.append(Difference("fees", f"fees.missing:{s.name}", _num(s.amount), None,
                                  "favourable"))
            continue
        left.remove(best)
        if best.amount != s.amount:
            out.append(Difference("fees", f"fees.amount:{s.name}", _num(s.amount),
                                  _num(best.amount),
                                  _lower_is_better(float(s.amount), float(best.amount))))
    out += [Difference("fees", f"fees.extra:{f.name}", None, _num(f.amount), "unfavourable")
            for f in left]
    return out


def _sets(element: str, name: str, std: Iterable[str], local: Iterable[str],
          more_is_better: bool) -> list[Difference]:
    s, m = set(std), set(local)
    if s == m:
        return []
    direction = "neutral"
    if s < m or m < s:
        direction = "favourable" if (m > s) == more_is_better else "unfavourable"
    return [Difference(element, f"{element}.{name}", sorted(s), sorted(m), direction)]


def _scalar(element: str, name: str, std: Any, local: Any,
            judge: Callable[[Any, Any], str] | None = None) -> list[Difference]:
    if std == local:
        return []
    return [Difference(element, f"{element}.{name}", std, local,
                       judge(std, local) if judge else "neutral")]


def compare(*, standard: GuideElements, local: GuideElements, item_name: str = "",
            local_name: str = "", region_names: Iterable[str] = ()) -> list[Difference]:
    """Every difference of a region's guide from the standard, element by element."""
    names = Normaliser(region_names)
    out: list[Difference] = []
    if item_name and local_name and names.base(local_name) != names.base(item_name):
        out += _scalar("publication", "name", item_name, local_name)
    if _texts([standard.legal_basis]) != _texts([local.legal_basis]):
        out += _scalar("publication", "legal_basis", standard.legal_basis, local.legal_basis)
    out += _scalar("publication", "result", f"{standard.result.name} ({standard.result.kind})",
                   f"{local.result.name} ({local.result.kind})")
    out += _sets("handling", "handling_forms", standard.handling_forms, local.handling_forms,
                 True)
    out += _scalar("handling", "online_depth", standard.online_depth, local.online_depth,
                   lambda s, m: _lower_is_better(-s, -m))
    out += _scalar("handling", "visits", standard.visits, local.visits, _lower_is_better)
    out += _sets("handling", "cross_region_modes", standard.cross_region_modes,
                 local.cross_region_modes, True)
    out += _scalar("process", "steps", _texts(s.name for s in standard.steps),
                   _texts(s.name for s in local.steps))
    out += _sets("process", "special_procedures", standard.special_procedures,
                 local.special_procedures, False)
    out += _materials(standard, local)
    out += _scalar("time_limit", "item_kind", str(standard.item_kind), str(local.item_kind))
    out += _scalar("time_limit", "legal_days", standard.legal_days, local.legal_days,
                   _lower_is_better)
    out += _scalar("time_limit", "promised_days", standard.promised_days,
                   local.promised_days, _lower_is_better)
    out += _fees(standard, local)
    out += _sets("conditions", "acceptance_conditions", _texts(standard.acceptance_conditions),
                 _texts(local.acceptance_conditions), False)
    out += _sets("applicant_types", "applicant_types", standard.applicant_types,
                 local.applicant_types, True)
    return out


# ================================================================ the diff of an item


def _published(db_session: Session, item_id: uuid.UUID, regions: list[str] | None
               ) -> list[tuple[Implementation, ImplementationVersion]]:
    stmt = (select(Implementation, ImplementationVersion)
            .join(ImplementationVersion,
                  ImplementationVersion.id == Implementation.current_version_id)
            .where(Implementation.item_id == item_id)
            .order_by(Implementation.region_code, Implementation.implementation_code))
    rows = [(impl, version) for impl, version in db_session.execute(stmt)]
    if regions:
        rows = [r for r in rows if any(region_covers(code, r[0].region_code) for code in regions)]
    return rows


def _variances(db_session: Session, item_ids: list[uuid.UUID]
               ) -> dict[tuple[uuid.UUID, str, str], Variance]:
    stmt = select(Variance).where(Variance.item_id.in_(item_ids),
                                  Variance.state == VarianceState.approved)
    return {(v.item_id, v.region_code, v.key): v for v in db_session.scalars(stmt)}


def _mark(differences: list[Difference], item_id: uuid.UUID, region_code: str,
          declared: dict[tuple[uuid.UUID, str, str], Variance]) -> list[Difference]:
    out = []
    for d in differences:
        v = declared.get((item_id, region_code, d.key))
        if v is not None and v.local_value == _jsonable(d.local):
            d = Difference(d.element, d.key, d.standard, d.local, d.direction, True, v.id)
        out.append(d)
    return out


def _jsonable(value: Any) -> Any:
    return [str(v) for v in value] if isinstance(value, list | tuple) else value


def diff_item(*, db_session: Session, basic_code: str, regions: list[str] | None = None
              ) -> ItemDiff:
    """The standard guide of an item beside every chosen region's published guide."""
    standard_row = get_standard_guide(db_session=db_session, basic_code=basic_code)
    item = service.get_item_by_code(db_session=db_session, basic_code=basic_code)
    for code in regions or []:
        service.ensure_region_exists(db_session=db_session, region_code=code)
    return _diff(db_session, item, standard_row, regions,
                 _variances(db_session, [item.id]), _region_names(db_session))


def _region_names(db_session: Session) -> Callable[[str], tuple[str, list[str]]]:
    cache: dict[str, tuple[str, list[str]]] = {}

    def names(code: str) -> tuple[str, list[str]]:
        if code not in cache:
            chain = service.region_chain(db_session=db_session, region_code=code)
            cache[code] = (chain[-1].name, [r.name for r in chain])
        return cache[code]

    return names


def _diff(db_session: Session, item: ServiceItem, standard_row: StandardGuideVersion,
          regions: list[str] | None,
          declared: dict[tuple[uuid.UUID, str, str], Variance],
          names: Callable[[str], tuple[str, list[str]]]) -> ItemDiff:
    standard = StandardGuide.model_validate(standard_row.guide)
    columns = []
    for impl, version in _published(db_session, item.id, regions):
        region_name, chain = names(impl.region_code)
        found = compare(standard=standard, local=Guide.model_validate(version.guide),
                        item_name=item.name, local_name=version.name, region_names=chain)
        columns.append(Column(
            implementation_code=impl.implementation_code, region_code=impl.region_code,
            region_name=region_name, department_name=impl.department.name,
            version=version.version, guide=version.guide,
            differences=_mark(found, item.id, impl.region_code, declared)))
    return ItemDiff(basic_code=item.basic_code, item_name=item.name,
                    standard_version=standard_row.version, standard=standard_row.guide,
                    columns=columns)


def conformance(*, db_session: Session, region_code: str | None = None,
                basic_codes: list[str] | None = None) -> list[ItemDiff]:
    """The diff of every item that has a standard guide (optionally in one region)."""
    if region_code:
        service.ensure_region_exists(db_session=db_session, region_code=region_code)
    standards = standard_guides(db_session=db_session)
    items = {i.id: i for i in db_session.scalars(
        select(ServiceItem).where(ServiceItem.id.in_(list(standards)))
        .order_by(ServiceItem.basic_code))}
    if basic_codes:
        items = {k: v for k, v in items.items() if v.basic_code in set(basic_codes)}
    declared = _variances(db_session, list(items))
    names = _region_names(db_session)
    regions = [region_code] if region_code else None
    diffs = [_diff(db_session, item, standards[item.id], regions, declared, names)
             for item in items.values()]
    return [d for d in diffs if d.columns]


@dataclass
class RegionScore:
    region_code: str
    region_name: str
    items: int
    score: float
    declared: int
    undeclared: int


def region_scores(diffs: list[ItemDiff]) -> list[RegionScore]:
    """Each region's conformance over every item it implements, worst first."""
    acc: dict[str, list[Column]] = {}
    for d in diffs:
        for c in d.columns:
            acc.setdefault(c.region_code, []).append(c)
    out = [RegionScore(
        region_code=code, region_name=cols[0].region_name, items=len(cols),
        score=round(sum(c.score for c in cols) / len(cols), 1),
        declared=sum(1 for c in cols for x in c.differences if x.declared),
        undeclared=sum(1 for c in cols for x in c.differences if not x.declared))
        for code, cols in acc.items()]
    return sorted(out, key=lambda r: (r.score, r.region_code))


# ================================================================ variances


def _authorise_approval(actor: Actor, region_code: str) -> None:
    """An approver keeps the standard (province-wide or national) over that region."""
    service.authorise_standard(actor=actor)
    if actor.account_id is not None and not actor.covers(region_code, None):
        raise Forbidden(f"您的管理范围不包含地区 {region_code} / your scope does not cover "
                        f"region {region_code}", details={"region_code": region_code})


def propose_variance(*, db_session: Session, actor: Actor, basic_code: str, region_code: str,
                     key: str, reason: str, legal_basis: str) -> Variance:
    """Declare one current difference of a region's guide, with its reason and basis."""
    service.authorise_region(actor=actor, region_code=region_code)
    problems = [(f, "必填 / required") for f, v in (("reason", reason),
                                                    ("legal_basis", legal_basis)) if not v.strip()]
    if problems:
        raise InvalidInput("须写明理由和法律依据 / a reason and a legal basis are required",
                           details=[{"field": f, "message": m} for f, m in problems])
    diff = diff_item(db_session=db_session, basic_code=basic_code, regions=[region_code])
    found = [d for c in diff.columns if c.region_code == region_code
             for d in c.differences if d.key == key]
    if not found:
        raise InvalidInput(
            f"地区 {region_code} 的办事指南在 {key} 上与标准一致,无需声明 / the region's guide "
            f"does not differ from the standard at {key}",
            details={"field": "key", "value": key})
    item = service.get_item_by_code(db_session=db_session, basic_code=basic_code)
    if _open_variance(db_session, item.id, region_code, key) is not None:
        raise Conflict(f"{key} 已有待审或已批准的声明 / this difference is already declared",
                       details={"field": "key", "value": key})
    d = found[0]
    variance = Variance(item_id=item.id, region_code=region_code, element=d.element, key=key,
                        standard_value=_jsonable(d.standard), local_value=_jsonable(d.local),
                        reason=reason.strip(), legal_basis=legal_basis.strip(),
                        state=VarianceState.proposed, proposed_by=actor.account_id,
                        proposed_by_name=actor.name)
    db_session.add(variance)
    db_session.flush()
    service._audit(db_session, actor, "variance.propose", "catalog_variance", str(variance.id),
                   basic_code=basic_code, region_code=region_code, key=key)
    return variance


def _open_variance(db_session: Session, item_id: uuid.UUID, region_code: str, key: str
                   ) -> Variance | None:
    return db_session.scalar(select(Variance).where(
        Variance.item_id == item_id, Variance.region_code == region_code, Variance.key == key,
        Variance.state.in_([VarianceState.proposed, VarianceState.approved])))


def get_variance(*, db_session: Session, variance_id: uuid.UUID) -> Variance:
    """One declared variance."""
    variance = db_session.get(Variance, variance_id)
    if variance is None:
        raise NotFound("差异声明不存在 / variance not found", details={"id": str(variance_id)})
    return variance


def decide_variance(*, db_session: Session, actor: Actor, variance_id: uuid.UUID, action: str,
                    note: str = "", approver: str = "") -> Variance:
    """Approve, reject or revoke a declaration (a row of VARIANCE_TRANSITIONS).

    The approver keeps the standard over the region and is never the proposer; the node
    itself (CLI) records an approval given outside the system under `approver`'s name.
    """
    variance = get_variance(db_session=db_session, variance_id=variance_id)
    target = VARIANCE_TRANSITIONS.get((action, variance.state))
    if target is None:
        raise Conflict(f"声明处于 {variance.state} 状态,不能 {action} / cannot {action} a "
                       f"{variance.state} variance",
                       details={"state": variance.state, "action": action})
    if action == "revoke":
        service.authorise_region(actor=actor, region_code=variance.region_code)
    else:
        _authorise_approval(actor, variance.region_code)
        if actor.account_id is not None and actor.account_id == variance.proposed_by:
            raise Forbidden("声明人不能审批自己的声明 / the proposer cannot decide their own "
                            "variance", details={"id": str(variance.id)})
        if actor.account_id is None and not approver.strip():
            raise InvalidInput("须写明审批人 / name the approver",
                               details={"field": "approver"})
        variance.approver = approver.strip() or actor.name
        variance.approved_by = actor.account_id
    if action in ("reject", "revoke") and not note.strip():
        raise InvalidInput("须写明理由 / a reason is required", details={"field": "note"})
    variance.state, variance.decided_at, variance.decision_note = target, utcnow(), note.strip()
    db_session.flush()
    service._audit(db_session, actor, f"variance.{action}", "catalog_variance",
                   str(variance.id), state=target, approver=variance.approver)
    return variance


def list_variances(*, db_session: Session, region_code: str | None = None,
                   basic_code: str | None = None, state: str | None = None) -> list[Variance]:
    """Declarations, newest first, optionally of one region (and below), item or state."""
    stmt = select(Variance).order_by(Variance.created_at.desc(), Variance.id)
    if basic_code:
        item = service.get_item_by_code(db_session=db_session, basic_code=basic_code)
        stmt = stmt.where(Variance.item_id == item.id)
    if state:
        stmt = stmt.where(Variance.state == state)
    rows = list(db_session.scalars(stmt))
    if region_code:
        service.ensure_region_exists(db_session=db_session, region_code=region_code)
        rows = [v for v in rows if region_covers(region_code, v.region_code)]
    return rows


def item_codes(*, db_session: Session, item_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
    """基本编码 of some items, by id (for listing variances)."""
    ids = list(set(item_ids))
    return dict(db_session.execute(select(ServiceItem.id, ServiceItem.basic_code)
                                   .where(ServiceItem.id.in_(ids))).all()) if ids else {}


def region_name(*, db_session: Session, region_code: str) -> str:
    """A region's name (or its code if the table lacks it)."""
    region = db_session.get(Region, region_code)
    return region.name if region else region_code
