"""好差评 on the pages: the applicant rates on the case page, the department handles a
bad rating on the workbench, the applicant gives the verdict, the public sees results."""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi.testclient import TestClient

from tests.web.seed_web import Seeded
from tests.web.test_web_apply import PDF
from tests.web.test_web_workbench import _submitted_case


def approved_case(client: TestClient, login: Callable[[str], TestClient],
                  seeded: Seeded) -> str:
    """An online application of 张三's with its materials, accepted and approved."""
    number = _submitted_case(client, login, seeded)
    for code in ("M1", "M3"):
        client.post(f"/my/cases/{number}/materials/{code}",
                    files={"file": (f"{code}.pdf", PDF, "application/pdf")})
    login("clerk-cd")
    for action in ("pre_review_pass", "accept"):
        done = client.post(f"/workbench/cases/{number}/act/{action}", data={})
        assert done.status_code == 200 and "error" not in done.url.path, done.text[:300]
    login("reviewer-cd")
    assert client.post(f"/workbench/cases/{number}/act/approve", data={}).status_code == 200
    return number


def _rating_link(html: str) -> str:
    found = re.search(r'href="(/workbench/ratings/[0-9a-f-]{36})"', html)
    assert found, html
    return found.group(1)


def test_a_bad_rating_goes_from_the_case_page_to_the_workbench_and_back(
        client: TestClient, login: Callable[[str], TestClient], seeded: Seeded) -> None:
    number = approved_case(client, login, seeded)
    login("zhangsan")
    page = client.get(f"/my/cases/{number}").text
    assert "办事指南精确度" in page and "非常不满意" in page
    refused = client.post(f"/my/cases/{number}/rate", data={"score": "7"})
    assert refused.status_code == 422 and "评价等级须为1到5" in refused.text
    client.post(f"/my/cases/{number}/rate", data={"score": "2", "ind_efficiency": "1",
                                                 "comment": "等了很久"})
    page = client.get(f"/my/cases/{number}").text
    assert "您已评价" in page and "待回访核实" in page and "满意,办结" not in page

    login("reviewer-cd")
    link = _rating_link(client.get("/workbench/ratings").text)
    page = client.get(link).text
    assert "等了很久" in page and "办事效率" in page and "回访:限期整改" in page
    missing = client.post(f"{link}/act/plan_rectification", data={"reason": "已回访",
                                                                  "days": "三"})
    assert missing.status_code == 422 and "整改期限须为整数个工作日" in missing.text
    client.post(f"{link}/act/plan_rectification", data={"reason": "已回访", "days": "3"})
    client.post(f"{link}/act/report_outcome", data={"outcome": "已增加窗口人手"})
    assert "待评价人确认" in client.get(link).text

    login("zhangsan")
    page = client.get(f"/my/cases/{number}").text
    assert "已增加窗口人手" in page and "满意,办结" in page
    client.post(f"/my/cases/{number}/rating/accept", data={})
    assert "已办结" in client.get(f"/my/cases/{number}").text

    public = client.get("/ratings/results", params={"region": "510100"}).text
    assert "成都住房公积金管理中心" in public and "100.0%" in public
    assert "等了很久" not in public  # the comment is not published
    assert client.get("/ratings/results", params={"region": "51"}).status_code == 422


def test_a_supervisor_decides_an_appeal_on_the_workbench(
        client: TestClient, login: Callable[[str], TestClient], seeded: Seeded) -> None:
    number = approved_case(client, login, seeded)
    login("zhangsan")
    client.post(f"/my/cases/{number}/rate", data={"score": "1"})
    login("reviewer-cd")
    link = _rating_link(client.get("/workbench/ratings").text)
    no_evidence = client.post(f"{link}/act/appeal", data={"reason": "恶意"})
    assert no_evidence.status_code == 422 and "申诉证据" in no_evidence.text
    client.post(f"{link}/act/appeal", data={"reason": "恶意", "evidence": "窗口录像"})
    assert "申诉成立" not in client.get(link).text.split("handling-history")[1]  # not theirs
    login("head-cd")
    assert link in client.get("/workbench/ratings", params={"state": "appealed"}).text
    client.post(f"{link}/act/uphold_appeal", data={"reason": "录像属实"})
    assert "申诉成立(差评已撤销)" in client.get(link).text
    login("clerk-nj")
    assert client.get(link).status_code == 404


def test_the_department_reads_of_a_bad_rating_in_its_workbench_messages(
        client: TestClient, login: Callable[[str], TestClient], seeded: Seeded) -> None:
    number = approved_case(client, login, seeded)
    login("zhangsan")
    client.post(f"/my/cases/{number}/rate", data={"score": "1", "comment": "推诿"})
    assert client.get("/workbench/notifications").status_code == 403  # staff only
    assert "收到差评" not in client.get("/my/notifications").text  # not the rater's news

    login("reviewer-cd")
    page = client.get("/workbench/notifications").text
    assert 'href="/workbench/notifications" id="nav-notifications"' in page
    assert f"办件 {number} 收到差评，请回访核实" in page and "未读消息 1 条" in page
    link = _rating_link(page)
    assert "推诿" in client.get(link).text  # the message leads to the rating to handle
    english = client.get("/workbench/notifications", params={"lang": "en"}).text
    assert f"Case {number}: bad rating to visit" in english and "Work messages" in english
    entry = re.search(r'action="(/workbench/notifications/[0-9a-f-]{36}/read)"', page)
    assert entry, page
    assert client.post(entry.group(1), data={}).status_code == 200
    assert "0 unread" in client.get("/workbench/notifications").text  # (English chosen)
