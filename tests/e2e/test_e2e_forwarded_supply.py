"""全程网办 at home in a real browser, on two nodes: 张伟 applies on his home node's (四川)
portal for an item Shanghai handles and lands on its page there; he finds the application
Shanghai handles in 我的办件, reads Shanghai's 补正 notice, uploads the file it asks for,
and sees it sent; once the nodes have exchanged envelopes Shanghai's clock runs again and
the page shows the case accepted.

The home node's own app (the harness's, federated with Shanghai's by the in-process
router) is served by uvicorn in a thread, so the browser and the federation share it;
everything the harness does through its test clients runs in a thread of its own too
(the browser's event loop runs in this one)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import uvicorn
from playwright.sync_api import Page, expect

from tests.federation.conftest import fed  # noqa: F401  (the three-node federation)
from tests.federation.harness import PASSWORD, Federation
from tests.federation.test_federation_modes import (
    GJJ_SH,
    PDF,
    code_of,
    form,
    handling_case,
    view,
)
from tests.federation.test_federation_supplements import SCAN
from tests.federation.test_federation_supply_at_home import _asked_after_acceptance

T = TypeVar("T")


def _off_loop(work: Callable[[], T]) -> T:
    """Run harness work (its TestClients start event loops) in a thread of its own."""
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["value"] = work()
        except BaseException as exc:  # re-raised in the test's thread
            out["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(120)
    if "error" in out:
        raise out["error"]
    return out["value"]  # type: ignore[no-any-return]


@pytest.fixture
def home_url(fed: Federation) -> Iterator[str]:  # noqa: F811
    """The home node's app on a loopback port, served from a thread."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(fed.sc.client.app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    assert server.started, "the home node's server did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def test_the_applicant_answers_the_handling_regions_notice_in_the_browser(
        fed: Federation, home_url: str, page: Page, shots: Path,  # noqa: F811
        tmp_path: Path) -> None:
    fc_id, number = _off_loop(lambda: _asked_after_acceptance(fed))
    scan = tmp_path / "申请表(已签名).pdf"
    scan.write_bytes(SCAN)

    page.goto(f"{home_url}/login?next=/my/cases")
    page.get_by_label("用户名").fill(fed.sc.usernames["zhangwei"])
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_load_state()
    page.goto(f"{home_url}/my/cases")
    page.locator(f'#my-forwarded a[href="/my/forwarded/{fc_id}"]').click()
    notice = page.locator("#supplement")
    expect(notice).to_contain_text("申请表未签名")
    expect(notice).to_contain_text("请补正申请表")
    page.locator("#sp-application_form").set_input_files(str(scan))
    page.get_by_label("其他说明").fill("已签名")
    page.screenshot(path=str(shots / "forwarded-supply.png"), full_page=True)
    page.get_by_role("button", name="提交补正").click()
    expect(page.locator("#supply-sent")).to_contain_text("等待办理地处理")
    expect(page.locator("#supply-form")).to_have_count(0)

    _off_loop(fed.pump)
    case = _off_loop(lambda: handling_case(fed.sh, number))
    assert case.state == "accepted" and not case.paused
    page.reload()
    expect(page.locator("#supplement")).to_have_count(0)
    expect(page.locator('#forwarded [data-state="accepted"]')).to_be_visible()


def test_an_agent_answers_for_the_principal_in_the_browser(
        fed: Federation, home_url: str, page: Page, shots: Path) -> None:  # noqa: F811
    """An agent who filed 张伟's application at home finds it in 我的办件 (marked as filed
    for him), corrects the phone number Shanghai's notice names, and sends it."""
    from tests.federation.test_federation_agent_forwarded import FIELD_ITEMS, _agent, _filed

    agent, _ = _off_loop(lambda: _agent(fed))
    fc_id, number = _off_loop(lambda: _filed(fed, agent, FIELD_ITEMS))

    page.goto(f"{home_url}/login?next=/my/cases")
    page.get_by_label("用户名").fill(fed.sc.usernames[agent])
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_load_state()
    page.goto(f"{home_url}/my/cases")
    row = page.locator("#my-forwarded tr", has=page.locator(f'a[href="/my/forwarded/{fc_id}"]'))
    expect(row.locator("[data-principal]")).to_contain_text("张伟")
    row.locator(f'a[href="/my/forwarded/{fc_id}"]').click()
    expect(page.locator("#as-agent")).to_contain_text("张伟")
    expect(page.locator("#supplement")).to_contain_text("电话无法接通")
    phone = page.locator('#sp-fields input[name="fd_phone"]')
    expect(phone).to_have_value("13800000001")  # what was sent, to correct
    phone.fill("13900000007")
    page.screenshot(path=str(shots / "forwarded-supply-agent.png"), full_page=True)
    page.get_by_role("button", name="提交补正").click()
    expect(page.locator("#supply-sent")).to_contain_text("等待办理地处理")

    _off_loop(fed.pump)
    case = _off_loop(lambda: handling_case(fed.sh, number))
    assert case.state == "submitted" and case.form_data["phone"] == "13900000007"


def test_the_applicant_applies_for_shanghais_item_on_the_home_portal(
        fed: Federation, home_url: str, page: Page, shots: Path) -> None:  # noqa: F811
    """The guide says Shanghai's node handles it (全程网办); the usual three steps; submit
    lands on the application's page at home, and Shanghai opens the case."""
    code = _off_loop(lambda: code_of(fed.sc, GJJ_SH))
    page.goto(f"{home_url}/login?next=/guide/{code}")
    page.get_by_label("用户名").fill(fed.sc.usernames["zhangwei"])
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_load_state()
    page.goto(f"{home_url}/guide/{code}")
    expect(page.locator("#handled-elsewhere")).to_contain_text("上海市节点办理（全程网办）")
    page.get_by_role("link", name="在线申请").click()
    expect(page.locator("#handled-elsewhere")).to_be_visible()
    for name, value in form("zhangwei", GJJ_SH).items():
        field = page.locator(f'form [name="{name}"]')
        if field.is_editable() and not field.input_value():
            field.fill(value)
    page.get_by_role("button", name="下一步").click()
    upload = page.locator("form[action$='/materials/application_form']")
    upload.locator("input[type=file]").set_input_files(
        files=[{"name": "申请表.pdf", "mimeType": "application/pdf", "buffer": PDF}])
    upload.get_by_role("button", name="上传").click()
    expect(page.get_by_text("已上传 — 申请表.pdf")).to_be_visible()
    expect(page.locator('[data-shared-material="gjj_info"]')).to_have_count(0)
    page.get_by_role("link", name="下一步").click()
    expect(page.locator("#handled-elsewhere")).to_contain_text("我的办件")
    page.screenshot(path=str(shots / "apply-fully-online-review.png"), full_page=True)
    page.get_by_role("button", name="提交申请").click()
    expect(page.locator("#submitted")).to_contain_text("申请已提交")
    assert "/my/forwarded/" in page.url
    fc_id = page.url.split("/my/forwarded/")[1].split("?")[0]

    _off_loop(fed.pump)
    number = _off_loop(lambda: view(fed.sc, fc_id, "zhangwei")["remote_case_number"])
    case = _off_loop(lambda: handling_case(fed.sh, number))
    assert case.form_data["from_region"] == "510104" and case.channel == "online"
    page.reload()
    expect(page.locator("#forwarded")).to_contain_text(number)
