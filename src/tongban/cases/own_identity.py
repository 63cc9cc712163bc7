"""The applicant's own identity fields of a form (`x-applicant` in its JSON Schema).

A form's 公民身份号码 or 统一社会信用代码 names who the application is for; a licence is
issued to that person. So a field marked `x-applicant: id_number` must be the ID number
of the case's applicant (an agent's principal, the walk-in a clerk chose), and one marked
`x-applicant: credit_code` the enterprise's code: anything else is refused, naming the
field in Chinese. The pages fill these fields from the account (`prefill`), so an
applicant types nothing they could get wrong.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from tongban.config import Settings
from tongban.errors import InvalidInput
from tongban.identity import crypto
from tongban.identity.ids import normalise
from tongban.identity.models import Enterprise, Person

MISMATCH = {
    "id_number": "与申请人本人的公民身份号码不一致(代办:须为被代办人的) / is not the "
                 "applicant's own ID number (an agent: the principal's)",
    "credit_code": "与申请企业的统一社会信用代码不一致 / is not the applying enterprise's code",
}


def marked(schema: Mapping[str, Any]) -> dict[str, str]:
    """Field name -> what of the applicant it holds ("name", "id_number", "credit_code")."""
    props = schema.get("properties") or {}
    return {name: str(spec["x-applicant"]) for name, spec in props.items()
            if isinstance(spec, Mapping) and isinstance(spec.get("x-applicant"), str)}


def check(*, db_session: Session, settings: Settings, schema: Mapping[str, Any],
          form_data: Mapping[str, Any], person_id: uuid.UUID | None,
          enterprise_id: uuid.UUID | None) -> None:
    """Refuse (422, per field) an identity field that is not the applicant's own."""
    wrong = []
    for name, kind in marked(schema).items():
        value = form_data.get(name)
        if not isinstance(value, str) or kind not in MISMATCH:
            continue
        if not _is_own(db_session, settings, kind, value, person_id, enterprise_id):
            wrong.append({"field": f"form_data.{name}", "message": MISMATCH[kind]})
    if wrong:
        raise InvalidInput("申请表中的身份信息与申请人不一致 / the form's identity fields are "
                           "not the applicant's", code="not_own_identity", details=wrong)


def _is_own(db_session: Session, settings: Settings, kind: str, value: str,
            person_id: uuid.UUID | None, enterprise_id: uuid.UUID | None) -> bool:
    if kind == "id_number":
        person = db_session.get(Person, person_id) if person_id else None
        return person is not None and person.id_number_hash == crypto.keyed_hash(
            settings=settings, value=normalise(value))
    enterprise = db_session.get(Enterprise, enterprise_id) if enterprise_id else None
    return enterprise is not None and enterprise.credit_code == normalise(value)


def prefill(*, db_session: Session, settings: Settings, schema: Mapping[str, Any],
            person_id: uuid.UUID | None, enterprise_id: uuid.UUID | None) -> dict[str, str]:
    """The applicant's identity fields as the form should show them, from the account."""
    person = db_session.get(Person, person_id) if person_id else None
    enterprise = db_session.get(Enterprise, enterprise_id) if enterprise_id else None
    values: dict[str, str | None] = {
        "name": enterprise.name if enterprise else person.name if person else None,
        "credit_code": enterprise.credit_code if enterprise else None,
        "id_number": crypto.decrypt(settings=settings, blob=person.id_number_enc,
                                    column="identity_people.id_number")
        if person and not enterprise else None,
    }
    return {name: v for name, kind in marked(schema).items()
            if (v := values.get(kind)) is not None}
