"""Check stored licences against the tamper-evident log and their own signatures.

The log holds each licence's signed JWS hash at issue and every status change; a
licence whose JWS, signed content or status was edited in the database is named.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from sqlalchemy.orm import Session

from tongban.config import Settings
from tongban.licences import signing
from tongban.licences.models import Licence, LicenceStatus
from tongban.licences.verify import verify


def check_against_log(
    *, db_session: Session, settings: Settings, issued: dict[str, tuple[int, dict[str, Any]]],
    last_status: dict[str, str],
) -> list[str]:
    """Problems with the licences the log names (issued: licence id -> (index, payload))."""
    problems = []
    for licence_id, (index, payload) in issued.items():
        licence = db_session.get(Licence, uuid.UUID(licence_id))
        where = f"log entry {index}: licence {payload['identifier']}"
        if licence is None:
            problems.append(f"{where}: the licence is missing from the database")
            continue
        if hashlib.sha256(licence.jws.encode("ascii")).hexdigest() != payload["jws_sha256"]:
            problems.append(f"{where}: its signed JWS differs from the one logged at issue")
        problems += _stored_copies_match(licence, where)
        result = verify(db_session=db_session, settings=settings, identifier=licence.identifier)
        if result.outcome in {"tampered", "bad_signature", "malformed"}:
            fields = f" ({', '.join(result.changed_fields)})" if result.changed_fields else ""
            problems.append(f"{where}: {result.outcome}{fields}")
        expected = last_status.get(licence_id, LicenceStatus.valid)
        if licence.status != expected:
            problems.append(f"{where}: status {licence.status} but the log says {expected}")
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
