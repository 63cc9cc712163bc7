"""In a real browser, 一键核对 and 免申即享: a 民政 reviewer checks one person (an
explanation per rule, with the value read, the threshold, the legal source and the
registry's source and date), checks a file of applicants and downloads the result,
confirms a candidate the nightly screening found (the benefit case opens); the person
then sees the policy under 我可享受的政策; the pages read in English too."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session

from tests.e2e.conftest import Node, served
from tests.e2e.test_e2e_portal_workbench import shot
from tests.e2e.test_e2e_sharing import _sign_in
from tests.eligibility.conftest import publish_benefit
from tests.sharing.conftest import account, seed_world
from tongban.config import Settings
from tongban.eligibility import proactive
from tongban.eligibility.demo import seed_eligibility


def _seed(session: Session, settings: Settings) -> dict[str, Any]:
    """The demo registries, rule sets and grants; the 临时救助 benefit published by 民政;
    the nightly screening run once (刘洋 is a candidate, awaiting 二次确认); a 民政
    reviewer and 刘洋 as applicant."""
    world = seed_world(session, settings)
    seed_eligibility(db_session=session, settings=settings)
    session.commit()
    publish_benefit(session, world, "000704006000", "临时救助", "civil")
    proactive.run_rule_set(db_session=session, settings=settings, code="temporary_assistance")
    session.commit()
    account(session, "rev-civil-e2e", ["reviewer"], [("510100", world.departments["civil"].id)])
    account(session, "liuyang-e2e", ["applicant"], person_id=world.people["刘洋"])
    return {"ids": world.ids}


@pytest.fixture(scope="module")
def elig_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    with served(tmp_path_factory.mktemp("e2e-eligibility"), _seed) as up:
        yield up


def test_a_reviewer_checks_a_person_and_a_file_and_confirms_a_candidate(
        page: Page, elig_node: Node, shots: Path) -> None:
    node, ids = elig_node, elig_node.seeded["ids"]
    _sign_in(page, node, "rev-civil-e2e")
    page.goto(f"{node.url}/workbench/eligibility")
    form = page.locator("#check-form")
    form.get_by_label("政策").select_option("minimum_living")
    form.get_by_label("公民身份号码或统一社会信用代码").fill(ids["张伟"])
    form.get_by_role("button", name="核对").click()
    expect(page.locator("#verdict")).to_contain_text("不符合")
    expect(page.locator("#verdict")).not_to_contain_text(ids["张伟"])  # masked
    income = page.locator("#explanation tr[data-rule=income]")
    expect(income).to_contain_text("216000")  # his 2025 income, read from the tax registry
    expect(income).to_contain_text("✗")
    expect(page.locator("#explanation tr[data-rule=no_vehicle]")).to_contain_text("✗")
    expect(page.locator("#explanation")).to_contain_text("《社会救助暂行办法》")
    shot(page, shots, "eligibility-check")

    form = page.locator("#check-form")
    form.get_by_label("政策").select_option("temporary_assistance")
    form.get_by_label("公民身份号码或统一社会信用代码").fill(ids["刘洋"])
    form.get_by_role("button", name="核对").click()
    expect(page.locator("#verdict")).to_contain_text("符合")
    expect(page.locator("#verdict")).not_to_contain_text("不符合")
    expect(page.locator("#explanation tr[data-rule=income]")).to_contain_text("9600")

    bad = page.locator("#check-form")
    bad.get_by_label("公民身份号码或统一社会信用代码").fill("12345")
    bad.get_by_role("button", name="核对").click()
    expect(page.locator("#check-error")).to_be_visible()

    batch = page.locator("#batch-form")
    batch.get_by_label("政策").select_option("temporary_assistance")
    batch.get_by_label("申请人文件").set_input_files(files=[{
        "name": "applicants.csv", "mimeType": "text/csv",
        "buffer": f"公民身份号码\n{ids['刘洋']}\n{ids['王芳']}\n".encode()}])
    with page.expect_download() as download:
        batch.get_by_role("button", name="核对并下载结果").click()
    result = Path(download.value.path()).read_bytes().decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(result)))
    assert [r[2] for r in rows[1:]] == ["符合", "不符合"]

    page.goto(f"{node.url}/workbench/eligibility")
    candidate = page.locator("#qualification-list tbody tr").first
    expect(candidate).to_contain_text("待确认")
    expect(candidate).to_contain_text("temporary_assistance")
    shot(page, shots, "eligibility-candidates")
    candidate.get_by_label("理由").fill("入户核实属实")
    candidate.get_by_role("button", name="确认并办理").click()
    done = page.locator("#qualification-list tbody tr").first
    expect(done).to_contain_text("已主动办理")
    expect(done.locator("a[href^='/workbench/cases/']")).to_be_visible()

    page.goto(f"{node.url}/workbench/eligibility?lang=en")
    expect(page.locator("h1")).not_to_contain_text("一键核对")
    expect(page.locator("#check-title")).to_contain_text("One-click check")

    _sign_in(page, node, "liuyang-e2e")
    page.goto(f"{node.url}/my/policies")
    mine = page.locator("#my-policies li[data-rule-set=temporary_assistance]")
    expect(mine).to_contain_text("临时救助")
    expect(mine).to_contain_text("已主动办理")
    expect(mine.locator("a[href^='/my/cases/']")).to_be_visible()
    shot(page, shots, "eligibility-my-policies")
    page.goto(f"{node.url}/my/policies?lang=en")
    expect(page.locator("#my-policies")).to_contain_text("Opened for them")
