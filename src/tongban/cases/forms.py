"""Application forms: check the data an applicant filled in against the version's JSON Schema.

Used when a case is submitted (service.submit, bundles, forwarded cases) and when an
applicant supplies a corrected form (rules: the supply check), so it sits below both.
"""

from __future__ import annotations

from typing import Any

import jsonschema

from tongban.errors import InvalidInput

_MESSAGES: dict[str, str] = {
    "required": "必填", "type": "类型不正确", "enum": "不在可选范围内", "const": "取值不正确",
    "minLength": "太短", "maxLength": "太长", "pattern": "格式不正确", "format": "格式不正确",
    "minimum": "小于允许的最小值", "maximum": "大于允许的最大值",
    "exclusiveMinimum": "小于允许的最小值", "exclusiveMaximum": "大于允许的最大值",
    "minItems": "条目太少", "maxItems": "条目太多", "additionalProperties": "含有不允许的字段",
    "uniqueItems": "条目不得重复",
}


def _form_errors(schema: dict[str, Any], data: dict[str, Any]) -> list[dict[str, str]]:
    """Per-field problems of `data` against the version's JSON Schema."""
    cls = jsonschema.validators.validator_for(schema)
    validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
    problems = []
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
        chinese = _MESSAGES.get(str(err.validator), "不符合要求")
        problems.append({"field": ".".join(["form_data", *path]),
                         "message": f"{chinese} / {err.message}"})
    return problems


def validate_form(schema: dict[str, Any], data: dict[str, Any]) -> None:
    """Raise InvalidInput listing every field that breaks the form schema."""
    problems = _form_errors(schema or {}, data)
    if problems:
        raise InvalidInput("申请表填写有误 / the application form has errors",
                           code="invalid_form", details=problems)
