"""HTTP routes of 一件事 bundles (thin: validate, call the service, map errors).

Reading bundles is public, like the catalog; drafting and publishing need catalog_admin
over the bundle's region. Applying is `POST /bundles/{code}/apply`; the bundle case is
read with `GET /bundle-cases/{number}` (tasks included) and materials shared by all
tasks are uploaded once to `POST /bundle-cases/{number}/materials`. The bundle case and
its tasks are also ordinary cases under /cases (withdrawing the bundle case there
withdraws its open tasks).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, File, Form, Header, Query, UploadFile, status
from sqlalchemy.orm import Session

from tongban.api_deps import DB_SESSION, get_settings_dep
from tongban.bundles import service
from tongban.bundles.models import Bundle, BundleVersion
from tongban.bundles.schemas import (
    ApplyIn,
    BundleCaseOut,
    BundleIn,
    BundleOut,
    BundleSummary,
    FieldOut,
    HeldLicenceOut,
    MaterialOut,
    MemberOut,
    SharedMaterialOut,
    TaskOut,
)
from tongban.cases.api import detail_out, summary
from tongban.config import Settings
from tongban.identity.actor import Actor
from tongban.identity.deps import current_actor, require_roles
from tongban.identity.models import Role

router = APIRouter(tags=["bundles"])
admin_only = require_roles(Role.catalog_admin, Role.operator)


def _summary(bundle: Bundle, version: BundleVersion) -> BundleSummary:
    return BundleSummary(
        code=bundle.code, name=version.name, topic=version.topic,
        region_code=bundle.region_code, version=version.version, state=version.state,
        legal_days=version.legal_days, promised_days=version.promised_days,
        deny_rule=version.deny_rule, member_count=len(version.members),
        published_at=version.published_at)


def bundle_out(view: service.BundleView) -> BundleOut:
    """A bundle's terms, members, merged form and de-duplicated materials."""
    members = []
    for rm in view.members:
        impl, version = rm.implementation, rm.version
        members.append(MemberOut(
            implementation_code=rm.code, name=rm.name,
            item_code=impl.item.basic_code if impl else "",
            department_id=rm.member.department_id,
            department_name=impl.department.name if impl else "",
            region_code=impl.region_code if impl else "",
            item_kind=str(version.guide.get("item_kind", "promised")) if version else "",
            depends_on=list(rm.member.depends_on),
            legal_days=version.legal_days if version else 0,
            promised_days=rm.promised_days,
            promised_days_override=rm.member.promised_days is not None,
            published=version is not None))
    m = view.merged
    return BundleOut(
        **_summary(view.bundle, view.version).model_dump(),
        description=view.version.description, members=members,
        applicant_types=list(m.applicant_types), handling_forms=list(m.handling_forms),
        form_schema=m.schema,
        fields=[FieldOut(name=f.name, title=f.title, type=f.type, required=f.required,
                         members=list(f.members)) for f in m.fields],
        materials=[MaterialOut(code=x.code, name=x.name, required=x.required, source=x.source,
                               deficiency_allowed=x.deficiency_allowed,
                               members=list(x.members), names=list(x.names))
                   for x in m.materials],
        problems=view.problems)


def bundle_case_out(d: service.BundleCaseDetail) -> BundleCaseOut:
    """A bundle case with each member's task."""
    numbers = {t.case.id: t.case.number for t in d.tasks if t.case is not None}
    return BundleCaseOut(
        bundle_code=d.view.bundle.code, bundle_name=d.view.version.name,
        bundle_version=d.view.version.version, deny_rule=d.view.version.deny_rule,
        case=detail_out(d.detail),
        tasks=[TaskOut(implementation_code=t.member.code, name=t.member.name,
                       department_id=t.member.member.department_id,
                       depends_on=list(t.member.member.depends_on), status=t.task.status,
                       note=t.task.note, case=summary(t.case) if t.case else None)
               for t in d.tasks],
        materials=[SharedMaterialOut.model_validate(m) for m in d.materials],
        licences=[HeldLicenceOut(material_code=m.material_code, name=m.name,
                                 reference=m.reference, task_case_number=numbers[m.case_id],
                                 supplied_at=m.supplied_at) for m in d.licences])


@router.get("/bundles", response_model=list[BundleSummary])
def list_bundles(
    db: Session = DB_SESSION,
    region: str | None = Query(default=None, pattern=r"^[0-9]{6}([0-9]{3}){0,2}$"),
    topic: str | None = Query(default=None, max_length=60),
) -> list[BundleSummary]:
    """Published bundles (of a region, above or below it, and a topic, if given)."""
    rows = service.list_bundles(db_session=db, region=region, topic=topic)
    return [_summary(b, v) for b, v in rows]


@router.post("/bundles", response_model=BundleOut, status_code=status.HTTP_201_CREATED)
def save_draft(body: BundleIn, db: Session = DB_SESSION,
               actor: Actor = Depends(admin_only)) -> BundleOut:
    """Create a bundle (draft v1) or save its next draft."""
    service.save_draft(db_session=db, actor=actor, data=body)
    return bundle_out(service.get_bundle(db_session=db, bundle_code=body.code,
                                         include_draft=True))


@router.post("/bundles/{code}/publish", response_model=BundleOut)
def publish(code: str, db: Session = DB_SESSION,
            actor: Actor = Depends(admin_only)) -> BundleOut:
    """Publish the draft: every member published and in region, the forms compatible."""
    service.publish(db_session=db, actor=actor, bundle_code=code)
    return bundle_out(service.get_bundle(db_session=db, bundle_code=code))


@router.get("/bundles/{code}", response_model=BundleOut)
def get_bundle(code: str, db: Session = DB_SESSION) -> BundleOut:
    """A published bundle: members, merged form (shared fields once), materials once."""
    return bundle_out(service.get_bundle(db_session=db, bundle_code=code))


@router.post("/bundles/{code}/apply", response_model=BundleCaseOut,
             status_code=status.HTTP_201_CREATED)
def apply(
    code: str, body: ApplyIn, db: Session = DB_SESSION,
    settings: Settings = Depends(get_settings_dep), actor: Actor = Depends(current_actor),
    idempotency_key: str | None = Header(default=None, max_length=100),
) -> BundleCaseOut:
    """Apply once for every member: one bundle case, its tasks started (or pending)."""
    case = service.apply(db_session=db, settings=settings, actor=actor, bundle_code=code,
                         form_data=body.form_data, channel=body.channel,
                         applicant=body.applicant,
                         idempotency_key=body.idempotency_key or idempotency_key)
    return bundle_case_out(service.get_case(db_session=db, actor=actor,
                                            case_number=case.number))


@router.get("/bundle-cases/{number}", response_model=BundleCaseOut)
def get_bundle_case(number: str, db: Session = DB_SESSION,
                    actor: Actor = Depends(current_actor)) -> BundleCaseOut:
    """A bundle case: its own detail, each member's task, the shared materials."""
    return bundle_case_out(service.get_case(db_session=db, actor=actor, case_number=number))


@router.post("/bundle-cases/{number}/materials", response_model=SharedMaterialOut,
             status_code=status.HTTP_201_CREATED)
def upload_material(
    number: str, material_code: str = Form(max_length=40), file: UploadFile = File(),
    db: Session = DB_SESSION, settings: Settings = Depends(get_settings_dep),
    actor: Actor = Depends(current_actor),
) -> SharedMaterialOut:
    """Upload a material once; every task that lists it gets it."""
    data = file.file.read(settings.max_upload_bytes + 1)
    row = service.attach_material(db_session=db, settings=settings, actor=actor,
                                  case_number=number, material_code=material_code,
                                  filename=file.filename or "file", data=data)
    return SharedMaterialOut.model_validate(row)
