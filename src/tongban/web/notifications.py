"""My messages (消息中心): the inbox with unread count and mark read, and my notification
preferences. Plain forms that work without JavaScript; htmx swaps one message in place
and fills the unread badge of the navigation bar. Staff read theirs on the workbench
(/workbench/notifications: 工作消息, what supervision tells their department)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from tongban.errors import Forbidden, InvalidInput
from tongban.identity.actor import Actor
from tongban.notify import preferences, service, templates
from tongban.web.render import POSTED, WebRoute, page, require_actor, web_db
from tongban.web.routes import web_context

router = APIRouter(route_class=WebRoute, include_in_schema=False,
                   dependencies=[Depends(web_context)])

PAGE_SIZE = 50
CHANNEL_LABELS = {"email": "电子邮件", "sms": "短信"}
INBOXES = {"/my/notifications": "消息中心", "/workbench/notifications": "工作消息"}
STAFF_KINDS = "supervision."  # messages to staff: on staff's preference pages only


def _is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def _inbox_actor(request: Request, base: str) -> Actor:
    actor = require_actor(request)
    if base.startswith("/workbench") and not actor.is_staff:
        raise Forbidden("仅限工作人员 / staff only")
    return actor


def _inbox(request: Request, db: Session, base: str, unread: bool) -> Response:
    actor = _inbox_actor(request, base)
    settings = request.app.state.settings
    return page(request, "portal/notifications.html", {
        "entries": service.inbox(db_session=db, settings=settings, actor=actor,
                                 unread_only=unread, limit=PAGE_SIZE),
        "unread": service.unread_count(db_session=db, actor=actor), "only_unread": unread,
        "inbox_base": base, "inbox_title": INBOXES[base]})


@router.get("/my/notifications", response_class=HTMLResponse)
def my_notifications(request: Request, unread: bool = False,
                     db: Session = Depends(web_db)) -> Response:
    """My messages, newest first, unread ones marked; a link to each one's matter."""
    return _inbox(request, db, "/my/notifications", unread)


@router.get("/workbench/notifications", response_class=HTMLResponse)
def staff_notifications(request: Request, unread: bool = False,
                        db: Session = Depends(web_db)) -> Response:
    """工作消息: what the node told this staff account (差评回访, 12345派单, 督办, 预警)."""
    return _inbox(request, db, "/workbench/notifications", unread)


@router.get("/my/notifications/badge", response_class=HTMLResponse)
def badge(request: Request, db: Session = Depends(web_db)) -> Response:
    """The unread count of the navigation bar (an htmx fragment; empty when none)."""
    actor = getattr(request.state, "actor", None)
    count = service.unread_count(db_session=db, actor=actor) if actor else 0
    return page(request, "portal/_notify_badge.html", {"unread": count})


def _mark_read(request: Request, db: Session, base: str,
               notification_id: uuid.UUID) -> Response:
    actor = _inbox_actor(request, base)
    service.mark_read(db_session=db, actor=actor, notification_id=notification_id)
    if not _is_htmx(request):
        return RedirectResponse(base, status_code=303)
    entry = next(e for e in service.inbox(db_session=db, settings=request.app.state.settings,
                                          actor=actor, limit=200)
                 if e.id == notification_id)
    response = page(request, "portal/_notification.html", {"e": entry, "inbox_base": base})
    response.headers["HX-Trigger"] = "notify-read"  # the badge refreshes itself
    return response


@router.post("/my/notifications/{notification_id}/read", response_class=HTMLResponse)
def mark_read(request: Request, notification_id: uuid.UUID, db: Session = Depends(web_db),
              _form: FormData = POSTED) -> Response:
    """Mark one message read: the message again (htmx), or back to the inbox."""
    return _mark_read(request, db, "/my/notifications", notification_id)


@router.post("/workbench/notifications/{notification_id}/read", response_class=HTMLResponse)
def staff_mark_read(request: Request, notification_id: uuid.UUID,
                    db: Session = Depends(web_db), _form: FormData = POSTED) -> Response:
    """Mark one of the staff member's messages read."""
    return _mark_read(request, db, "/workbench/notifications", notification_id)


@router.post("/my/notifications/read", response_class=HTMLResponse)
def mark_all_read(request: Request, db: Session = Depends(web_db),
                  _form: FormData = POSTED) -> Response:
    """Mark every message read."""
    service.mark_all_read(db_session=db, actor=require_actor(request))
    return RedirectResponse("/my/notifications", status_code=303)


@router.post("/workbench/notifications/read", response_class=HTMLResponse)
def staff_mark_all_read(request: Request, db: Session = Depends(web_db),
                        _form: FormData = POSTED) -> Response:
    """Mark every message of the staff member read."""
    service.mark_all_read(db_session=db,
                          actor=_inbox_actor(request, "/workbench/notifications"))
    return RedirectResponse("/workbench/notifications", status_code=303)


def _kinds(actor: Actor) -> list[str]:
    """The kinds a person sets channels for: staff's own kinds only on staff's page."""
    return [k for k in templates.TEMPLATES if k != "notify.test"
            and (actor.is_staff or not k.startswith(STAFF_KINDS))]


def _preferences_page(request: Request, db: Session, *, error: InvalidInput | None = None,
                      sent: preferences.PreferenceView | None = None, saved: bool = False,
                      status: int = 200) -> Response:
    actor = require_actor(request)
    view = sent or preferences.view(db_session=db, settings=request.app.state.settings,
                                    actor=actor)
    return page(request, "portal/notify_preferences.html", {
        "view": view, "kinds": [(k, templates.TEMPLATES[k].label) for k in _kinds(actor)],
        "CHANNEL_LABELS": CHANNEL_LABELS, "error": error, "saved": saved,
        "problems": {p["field"]: p["message"] for p in (error.details or [])
                     if isinstance(p, dict)} if error else {}}, status=status)


@router.get("/my/notifications/preferences", response_class=HTMLResponse)
def preferences_page(request: Request, db: Session = Depends(web_db)) -> Response:
    """My addresses and, per kind of message, whether it also goes by e-mail or SMS."""
    return _preferences_page(request, db, saved=request.query_params.get("saved") == "1")


@router.post("/my/notifications/preferences", response_class=HTMLResponse)
def save_preferences(request: Request, db: Session = Depends(web_db),
                     form: FormData = POSTED) -> Response:
    """Save my preferences (all or nothing: a bad address keeps the form as it was sent)."""
    actor = require_actor(request)
    channels = {kind: [c for c in CHANNEL_LABELS if form.get(f"{kind}:{c}") == "on"]
                for kind in _kinds(actor)}
    email, phone = str(form.get("email") or ""), str(form.get("phone") or "")
    try:
        preferences.update(db_session=db, settings=request.app.state.settings, actor=actor,
                           email=email, phone=phone, channels=channels)
    except InvalidInput as exc:
        db.rollback()
        sent = preferences.PreferenceView(email=email, phone=phone, channels=channels)
        return _preferences_page(request, db, error=exc, sent=sent, status=422)
    return RedirectResponse("/my/notifications/preferences?saved=1", status_code=303)
