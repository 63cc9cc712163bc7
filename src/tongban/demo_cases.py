"""Demo cases in several states, made through the case engine as real users would."""

from __future__ import annotations

from typing import Any

from fpdf import FPDF
from sqlalchemy.orm import Session

from tongban.cases import service as cases
from tongban.cases.models import Case
from tongban.catalog import service as catalog
from tongban.config import Settings
from tongban.identity import service as identity
from tongban.identity.actor import Actor

RENT_WITHDRAWAL = "租赁住房提取住房公积金(成都)"


def _sample_pdf(title: str) -> bytes:
    """A one-page PDF standing in for a scanned material."""
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=14)
    pdf.cell(0, 10, title)
    return bytes(pdf.output())


def _rent_form(name: str, id_number: str, phone: str) -> dict[str, Any]:
    return {
        "applicant_name": name, "id_number": id_number, "phone": phone,
        "address": "四川省成都市锦江区红星路三段1号", "bank_account": "6222020402012345678",
        "bank_name": "中国工商银行成都春熙支行", "house_address": "成都市锦江区东大街紫东楼段35号",
        "rent_monthly": 2800, "withdraw_amount": 8400,
    }


def demo_actor(db_session: Session, username: str) -> Actor:
    """The Actor of a demo login, so seeding goes through the real services."""
    account = identity.find_account_by_username(db_session=db_session, username=username)
    if account is None:
        raise LookupError(f"no demo account {username}")
    return identity.actor_from_account(account)


def _rent_code(db_session: Session) -> str:
    page = catalog.search(db_session=db_session, q=RENT_WITHDRAWAL, region_code="510100")
    return page.items[0].implementation_code


def _file(db_session: Session, settings: Settings, key: str) -> Case:
    """张伟 applies online and uploads every required material."""
    applicant = demo_actor(db_session, "zhangwei")
    assert applicant.person_id is not None
    person = identity.get_person(db_session=db_session, person_id=applicant.person_id)
    number = identity.reveal_id_number(
        db_session=db_session, settings=settings, actor=applicant, person_id=person.id,
        purpose="demo: fill own application",
    )
    case = cases.submit(
        db_session=db_session, settings=settings, actor=applicant, channel="online",
        implementation_code=_rent_code(db_session), idempotency_key=key,
        form_data=_rent_form(person.name, number, "13800000001"),
    )
    assert case.implementation_version_id is not None
    version = catalog.get_version(db_session=db_session, version_id=case.implementation_version_id)
    attached = {m.material_code for m in cases.get(
        db_session=db_session, actor=applicant, case_number=case.number).materials}
    for material in version.guide["materials"]:
        if material.get("required", True) and material["code"] not in attached:
            cases.attach_material(
                db_session=db_session, settings=settings, actor=applicant,
                case_number=case.number, material_code=material["code"],
                filename=f"{material['code']}.pdf", data=_sample_pdf(material["code"]),
            )
    return case


def _act(db_session: Session, settings: Settings, username: str, case: Case, action: str,
         reason: str | None = None, data: dict[str, Any] | None = None) -> None:
    cases.act(db_session=db_session, settings=settings, actor=demo_actor(db_session, username),
              case_number=case.number, action=action, reason=reason, data=data or {})


def seed_cases(*, db_session: Session, settings: Settings) -> list[str]:
    """Four cases: waiting for pre-review, asked to supplement, accepted, approved."""
    waiting = _file(db_session, settings, "demo-1")
    supplement = _file(db_session, settings, "demo-2")
    _act(db_session, settings, "clerk.cd", supplement, "request_supplement",
         reason="材料不齐全,一次性告知需补正的全部内容",
         data={"items": [{"material_code": "lease_contract",
                          "problem": "租赁合同缺少出租人签字页,请补充完整合同扫描件"}]})
    accepted = _file(db_session, settings, "demo-3")
    _act(db_session, settings, "clerk.cd", accepted, "pre_review_pass")
    _act(db_session, settings, "clerk.cd", accepted, "accept")
    approved = _file(db_session, settings, "demo-4")
    _act(db_session, settings, "clerk.cd", approved, "pre_review_pass")
    _act(db_session, settings, "clerk.cd", approved, "accept")
    _act(db_session, settings, "reviewer.gjj", approved, "approve",
         reason="租赁备案信息与缴存信息核验一致,准予提取")
    db_session.flush()
    return [c.number for c in (waiting, supplement, accepted, approved)]
