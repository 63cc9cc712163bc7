"""一件事 in the UI: one merged form for every member, then the bundle case page with a
task per department and materials uploaded once for every task that needs them."""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.web.seed_web import Seeded
from tests.web.test_web_apply import GOOD, PDF
from tongban.cases.models import Case


def _key(html: str) -> str:
    found = re.search(r'name="_key" value="([^"]+)"', html)
    assert found
    return found.group(1)


def test_bundle_page_shows_members_and_one_merged_form(client: TestClient,
                                                       seeded: Seeded) -> None:
    assert "来蓉安居一件事" in client.get("/bundles").text
    page = client.get(f"/bundles/{seeded.bundle_code}").text
    assert "住房公积金提取(成都)" in page and "居住证签发(成都)" in page
    names = re.findall(r'<input id="f-(\w+)"', page)
    assert names.count("name") == 1  # a field both members ask for is asked once
    assert {"phone", "amount", "start_date"} <= set(names)


def test_applying_once_opens_a_task_per_department(
        login: Callable[[str], TestClient], seeded: Seeded, db_session: Session) -> None:
    client = login("zhangsan")
    key = _key(client.get(f"/bundles/{seeded.bundle_code}").text)
    bad = client.post(f"/bundles/{seeded.bundle_code}", data={"_key": key, "phone": "1"})
    assert bad.status_code == 422
    assert 'data-field-error="phone">格式不正确<' in bad.text and 'value="1"' in bad.text
    done = client.post(f"/bundles/{seeded.bundle_code}", data={**GOOD, "_key": key},
                       follow_redirects=False)
    assert done.status_code == 303, done.text
    again = client.post(f"/bundles/{seeded.bundle_code}", data={**GOOD, "_key": key},
                        follow_redirects=False)
    assert again.headers["location"] == done.headers["location"]  # one bundle case
    assert db_session.scalar(select(func.count()).select_from(Case)
                             .where(Case.kind == "bundle")) == 1
    number = done.headers["location"].split("/")[3].split("?")[0]
    page = client.get(f"/my/bundles/{number}").text
    tasks = re.findall(r'<tr data-task="(\w+)">', page)
    assert tasks == [seeded.fund_code, seeded.residence_code]
    up = client.post(f"/my/bundles/{number}/materials/M1",
                     files={"file": ("合同.pdf", PDF, "application/pdf")})
    assert up.status_code == 200 and "合同.pdf" in up.text
    assert f"/my/bundles/{number}" in client.get("/my/cases").text
    login("clerk-cd")
    staff = client.get(f"/workbench/bundles/{number}").text
    assert "/workbench/cases/" in staff and "各部门办理情况" in staff
    login("clerk-nj")
    assert client.get(f"/workbench/bundles/{number}").status_code == 404
