"""My licences, public verification, and the promise that every UI string has English."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.web.seed_web import CD_POLICE, Seeded
from tongban.catalog.service import get_department_by_credit_code
from tongban.config import Settings
from tongban.identity.service import find_account_by_username
from tongban.licences import service as licences
from tongban.web import (
    agent,
    bundles,
    case_view,
    forwarding,
    i18n,
    joint,
    portal,
    supervision,
    workbench,
)

WEB = Path(i18n.__file__).parent
RESIDENCE_PERMIT = "11100000000000027A001"


def _issue(db_session: Session, settings: Settings) -> str:
    licences.load_licence_types(db_session=db_session)
    account = find_account_by_username(db_session=db_session, username="zhangsan")
    assert account is not None
    police = get_department_by_credit_code(db_session=db_session, credit_code=CD_POLICE)
    licence = licences.issue(
        db_session=db_session, settings=settings, licence_type_code=RESIDENCE_PERMIT,
        holder_person_id=account.person_id, issuer_department_id=police.id,
        valid_from=date(2026, 1, 1),
        fields={"name": "张三", "gender": "男", "ethnicity": "汉", "birth_date": "1990-03-07",
                "residence_address": "成都市锦江区春熙路1号",
                "household_address": "四川省成都市锦江区"})
    db_session.commit()
    return licence.identifier


def test_my_licences_list_the_pdf_and_qr(login: Callable[[str], TestClient], seeded: Seeded,
                                         db_session: Session, settings: Settings) -> None:
    identifier = _issue(db_session, settings)
    client = login("zhangsan")
    page = client.get("/my/licences").text
    assert "居住证" in page and identifier in page and "<svg" in page and "有效" in page
    pdf = client.get(f"/my/licences/{identifier}/pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")


def test_someone_elses_licence_pdf_is_refused(login: Callable[[str], TestClient],
                                              seeded: Seeded, db_session: Session,
                                              settings: Settings) -> None:
    identifier = _issue(db_session, settings)
    client = login("clerk-nj")
    assert client.get(f"/my/licences/{identifier}/pdf").status_code in (403, 404)


def test_public_verification_needs_no_login(client: TestClient, seeded: Seeded,
                                            db_session: Session, settings: Settings) -> None:
    identifier = _issue(db_session, settings)
    page = client.get("/verify", params={"identifier": identifier})
    assert page.status_code == 200 and "证照有效" in page.text
    qr = licences.verification_url(settings, identifier)
    assert "证照有效" in client.get("/verify", params={"identifier": qr}).text


def test_verifying_garbage_says_it_is_not_valid(client: TestClient, seeded: Seeded) -> None:
    page = client.get("/verify", params={"identifier": "1.2.156.3005.2.nonsense"})
    assert page.status_code in (200, 422)
    assert "证照有效" not in page.text


def _template_strings() -> set[str]:
    found: set[str] = set()
    pattern = re.compile(r"""_\(\s*(["'])(.+?)\1""")
    sources = [*WEB.glob("templates/**/*.html"), *WEB.glob("*.py")]
    for path in (p for p in sources if p.name != "i18n.py"):
        found |= {m.group(2) for m in pattern.finditer(path.read_text(encoding="utf-8"))}
    return found


def test_every_ui_string_has_an_english_translation() -> None:
    labels = {
        *case_view.STATE_LABELS.values(), *case_view.ACTION_LABELS.values(),
        *case_view.SPECIAL_PROCEDURE_LABELS.values(), *case_view.DELIVERY_METHODS.values(),
        *portal.HANDLING_FORMS.values(), *portal.CROSS_REGION_MODES.values(),
        *portal.MATERIAL_FORMS.values(), *portal.APPLICANT_TYPES.values(),
        *portal.ONLINE_DEPTH.values(), *portal.NO_SUBMIT_SOURCES.values(),
        *workbench.WARNING_FILTERS.values(), *bundles.TASK_STATUS.values(),
        *agent.STATE_LABELS.values(), *supervision.WARNING_LABELS.values(),
        *forwarding.OWN_ACTIONS.values(), *(label for _, label in forwarding.CHECKS),
        *forwarding.REMOTE_ONLY.values(), *forwarding.DELIVERY_STAGES.values(),
        *forwarding.LIST_FILTERS.values(), *forwarding.NOT_YET.values(),
        *joint.JOINT_STATES.values(), *joint.KIND_NAMES.values(), *joint.ROLES,
    }
    missing = sorted(s for s in _template_strings() | labels if s not in i18n.EN)
    assert missing == []
