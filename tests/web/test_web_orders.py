"""督查督办 on the pages: a supervisor orders, the department answers, the supervisor
closes; bad input shows the form again with the reason."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from tests.web.seed_web import Seeded
from tests.web.test_web_workbench import _submitted_case
from tongban.supervision.warnings import service as warnings
from tongban.web import i18n


def test_an_order_from_issue_to_answer_to_close(
        client: TestClient, login: Callable[[str], TestClient], seeded: Seeded) -> None:
    number = _submitted_case(client, login, seeded)
    orders = f"/supervision/cases/{number}/orders"
    login("reviewer-cd")
    assert "下达督办或纠错" not in client.get(orders).text  # staff answer, never order
    login("head-cd")
    refused = client.post(orders, data={"kind": "supervise", "text": "请尽快受理",
                                        "days": "两天"})
    assert refused.status_code == 422 and "期限须为整数个工作日" in refused.text
    assert "请尽快受理" in refused.text  # kept as typed
    client.post(orders, data={"kind": "correct", "text": "预审未核验身份证", "days": "2"})
    assert "预审未核验身份证" in client.get("/supervision/queue").text
    login("clerk-cd")
    assert number in client.get("/workbench/orders").text
    page = client.get(orders).text
    order_id = page.split('data-order="')[1].split('"')[0]
    client.post(f"/supervision/orders/{order_id}/act/answer",
                data={"text": "已重新核验", "case_number": number})
    login("head-cd")
    page = client.get(orders).text
    assert "已重新核验" in page and "已答复待确认" in page
    client.post(f"/supervision/orders/{order_id}/act/close", data={"case_number": number})
    assert "已办结" in client.get(orders).text
    login("zhangsan")
    mine = client.get(f"/my/cases/{number}").text
    assert "<strong>纠错</strong>" in mine and "supervision_correct" not in mine


def test_every_order_label_has_an_english_translation() -> None:
    labels = {*warnings.LEVEL_LABELS.values(), *warnings.KINDS.values(),
              *warnings.ORDER_STATES.values(), *warnings.ORDER_ACTION_LABELS.values(),
              *warnings.CASE_FACT_LABELS.values(), "部门负责人", "监督人员"}
    assert sorted(s for s in labels if s not in i18n.EN) == []
