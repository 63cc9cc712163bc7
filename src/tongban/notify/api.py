"""HTTP routes of notifications: my inbox and my preferences (thin: validate, call the
service, map errors). Every route is the signed-in caller's own: nobody reads another's."""

from __future__ import annotations

import uuid
from dataclasses import asdict

from fastapi import APIRouter, Depends, Query
from sqlalchemy.orm import Session

from tongban.api_deps import DB_SESSION, get_settings_dep
from tongban.config import Settings
from tongban.identity.actor import Actor
from tongban.identity.deps import current_actor
from tongban.notify import preferences, service
from tongban.notify.schemas import (
    InboxOut,
    MarkedOut,
    NotificationOut,
    PreferencesIn,
    PreferencesOut,
    UnreadOut,
)

router = APIRouter(prefix="/notify", tags=["notify"])


@router.get("/inbox", response_model=InboxOut)
def my_inbox(unread_only: bool = False, limit: int = Query(50, ge=1, le=200),
             offset: int = Query(0, ge=0), db: Session = DB_SESSION,
             settings: Settings = Depends(get_settings_dep),
             actor: Actor = Depends(current_actor)) -> InboxOut:
    """My messages, newest first, and how many are unread."""
    items = service.inbox(db_session=db, settings=settings, actor=actor,
                          unread_only=unread_only, limit=limit, offset=offset)
    return InboxOut(unread=service.unread_count(db_session=db, actor=actor),
                    items=[NotificationOut(**asdict(i)) for i in items])


@router.get("/inbox/unread", response_model=UnreadOut)
def my_unread(db: Session = DB_SESSION, actor: Actor = Depends(current_actor)) -> UnreadOut:
    """How many of my messages are unread."""
    return UnreadOut(unread=service.unread_count(db_session=db, actor=actor))


@router.post("/inbox/{notification_id}/read", response_model=UnreadOut)
def mark_read(notification_id: uuid.UUID, db: Session = DB_SESSION,
              actor: Actor = Depends(current_actor)) -> UnreadOut:
    """Mark one of my messages read; answers how many are still unread."""
    service.mark_read(db_session=db, actor=actor, notification_id=notification_id)
    return UnreadOut(unread=service.unread_count(db_session=db, actor=actor))


@router.post("/inbox/read", response_model=MarkedOut)
def mark_all_read(db: Session = DB_SESSION,
                  actor: Actor = Depends(current_actor)) -> MarkedOut:
    """Mark all my messages read."""
    return MarkedOut(marked=service.mark_all_read(db_session=db, actor=actor))


@router.get("/preferences", response_model=PreferencesOut)
def my_preferences(db: Session = DB_SESSION, settings: Settings = Depends(get_settings_dep),
                   actor: Actor = Depends(current_actor)) -> PreferencesOut:
    """My addresses and which kinds also go out by e-mail or SMS."""
    return PreferencesOut(**asdict(preferences.view(db_session=db, settings=settings,
                                                    actor=actor)))


@router.put("/preferences", response_model=PreferencesOut)
def set_preferences(body: PreferencesIn, db: Session = DB_SESSION,
                    settings: Settings = Depends(get_settings_dep),
                    actor: Actor = Depends(current_actor)) -> PreferencesOut:
    """Replace my addresses and channel choices (checked first: all or nothing)."""
    view = preferences.update(db_session=db, settings=settings, actor=actor,
                              email=body.email, phone=body.phone, channels=body.channels)
    return PreferencesOut(**asdict(view))
