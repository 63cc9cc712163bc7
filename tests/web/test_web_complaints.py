"""12345 on the pages: the complainant files and follows a ticket, the agency
dispatches, a department returns it, the agency reassigns, the reply is judged."""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi.testclient import TestClient

from tests.web.seed_web import Seeded
from tongban.supervision.complaints import service as complaints_service
from tongban.supervision.complaints import workflow as complaints_workflow
from tongban.supervision.ratings import content, workflow
from tongban.web import complaints, i18n, ratings


def _department_option(html: str, name: str) -> str:
    found = re.search(rf'<option value="([0-9a-f-]{{36}})">{name}</option>', html)
    assert found, html
    return found.group(1)


def test_a_ticket_from_the_portal_through_return_and_reassignment_to_the_verdict(
        client: TestClient, login: Callable[[str], TestClient], seeded: Seeded) -> None:
    login("zhangsan")
    form = client.get("/my/complaints/new").text
    assert "一般诉求" in form and "5个工作日内办理" in form
    refused = client.post("/my/complaints", data={"category": "general", "subject": "公积金",
                                                  "body": "", "region_code": "510100"})
    assert refused.status_code == 422 and "请填写诉求内容" in refused.text
    assert 'value="公积金"' in refused.text  # what was typed is kept
    filed = client.post("/my/complaints", data={
        "category": "general", "subject": "公积金提取电话打不通",
        "body": "12329 打了一周都占线", "region_code": "510100"}, follow_redirects=False)
    number = filed.headers["location"].rsplit("/", 1)[1]
    assert "待派单" in client.get(f"/my/complaints/{number}").text

    login("head-cd")  # the 12345 agency of 成都
    page = client.get(f"/workbench/complaints/{number}").text
    police = _department_option(page, "成都市公安局")
    fund = _department_option(page, "成都住房公积金管理中心")
    client.post(f"/workbench/complaints/{number}/act/dispatch", data={"department_id": police})
    login("reviewer-cd")
    client.post(f"/workbench/complaints/{number}/act/return",
                data={"reason_code": "not_our_duty", "reason": "属公积金中心"})
    login("head-cd")
    page = client.get(f"/workbench/complaints/{number}").text
    assert "已退单待改派" in page and "非本单位职责" in page
    client.post(f"/workbench/complaints/{number}/act/reassign",
                data={"department_id": fund, "reason": "按职责改派"})
    login("reviewer-cd")
    no_reply = client.post(f"/workbench/complaints/{number}/act/reply", data={"reply": ""})
    assert no_reply.status_code == 422 and "请填写:答复内容" in no_reply.text
    client.post(f"/workbench/complaints/{number}/act/reply",
                data={"reply": "已增加坐席,并开通网上预约"})

    login("zhangsan")
    page = client.get(f"/my/complaints/{number}").text
    assert "已增加坐席" in page and "您对答复是否满意" in page
    client.post(f"/my/complaints/{number}/act/satisfied", data={})
    page = client.get("/my/complaints").text
    assert number in page and "已办结" in page
    login("clerk-nj")
    assert client.get(f"/workbench/complaints/{number}").status_code == 404


def test_every_supervision_label_has_an_english_translation() -> None:
    labels = {
        *complaints_workflow.STATE_LABELS.values(), *complaints_workflow.ACTION_LABELS.values(),
        *complaints_workflow.RETURN_REASONS.values(), *complaints.EVENT_LABELS.values(),
        *complaints_service.CHANNELS.values(), *workflow.STATE_LABELS.values(),
        *workflow.ACTION_LABELS.values(), *content.LEVELS.values(),
        *content.CHANNEL_LABELS.values(), *content.ONLINE_INDICATORS.values(),
        *content.WINDOW_INDICATORS.values(), *ratings.QUEUE_FILTERS.values(),
    }
    assert sorted(s for s in labels if s not in i18n.EN) == []
