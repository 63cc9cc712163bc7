"""In a real browser: a reviewer approves a case that issues an e-licence, completing the
licence's fields, and the applicant finds the licence and sees it verified; an agent
chooses a principal and applies for them; the supervisor's dashboard draws its chart."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import Node
from tests.e2e.test_e2e_portal_workbench import PNG, act, shot, sign_in, upload


def _new_page(browser: Browser):  # type: ignore[no-untyped-def]
    return browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 800}
                               ).new_page()


def apply_for_a_residence_permit(applicant: Page, node: Node) -> str:
    """张三 applies online for a 居住证 (whose approval issues the e-licence); the number."""
    applicant.goto(f"{node.url}/login?next=/apply/{node.seeded.permit_code}")
    sign_in(applicant, node, "zhangsan")
    applicant.get_by_label("姓名").fill("张三")
    applicant.get_by_label("居住地址").fill("成都市锦江区春熙路1号")
    applicant.get_by_role("button", name="下一步").click()
    upload(applicant, "P1", "照片.png", PNG, "image/png")
    expect(applicant.get_by_text("已上传 — 照片.png")).to_be_visible()
    applicant.get_by_role("link", name="下一步").click()
    applicant.get_by_role("button", name="提交申请").click()
    expect(applicant.locator("#submitted")).to_contain_text("申请已提交")
    return re.search(r"/my/cases/(\d+)", applicant.url).group(1)  # type: ignore[union-attr]


def test_approval_issues_a_licence_the_applicant_sees_verified(
        browser: Browser, node: Node, shots: Path) -> None:
    applicant = _new_page(browser)
    number = apply_for_a_residence_permit(applicant, node)
    clerk = _new_page(browser)
    sign_in(clerk, node, "clerk-cd")
    clerk.goto(f"{node.url}/workbench/cases/{number}")
    for action, label in (("pre_review_pass", "预审通过"), ("accept", "受理")):
        act(clerk, action)
        clerk.get_by_role("button", name=f"确定：{label}").click()
        expect(clerk.locator("#timeline")).to_contain_text(label)

    reviewer = _new_page(browser)
    sign_in(reviewer, node, "reviewer-cd")
    reviewer.goto(f"{node.url}/workbench/cases/{number}")
    act(reviewer, "approve")
    form = reviewer.locator("[data-licence-form=approve]")
    expect(form).to_contain_text("居住证")
    expect(form.locator("input")).to_have_count(2)  # only what nobody gave yet
    form.get_by_label("民族").fill("汉")
    form.get_by_label("户籍地址").fill("四川省成都市锦江区")
    shot(reviewer, shots, "12-workbench-approve-licence")
    reviewer.get_by_role("button", name="确定：准予").click()
    expect(reviewer.locator("#timeline")).to_contain_text("准予")

    applicant.goto(f"{node.url}/my/cases/{number}")
    issued = applicant.locator("#issued-licences")
    expect(issued).to_contain_text("居住证")
    issued.get_by_role("link", name="查看证照").click()
    expect(applicant.locator("#licence-fields")).to_contain_text("四川省成都市锦江区")
    expect(applicant.locator("#licence-fields")).to_contain_text("汉")
    shot(applicant, shots, "13-my-licence")
    applicant.get_by_role("link", name="核验", exact=True).click()
    expect(applicant.locator("#verify-result")).to_contain_text("证照有效")
    shot(applicant, shots, "14-verify-valid")


def test_an_agent_acting_for_a_principal_applies(browser: Browser, node: Node,
                                                 shots: Path) -> None:
    page = _new_page(browser)
    page.goto(f"{node.url}/login?next=/apply/{node.seeded.residence_code}")
    sign_in(page, node, "agent-wang")
    expect(page.locator("#principals")).to_contain_text("李四")  # asked to choose first
    shot(page, shots, "15-agent-principals")
    page.get_by_role("button", name="为 李四 办理").click()
    expect(page.locator("#acting")).to_contain_text("代 李四 办理")
    page.get_by_label("姓名").fill("李四")
    page.get_by_role("button", name="下一步").click()
    upload(page, "P1", "照片.png", PNG, "image/png")
    expect(page.get_by_text("已上传 — 照片.png")).to_be_visible()
    page.get_by_role("link", name="下一步").click()
    expect(page.locator("#apply-for")).to_contain_text("李四")
    page.get_by_role("button", name="提交申请").click()
    expect(page.locator("#submitted")).to_contain_text("申请已提交")
    expect(page.locator("#acting")).to_contain_text("代 李四 办理")
    page.get_by_role("button", name="停止代办").click()
    expect(page.locator("#acting")).to_have_count(0)


def test_supervisor_dashboard_draws_its_chart(browser: Browser, node: Node,
                                              shots: Path) -> None:
    page = _new_page(browser)
    page.goto(f"{node.url}/login")
    sign_in(page, node, "head-cd")
    page.goto(f"{node.url}/supervision")
    expect(page.locator("#warning-chart[data-chart-ready='1'] svg")).to_be_visible()
    expect(page.locator("#totals")).to_be_visible()
    shot(page, shots, "16-supervision")
