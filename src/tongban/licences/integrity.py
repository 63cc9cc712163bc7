"""Check stored licences against the tamper-evident log and their own signatures.

The log holds each licence's signed JWS hash and the record of its bound columns at
issue (service.BOUND_COLUMNS: holder, validity, issue time, ...) and every status change;
a licence whose JWS, signed content, bound column or status was edited in the database,
or that no act issued, is named.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tongban.config import Settings
from tongban.ledger import binding
from tongban.licences import signing
from tongban.licences.models import Licence, LicenceStatus
from tongban.licences.service import BOUND_COLUMNS
from tongban.licences.verify import verify


def check_against_log(
    *, db_session: Session, settings: Settings, issued: dict[str, tuple[str, dict[str, Any]]],
    last_status: dict[str, str], replaced_by: dict[str, str],
) -> list[str]:
    """Problems with the licences the log names (issued: licence id -> (where logged,
    payload)) and with licences it does not."""
    problems = []
    for licence_id, (logged, payload) in issued.items():
        licence = db_session.get(Licence, uuid.UUID(licence_id))
        where = f"{logged}: licence {payload['identifier']}"
        if licence is None:
            problems.append(f"{where}: the licence is missing from the database")
            continue
        if hashlib.sha256(licence.jws.encode("ascii")).hexdigest() != payload["jws_sha256"]:
            problems.append(f"{where}: its signed JWS differs from the one logged at issue")
        problems += _stored_copies_match(licence, where)
        changed = binding.changed_columns(licence, payload.get("record") or {}, BOUND_COLUMNS)
        if changed:
            problems.append(f"{where}: {', '.join(changed)} differ from the log (the licence "
                            "row was edited)")
        result = verify(db_session=db_session, settings=settings, identifier=licence.identifier)
        if result.outcome in {"tampered", "bad_signature", "malformed"}:
            fields = f" ({', '.join(result.changed_fields)})" if result.changed_fields else ""
            problems.append(f"{where}: {result.outcome}{fields}")
        expected = last_status.get(licence_id, LicenceStatus.valid)
        if licence.status != expected:
            problems.append(f"{where}: status {licence.status} but the log says {expected}")
        if licence.replaced_by != replaced_by.get(licence_id):
            problems.append(f"{where}: replaced_by {licence.replaced_by} but the log says "
                            f"{replaced_by.get(licence_id)}")
    known = {uuid.UUID(licence_id) for licence_id in issued}
    problems += [f"licence {identifier}: no act in the log issued it (the row was written "
                 "outside the licence service)"
                 for licence_id, identifier in db_session.execute(
                     select(Licence.id, Licence.identifier).order_by(Licence.identifier))
                 if licence_id not in known]
    return problems


def _stored_copies_match(licence: Licence, where: str) -> list[str]:
    """The readable copies kept beside the JWS (shown on pages) must say what it signs."""
    try:
        signed = signing.parse(licence.jws).payload
    except signing.JwsFormatError:
        return [f"{where}: its JWS is not readable"]
    changed = [name for name, stored in (("document", licence.document),
                                         ("fields", licence.fields))
               if stored != (signed if name == "document" else signed.get("fields"))]
    return [f"{where}: tampered ({', '.join(changed)} differ from the signed licence)"
            ] if changed else []
