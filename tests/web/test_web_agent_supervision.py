"""Agents choose whom they act for and apply for them; the queue runs by due date across
pages; the supervisor's dashboard counts warnings per department and lists overdue cases."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.web.seed_web import Seeded
from tests.web.test_web_apply import _apply
from tests.web.test_web_workbench import _submitted_case
from tongban.cases.models import Case
from tongban.web import workbench


def _authorisation_id(html: str) -> str:
    found = re.search(r'name="authorisation_id" value="([^"]+)"', html)
    assert found, "a valid authorisation offers its button"
    return found.group(1)


def test_an_agent_must_choose_a_principal_before_applying(
        login: Callable[[str], TestClient], seeded: Seeded) -> None:
    client = login("agent-wang")
    response = client.get(f"/apply/{seeded.residence_code}", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/agent/principals?next=")
    page = client.get("/agent/principals").text
    assert "李四" in page and "全部事项" in page and "有效" in page
    assert "代 李四 办理" not in page


def test_an_agent_acting_for_a_principal_files_in_their_name(
        login: Callable[[str], TestClient], seeded: Seeded, db_session: Session) -> None:
    client = login("agent-wang")
    auth_id = _authorisation_id(client.get("/agent/principals").text)
    chosen = client.post("/agent/act-for", data={
        "authorisation_id": auth_id, "next": f"/apply/{seeded.residence_code}"})
    assert chosen.status_code == 200 and 'id="acting"' in chosen.text
    assert "代 李四 办理" in chosen.text  # the header says whom, on every page
    key = _apply(client, seeded.residence_code, {"name": "李四"})
    client.post(f"/apply/{seeded.residence_code}/materials/P1", data={"draft": key},
                files={"file": ("照片.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "image/png")})
    review = client.get(f"/apply/{seeded.residence_code}/review", params={"draft": key}).text
    assert "本申请将以 李四 的名义提交（代办）" in review
    done = client.post(f"/apply/{seeded.residence_code}/submit", data={"draft": key},
                       follow_redirects=False)
    number = done.headers["location"].split("/")[3].split("?")[0]
    case = db_session.scalar(select(Case).where(Case.number == number))
    assert case is not None and case.applicant_name == "李四"
    assert str(case.agent_authorisation_id) == auth_id
    assert number in client.get("/my/cases").text  # the agent follows what they filed
    stopped = client.post("/agent/stop")
    assert stopped.status_code == 200 and "代 李四 办理" not in stopped.text


def test_acting_for_an_unknown_or_malformed_authorisation_is_refused(
        login: Callable[[str], TestClient], seeded: Seeded) -> None:
    client = login("agent-wang")
    unknown = client.post("/agent/act-for", data={"authorisation_id": str(uuid.uuid4())})
    assert unknown.status_code == 404 and "未找到该代办授权" in unknown.text
    malformed = client.post("/agent/act-for", data={"authorisation_id": "x"})
    assert malformed.status_code == 404 and 'id="acting"' not in malformed.text


def test_only_agents_have_a_principals_page(login: Callable[[str], TestClient],
                                            seeded: Seeded) -> None:
    client = login("zhangsan")
    assert client.get("/agent/principals").status_code == 403


def test_queue_pages_by_due_date(client: TestClient, login: Callable[[str], TestClient],
                                 seeded: Seeded, db_session: Session,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    numbers = [_submitted_case(client, login, seeded) for _ in range(3)]
    dues = {numbers[0]: date(2026, 12, 20), numbers[1]: None, numbers[2]: date(2026, 12, 1)}
    for case in db_session.scalars(select(Case)):
        case.promised_due_date = dues[case.number]
    db_session.commit()
    monkeypatch.setattr(workbench, "PAGE_SIZE", 1)
    login("clerk-cd")
    seen, url = [], "/workbench?sort=due"
    while url:
        page = client.get(url).text
        seen += re.findall(r'<a href="/workbench/cases/(\d+)">', page)
        nxt = re.search(r'href="(/workbench\?[^"]*cursor=[^"]+)"', page)
        url = nxt.group(1).replace("&amp;", "&") if nxt else ""
    assert seen == [numbers[2], numbers[0], numbers[1]]


def test_supervisor_dashboard_counts_warnings_and_lists_overdue(
        client: TestClient, login: Callable[[str], TestClient], seeded: Seeded,
        db_session: Session) -> None:
    numbers = [_submitted_case(client, login, seeded) for _ in range(3)]
    rows = {c.number: c for c in db_session.scalars(select(Case))}
    rows[numbers[0]].warning_level = "red"
    rows[numbers[0]].promised_due_date = date.today() - timedelta(days=3)
    rows[numbers[1]].warning_level = "yellow"
    db_session.commit()
    login("head-cd")
    page = client.get("/supervision")
    assert page.status_code == 200
    totals = dict(re.findall(r'data-total="(\w+)">(\d+)<', page.text))
    assert totals == {"none": "1", "yellow": "1", "red": "1"}
    assert "成都住房公积金管理中心" in page.text
    overdue = page.text.split('id="overdue"')[1]
    assert numbers[0] in overdue and numbers[1] not in overdue
    assert '"departments": ["成都住房公积金管理中心"]' in page.text  # the chart's data
    assert "/static/vendor/echarts/echarts.min.js" in page.text
    assert client.get("/static/vendor/echarts/echarts.min.js").status_code == 200
    login("clerk-cd")
    assert client.get("/supervision").status_code == 403
