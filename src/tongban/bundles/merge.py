"""The merged form and materials of a bundle: pure functions over the members' guides.

Shared fields (same name, compatible shape: JSON type, format and item type) are asked
once; a field whose shape differs between members is a problem that stops publication.
Materials are de-duplicated by code: one upload serves every member that lists it.
Published implementation versions are immutable, so a merge is cached by their ids.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from typing import Any

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


@dataclass(frozen=True)
class MemberForm:
    """What one member contributes: its code, form schema and guide."""

    implementation_code: str
    version_id: uuid.UUID | None
    schema: dict[str, Any]
    guide: dict[str, Any]


@dataclass(frozen=True)
class MergedField:
    name: str
    title: str
    type: str | None
    required: bool
    members: tuple[str, ...]


@dataclass(frozen=True)
class MergedMaterial:
    code: str
    name: str
    required: bool
    source: str
    deficiency_allowed: bool
    members: tuple[str, ...]
    names: tuple[str, ...]


@dataclass(frozen=True)
class Merged:
    schema: dict[str, Any]
    fields: tuple[MergedField, ...]
    materials: tuple[MergedMaterial, ...]
    applicant_types: tuple[str, ...]
    handling_forms: tuple[str, ...]
    problems: tuple[dict[str, Any], ...]


def _shape(prop: dict[str, Any]) -> tuple[Any, ...]:
    """What must agree for two members to share a field."""
    items = prop.get("items")
    inner = _shape(items) if isinstance(items, dict) else None
    kind = prop.get("type")
    return (tuple(kind) if isinstance(kind, list) else kind, prop.get("format"), inner)


def _merge_fields(members: list[MemberForm]) -> tuple[dict[str, Any], list[MergedField],
                                                      list[dict[str, Any]]]:
    props: dict[str, dict[str, Any]] = {}
    owners: dict[str, list[str]] = {}
    required: dict[str, bool] = {}
    problems: list[dict[str, Any]] = []
    for m in members:
        need = set(m.schema.get("required") or [])
        for name, prop in (m.schema.get("properties") or {}).items():
            if name in props and _shape(props[name]) != _shape(prop):
                problems.append({
                    "field": f"form.{name}",
                    "message": f"字段类型不一致 / field '{name}' has different types in "
                               f"{owners[name][0]} and {m.implementation_code}",
                    "members": [owners[name][0], m.implementation_code]})
                continue
            props.setdefault(name, prop)
            owners.setdefault(name, []).append(m.implementation_code)
            required[name] = required.get(name, False) or name in need
    closed = bool(members) and all(
        m.schema.get("additionalProperties") is False for m in members)
    schema: dict[str, Any] = {"$schema": SCHEMA_DIALECT, "type": "object",
                              "properties": props,
                              "required": [n for n in props if required[n]]}
    if closed:
        schema["additionalProperties"] = False
    fields = [MergedField(n, str(p.get("title", n)), _type_name(p), required[n],
                          tuple(owners[n])) for n, p in props.items()]
    return schema, fields, problems


def _type_name(prop: dict[str, Any]) -> str | None:
    kind = prop.get("type")
    return "/".join(kind) if isinstance(kind, list) else kind


def _merge_materials(members: list[MemberForm]) -> list[MergedMaterial]:
    found: dict[str, dict[str, Any]] = {}
    for m in members:
        for mat in m.guide.get("materials") or []:
            code = mat["code"]
            entry = found.setdefault(code, {
                "name": mat["name"], "required": False, "sources": [], "deficiency": True,
                "members": [], "names": []})
            entry["required"] = entry["required"] or mat.get("required", True)
            entry["sources"].append(mat.get("source", "upload"))
            entry["deficiency"] = entry["deficiency"] and mat.get("deficiency_allowed", False)
            entry["members"].append(m.implementation_code)
            if mat["name"] not in entry["names"]:
                entry["names"].append(mat["name"])
    return [MergedMaterial(code, e["name"], e["required"],
                           "upload" if "upload" in e["sources"] else e["sources"][0],
                           e["deficiency"], tuple(e["members"]), tuple(e["names"]))
            for code, e in found.items()]


def _common(members: list[MemberForm], key: str) -> tuple[str, ...]:
    """Values every member's guide allows (in the first member's order)."""
    if not members:
        return ()
    first = list(members[0].guide.get(key) or [])
    return tuple(v for v in first
                 if all(v in (m.guide.get(key) or []) for m in members[1:]))


def merge(members: list[MemberForm]) -> Merged:
    """The bundle's one form and one list of materials."""
    schema, fields, problems = _merge_fields(members)
    applicants = _common(members, "applicant_types")
    channels = _common(members, "handling_forms")
    if members and not applicants:
        problems.append({"field": "members", "message": "成员事项没有共同的服务对象 / the "
                         "members serve no common applicant type"})
    if members and not channels:
        problems.append({"field": "members", "message": "成员事项没有共同的办理渠道 / the "
                         "members share no handling channel"})
    return Merged(schema, tuple(fields), tuple(_merge_materials(members)), applicants,
                  channels, tuple(problems))


_cache: dict[tuple[uuid.UUID | str, ...], Merged] = {}
_lock = threading.Lock()
_CACHE_SIZE = 512


def merge_cached(members: list[MemberForm]) -> Merged:
    """merge(), remembered when every member is a stored (immutable) version."""
    if any(m.version_id is None for m in members):
        return merge(members)
    key = tuple(m.version_id for m in members if m.version_id is not None)
    with _lock:
        hit = _cache.get(key)
    if hit is not None:
        return hit
    merged = merge(members)
    with _lock:
        if len(_cache) >= _CACHE_SIZE:
            _cache.clear()
        _cache[key] = merged
    return merged
