"""好差评 in a real browser: a bad rating on the case page opens a return visit the
department sees on its workbench; it plans and reports a rectification; the applicant,
still unhappy, sends it back; the second fix satisfies them and only their verdict closes
it; the public results count it as rectified."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Browser, expect
from sqlalchemy.orm import Session

from tests.e2e.conftest import Node
from tests.e2e.test_e2e_portal_workbench import PDF, shot, sign_in
from tongban.cases import service as cases
from tongban.db import make_engine, make_sessionmaker, transaction
from tongban.identity import service as identity
from tongban.identity.actor import Actor
from tongban.node.keyring import keyring

FORM = {"name": "张三", "phone": "13800138000", "amount": 5000, "reason": "购房",
        "start_date": "2026-03-01", "agree": True}


def _actor(session: Session, username: str) -> Actor:
    account = identity.find_account_by_username(db_session=session, username=username)
    assert account is not None
    return identity.actor_from_account(account)


def approved_case(node: Node) -> str:
    """张三's online application, with its materials, accepted and approved (through the
    services, on the node's own database: the browser part is the rating)."""
    engine = make_engine(node.settings.database_url, keys=keyring(node.settings))
    try:
        with transaction(make_sessionmaker(engine)) as s:
            applicant = _actor(s, "zhangsan")
            case = cases.submit(db_session=s, settings=node.settings, actor=applicant,
                                implementation_code=node.seeded.fund_code, form_data=FORM,
                                channel="online")
            for code in ("M1", "M3"):
                cases.attach_material(db_session=s, settings=node.settings, actor=applicant,
                                      case_number=case.number, material_code=code,
                                      filename=f"{code}.pdf", data=PDF)
            for who, action in (("clerk-cd", "pre_review_pass"), ("clerk-cd", "accept"),
                                ("reviewer-cd", "approve")):
                cases.act(db_session=s, settings=node.settings, actor=_actor(s, who),
                          case_number=case.number, action=action, reason=None, data={})
            return case.number
    finally:
        engine.dispose()


def test_a_bad_rating_is_visited_rectified_and_closed_by_the_rater(
        browser: Browser, node: Node, shots: Path) -> None:
    number = approved_case(node)
    applicant = browser.new_context(locale="zh-CN").new_page()
    applicant.goto(f"{node.url}/my/cases/{number}")
    sign_in(applicant, node, "zhangsan")
    applicant.get_by_label("不满意", exact=True).check()
    applicant.get_by_label("办事效率").select_option(label="非常不满意")
    applicant.get_by_label("评价内容").fill("审核太慢,电话也没人接")
    applicant.get_by_role("button", name="提交评价").click()
    expect(applicant.locator("#rectification")).to_contain_text("待回访核实")
    shot(applicant, shots, "rating-01-bad-rating")

    department = browser.new_context(locale="zh-CN").new_page()
    department.goto(f"{node.url}/workbench/ratings")
    sign_in(department, node, "reviewer-cd")
    department.get_by_role("link", name=number).click()
    expect(department.get_by_text("审核太慢,电话也没人接")).to_be_visible()
    department.locator("#plan_rectification-reason").fill("已电话回访,情况属实")
    department.locator("#plan_rectification-days").fill("3")
    department.get_by_role("button", name="回访:限期整改").click()
    expect(department.locator("[data-handling]")).to_contain_text("限期整改中")
    department.locator("#report_outcome-outcome").fill("增设咨询专线")
    department.get_by_role("button", name="报告整改结果").click()
    expect(department.locator("[data-handling]")).to_contain_text("待评价人确认")
    expect(department.get_by_role("button", name="满意,办结")).to_have_count(0)
    shot(department, shots, "rating-02-rectification")

    applicant.reload()
    expect(applicant.locator("#rectification-outcome")).to_have_text("增设咨询专线")
    applicant.get_by_label("仍不满意的原因").fill("专线也打不通")
    applicant.get_by_role("button", name="仍不满意,继续整改").click()
    expect(applicant.locator("#rectification")).to_contain_text("限期整改中")

    department.reload()
    department.locator("#report_outcome-outcome").fill("专线改为7×24小时人工接听")
    department.get_by_role("button", name="报告整改结果").click()
    expect(department.locator("#handling-history")).to_contain_text("仍不满意")

    applicant.reload()
    applicant.get_by_role("button", name="满意,办结").click()
    expect(applicant.locator("#rectification")).to_contain_text("已办结")
    shot(applicant, shots, "rating-03-closed")

    public = browser.new_context(locale="zh-CN").new_page()
    public.goto(f"{node.url}/ratings/results?region=510100")
    row = public.locator("#rating-results tr", has_text="成都住房公积金管理中心")
    expect(row.locator("[data-rectified]")).to_have_text("1")
    expect(public.get_by_text("专线也打不通")).to_have_count(0)
    shot(public, shots, "rating-04-public")
