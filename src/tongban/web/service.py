"""Drafts: the UI's own records (other domains own everything else)."""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tongban.db import utcnow
from tongban.errors import Conflict, Forbidden, NotFound
from tongban.identity.actor import Actor
from tongban.web.models import Draft


def _require_account(actor: Actor) -> uuid.UUID:
    if actor.account_id is None:
        raise Forbidden("请使用个人账号操作 / a personal account is required")
    return actor.account_id


def open_draft(*, db_session: Session, actor: Actor, implementation_code: str,
               key: str | None = None) -> Draft:
    """The actor's unsubmitted draft for this implementation (the one named by `key`
    if given), or a new one: coming back to a form never starts from scratch."""
    account_id = _require_account(actor)
    stmt = select(Draft).where(Draft.account_id == account_id,
                               Draft.implementation_code == implementation_code)
    stmt = stmt.where(Draft.key == key) if key else stmt.where(
        Draft.case_number.is_(None), Draft.forwarded_case_id.is_(None))
    draft = db_session.scalars(stmt.order_by(Draft.updated_at.desc()).limit(1)).first()
    if draft is not None:
        return draft
    draft = Draft(key=secrets.token_urlsafe(32), account_id=account_id,
                  implementation_code=implementation_code, form={}, materials={})
    db_session.add(draft)
    db_session.flush()
    return draft


def get_draft(*, db_session: Session, key: str, actor: Actor | None = None,
              for_update: bool = False) -> Draft:
    """A draft by its key; with an actor, only that actor's own. `for_update` locks it,
    so two presses of the submit button are handled one after the other."""
    stmt = select(Draft).where(Draft.key == key)
    draft = db_session.scalar(stmt.with_for_update() if for_update else stmt)
    if draft is None or (actor is not None and draft.account_id != actor.account_id):
        raise NotFound("草稿不存在 / no such draft", details={"field": "draft"})
    return draft


def save_form(*, db_session: Session, key: str, form: dict[str, str],
              actor: Actor | None) -> Draft:
    """Keep what was typed. Without a session (it expired mid-form) the unguessable
    draft key alone authorises saving, so the applicant logs in again and loses nothing."""
    draft = get_draft(db_session=db_session, key=key, actor=actor)
    if draft.submitted:
        raise Conflict("该申请已提交 / this application was already submitted",
                       details={"case_number": draft.case_number})
    draft.form = dict(form)
    draft.updated_at = utcnow()
    return draft


def attach_material(*, db_session: Session, draft: Draft, code: str,
                    stored: dict[str, Any]) -> Draft:
    """Remember an uploaded material (already in the blob store) on the draft."""
    if draft.submitted:
        raise Conflict("该申请已提交 / this application was already submitted")
    materials = dict(draft.materials or {})
    materials[code] = stored
    draft.materials = materials
    draft.updated_at = utcnow()
    return draft


def detach_material(*, db_session: Session, draft: Draft, code: str) -> Draft:
    """Take a material off the draft (a declined fetch, before the upload replaces it)."""
    if draft.submitted:
        raise Conflict("该申请已提交 / this application was already submitted")
    draft.materials = {k: v for k, v in (draft.materials or {}).items() if k != code}
    draft.updated_at = utcnow()
    return draft


def mark_submitted(*, db_session: Session, draft: Draft, case_number: str) -> Draft:
    """The draft became a case; it stays as the record of the idempotency key."""
    draft.case_number = case_number
    draft.updated_at = utcnow()
    return draft


def mark_forwarded(*, db_session: Session, draft: Draft, forwarded_case_id: uuid.UUID
                   ) -> Draft:
    """The draft went to the node that handles the item (全程网办); it stays as the
    record of the idempotency key."""
    draft.forwarded_case_id = forwarded_case_id
    draft.updated_at = utcnow()
    return draft
