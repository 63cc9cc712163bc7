"""Corrections of the form fields a handling region's 补正 notice names, answered at home.

One rule for the portal page (my_forwarded) and the CLI (`tongban federation supply
--field`): only the fields the open notice names and the item's form schema has may be
given; each is parsed and checked as the application form checks it (forms.parse), and
the corrected whole form is the form as sent with those fields replaced. Kept apart from
the page's router so the CLI reads the same rule without the web app.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from tongban.catalog import service as catalog
from tongban.errors import DomainError, InvalidInput
from tongban.federation.schemas import ForwardedCaseOut
from tongban.web import forms


def guide_of(db: Session, implementation_code: str) -> tuple[dict[str, str], dict[str, Any]]:
    """(material code -> name, form schema) of the item's guide in this node's catalog
    (the handling region's implementation is listed here too); empty without it."""
    try:
        found = catalog.guide(db_session=db, implementation_code=implementation_code)
    except DomainError:
        return {}, {}
    return {m.code: m.name for m in found.guide.materials}, found.form_schema


def noticed_fields(fc: ForwardedCaseOut) -> list[str]:
    """The form fields the open notice asks to correct (its `field` items), in its order."""
    return [i["field"] for i in (fc.open_notice or {}).get("items", []) if i.get("field")]


def asked_schema(schema: dict[str, Any], fc: ForwardedCaseOut) -> dict[str, Any]:
    """The part of the form schema the open notice asks to correct."""
    props = schema.get("properties") or {}
    names = [name for name in noticed_fields(fc) if name in props]
    return {"type": "object", "properties": {name: props[name] for name in names},
            "required": [n for n in schema.get("required", []) if n in names]}


def corrected_form(asked: dict[str, Any], given: Mapping[str, Any], stored: dict[str, Any]
                   ) -> dict[str, Any] | None:
    """The whole form with the asked fields as given (a string each, a list for an array
    field); None when the notice names no field; InvalidInput with each field's problem
    (a message key of forms, in `details`) when one is wrong."""
    props = asked["properties"]
    if not props:
        return None
    parsed = forms.parse(asked, {name: given.get(name, [] if spec.get("type") == "array"
                                                 else "") for name, spec in props.items()})
    if parsed.errors:
        raise InvalidInput("请改正标出的字段 / correct the fields marked",
                           details=[{"field": name, "message": key.format(**params),
                                     "key": key, "params": params}
                                    for name, (key, params) in parsed.errors.items()])
    form = {k: v for k, v in stored.items() if k not in props}
    return {**form, **parsed.data}
