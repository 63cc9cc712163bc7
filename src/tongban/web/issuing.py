"""E-licences around a case, as the UI shows them.

On approval the case engine issues the e-licence the guide promises (cases/licensing.py),
its fields taken from the holder record, the application form, and what the approving
officer completes (`licence_fields`). This module works out which of the licence type's
fields the officer still has to give, renders them from the type's JSON Schema (forms.py),
and puts the licence schema's complaints back next to their fields. It also verifies the
licences a case references (一证通办) and finds the licence a case issued.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from tongban.cases.licensing import ISSUING_STATES
from tongban.cases.workflow import workflow_for
from tongban.catalog import service as catalog
from tongban.config import Settings
from tongban.errors import DomainError, NotFound
from tongban.identity import service as identity
from tongban.identity.actor import Actor
from tongban.licences import service as licences
from tongban.licences import verify as verification
from tongban.web import forms


def issuing_actions(case: Any) -> frozenset[str]:
    """The actions that put this case into a state whose entry issues the licence
    (licensing.py), read from its own workflow table: an immediate item's acceptance is
    its approval, a promised item's is not."""
    rows = workflow_for(case.workflow).rows
    return frozenset(r.action.value for r in rows
                     if r.to_state in ISSUING_STATES and r.state not in ISSUING_STATES)


# Prefix of the licence inputs inside an action form (kept apart from reason, note, …);
# the action follows it ("lic_approve-ethnicity"), so two forms on a page never clash.
PREFIX = "lic_"
_REQUIRED = re.compile(r"'([^']+)' is a required property")


@dataclass
class LicenceForm:
    """The licence a decision will issue and the fields the officer has to complete."""

    type_code: str
    type_name: str
    schema: dict[str, Any]  # the type's schema cut down to the fields not yet known
    fields: list[forms.FormField]
    known: dict[str, Any] = field(default_factory=dict)  # what holder record and form give


def _holder_fields(db_session: Session, person_id: uuid.UUID | None,
                   enterprise_id: uuid.UUID | None) -> dict[str, Any]:
    """The fields the holder's record gives, as licences.issue_for_approved_case takes
    them (name, gender, birth date; an enterprise's name and credit code)."""
    if person_id is not None:
        person = identity.get_person(db_session=db_session, person_id=person_id)
        return {"name": person.name, "gender": {"M": "男", "F": "女"}.get(person.gender),
                "birth_date": person.birth_date.isoformat()}
    if enterprise_id is not None:
        ent = identity.get_enterprise(db_session=db_session, enterprise_id=enterprise_id)
        return {"name": ent.name, "credit_code": ent.credit_code}
    return {}


def licence_form(*, db_session: Session, case: Any) -> LicenceForm | None:
    """The form for the licence this case's guide promises; None if it promises none."""
    if case.implementation_version_id is None:
        return None
    version = catalog.get_version(db_session=db_session, version_id=case.implementation_version_id)
    result = version.guide.get("result") or {}
    if result.get("kind") != "licence" or not result.get("licence_type"):
        return None
    try:
        licence_type = licences.get_type(db_session=db_session, code=result["licence_type"])
    except NotFound:
        return None  # a paper result this node cannot issue electronically
    full = licence_type.field_schema
    known = {**_holder_fields(db_session, case.applicant_person_id,
                              case.applicant_enterprise_id), **(case.form_data or {})}
    known = {k: v for k, v in known.items() if k in full.get("properties", {}) and v is not None}
    missing = {k: v for k, v in full.get("properties", {}).items() if k not in known}
    schema = {"type": "object", "properties": missing,
              "required": [r for r in full.get("required", []) if r in missing]}
    return LicenceForm(type_code=licence_type.code, type_name=licence_type.name,
                       schema=schema, fields=forms.fields_of(schema), known=known)


def posted_fields(form: FormData, spec: LicenceForm, action: str) -> dict[str, Any]:
    """The licence inputs of an action form, by schema name (arrays as lists)."""
    out: dict[str, Any] = {}
    for name, prop in spec.schema["properties"].items():
        key = f"{PREFIX}{action}-{name}"
        if prop.get("type") == "array":
            out[name] = [v for v in form.getlist(key) if isinstance(v, str)]
        else:
            value = form.get(key)
            out[name] = value if isinstance(value, str) else ""
    return out


def errors_from(exc: DomainError, spec: LicenceForm) -> dict[str, tuple[str, dict[str, Any]]]:
    """The licence schema's complaints (details like {"field": "fields.x", "message"}) as
    per-field errors; those naming no field of the form are left to the error summary."""
    out: dict[str, tuple[str, dict[str, Any]]] = {}
    details = exc.details if isinstance(exc.details, list) else []
    for item in details:
        if not isinstance(item, dict):
            continue
        path, message = str(item.get("field", "")), str(item.get("message", ""))
        name = path.removeprefix("fields.").split(".")[0]
        if name not in spec.schema["properties"]:
            continue
        if _REQUIRED.search(message):
            out[name] = ("此项为必填项", {})
        else:  # the Chinese half: "民族:类型不正确 / 7 is not of type 'string'"
            chinese = message.split(" / ")[0].split(":")[-1]
            out[name] = ("不符合证照要求：{detail}", {"detail": chinese})
    return out


@dataclass(frozen=True)
class AttachedLicence:
    """A material satisfied by a licence (一证通办), with the verification just made."""

    material_name: str
    identifier: str
    valid: bool
    outcome: str
    message: str


def verify_attached(*, db_session: Session, settings: Settings, materials: list[Any]
                    ) -> list[AttachedLicence]:
    """Verify every licence the case references, now (status may have changed since)."""
    out = []
    for m in materials:
        if m.source != "licence" or not m.reference:
            continue
        result = verification.verify(db_session=db_session, settings=settings,
                                     identifier=m.reference)
        out.append(AttachedLicence(material_name=m.name, identifier=m.reference,
                                   valid=result.valid, outcome=str(result.outcome),
                                   message=result.message))
    return out


def issued_for(*, db_session: Session, actor: Actor, case_id: uuid.UUID) -> list[Any]:
    """The licences this case issued that the signed-in holder holds."""
    return [lic for lic in licences.list_mine(db_session=db_session, actor=actor)
            if lic.case_id == case_id]


def held_for_material(*, db_session: Session, material: Any, person_id: uuid.UUID | None,
                      enterprise_id: uuid.UUID | None) -> Any:
    """一证通办: the applicant's valid licence that will satisfy this guide material (the
    engine attaches it at submit), or None when they hold none and must upload."""
    type_name = getattr(material, "licence_type", None)
    if getattr(material, "source", None) != "licence" or not type_name:
        return None
    if person_id is None and enterprise_id is None:
        return None
    try:
        return licences.find_valid_licence(
            db_session=db_session, holder_person_id=person_id,
            holder_enterprise_id=None if person_id else enterprise_id,
            licence_type_code=type_name)
    except NotFound:
        return None
