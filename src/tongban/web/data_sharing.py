"""数据共享: the data steward's pages (catalog, 需求清单, grants, audit) and the staff
member's purpose-bound query page.

Every page calls the sharing services the API and CLI call; a refused query is shown
with its reason (403) after its access row, audit entry and ledger act are committed,
exactly as the API answers it. Page handlers are plain `def`s (the thread pool), since
they read the database and sign.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRouter
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from tongban.errors import Forbidden, InvalidInput, NotFound
from tongban.identity.actor import Actor
from tongban.sharing import grants, importer, queries, registries, remote, views
from tongban.sharing.fields import Masking
from tongban.sharing.models import Grant, GrantStatus, RequestState
from tongban.sharing.schemas import QueryIn, QueryOut
from tongban.web.render import POSTED, WebRoute, page, require_actor, web_db
from tongban.web.routes import web_context

router = APIRouter(route_class=WebRoute, include_in_schema=False,
                   dependencies=[Depends(web_context)])

STEWARD_ROLES = ("data_steward", "operator")
SHARING_TYPE_LABELS = {"unconditional": "无条件共享", "conditional": "有条件共享",
                       "not_shared": "不予共享"}
MASKING_LABELS = {Masking.none: "原值", Masking.partial: "部分遮蔽", Masking.year: "仅年份",
                  Masking.presence: "仅示有无"}
STATUS_LABELS = {"active": "有效", "paused": "已暂停", "revoked": "已撤销",
                 "expired": "已过期", "exhausted": "次数已用完", "not_yet_valid": "尚未生效"}
REQUEST_LABELS = {RequestState.filed: "待处理", RequestState.granted: "已授权",
                  RequestState.refused: "不予共享", RequestState.withdrawn: "已撤回"}
OUTCOME_LABELS = {"allowed": "已允许", "denied": "已拒绝", "pending": "待应答"}
REQUIRES_LABELS = {"none": "无需", "case": "办件编号", "consent": "本人授权",
                   "case_or_consent": "办件编号或本人授权"}
BASIS_LABELS = {"statute": "法定职责", "public_task": "公共服务", "consent": "本人同意",
                "contract": "协议"}
GRANT_ACTIONS = ("pause", "resume", "revoke")


def _labels() -> dict[str, Any]:
    return {"SHARING_TYPE_LABELS": SHARING_TYPE_LABELS, "MASKING_LABELS": MASKING_LABELS,
            "STATUS_LABELS": STATUS_LABELS, "REQUEST_LABELS": REQUEST_LABELS,
            "OUTCOME_LABELS": OUTCOME_LABELS, "REQUIRES_LABELS": REQUIRES_LABELS,
            "BASIS_LABELS": BASIS_LABELS, "REASONS": queries.REASONS}


def _require(request: Request, roles: tuple[str, ...] | frozenset[str], what: str) -> Actor:
    actor = require_actor(request)
    if not actor.has(*roles):
        raise Forbidden(what, details={"required_roles": sorted(roles)})
    return actor


def require_steward(request: Request) -> Actor:
    """The signed-in data steward (or operator), else 403."""
    return _require(request, STEWARD_ROLES, "仅限数据管理员 / data stewards only")


def _dataset_names(db: Session) -> dict[str, str]:
    return {d.code: d.name for d in registries.list_datasets(db_session=db)}


# --- the steward: catalog ---------------------------------------------------------------


@router.get("/workbench/sharing", response_class=HTMLResponse)
def catalog_page(request: Request, db: Session = Depends(web_db)) -> Response:
    """The sharing catalog: each dataset's owner, terms, legal basis and record count."""
    require_steward(request)
    rows = [views.dataset_out(db, d, with_count=True)
            for d in registries.list_datasets(db_session=db)]
    open_requests = len(grants.list_requests(db_session=db, state=RequestState.filed))
    return page(request, "sharing/catalog.html", {"datasets": rows,
                                                  "open_requests": open_requests,
                                                  **_labels()})


@router.get("/workbench/sharing/datasets/{code}", response_class=HTMLResponse)
def dataset_page(request: Request, code: str, db: Session = Depends(web_db)) -> Response:
    """One dataset: its fields, imports, and the grants made of it."""
    require_steward(request)
    dataset = registries.get_dataset(db_session=db, code=code)
    return page(request, "sharing/dataset.html", {
        "d": views.dataset_out(db, dataset, with_count=True),
        "imports": importer.list_batches(db_session=db, dataset=code)[:20],
        "names": _dataset_names(db),
        "grants": [views.grant_out(db_session=db, settings=request.app.state.settings,
                                   grant=g)
                   for g in grants.list_grants(db_session=db, dataset=code)],
        **_labels()})


# --- the steward: 需求清单 ----------------------------------------------------------------


@router.get("/workbench/sharing/requests", response_class=HTMLResponse)
def requests_page(request: Request, state: str = "filed",
                  db: Session = Depends(web_db)) -> Response:
    """The 需求清单: what consumers asked for; open ones with a grant / refuse form."""
    require_steward(request)
    chosen = state if state in REQUEST_LABELS else ""
    rows = [views.request_out(db_session=db, req=r)
            for r in grants.list_requests(db_session=db, state=chosen or None)]
    specs = {code: registries.field_specs(registries.get_dataset(db_session=db, code=code))
             for code in {r.dataset for r in rows}}
    return page(request, "sharing/requests.html", {
        "requests": rows, "state": chosen, "specs": specs, "names": _dataset_names(db),
        "MASKINGS": list(Masking), **_labels()})


def _int_or_none(form: FormData, name: str) -> int | None:
    value = str(form.get(name) or "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise InvalidInput(f"{name} 须为正整数 / {name} must be a positive whole number",
                           details=[{"field": name, "message": value}])
    return int(value)


def _masking(form: FormData, prefix: str) -> dict[str, Masking]:
    """The per-field masking a form posts as `mask.<field>` selects."""
    out = {}
    for key, value in form.multi_items():
        if key.startswith(prefix):
            try:
                out[key[len(prefix):]] = Masking(str(value))
            except ValueError:
                raise InvalidInput("未知的遮蔽方式 / unknown masking",
                                   details=[{"field": key, "message": str(value)}]) from None
    return out


@router.post("/workbench/sharing/requests/{request_id}")
def decide_request(request: Request, request_id: uuid.UUID, form: FormData = POSTED,
                   db: Session = Depends(web_db)) -> Response:
    """Grant a request on the terms chosen, or refuse it with a reason."""
    actor = require_steward(request)
    settings = request.app.state.settings
    if form.get("decision") == "grant":
        grant = grants.grant_request(
            db_session=db, settings=settings, actor=actor, request_id=request_id,
            masking=_masking(form, "mask."), basis=str(form.get("basis") or "statute"),
            requires=str(form.get("requires") or "case_or_consent"),
            valid_days=_int_or_none(form, "valid_days"),
            use_limit=_int_or_none(form, "use_limit"),
            legal_ref=str(form.get("legal_ref") or "").strip() or None)
        db.commit()
        return RedirectResponse(f"/workbench/sharing/grants/{grant.grant_id}", status_code=303)
    grants.refuse_request(db_session=db, actor=actor, request_id=request_id,
                          reason=str(form.get("reason") or ""))
    db.commit()
    return RedirectResponse("/workbench/sharing/requests?state=refused", status_code=303)


# --- the steward: grants ------------------------------------------------------------------


@router.get("/workbench/sharing/grants", response_class=HTMLResponse)
def grants_page(request: Request, dataset: str = "", db: Session = Depends(web_db)) -> Response:
    """Current grant versions: consumer, purpose, status now, uses."""
    require_steward(request)
    settings = request.app.state.settings
    rows = [views.grant_out(db_session=db, settings=settings, grant=g)
            for g in grants.list_grants(db_session=db, dataset=dataset or None)]
    return page(request, "sharing/grants.html", {
        "grants": rows, "dataset": dataset, "names": _dataset_names(db), **_labels()})


@router.get("/workbench/sharing/grants/{grant_id}", response_class=HTMLResponse)
def grant_page(request: Request, grant_id: uuid.UUID, db: Session = Depends(web_db)
               ) -> Response:
    """One grant: every signed version (signature checked), and pause / resume / revoke."""
    actor = require_steward(request)
    settings = request.app.state.settings
    found = grants.versions(db_session=db, grant_id=grant_id)
    if not found:
        grants.get_grant(db_session=db, grant_id=grant_id)  # 404
    versions = [views.grant_out(db_session=db, settings=settings, grant=g, check=True)
                for g in reversed(found)]
    current = versions[0]
    dataset = registries.get_dataset(db_session=db, code=current.dataset)
    return page(request, "sharing/grant.html", {
        "g": current, "versions": versions, "dataset_name": dataset.name,
        "names": _dataset_names(db),
        "labels": {n: s.label for n, s in registries.field_specs(dataset).items()},
        "accesses": queries.list_accesses(db_session=db, actor=actor, grant_id=grant_id,
                                          limit=20) if actor.has(*queries.AUDIT_ROLES) else [],
        **_labels()})


@router.post("/workbench/sharing/grants/{grant_id}/{action}")
def change_grant(request: Request, grant_id: uuid.UUID, action: str,
                 form: FormData = POSTED, db: Session = Depends(web_db)) -> Response:
    """Pause, resume or revoke a grant, with the reason the new version records."""
    actor = require_steward(request)
    if action not in GRANT_ACTIONS:
        raise Forbidden("未知操作 / unknown action")
    settings, reason = request.app.state.settings, str(form.get("reason") or "")
    if action == "revoke":
        grants.revoke_grant(db_session=db, settings=settings, actor=actor, grant_id=grant_id,
                            reason=reason)
    else:
        grants.suspend_grant(db_session=db, settings=settings, actor=actor,
                             grant_id=grant_id, action=action, reason=reason)
    db.commit()
    return RedirectResponse(f"/workbench/sharing/grants/{grant_id}", status_code=303)


# --- audit --------------------------------------------------------------------------------


@router.get("/workbench/sharing/audit", response_class=HTMLResponse)
def audit_page(request: Request, dataset: str = "", outcome: str = "",
               db: Session = Depends(web_db)) -> Response:
    """The access log: every query, allowed or refused (with its reason), newest first."""
    actor = _require(request, queries.AUDIT_ROLES,
                     "您的角色不能查看共享审计 / your role may not read the access log")
    rows = queries.list_accesses(db_session=db, actor=actor, dataset=dataset or None,
                                 outcome=outcome if outcome in OUTCOME_LABELS else None,
                                 limit=200)
    return page(request, "sharing/audit.html", {
        "accesses": rows, "dataset": dataset, "outcome": outcome,
        "names": _dataset_names(db), **_labels()})


# --- staff: purpose-bound queries ---------------------------------------------------------


def require_query_staff(request: Request) -> Actor:
    """A clerk, reviewer, steward or supervisor (the roles that may query), else 403."""
    return _require(request, queries.QUERY_ROLES,
                    "您不是可代表消费部门查询的工作人员 / staff of a consumer department only")


def _my_grants(db: Session, actor: Actor) -> list[Grant]:
    """The current grants to the departments the staff member works for."""
    from tongban.catalog import service as catalog

    codes = {catalog.get_department(db_session=db, department_id=s.department_id).credit_code
             for s in actor.scopes if s.department_id is not None}
    return [g for code in sorted(codes)
            for g in grants.list_grants(db_session=db, consumer_credit_code=code)
            if g.status != GrantStatus.revoked]


def _query_context(request: Request, db: Session, actor: Actor, grant_id: str
                   ) -> dict[str, Any]:
    settings = request.app.state.settings
    mine = _my_grants(db, actor)
    chosen = next((g for g in mine if str(g.grant_id) == grant_id), None)
    labels: dict[str, str] = {}
    dataset = registries.find_dataset(db_session=db, name=chosen.dataset_code) if chosen else None
    if dataset is not None:  # a peer's dataset (a remote grant) is not in our catalog
        labels = {n: s.label for n, s in registries.field_specs(dataset).items()}
    return {"grants": [views.grant_out(db_session=db, settings=settings, grant=g) for g in mine],
            "chosen": views.grant_out(db_session=db, settings=settings, grant=chosen)
            if chosen is not None else None,
            "labels": labels, "names": _dataset_names(db), **_labels()}


@router.get("/workbench/query", response_class=HTMLResponse)
def query_page(request: Request, grant: str = "", db: Session = Depends(web_db)) -> Response:
    """Choose one of your department's grants, then ask for one subject's fields."""
    actor = require_query_staff(request)
    return page(request, "sharing/query.html", {
        **_query_context(request, db, actor, grant), "form": {}, "answer": None,
        "mine": queries.list_accesses(db_session=db, actor=actor, mine=True, limit=20)})


@router.post("/workbench/query", response_class=HTMLResponse)
def run_query(request: Request, form: FormData = POSTED, db: Session = Depends(web_db)
              ) -> Response:
    """Run the query; the answer, or the refusal with its reason (403), both logged."""
    actor = require_query_staff(request)
    grant_id = str(form.get("grant") or "")
    ctx = _query_context(request, db, actor, grant_id)
    chosen = ctx["chosen"]
    if chosen is None:
        raise InvalidInput("请选择一项授权 / choose a grant",
                           details=[{"field": "grant", "message": grant_id}])
    consent = str(form.get("consent_id") or "").strip()
    try:
        consent_id = uuid.UUID(consent) if consent else None
    except ValueError:
        raise InvalidInput("本人授权编号格式错误 / the consent id is malformed",
                           details=[{"field": "consent_id", "message": consent}]) from None
    settings = request.app.state.settings
    try:
        body = QueryIn(dataset=chosen.dataset, subject=str(form.get("subject") or "").strip(),
                       purpose_code=chosen.purpose_code,
                       purpose_text=str(form.get("purpose_text") or ""),
                       fields=[str(f) for f in form.getlist("fields")] or None,
                       case_number=str(form.get("case_number") or "") or None,
                       consent_id=consent_id,
                       consumer_credit_code=chosen.consumer_credit_code,
                       provider_region=chosen.provider_region or None)
    except ValidationError as exc:
        raise InvalidInput("查询填写有误 / the query is incomplete", details=[
            {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]}
            for e in exc.errors()]) from None
    answer: QueryOut
    if chosen.provider_region and chosen.provider_region != settings.node_region:
        sent = remote.ask(db_session=db, settings=settings, actor=actor, body=body)
        answer = (views.answer_out(outcome=sent) if isinstance(sent, queries.Denied)
                  else views.stored_answer(settings=settings, access=sent))
    else:
        answer = views.answer_out(outcome=queries.query(
            db_session=db, settings=settings, actor=actor, dataset=body.dataset,
            identifier=body.subject, purpose_code=body.purpose_code,
            purpose_text=body.purpose_text, fields=body.fields,
            case_number=body.case_number, consent_id=consent_id,
            consumer_credit_code=body.consumer_credit_code))
    db.commit()
    return page(request, "sharing/query.html", {
        **ctx, "form": {k: str(v) for k, v in form.items()}, "answer": answer,
        "mine": queries.list_accesses(db_session=db, actor=actor, mine=True, limit=20)},
        status=403 if answer.outcome == "denied" else 200)


@router.get("/workbench/query/{access_id}", response_class=HTMLResponse)
def query_answer(request: Request, access_id: uuid.UUID, db: Session = Depends(web_db)
                 ) -> Response:
    """One of my queries as it stands (a remote one: pending until its answer arrives)."""
    actor = require_query_staff(request)
    access = queries.get_access(db_session=db, access_id=access_id)
    if access is None or access.actor_id != actor.account_id:
        raise NotFound("查询不存在 / no such query", details={"access_id": str(access_id)})
    grant_id = str(access.grant_id) if access.grant_id else ""
    return page(request, "sharing/query.html", {
        **_query_context(request, db, actor, grant_id), "form": {},
        "answer": views.stored_answer(settings=request.app.state.settings, access=access),
        "mine": queries.list_accesses(db_session=db, actor=actor, mine=True, limit=20)})
