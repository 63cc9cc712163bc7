"""In a real browser, data sharing end to end: a data steward works a 需求清单 into a signed
grant (one field masked); the applicant applies online, fetches the shared-data material,
previews it and keeps it (免提交), uploads the lease and submits; the reviewer sees the
fetched data with its source and time; the applicant sees the read under 我的数据; the
steward's access log shows it, and the English page reads in English."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session

from tests.e2e.conftest import Node, served
from tests.e2e.test_e2e_portal_workbench import shot, upload
from tests.sharing.conftest import (
    PASSWORD,
    WITHDRAWAL_ITEM,
    account,
    publish_withdrawal,
    seed_world,
)
from tongban.config import Settings
from tongban.sharing import grants

FUND = "housing_fund.deposit"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _seed(session: Session, settings: Settings) -> dict[str, Any]:
    """The demo registries, a steward, the fund centre's reviewer, 张伟 as applicant, the
    published 租赁住房提取 and the fund centre's request for the fund records."""
    world = seed_world(session, settings)
    gjj = world.departments["gjj"]
    account(session, "steward-e2e", ["data_steward"], [("510000", None)])
    account(session, "rev-gjj-e2e", ["reviewer"], [("510100", gjj.id)])
    account(session, "clerk-e2e", ["clerk"], [("510100", None)])
    account(session, "zhangwei-e2e", ["applicant"], person_id=world.people["张伟"])
    code = publish_withdrawal(session, world)
    grants.file_request(db_session=session, actor=world.staff("gjj", "reviewer"),
                        data=grants.RequestIn(
                            dataset=FUND, fields=["name", "status", "balance", "opened_on"],
                            purpose_code=WITHDRAWAL_ITEM, purpose_text="租赁住房提取住房公积金",
                            legal_ref="《住房公积金管理条例》第二十四条", wanted_days=365))
    return {"code": code}


@pytest.fixture(scope="module")
def sharing_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    with served(tmp_path_factory.mktemp("e2e-sharing"), _seed) as up:
        yield up


def _sign_in(page: Page, node: Node, username: str) -> None:
    page.context.clear_cookies()
    page.goto(f"{node.url}/login")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_load_state()


def test_a_grant_from_a_request_then_an_application_with_data_fetched_not_uploaded(
        page: Page, sharing_node: Node, shots: Path) -> None:
    node, code = sharing_node, sharing_node.seeded["code"]
    _sign_in(page, node, "steward-e2e")
    page.goto(f"{node.url}/workbench/sharing")
    expect(page.locator("#datasets")).to_contain_text("住房公积金缴存信息")
    shot(page, shots, "sharing-catalog")
    page.get_by_role("link", name="待处理的共享需求").click()
    request = page.locator("section.request").first
    expect(request).to_contain_text("租赁住房提取住房公积金")
    request.get_by_label("姓名").select_option("partial")
    shot(page, shots, "sharing-request")
    request.get_by_role("button", name="批准授权").click()
    expect(page.locator("#grant-status")).to_have_attribute("data-status", "active")
    expect(page.locator("#grant-versions [data-signature=ok]")).to_have_count(1)
    shot(page, shots, "sharing-grant")

    _sign_in(page, node, "zhangwei-e2e")
    page.goto(f"{node.url}/apply/{code}")
    page.locator("input[name=rent_monthly]").fill("2800")
    page.get_by_role("button", name="下一步").click()
    block = page.locator("[data-shared-material=gjj_info]")
    block.get_by_role("button", name="从共享数据获取并预览").click()
    expect(block).to_have_attribute("data-state", "previewed")
    expect(block.locator("[data-field=balance]")).to_have_text("86400.00")
    expect(block.locator("[data-field=name]")).to_have_text("张*")
    shot(page, shots, "sharing-preview")
    block.get_by_role("button", name="使用此数据").click()
    expect(page.locator("#kept-gjj_info")).to_be_visible()
    upload(page, "lease", "租赁合同.pdf", PDF, "application/pdf")
    expect(page.locator("#have-lease")).to_be_visible()
    page.get_by_role("link", name="下一步").click()
    expect(page.locator("[data-kept=gjj_info]")).to_be_visible()
    page.get_by_role("button", name="提交申请").click()
    expect(page.locator("[data-fetched=gjj_info]")).to_be_visible()
    number = page.url.split("/my/cases/")[1].split("?")[0]

    page.goto(f"{node.url}/my/data")
    read = page.locator("tr.read").first
    expect(read).to_contain_text("成都住房公积金管理中心")
    expect(read).to_contain_text("免提交调取")
    shot(page, shots, "sharing-my-data")

    _sign_in(page, node, "rev-gjj-e2e")
    page.goto(f"{node.url}/workbench/cases/{number}")
    fetched = page.locator("[data-fetched-material=gjj_info]")
    expect(fetched).to_contain_text("成都住房公积金管理中心")
    expect(fetched.locator("[data-fetched-at]")).not_to_be_empty()
    shot(page, shots, "sharing-reviewer-sees-source")

    _sign_in(page, node, "steward-e2e")
    page.goto(f"{node.url}/workbench/sharing/audit?outcome=allowed")
    expect(page.locator("tr[data-outcome=allowed]")).to_have_count(1)
    page.goto(f"{node.url}/workbench/sharing/audit?lang=en")
    expect(page.locator("h1")).to_contain_text("Access log")
