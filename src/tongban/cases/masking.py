"""Form data as each reader may see it: whole for its applicant, masked for staff.

A form field is personal when its JSON Schema says so (`x-personal`: id_number, phone,
bank_account, address, name) or, for forms written before the marks, when its value is
a valid ID number or a mobile number. Staff (clerks, reviewers, supervisors, operators)
read ID numbers, phones and bank accounts masked; one of them who needs a value whole
asks for it with a purpose, and the reveal is audited (`reveal_field`), as identity's
reveal of a person's ID number is. The applicant, their agent and the system see all.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from tongban.cases.access import _owns
from tongban.cases.models import Case
from tongban.identity.actor import Actor
from tongban.identity.ids import is_resident_id, mask_id_number

MASKED_KINDS = ("id_number", "phone", "bank_account")
_MOBILE = re.compile(r"1[3-9][0-9]{9}")


def _keep(value: str, head: int, tail: int) -> str:
    if len(value) <= head + tail:
        return "*" * len(value)
    return value[:head] + "*" * (len(value) - head - tail) + value[-tail:]


MASKS: dict[str, Callable[[str], str]] = {
    "id_number": mask_id_number,  # 510***********123X
    "phone": lambda v: _keep(v, 3, 4),  # 138****8000
    "bank_account": lambda v: _keep(v, 4, 4),  # 6222***********5678
}


def personal_kind(schema: Mapping[str, Any], name: str, value: Any) -> str | None:
    """The kind of personal data field `name` holds (`x-personal`, else by its value)."""
    spec = (schema.get("properties") or {}).get(name) or {}
    marked = spec.get("x-personal") if isinstance(spec, Mapping) else None
    if isinstance(marked, str):
        return marked
    if isinstance(value, str):
        if len(value) == 18 and is_resident_id(value):
            return "id_number"
        if _MOBILE.fullmatch(value):
            return "phone"
    return None


def sees_whole(actor: Actor, case: Case) -> bool:
    """The applicant (or the agent who filed it) and the system read their form whole."""
    return (actor.has("system") or _owns(actor, case)
            or (case.submitted_by_account_id is not None
                and case.submitted_by_account_id == actor.account_id))


def mask_form(schema: Mapping[str, Any], data: Mapping[str, Any]) -> dict[str, Any]:
    """`data` with every ID number, phone and bank account masked."""
    out: dict[str, Any] = {}
    for name, value in data.items():
        kind = personal_kind(schema, name, value)
        out[name] = MASKS[kind](value) if kind in MASKS and isinstance(value, str) else value
    return out


def masked_fields(schema: Mapping[str, Any], data: Mapping[str, Any]) -> list[str]:
    """The fields `mask_form` masks (those a reveal can show)."""
    return [name for name, value in data.items()
            if personal_kind(schema, name, value) in MASKS and isinstance(value, str)]


def mask_tree(value: Any) -> Any:
    """Any JSON value with every ID number and mobile number in it masked (event data,
    whose fields no schema describes)."""
    if isinstance(value, Mapping):
        return {k: mask_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_tree(v) for v in value]
    kind = personal_kind({}, "", value)
    return MASKS[kind](value) if kind in MASKS else value


def form_for(actor: Actor, case: Case, schema: Mapping[str, Any]) -> dict[str, Any]:
    """The case's form data as `actor` may read it."""
    data = case.form_data or {}
    return dict(data) if sees_whole(actor, case) else mask_form(schema, data)
