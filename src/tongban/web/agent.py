"""帮办代办: an agent chooses whom they act for, then applies on that principal's behalf.

The choice lives in the agent's login session (identity.act_for / stop_acting), so every
page knows it: the header says "代 XXX 办理" with a button to stop, applications are filed
for the principal (the case engine checks the authorisation again for the item), and the
principal's own e-licences satisfy 一证通办 materials.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from tongban.cases.schemas import ApplicantIn
from tongban.catalog import service as catalog
from tongban.db import utcnow
from tongban.errors import DomainError, Forbidden, NotFound
from tongban.identity import service as identity
from tongban.identity.actor import Actor
from tongban.identity.deps import SESSION_COOKIE
from tongban.web.render import WebRoute, page, require_actor, web_db
from tongban.web.routes import safe_next, web_context

router = APIRouter(route_class=WebRoute, include_in_schema=False,
                   dependencies=[Depends(web_context)])

STATE_LABELS = {"valid": "有效", "revoked": "已撤销", "not_yet_valid": "尚未生效",
                "expired": "已过期"}


@dataclass(frozen=True)
class ActingFor:
    """Whom the signed-in agent acts for now, for the header and the apply flow."""

    authorisation_id: uuid.UUID
    name: str
    person_id: uuid.UUID | None
    enterprise_id: uuid.UUID | None

    def applicant(self) -> ApplicantIn:
        """The principal as the case engine's `applicant`."""
        return ApplicantIn(person_id=self.person_id, enterprise_id=self.enterprise_id)


def _principal_name(db: Session, auth: Any) -> str:
    if auth.principal_person_id is not None:
        return identity.get_person(db_session=db, person_id=auth.principal_person_id).name
    return identity.get_enterprise(db_session=db,
                                   enterprise_id=auth.principal_enterprise_id).name


def acting_for(*, db_session: Session, actor: Actor | None) -> ActingFor | None:
    """The principal the actor's session acts for (identity already checked it is valid)."""
    if actor is None or actor.acting_for_authorisation_id is None:
        return None
    auth = identity.get_agent_authorisation(
        db_session=db_session, authorisation_id=actor.acting_for_authorisation_id)
    return ActingFor(authorisation_id=auth.id, name=_principal_name(db_session, auth),
                     person_id=auth.principal_person_id,
                     enterprise_id=auth.principal_enterprise_id)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _state(auth: Any, now: datetime) -> str:
    """valid / revoked / not_yet_valid / expired, as identity decides at act_for."""
    if auth.revoked_at is not None and _aware(auth.revoked_at) <= now:
        return "revoked"
    if now < _aware(auth.valid_from):
        return "not_yet_valid"
    if now >= _aware(auth.valid_until):
        return "expired"
    return "valid"


def _item_names(db: Session, codes: list[str]) -> list[str]:
    names = []
    for code in codes:
        try:
            names.append(catalog.get_item_by_code(db_session=db, basic_code=code).name)
        except NotFound:
            names.append(code)
    return names


def _rows(db: Session, actor: Actor) -> list[dict[str, Any]]:
    now = utcnow()
    rows = []
    for auth in identity.list_agent_authorisations(db_session=db, actor=actor,
                                                   agent_account_id=actor.account_id):
        rows.append({"auth": auth, "name": _principal_name(db, auth),
                     "items": _item_names(db, list(auth.item_codes or [])),
                     "state": _state(auth, now),
                     "current": auth.id == actor.acting_for_authorisation_id})
    rows.sort(key=lambda r: (r["state"] != "valid", r["name"]))
    return rows


def require_agent(request: Request) -> Actor:
    """The signed-in agent, else 403."""
    actor = require_actor(request)
    if not actor.has("agent"):
        raise Forbidden("仅限代办人 / agents only", details={"required_roles": ["agent"]})
    return actor


def _principals_page(request: Request, db: Session, actor: Actor, *, next_url: str,
                     error: DomainError | None = None) -> Response:
    return page(request, "portal/principals.html", {
        "rows": _rows(db, actor), "next": next_url, "error": error,
        "STATE_LABELS": STATE_LABELS}, status=error.status if error else 200)


@router.get("/agent/principals", response_class=HTMLResponse)
def principals(request: Request, next: str = "/", db: Session = Depends(web_db)) -> Response:
    """The agent's authorisations: principal, items, until; choose one to act for."""
    actor = require_agent(request)
    return _principals_page(request, db, actor, next_url=safe_next(next))


@router.post("/agent/act-for", response_class=HTMLResponse)
def act_for(request: Request, authorisation_id: str = Form(""), next: str = Form("/"),
            db: Session = Depends(web_db)) -> Response:
    """Act for the chosen principal from now on (identity checks the authorisation)."""
    actor = require_agent(request)
    try:
        identity.act_for(db_session=db, token=request.cookies.get(SESSION_COOKIE, ""),
                         authorisation_id=uuid.UUID(authorisation_id))
    except ValueError:
        return _principals_page(request, db, actor, next_url=safe_next(next), error=NotFound(
            "未找到该代办授权 / no such authorisation", details={"field": "authorisation_id"}))
    except DomainError as exc:
        db.rollback()
        return _principals_page(request, db, actor, next_url=safe_next(next), error=exc)
    db.commit()
    return RedirectResponse(safe_next(next), status_code=303)


@router.post("/agent/stop")
def stop(request: Request, db: Session = Depends(web_db)) -> Response:
    """Act for nobody again."""
    require_agent(request)
    identity.stop_acting(db_session=db, token=request.cookies.get(SESSION_COOKIE, ""))
    db.commit()
    return RedirectResponse("/agent/principals", status_code=303)
