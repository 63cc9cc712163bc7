"""In a real browser: an applicant is told of each step of a case in 消息中心 (the unread
badge in the navigation bar, a message marked read in place, all marked read), follows a
message to the licence it announces, and chooses e-mail for decisions."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Browser, expect

from tests.e2e.conftest import Node
from tests.e2e.test_e2e_licences_agents import _new_page, apply_for_a_residence_permit
from tests.e2e.test_e2e_portal_workbench import act, shot, sign_in


def test_the_applicant_is_told_of_acceptance_decision_and_licence(
        browser: Browser, node: Node, shots: Path) -> None:
    applicant = _new_page(browser)
    number = apply_for_a_residence_permit(applicant, node)
    # The node is shared with the other browser tests, which tell 张三 things too: start
    # from an inbox with nothing unread.
    applicant.goto(f"{node.url}/my/notifications")
    if applicant.get_by_role("button", name="全部标为已读").count():
        applicant.get_by_role("button", name="全部标为已读").click()
    expect(applicant.locator("#notify-badge")).to_be_empty()

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
    form.get_by_label("民族").fill("汉")
    form.get_by_label("户籍地址").fill("四川省成都市锦江区")
    reviewer.get_by_role("button", name="确定：准予").click()
    expect(reviewer.locator("#timeline")).to_contain_text("准予")

    applicant.goto(f"{node.url}/my/cases")
    expect(applicant.locator("#notify-badge")).to_have_text("3")
    applicant.get_by_role("link", name=re.compile("^消息")).click()
    applicant.get_by_role("link", name="只看未读").click()
    messages = applicant.locator("#notifications > li")
    expect(messages).to_have_count(3)
    expect(applicant.locator("#unread-summary")).to_have_text("未读消息 3 条")
    expect(messages.nth(2)).to_contain_text(f"办件 {number} 已受理")
    expect(messages.nth(1)).to_contain_text(f"办件 {number} 已办结：准予")
    expect(messages.nth(0)).to_contain_text("您的电子证照「居住证」已签发")
    shot(applicant, shots, "30-my-notifications")

    accepted = messages.nth(2)
    accepted.get_by_role("button", name="标为已读").click()  # htmx: swapped in place
    expect(accepted).not_to_contain_text("未读")
    expect(accepted.get_by_role("button", name="标为已读")).to_have_count(0)
    expect(applicant.locator("#notify-badge")).to_have_text("2")  # the badge follows

    messages.nth(0).get_by_role("link", name="查看详情").click()
    expect(applicant.locator("#licence-fields")).to_contain_text("四川省成都市锦江区")
    applicant.go_back()
    applicant.get_by_role("button", name="全部标为已读").click()
    expect(applicant.locator("#unread-summary")).to_have_text("未读消息 0 条")
    expect(applicant.locator("#notify-badge")).to_be_empty()

    applicant.get_by_role("link", name="通知设置").click()
    applicant.get_by_label("电子邮箱").fill("zhangsan@example.cn")
    applicant.get_by_label("办理结果 电子邮件").check()
    applicant.get_by_label("补正通知 短信").uncheck()
    applicant.get_by_role("button", name="保存").click()
    expect(applicant.locator("#saved")).to_have_text("已保存")
    expect(applicant.get_by_label("电子邮箱")).to_have_value("zhangsan@example.cn")
    expect(applicant.get_by_label("办理结果 电子邮件")).to_be_checked()
    expect(applicant.get_by_label("补正通知 短信")).not_to_be_checked()
    shot(applicant, shots, "31-notify-preferences")

    applicant.goto(f"{node.url}/my/notifications?lang=en")
    expect(applicant.locator("#unread-summary")).to_have_text("0 unread")
    expect(applicant.locator("#notifications")).to_contain_text(
        "Your e-licence 居住证 was issued")
