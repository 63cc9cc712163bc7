"""The whole flow in a real browser, in the Chinese UI: an applicant finds an item by
pinyin, applies with an upload, a clerk asks for a supplement, the applicant supplies
it, a reviewer approves, the applicant sees the result and rates it; plus a phone-width
run, per-field errors, the browser-side size check, and scope."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import MAX_UPLOAD, Node
from tests.web.seed_web import PASSWORD

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00"
       b"\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7"
       b"5\x81\x84\x00\x00\x00\x00IEND\xaeB`\x82")


def sign_in(page: Page, node: Node, username: str) -> None:
    """Use the login page (it sends us back where we were)."""
    if "/login" not in page.url:
        page.goto(f"{node.url}/login")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_load_state()


def shot(page: Page, shots: Path, name: str) -> None:
    page.screenshot(path=str(shots / f"{name}.png"))


def fill_fund_form(page: Page, **overrides: str) -> None:
    values = {"申请人姓名": "张三", "手机号码": "13800138000", "提取金额(元)": "5000",
              "开始日期": "2026-03-01", **overrides}
    for label, value in values.items():
        page.get_by_label(label).fill(value)
    page.get_by_label("提取原因").select_option("购房")
    page.get_by_label("承诺所填信息真实").check()


def upload(page: Page, material: str, name: str, data: bytes, mime: str) -> None:
    form = page.locator(f"form[action$='/materials/{material}']")
    form.locator("input[type=file]").set_input_files(
        files=[{"name": name, "mimeType": mime, "buffer": data}])
    form.get_by_role("button", name="上传").click()


def act(page: Page, action: str) -> None:
    """Open an action's panel on the workbench case page."""
    page.locator(f"details[data-action={action}] > summary").click()


def test_apply_supplement_approve_rate(browser: Browser, node: Node, shots: Path) -> None:
    applicant = browser.new_context(locale="zh-CN").new_page()
    applicant.goto(node.url)
    expect(applicant.get_by_role("heading", name="搜索事项")).to_be_visible()
    shot(applicant, shots, "01-home")
    applicant.get_by_role("searchbox", name="搜索事项").fill("gjj")
    applicant.get_by_role("button", name="搜索").click()
    expect(applicant.get_by_role("link", name="住房公积金提取(成都)")).to_be_visible()
    shot(applicant, shots, "02-search-gjj")
    applicant.get_by_role("link", name="住房公积金提取(成都)").click()
    expect(applicant.get_by_text("免提交")).to_be_visible()
    expect(applicant.get_by_text("20 个工作日")).to_be_visible()
    shot(applicant, shots, "03-guide")
    applicant.get_by_role("link", name="在线申请").click()
    sign_in(applicant, node, "zhangsan")  # the guide's button leads via login to the form
    expect(applicant.get_by_role("heading", name="住房公积金提取(成都)")).to_be_visible()
    fill_fund_form(applicant)
    applicant.get_by_role("button", name="下一步").click()
    upload(applicant, "M1", "购房合同.pdf", PDF, "application/pdf")
    expect(applicant.get_by_text("已上传 — 购房合同.pdf")).to_be_visible()
    # no 居民身份证 e-licence is held: its scan, or the case is never accepted
    upload(applicant, "M3", "身份证.pdf", PDF, "application/pdf")
    expect(applicant.get_by_text("已上传 — 身份证.pdf")).to_be_visible()
    shot(applicant, shots, "04-apply-materials")
    applicant.get_by_role("link", name="下一步").click()
    expect(applicant.get_by_text("13800138000")).to_be_visible()
    applicant.get_by_role("button", name="提交申请").click()
    expect(applicant.locator("#submitted")).to_contain_text("申请已提交")
    number = re.search(r"/my/cases/(\d+)", applicant.url).group(1)  # type: ignore[union-attr]
    shot(applicant, shots, "05-case-submitted")

    clerk = browser.new_context(locale="zh-CN").new_page()
    sign_in(clerk, node, "clerk-cd")
    expect(clerk.get_by_role("link", name=number)).to_be_visible()
    shot(clerk, shots, "06-workbench-queue")
    clerk.get_by_role("link", name=number).click()
    act(clerk, "request_supplement")
    clerk.locator("input[name=material][value=M2]").check()
    clerk.locator("#problem-M2").fill("请补充结婚证复印件")
    clerk.locator("#reason-request_supplement").fill("缺少婚姻关系证明")
    shot(clerk, shots, "07-workbench-case")
    clerk.get_by_role("button", name="确定：一次性告知补正").click()
    expect(clerk.locator("#timeline")).to_contain_text("一次性告知补正")

    applicant.goto(f"{node.url}/my/cases/{number}")
    expect(applicant.locator("#notice-items")).to_contain_text("请补充结婚证复印件")
    upload(applicant, "M2", "结婚证.png", PNG, "image/png")
    expect(applicant.get_by_role("link", name="结婚证.png")).to_be_visible()
    applicant.get_by_role("button", name="提交补正").click()
    expect(applicant.locator("#timeline")).to_contain_text("补正材料")

    clerk.reload()
    act(clerk, "accept")
    clerk.get_by_role("button", name="确定：受理").click()
    expect(clerk.locator("#timeline")).to_contain_text("受理")

    reviewer = browser.new_context(locale="zh-CN").new_page()
    sign_in(reviewer, node, "reviewer-cd")
    reviewer.goto(f"{node.url}/workbench/cases/{number}")
    reviewer.locator("details.preview summary", has_text="婚姻关系证明").click()
    expect(reviewer.locator("img[alt=婚姻关系证明]")).to_be_visible()  # the image previews
    act(reviewer, "approve")
    reviewer.get_by_role("button", name="确定：准予").click()
    expect(reviewer.locator("#timeline")).to_contain_text("准予")

    applicant.goto(f"{node.url}/my/cases/{number}")
    expect(applicant.get_by_text("准予").first).to_be_visible()
    applicant.get_by_label("非常满意").check()
    applicant.get_by_label("评价内容").fill("办理很快")
    applicant.get_by_role("button", name="提交评价").click()
    expect(applicant.get_by_text("您已评价")).to_be_visible()
    shot(applicant, shots, "08-case-rated")

    outsider = browser.new_context(locale="zh-CN").new_page()
    sign_in(outsider, node, "clerk-nj")
    response = outsider.goto(f"{node.url}/workbench/cases/{number}")
    assert response is not None and response.status == 404
    expect(outsider.get_by_role("heading", name="页面不存在")).to_be_visible()
    expect(outsider.get_by_text("张三")).to_have_count(0)


def test_form_errors_are_shown_per_field_and_keep_what_was_typed(
        browser: Browser, node: Node, shots: Path) -> None:
    page = browser.new_context(locale="zh-CN").new_page()
    page.goto(f"{node.url}/login?next=/apply/{node.seeded.fund_code}")
    sign_in(page, node, "zhangsan")
    fill_fund_form(page, **{"手机号码": "12345", "提取金额(元)": "0", "申请人姓名": "张"})
    page.get_by_role("button", name="下一步").click()
    expect(page.locator("[data-field-error=phone]")).to_have_text("格式不正确")
    expect(page.locator("[data-field-error=amount]")).to_have_text("不能小于 1")
    expect(page.locator("[data-field-error=name]")).to_have_text("至少 2 个字符")
    expect(page.get_by_label("手机号码")).to_have_value("12345")
    expect(page.get_by_label("手机号码")).to_have_attribute("aria-invalid", "true")
    shot(page, shots, "09-form-errors")


def test_an_oversized_file_is_refused_before_it_is_sent(browser: Browser, node: Node) -> None:
    page = browser.new_context(locale="zh-CN").new_page()
    page.goto(f"{node.url}/login?next=/apply/{node.seeded.fund_code}")
    sign_in(page, node, "zhangsan")
    fill_fund_form(page)
    page.get_by_role("button", name="下一步").click()
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url) if r.method == "POST" else None)
    upload(page, "M1", "big.pdf", PDF + b"0" * (MAX_UPLOAD + 1), "application/pdf")
    expect(page.locator("form[action$='/materials/M1'] [data-upload-status]")).to_contain_text(
        "文件过大")
    assert sent == []


def test_phone_width_apply_flow(browser: Browser, node: Node, shots: Path) -> None:
    phone = browser.new_context(viewport={"width": 375, "height": 667},
                                device_scale_factor=2, is_mobile=True, has_touch=True,
                                locale="zh-CN")
    page = phone.new_page()
    page.goto(node.url)
    page.get_by_role("searchbox", name="搜索事项").fill("jzz")
    page.get_by_role("button", name="搜索").click()
    page.get_by_role("link", name="居住证签发(成都)").click()
    shot(page, shots, "10-phone-guide")
    page.get_by_role("link", name="在线申请").click()
    sign_in(page, node, "zhangsan")
    page.get_by_label("姓名").fill("张三")
    page.get_by_role("button", name="下一步").click()
    upload(page, "P1", "照片.png", PNG, "image/png")
    expect(page.get_by_text("已上传 — 照片.png")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.get_by_role("link", name="下一步").click()
    page.get_by_role("button", name="提交申请").click()
    expect(page.locator("#submitted")).to_contain_text("申请已提交")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    shot(page, shots, "11-phone-case")


def test_a_refused_upload_says_why(browser: Browser, node: Node) -> None:
    page = browser.new_context(locale="zh-CN").new_page()
    page.goto(f"{node.url}/login?next=/apply/{node.seeded.fund_code}")
    sign_in(page, node, "zhangsan")
    fill_fund_form(page)
    page.get_by_role("button", name="下一步").click()
    upload(page, "M1", "合同.exe", b"MZ\x90\x00" * 64, "application/octet-stream")
    status = page.locator("form[action$='/materials/M1'] [data-upload-status]")
    expect(status).to_contain_text("上传失败：")
    expect(status).to_contain_text("文件类型不允许")
