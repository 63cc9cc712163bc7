"""Application forms: check the data an applicant filled in against the version's JSON Schema.

Used when a case is submitted (service.submit, bundles, forwarded cases) and when an
applicant supplies a corrected form (rules: the supply check), so it sits below both.
"""

from __future__ import annotations

from typing import Any

from tongban.errors import InvalidInput
from tongban.schema_errors import problems


def validate_form(schema: dict[str, Any], data: dict[str, Any]) -> None:
    """Raise InvalidInput listing every field that breaks the form schema."""
    found = problems(schema or {}, data, prefix="form_data")
    if found:
        raise InvalidInput("申请表填写有误 / the application form has errors",
                           code="invalid_form", details=found)
