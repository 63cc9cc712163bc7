"""Application forms generated from an implementation's JSON Schema.

The schema is the contract (the cases service validates against it too); this module turns
it into fields a template can render, turns posted strings back into typed values, and
explains every problem next to its field in the visitor's language, keeping what was typed.
Supported: string (with `format: date`, `enum`, `pattern`, `minLength`/`maxLength`),
number, integer (`minimum`/`maximum`), boolean, an array of enum strings (checkboxes,
`minItems`), and `required`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any


@dataclass(frozen=True)
class FormField:
    """One input: name, label, widget and the constraints the browser can check too."""

    name: str
    label: str
    widget: str  # text | number | date | select | checkbox | textarea | multi
    required: bool
    help: str = ""
    options: tuple[tuple[str, str], ...] = ()
    attrs: dict[str, Any] = field(default_factory=dict)


def _widget(spec: Mapping[str, Any]) -> str:
    kind = spec.get("type", "string")
    if kind == "array":
        return "multi"
    if "enum" in spec:
        return "select"
    if kind == "boolean":
        return "checkbox"
    if kind in ("integer", "number"):
        return "number"
    if spec.get("format") == "date":
        return "date"
    if int(spec.get("maxLength", 0) or 0) > 200:
        return "textarea"
    return "text"


def _attrs(spec: Mapping[str, Any]) -> dict[str, Any]:
    """HTML constraint attributes mirroring the schema (the server still checks)."""
    mapping = {"minLength": "minlength", "maxLength": "maxlength", "pattern": "pattern",
               "minimum": "min", "maximum": "max"}
    attrs = {html: spec[key] for key, html in mapping.items() if key in spec}
    if spec.get("type") == "integer":
        attrs["step"] = 1
    elif spec.get("type") == "number":
        attrs["step"] = "any"
    return attrs


def fields_of(schema: Mapping[str, Any]) -> list[FormField]:
    """The form's fields, in the schema's property order."""
    required = set(schema.get("required", []))
    out = []
    for name, spec in (schema.get("properties") or {}).items():
        choices = spec.get("items", {}) if spec.get("type") == "array" else spec
        labels = (choices.get("enumNames") or choices.get("x-enum-labels")
                  or choices.get("enum", []))
        options = tuple((str(v), str(label)) for v, label in
                        zip(choices.get("enum", []), labels, strict=False))
        out.append(FormField(
            name=name, label=str(spec.get("title") or name), widget=_widget(spec),
            required=name in required, help=str(spec.get("description") or ""),
            options=options, attrs=_attrs(spec),
        ))
    return out


Check = Callable[[Any, Mapping[str, Any]], tuple[str, dict[str, Any]] | None]


def _coerce(raw: str, spec: Mapping[str, Any]) -> tuple[Any, tuple[str, dict[str, Any]] | None]:
    """A posted string as the schema's type, or the problem with it."""
    kind = spec.get("type", "string")
    if kind == "integer":
        if not re.fullmatch(r"[+-]?[0-9]+", raw):
            return raw, ("请输入整数", {})
        return int(raw), None
    if kind == "number":
        try:
            return float(raw), None
        except ValueError:
            return raw, ("请输入数字", {})
    if spec.get("format") == "date":
        try:
            date.fromisoformat(raw)
        except ValueError:
            return raw, ("请输入有效日期，格式 YYYY-MM-DD", {})
    return raw, None


def _check_string(value: Any, spec: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
    if not isinstance(value, str):
        return None
    if "minLength" in spec and len(value) < spec["minLength"]:
        return "至少 {n} 个字符", {"n": spec["minLength"]}
    if "maxLength" in spec and len(value) > spec["maxLength"]:
        return "最多 {n} 个字符", {"n": spec["maxLength"]}
    if "pattern" in spec and not re.search(spec["pattern"], value):
        return "格式不正确", {}
    return None


def _check_range(value: Any, spec: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if "minimum" in spec and value < spec["minimum"]:
        return "不能小于 {n}", {"n": spec["minimum"]}
    if "maximum" in spec and value > spec["maximum"]:
        return "不能大于 {n}", {"n": spec["maximum"]}
    return None


def _check_enum(value: Any, spec: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
    if "enum" in spec and value not in spec["enum"]:
        return "请从列表中选择", {}
    return None


CHECKS: tuple[Check, ...] = (_check_string, _check_range, _check_enum)


@dataclass
class ParsedForm:
    """What was typed (to show again), the typed data, and per-field errors."""

    raw: dict[str, str]
    data: dict[str, Any]
    errors: dict[str, tuple[str, dict[str, Any]]]

    @property
    def ok(self) -> bool:
        return not self.errors


def _enum_value(raw: str, spec: Mapping[str, Any]) -> Any:
    """An enum option posted as text, as the schema's own value (e.g. an integer)."""
    for option in spec.get("enum", []):
        if str(option) == raw:
            return option
    return raw


def _parse_list(posted: Any, spec: Mapping[str, Any], required: bool
                ) -> tuple[str, list[str], tuple[str, dict[str, Any]] | None]:
    """An array of enum strings from checkboxes (a list) or typed text ("C1, C2")."""
    if isinstance(posted, str):
        values = [v for v in re.split(r"[,，、\s]+", posted) if v]
    else:
        values = [str(v).strip() for v in (posted or []) if str(v).strip()]
    values = list(dict.fromkeys(values))
    raw = ",".join(values)
    allowed = spec.get("items", {}).get("enum")
    if not values:
        return raw, values, ("此项为必填项", {}) if required else None
    if allowed is not None and any(v not in allowed for v in values):
        return raw, values, ("请从列表中选择", {})
    if len(values) < int(spec.get("minItems", 0)):
        return raw, values, ("至少选择 {n} 项", {"n": spec["minItems"]})
    return raw, values, None


def parse(schema: Mapping[str, Any], posted: Mapping[str, Any]) -> ParsedForm:
    """Typed data and per-field errors (message keys for i18n) from a posted form; an
    array field's value may be a list (checkboxes) or comma-separated text."""
    required = set(schema.get("required", []))
    raw: dict[str, str] = {}
    data: dict[str, Any] = {}
    errors: dict[str, tuple[str, dict[str, Any]]] = {}
    for name, spec in (schema.get("properties") or {}).items():
        if spec.get("type") == "array":
            raw[name], values, problem = _parse_list(posted.get(name), spec, name in required)
            if problem:
                errors[name] = problem
            elif values:
                data[name] = values
            continue
        if spec.get("type") == "boolean":
            data[name] = posted.get(name) in ("on", "true", "1")
            raw[name] = "on" if data[name] else ""
            continue
        text = str(posted.get(name, "")).strip()
        raw[name] = text
        if not text:
            if name in required:
                errors[name] = ("此项为必填项", {})
            continue
        value, problem = _coerce(text, spec)
        if "enum" in spec:
            value = _enum_value(text, spec)
        problem = problem or next((p for c in CHECKS if (p := c(value, spec))), None)
        if problem:
            errors[name] = problem
        else:
            data[name] = value
    return ParsedForm(raw=raw, data=data, errors=errors)


def raw_from_data(schema: Mapping[str, Any], data: Mapping[str, Any]) -> dict[str, str]:
    """Stored data shown back in the form's inputs (for a draft or an edit)."""
    out = {}
    for name, spec in (schema.get("properties") or {}).items():
        if name not in data:
            continue
        value = data[name]
        if spec.get("type") == "boolean":
            out[name] = "on" if value else ""
        elif isinstance(value, list):
            out[name] = ",".join(map(str, value))
        else:
            out[name] = "" if value is None else str(value)
    return out
