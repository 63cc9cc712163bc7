"""Every legal date a person reads is the Asia/Shanghai day: a decision at 07:00 Beijing
time (23:00 UTC the day before) is dated that Beijing day on the licence PDF (颁发日期), in
the API's date fields, on pages and in the CLI."""

from __future__ import annotations

import io

from fastapi.testclient import TestClient
from pypdf import PdfReader
from sqlalchemy import select
from typer.testing import CliRunner

from tongban.cases.cli import app as cases_cli
from tongban.licences.models import Licence
from tongban.web.render import local_time, show_date

from .conftest import World, at
from .test_cases_licensing import RESIDENCE_FIELDS, _residence_implementation

EARLY = at(2026, 9, 24, 7)  # 07:00 in Beijing is 23:00 UTC on 23 September


def _approved_early(w: World) -> Licence:
    case = w.submit(code=_residence_implementation(w), when=at(2026, 9, 21, 7))
    w.complete(case)
    w.act("clerk", case, "accept", when=at(2026, 9, 22))
    w.act("reviewer", case, "approve", when=EARLY, licence_fields=RESIDENCE_FIELDS)
    w.db.commit()
    return w.db.scalars(select(Licence).where(Licence.case_id == case.id)).one()


def test_the_licence_pdf_and_api_give_the_beijing_day_of_issue(
        world: World, client: TestClient) -> None:
    licence = _approved_early(world)
    assert licence.issued_at == EARLY and EARLY.date().isoformat() == "2026-09-23"
    holder = world.token("applicant")
    shown = client.get(f"/api/v1/licences/{licence.identifier}", headers=holder).json()
    assert shown["issued_on"] == "2026-09-24" and shown["valid_from"] == "2026-09-24"
    pdf = client.get(f"/api/v1/licences/{licence.identifier}/pdf", headers=holder)
    assert pdf.status_code == 200
    pages = PdfReader(io.BytesIO(pdf.content)).pages
    text = "".join(page.extract_text() for page in pages).replace("\x00", "")
    assert "颁发日期" in text and "2026-09-24" in text
    assert "2026-09-23" not in text


def test_case_dates_in_the_api_are_beijing_days(world: World, client: TestClient) -> None:
    w = world
    case = w.submit(when=at(2026, 9, 21, 7))  # 23:00 UTC on Sunday 20 September
    w.complete(case)
    w.act("clerk", case, "accept", when=at(2026, 9, 22, 7))
    w.act("reviewer", case, "deny", when=EARLY, reason="不符合条件")
    w.db.commit()
    body = client.get(f"/api/v1/cases/{case.number}", headers=w.token("clerk")).json()
    assert body["deadlines"]["received_on"] == "2026-09-21"
    assert body["deadlines"]["accepted_on"] == "2026-09-22"
    assert body["deadlines"]["decided_on"] == "2026-09-24"


def test_pages_show_a_stored_moment_by_its_beijing_day_whatever_its_form() -> None:
    assert show_date(EARLY) == "2026-09-24"
    assert show_date("2026-09-23T23:00:00Z") == "2026-09-24"  # as envelopes carry it
    assert show_date("2026-09-23T23:00:00+00:00") == "2026-09-24"
    assert show_date("2026-09-23") == "2026-09-23"  # a date is a date
    assert local_time("2026-09-23T23:00:00Z") == "2026-09-24 07:00"
    assert local_time("") == "" and local_time(None) == ""


def test_the_cli_prints_event_times_in_beijing_time(world: World, cli_env: None) -> None:
    case = world.submit(when=at(2026, 9, 21, 7))
    world.db.commit()
    shown = CliRunner().invoke(cases_cli, ["show", case.number, "--as", "clerk.cases"])
    assert shown.exit_code == 0, shown.output
    assert "2026-09-21 07:00" in shown.output and "2026-09-20 23:00" not in shown.output
