"""In a real browser: a form on another site cannot act for the signed-in user (CSRF), while
the same action from our own page, which carries its token, goes through."""

from __future__ import annotations

from playwright.sync_api import Browser, Route, expect

from tests.e2e.conftest import Node
from tests.e2e.test_e2e_portal_workbench import sign_in

EVIL = "http://evil.example/"


def test_a_form_on_another_site_cannot_sign_the_user_out(browser: Browser,
                                                         node: Node) -> None:
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    sign_in(page, node, "zhangsan")
    expect(page.locator(".who")).to_contain_text("张三")

    def attacker(route: Route) -> None:
        route.fulfill(content_type="text/html; charset=utf-8", body=(
            f'<form method="post" action="{node.url}/logout">'
            '<input type="hidden" name="csrf_token" value="guessed.guessed">'
            '<button type="submit">领奖</button></form>'))

    context.route(EVIL, attacker)
    page.goto(EVIL)
    page.get_by_role("button", name="领奖").click()
    expect(page.get_by_role("heading", name="请求已过期")).to_be_visible()
    expect(page.locator(".error-page")).to_contain_text("请求已过期或来源无效，请刷新页面后重试")

    page.goto(node.url)
    expect(page.locator(".who")).to_contain_text("张三")  # still signed in
    page.get_by_role("button", name="退出").click()  # our own form carries the token
    expect(page.get_by_role("link", name="登录")).to_be_visible()
    context.close()
