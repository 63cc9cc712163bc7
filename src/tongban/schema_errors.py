"""JSON Schema problems as people read them: one per field, in Chinese first.

An application form (cases) and the fields of an e-licence (licences) are both checked
against a JSON Schema; jsonschema's own messages are English and name a missing property
on its parent object. Here each problem names its own field, and says what is wrong in
Chinese (with the field's title where asked, as a licence's fields have one), then in
English.
"""

from __future__ import annotations

from typing import Any

import jsonschema

MESSAGES: dict[str, str] = {
    "required": "必填", "type": "类型不正确", "enum": "不在可选范围内", "const": "取值不正确",
    "minLength": "太短", "maxLength": "太长", "pattern": "格式不正确", "format": "格式不正确",
    "minimum": "小于允许的最小值", "maximum": "大于允许的最大值",
    "exclusiveMinimum": "小于允许的最小值", "exclusiveMaximum": "大于允许的最大值",
    "minItems": "条目太少", "maxItems": "条目太多", "additionalProperties": "含有不允许的字段",
    "uniqueItems": "条目不得重复",
}


def _title(schema: dict[str, Any], path: list[str]) -> str:
    """The title the schema gives the field at `path` (its name when it gives none)."""
    node: Any = schema
    for part in path:
        node = (node.get("properties") or {}).get(part) if isinstance(node, dict) else None
    title = node.get("title") if isinstance(node, dict) else None
    return str(title) if title else (path[-1] if path else "")


def problems(schema: dict[str, Any], data: Any, *, prefix: str,
             titled: bool = False) -> list[dict[str, str]]:
    """Every problem of `data` against `schema`: {"field": "<prefix>.<path>", "message"}."""
    cls = jsonschema.validators.validator_for(schema)
    validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
    out = []
    # jsonschema reports each missing property as its own "required" error, in the order
    # the schema lists them (a stable sort keeps it): the k-th names the k-th missing one.
    missing_seen: dict[tuple[str, ...], int] = {}
    for err in sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.path))):
        path = [str(p) for p in err.absolute_path]
        if err.validator == "required" and isinstance(err.instance, dict):
            missing = [p for p in err.validator_value if p not in err.instance]
            k = missing_seen.get(tuple(path), 0)
            missing_seen[tuple(path)] = k + 1
            path += missing[k:k + 1]
        chinese = MESSAGES.get(str(err.validator), "不符合要求")
        if titled and path:
            chinese = f"{_title(schema, path)}:{chinese}"
        out.append({"field": ".".join([prefix, *path]), "message": f"{chinese} / {err.message}"})
    return out


def summary(found: list[dict[str, str]], limit: int = 5) -> str:
    """The Chinese halves of the first problems, for a one-line message (CLI, page title)."""
    shown = [p["message"].split(" / ")[0] for p in found[:limit]]
    more = f"等 {len(found)} 项" if len(found) > limit else ""
    return ";".join(shown) + more
