"""多地联办 at the window: one application that needs a step at several nodes (户口迁移:
迁出地 + 迁入地; 养老保险关系转移: 转出地 + 转入地).

After the ID look-up the clerk picks the kind, then for each role the implementation
that takes that step (any node's, this one's included, that the signed federation
registry offers and whose guide allows 多地联办), fills in one merged form (a field the
implementations share is asked once, as in a bundle) and submits: federation.modes
.open_joint sends each task to its handling node. The joint-case page then follows each
node's part, mirrored from that node's case.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from tongban.bundles.merge import MemberForm, MergedMaterial, merge
from tongban.cases import service as cases
from tongban.catalog import service as catalog
from tongban.catalog.schemas import GuidePage
from tongban.config import Settings
from tongban.errors import DomainError, InvalidInput, NotFound
from tongban.federation import modes, registry
from tongban.federation.schemas import JointIn, JointTaskIn
from tongban.identity import service as identity
from tongban.web import case_view, forms
from tongban.web.forwarding import event_label, person_of, posted_materials, region_names
from tongban.web.render import POSTED, WebRoute, page, web_db
from tongban.web.routes import web_context

router = APIRouter(route_class=WebRoute, include_in_schema=False,
                   dependencies=[Depends(web_context)])

MODE = "joint"
JOINT_STATES = {"open": "办理中", "completed": "已办结", "failed": "未办成"}
# The Chinese labels of the joint kinds and their roles (federation.modes.JOINT_KINDS).
KIND_NAMES = {kind: str(spec["name"]) for kind, spec in modes.JOINT_KINDS.items()}
ROLES = sorted({str(role) for spec in modes.JOINT_KINDS.values() for role in spec["roles"]})


def joint_candidates(*, db_session: Session, settings: Settings) -> list[GuidePage] | None:
    """Implementations any node (this one too) offers for 多地联办, by region and name;
    None when this node has no valid federation registry."""
    try:
        reg = registry.current(db_session=db_session)
    except DomainError:
        return None
    found = []
    for code in sorted({c for entry in reg.nodes.values() for c in entry.offered}):
        try:
            guide_page = catalog.guide(db_session=db_session, implementation_code=code)
        except DomainError:
            continue  # this node's catalog does not hold that region's guide
        if MODE in guide_page.guide.cross_region_modes:
            found.append(guide_page)
    return sorted(found, key=lambda g: (g.region.code, g.name))


@dataclass
class JointForm:
    """The joint form as far as it can be drawn: each role's chosen implementation, and
    once every role has one, the merged form of them all."""

    kind: str
    roles: list[str]
    candidates: list[GuidePage]
    chosen: list[GuidePage | None]
    role_errors: dict[int, str]
    schema: dict[str, Any] | None = None
    conflicts: list[str] | None = None
    # the files the window collects once for all regions (each gets those it asks for)
    materials: list[MergedMaterial] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return all(self.chosen) and not self.conflicts


def _joint_form(db: Session, settings: Settings, kind: str, picked: dict[int, str]
                ) -> JointForm:
    spec = modes.JOINT_KINDS.get(kind)
    if spec is None:
        raise NotFound("未知的联办类型 / unknown joint kind",
                       details={"kind": kind, "known": sorted(modes.JOINT_KINDS)})
    candidates = joint_candidates(db_session=db, settings=settings)
    if candidates is None:
        raise NotFound("本节点尚未加入联邦 / this node is not federated", code="not_federated")
    by_code = {g.implementation_code: g for g in candidates}
    roles = [str(r) for r in spec["roles"]]
    chosen = [by_code.get(picked.get(i, "")) for i in range(len(roles))]
    errors = {i: "请从列表中选择" for i in range(len(roles))
              if picked.get(i) and chosen[i] is None}
    form = JointForm(kind, roles, candidates, chosen, errors)
    if all(chosen):
        merged = merge([MemberForm(g.implementation_code, g.version_id, g.form_schema,
                                   g.guide.model_dump(mode="json"))
                        for g in chosen if g is not None])
        form.schema = merged.schema
        form.materials = [m for m in merged.materials
                          if m.source in cases.UPLOADABLE_SOURCES]
        form.conflicts = [str(p["message"]) for p in merged.problems
                          if str(p.get("field", "")).startswith("form.")]
    return form


def _picked(values: Any, roles: int) -> dict[int, str]:
    """The implementation chosen for each role (`impl_0`, `impl_1`, …)."""
    out = {}
    for i in range(roles):
        value = values.get(f"impl_{i}")
        if isinstance(value, str) and value.strip():
            out[i] = value.strip()
    return out


def _form_page(request: Request, form: JointForm, person: Any, *, raw: dict[str, str],
               errors: dict[str, Any], status: int = 200,
               error: DomainError | None = None) -> Response:
    return page(request, "workbench/joint_form.html", {
        "form": form, "person": person, "kind_name": KIND_NAMES[form.kind],
        "fields": forms.fields_of(form.schema) if form.schema else [],
        "raw": raw, "errors": errors, "error": error,
        "error_lines": case_view.error_lines(error) if error else []}, status=status)


@router.get("/workbench/intake/joint/{kind}", response_class=HTMLResponse)
def joint_form(request: Request, kind: str, person: uuid.UUID,
               db: Session = Depends(web_db)) -> Response:
    """Pick each role's implementation, then fill in the one merged form."""
    from tongban.web.workbench import require_staff

    require_staff(request, "clerk")
    roles = len(modes.JOINT_KINDS.get(kind, {}).get("roles", ()))
    form = _joint_form(db, request.app.state.settings, kind,
                       _picked(request.query_params, roles))
    who = identity.get_person(db_session=db, person_id=person)
    return _form_page(request, form, who, raw={}, errors={})


@router.post("/workbench/intake/joint/{kind}", response_class=HTMLResponse)
def joint_submit(request: Request, kind: str, db: Session = Depends(web_db),
                 posted: FormData = POSTED) -> Response:
    """One application, a task at each handling node (sent through the outbox)."""
    from tongban.web.workbench import require_staff

    actor = require_staff(request, "clerk")
    settings = request.app.state.settings
    who = person_of(db, posted.get("_person"))
    roles = len(modes.JOINT_KINDS.get(kind, {}).get("roles", ()))
    form = _joint_form(db, settings, kind, _picked(posted, roles))
    if not form.complete or form.schema is None:
        return _form_page(request, form, who, raw={}, errors={}, status=422,
                          error=InvalidInput("请为每个办理地选择事项 / choose the item of "
                                             "every region"))
    values: dict[str, Any] = {}
    for key in posted:  # checkboxes of an array field post one value each
        found = [v for v in posted.getlist(key) if isinstance(v, str)]
        values[key] = found if len(found) > 1 else (found[0] if found else "")
    parsed = forms.parse(form.schema, values)
    if not parsed.ok:
        return _form_page(request, form, who, raw=parsed.raw, errors=parsed.errors, status=422)
    tasks = []
    for role, g in zip(form.roles, form.chosen, strict=True):
        assert g is not None
        own = g.form_schema.get("properties") or {}
        tasks.append(JointTaskIn(implementation_code=g.implementation_code, role=role,
                                 form_data={k: v for k, v in parsed.data.items() if k in own}))
    try:
        out = modes.open_joint(db_session=db, settings=settings, actor=actor, data=JointIn(
            kind=kind, name=KIND_NAMES[kind], tasks=tasks, person_id=who.id,
            materials=posted_materials(posted, list(form.materials),
                                             settings.max_upload_bytes)))
    except DomainError as exc:
        db.rollback()
        return _form_page(request, form, who, raw=parsed.raw, errors={}, status=exc.status,
                          error=exc)
    db.commit()
    return RedirectResponse(f"/workbench/joint/{out.id}", status_code=303)


@router.get("/workbench/joint/{joint_id}", response_class=HTMLResponse)
def joint_page(request: Request, joint_id: uuid.UUID, db: Session = Depends(web_db)) -> Response:
    """A joint case: each participating node's part, its state and latest step."""
    from tongban.web.workbench import require_staff

    actor = require_staff(request)
    joint = modes.view_joint(db_session=db, settings=request.app.state.settings, actor=actor,
                             joint_id=joint_id)
    return page(request, "workbench/joint.html", {
        "joint": joint, "kind_name": KIND_NAMES.get(joint.kind, joint.kind),
        "JOINT_STATES": JOINT_STATES, "STATE_LABELS": case_view.STATE_LABELS,
        "latest": {t.id: (*event_label(t.events[-1].action), t.events[-1].at)
                   for t in joint.tasks if t.events},
        "regions": region_names(db_session=db, codes={t.handling_region for t in joint.tasks})})
