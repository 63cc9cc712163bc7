"""In a real browser, as catalog administrators: the six-element diff of 居住证签发 across
成都 and 南京, a variance declared by one 江苏 admin and approved by another, and a local
item list of 成都 uploaded, matched, reviewed and exported."""

from __future__ import annotations

from pathlib import Path

import pytest
from argon2 import PasswordHasher
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import Node
from tests.e2e.test_e2e_portal_workbench import shot, sign_in
from tests.web.seed_web import PASSWORD
from tongban.catalog import alignment, service
from tongban.catalog import standardisation as std
from tongban.catalog.schemas import DraftIn, Guide, StandardGuide
from tongban.db import make_engine, make_sessionmaker, transaction
from tongban.identity import service as identity
from tongban.identity.actor import SYSTEM_ACTOR
from tongban.node.keyring import keyring

ITEM = "000201002000"  # 居住证签发: 南京 promises 2 working days where the standard says 3


@pytest.fixture(scope="module")
def admins(node: Node) -> None:
    """Three catalog admins (四川, and two of 江苏) and the item's standard guide, which is
    成都's guide without its window."""
    engine = make_engine(node.settings.database_url, keys=keyring(node.settings))
    previous = identity.use_password_hasher(
        PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    try:
        with transaction(make_sessionmaker(engine)) as session:
            for username, name, region in (("catalog-sc", "四川目录管理员", "510000"),
                                           ("catalog-js", "江苏目录管理员", "320000"),
                                           ("catalog-js2", "江苏审批人", "320000")):
                identity.create_account(db_session=session, actor=SYSTEM_ACTOR,
                                        username=username, password=PASSWORD,
                                        display_name=name, roles=["catalog_admin"],
                                        scopes=[(region, None)])
            chengdu = service.get_current_version(
                db_session=session, implementation_code=node.seeded.residence_code)
            guide = {k: v for k, v in chengdu.guide.items()
                     if k not in ("window_address", "window_phone", "office_hours")}
            std.put_standard_guide(db_session=session, actor=SYSTEM_ACTOR, basic_code=ITEM,
                                   guide=StandardGuide.model_validate(guide))
            nanjing = service.get_current_version(
                db_session=session, implementation_code=node.seeded.nanjing_code)
            service.update_draft(
                db_session=session, actor=SYSTEM_ACTOR,
                implementation_code=node.seeded.nanjing_code, data=DraftIn(
                    name=nanjing.name, form_schema=nanjing.form_schema,
                    guide=Guide.model_validate({**nanjing.guide, "promised_days": 2})))
            service.publish(db_session=session, actor=SYSTEM_ACTOR,
                            implementation_code=node.seeded.nanjing_code)
    finally:
        identity.use_password_hasher(previous)
        engine.dispose()


def _fresh(browser: Browser, node: Node, username: str) -> Page:
    page = browser.new_context(locale="zh-CN").new_page()
    sign_in(page, node, username)
    return page


def test_a_region_declares_a_difference_and_another_admin_approves_it(
        browser: Browser, node: Node, admins: None, shots: Path) -> None:
    page = _fresh(browser, node, "catalog-js")
    page.get_by_role("link", name="事项标准化").click()
    expect(page.locator("#region-scores")).to_contain_text("南京市")
    page.get_by_role("link", name="南京市").click()
    expect(page.locator("#region-items")).to_contain_text("居住证签发")
    page.get_by_role("link", name="居住证签发").click()
    cell = page.locator('td[data-region="320100"][data-element="time_limit"]')
    expect(cell).to_contain_text("time_limit.promised_days")
    expect(cell).to_contain_text("有利于申请人")
    expect(cell).to_contain_text("未声明")
    expect(page.locator('td[data-region="510100"][data-element="time_limit"]')
           ).to_contain_text("与标准一致")
    cell.get_by_text("声明差异").click()
    cell.get_by_label("理由").fill("南京推行居住证签发提速，承诺2个工作日")
    cell.get_by_label("法律依据").fill("《江苏省流动人口居住登记管理办法》")
    cell.get_by_role("button", name="提交声明").click()
    expect(page.locator("#variances")).to_contain_text("待审批")
    # The proposer cannot approve their own declaration.
    page.get_by_role("button", name="批准").click()
    expect(page.locator(".error-page")).to_contain_text("声明人不能审批自己的声明")
    page.context.close()

    approver = _fresh(browser, node, "catalog-js2")
    approver.goto(f"{node.url}/workbench/standard/items/{ITEM}")
    approver.get_by_role("button", name="批准").click()
    expect(approver.locator("#variances")).to_contain_text("已批准")
    expect(approver.locator("#variances")).to_contain_text("江苏审批人")
    expect(approver.locator('td[data-region="320100"][data-element="time_limit"]')
           ).to_contain_text("已声明")
    expect(approver.locator("#item-score")).to_have_text("100.0%")
    shot(approver, shots, "20-standard-diff")
    approver.goto(f"{node.url}/workbench/standard?lang=en")
    expect(approver.get_by_role("heading", name="Standardisation")).to_be_visible()
    download = approver.request.get(f"{node.url}/api/v1/standard/conformance?format=xlsx")
    assert download.headers["content-type"].startswith("application/vnd.openxmlformats")
    approver.context.close()


def test_a_local_list_is_matched_reviewed_and_exported(
        browser: Browser, node: Node, admins: None, shots: Path, tmp_path: Path) -> None:
    good = tmp_path / "成都本地事项.xlsx"
    good.write_bytes(alignment.local_list_xlsx([
        ("公积金提取", "市公积金中心", "公共服务", "购房合同、身份证复印件", "20个工作日", 3,
         "CD-1"),
        ("居住证办理", "市公安局", "", "照片", None, None, "CD-2"),
        ("证明", "", "", "", None, None, "CD-3"),
    ]))
    page = _fresh(browser, node, "catalog-sc")
    page.goto(f"{node.url}/workbench/alignment")
    page.get_by_label("地区代码").fill("510100")
    page.get_by_label("清单文件").set_input_files(str(good))
    page.get_by_role("button", name="导入并比对").click()
    expect(page.get_by_role("heading", name="比对结果 · 成都本地事项.xlsx 510100")).to_be_visible()
    page.get_by_role("link", name="全部 3").click()
    rows = page.locator("#lines tbody tr")
    expect(rows).to_have_count(3)
    expect(page.locator('tr[data-row="2"]')).to_contain_text("住房公积金提取")
    expect(page.locator('tr[data-row="3"]')).to_contain_text("居住证")
    page.locator('tr[data-row="2"]').get_by_role("button", name="确认").click()
    expect(page.locator('tr[data-row="2"]')).to_contain_text("已确认")
    shot(page, shots, "21-alignment-review")
    report = page.request.get(node.url + (page.locator("#batch-xlsx").get_attribute("href") or ""))
    assert report.ok and report.headers["content-type"].startswith(
        "application/vnd.openxmlformats")

    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(alignment.local_list_xlsx([("", "市公积金中心", "", "", "十天", None, "")]))
    page.goto(f"{node.url}/workbench/alignment")
    page.get_by_label("地区代码").fill("510100")
    page.get_by_label("清单文件").set_input_files(str(bad))
    page.get_by_role("button", name="导入并比对").click()
    expect(page.locator(".error-page")).to_contain_text("未写入任何数据")
    expect(page.locator(".error-page")).to_contain_text("row 2")
    page.goto(f"{node.url}/workbench/alignment")
    expect(page.locator("#batches tbody tr")).to_have_count(1)
    page.context.close()
