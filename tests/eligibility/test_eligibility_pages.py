"""The pages: staff check one person and a file and confirm candidates; the applicant
sees the policies they qualify for (zh-CN first, English second)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from tests.eligibility.conftest import publish_benefit
from tests.sharing.conftest import PASSWORD, World, account
from tests.web.browser import BrowserClient
from tongban.app import create_app
from tongban.config import Settings
from tongban.eligibility import proactive
from tongban.eligibility.models import Qualification


@pytest.fixture
def browser(engine: Engine, settings: Settings, db_session: Session) -> Iterator[TestClient]:
    roomy = settings.model_copy(update={"rate_limit_login": "10000/minute",
                                        "rate_limit_login_source": "10000/minute"})
    with BrowserClient(create_app(roomy, engine=engine)) as client:
        yield client


def sign_in(client: TestClient, username: str) -> None:
    client.cookies.clear()
    client.get("/login")
    done = client.post("/login", data={"username": username, "password": PASSWORD,
                                       "next": "/"}, follow_redirects=False)
    assert done.status_code == 303, done.text
    client.get(done.headers["location"])


def test_staff_check_one_person_and_see_why_per_rule(browser: TestClient, db_session: Session,
                                                     elig: World) -> None:
    account(db_session, "rev.civil", ["reviewer"], [("510100", elig.departments["civil"].id)])
    sign_in(browser, "rev.civil")
    assert "一键核对" in browser.get("/workbench/eligibility").text
    page = browser.post("/workbench/eligibility/check",
                        data={"rule_set": "minimum_living", "subject": elig.ids["张伟"]})
    assert page.status_code == 200
    assert "不符合" in page.text and 'data-rule="no_vehicle"' in page.text
    assert "216000" in page.text and "《社会救助暂行办法》第九条" in page.text
    bad = browser.post("/workbench/eligibility/check",
                       data={"rule_set": "minimum_living", "subject": "12345"})
    assert bad.status_code == 422 and 'id="check-error"' in bad.text
    english = browser.get("/workbench/eligibility?lang=en").text
    assert "One-click check" in english


def test_staff_batch_a_file_and_a_bad_file_names_its_rows(
        browser: TestClient, db_session: Session, elig: World) -> None:
    account(db_session, "rev.civil", ["reviewer"], [("510100", elig.departments["civil"].id)])
    sign_in(browser, "rev.civil")
    browser.get("/workbench/eligibility")
    good = f"公民身份号码\n{elig.ids['刘洋']}\n{elig.ids['王芳']}\n".encode()
    done = browser.post("/workbench/eligibility/batch", data={"rule_set": "temporary_assistance"},
                        files={"file": ("a.csv", good, "text/csv")})
    assert done.status_code == 200 and "attachment" in done.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(done.content.decode("utf-8-sig"))))
    assert [r[2] for r in rows[1:]] == ["符合", "不符合"]
    browser.get("/workbench/eligibility")
    bad = browser.post("/workbench/eligibility/batch", data={"rule_set": "temporary_assistance"},
                       files={"file": ("b.csv", b"id_number\nnope\n", "text/csv")})
    assert bad.status_code == 422 and "第2行" in bad.text


def test_a_candidate_is_confirmed_from_the_page_and_the_applicant_sees_it(
        browser: TestClient, db_session: Session, elig: World) -> None:
    publish_benefit(db_session, elig, "000704006000", "临时救助", "civil")
    proactive.run_rule_set(db_session=db_session, settings=elig.settings,
                           code="temporary_assistance")
    db_session.commit()
    q = db_session.scalars(select(Qualification)).one()
    account(db_session, "rev.civil", ["reviewer"], [("510100", elig.departments["civil"].id)])
    account(db_session, "liuyang", ["applicant"], person_id=elig.people["刘洋"])
    sign_in(browser, "rev.civil")
    listing = browser.get("/workbench/eligibility").text
    assert f'data-id="{q.id}"' in listing and "待确认" in listing
    done = browser.post(f"/workbench/eligibility/qualifications/{q.id}",
                        data={"decision": "confirm", "reason": "入户核实"},
                        follow_redirects=False)
    assert done.status_code == 303
    db_session.expire_all()
    assert db_session.get(Qualification, q.id).state == "opened"  # type: ignore[union-attr]
    sign_in(browser, "liuyang")
    mine = browser.get("/my/policies").text
    assert "临时救助" in mine and "已主动办理" in mine
