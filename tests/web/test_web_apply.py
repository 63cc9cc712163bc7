"""Applying online through the web pages, and following the case as its applicant."""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.web.seed_web import Seeded
from tongban.cases.models import Case, CaseMaterial

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
GOOD = {"name": "张三", "phone": "13800138000", "amount": "5000", "reason": "购房",
        "start_date": "2026-03-01", "agree": "on"}


def _draft_key(html: str) -> str:
    found = re.search(r'name="_draft" value="([^"]+)"', html)
    assert found, "the form carries its draft key"
    return found.group(1)


def _apply(client: TestClient, code: str, data: dict[str, str]) -> str:
    key = _draft_key(client.get(f"/apply/{code}").text)
    response = client.post(f"/apply/{code}", data={**data, "_draft": key},
                           follow_redirects=False)
    assert response.status_code == 303, response.text
    return key


def test_applying_needs_a_login_and_comes_back(client: TestClient, seeded: Seeded) -> None:
    response = client.get(f"/apply/{seeded.fund_code}", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith(f"/login?next=/apply/{seeded.fund_code}")


def test_form_is_generated_from_the_schema(login: Callable[[str], TestClient],
                                           seeded: Seeded) -> None:
    html = login("zhangsan").get(f"/apply/{seeded.fund_code}").text
    assert '<label for="f-name">申请人姓名' in html
    assert 'type="number"' in html and 'type="date"' in html
    assert '<option value="购房"' in html and 'type="checkbox"' in html
    assert 'pattern="^1[3-9]\\d{9}$"' in html and 'maxlength="20"' in html


def test_every_bad_field_gets_its_own_chinese_error_and_keeps_what_was_typed(
        login: Callable[[str], TestClient], seeded: Seeded) -> None:
    client = login("zhangsan")
    key = _draft_key(client.get(f"/apply/{seeded.fund_code}").text)
    bad = {"name": "张", "phone": "12345", "amount": "abc", "reason": "偷钱",
           "start_date": "2026-02-30", "_draft": key}
    page = client.post(f"/apply/{seeded.fund_code}", data=bad)
    assert page.status_code == 422
    errors = dict(re.findall(r'data-field-error="(\w+)">([^<]+)<', page.text))
    assert errors == {"name": "至少 2 个字符", "phone": "格式不正确", "amount": "请输入整数",
                      "reason": "请从列表中选择",
                      "start_date": "请输入有效日期，格式 YYYY-MM-DD"}
    assert 'value="12345"' in page.text and 'value="abc"' in page.text
    assert 'aria-invalid="true"' in page.text


def test_missing_required_fields_say_so(login: Callable[[str], TestClient],
                                        seeded: Seeded) -> None:
    client = login("zhangsan")
    key = _draft_key(client.get(f"/apply/{seeded.fund_code}").text)
    page = client.post(f"/apply/{seeded.fund_code}", data={"_draft": key})
    errors = dict(re.findall(r'data-field-error="(\w+)">([^<]+)<', page.text))
    assert errors == dict.fromkeys(["name", "phone", "amount", "reason", "start_date"],
                                   "此项为必填项")
    assert 'href="#f-phone">手机号码：此项为必填项' in page.text  # the summary links to it


def test_full_apply_flow_creates_one_case_with_its_material(
        login: Callable[[str], TestClient], seeded: Seeded, db_session: Session) -> None:
    client = login("zhangsan")
    key = _apply(client, seeded.fund_code, GOOD)
    materials = client.get(f"/apply/{seeded.fund_code}/materials", params={"draft": key})
    # 居民身份证 would come from the e-licence (一证通办); 张三 holds none, so he is told
    assert "未找到电子证照" in materials.text and "将自动关联" not in materials.text
    up = client.post(f"/apply/{seeded.fund_code}/materials/M1", data={"draft": key},
                     files={"file": ("合同.pdf", PDF, "application/pdf")})
    assert up.status_code == 200 and "已上传" in up.text and "合同.pdf" in up.text
    review = client.get(f"/apply/{seeded.fund_code}/review", params={"draft": key})
    assert "13800138000" in review.text and "合同.pdf" in review.text
    first = client.post(f"/apply/{seeded.fund_code}/submit", data={"draft": key},
                        follow_redirects=False)
    second = client.post(f"/apply/{seeded.fund_code}/submit", data={"draft": key},
                         follow_redirects=False)
    number = first.headers["location"].split("/")[3].split("?")[0]
    assert second.headers["location"] == f"/my/cases/{number}"
    assert db_session.scalar(select(func.count()).select_from(Case)) == 1
    case = db_session.scalar(select(Case))
    assert case is not None and case.form_data["amount"] == 5000
    assert case.form_data["agree"] is True
    assert db_session.scalar(select(func.count()).select_from(CaseMaterial)) == 1
    page = client.get(f"/my/cases/{number}?submitted=1").text
    assert "申请已提交" in page and "预审中" in page and "合同.pdf" in page


def test_upload_over_the_limit_is_refused_by_the_server(
        login: Callable[[str], TestClient], seeded: Seeded, client: TestClient) -> None:
    client.app.state.settings.max_upload_bytes = 100  # type: ignore[attr-defined]
    login("zhangsan")
    key = _apply(client, seeded.fund_code, GOOD)
    page = client.post(f"/apply/{seeded.fund_code}/materials/M1", data={"draft": key},
                       files={"file": ("big.pdf", PDF + b"x" * 200, "application/pdf")})
    assert page.status_code == 413 and "文件超过大小限制" in page.text
    assert "data-upload-error" in page.text
    assert "已上传" not in page.text


def test_upload_of_a_forbidden_type_is_refused(login: Callable[[str], TestClient],
                                               seeded: Seeded) -> None:
    client = login("zhangsan")
    key = _apply(client, seeded.fund_code, GOOD)
    page = client.post(f"/apply/{seeded.fund_code}/materials/M1", data={"draft": key},
                       files={"file": ("x.exe", b"MZ\x90\x00", "application/octet-stream")})
    assert page.status_code == 422 and "文件类型不允许" in page.text


def test_an_expired_session_keeps_the_draft(login: Callable[[str], TestClient],
                                            seeded: Seeded, client: TestClient) -> None:
    login("zhangsan")
    key = _draft_key(client.get(f"/apply/{seeded.fund_code}").text)
    client.cookies.delete("tongban_session")
    response = client.post(f"/apply/{seeded.fund_code}",
                           data={**GOOD, "name": "张三丰", "_draft": key},
                           follow_redirects=False)
    assert response.status_code == 303
    assert "/login?next=" in response.headers["location"]
    assert "saved=1" in response.headers["location"]  # no session cookie: not "expired"
    login("zhangsan")
    again = client.get(f"/apply/{seeded.fund_code}").text
    assert 'value="张三丰"' in again and _draft_key(again) == key


def test_someone_elses_draft_is_not_found(login: Callable[[str], TestClient],
                                          seeded: Seeded, client: TestClient) -> None:
    login("zhangsan")
    key = _draft_key(client.get(f"/apply/{seeded.fund_code}").text)
    login("clerk-cd")
    page = client.get(f"/apply/{seeded.fund_code}/review", params={"draft": key})
    assert page.status_code == 404


def test_withdraw_then_rate(login: Callable[[str], TestClient], seeded: Seeded,
                            client: TestClient) -> None:
    login("zhangsan")
    key = _apply(client, seeded.fund_code, GOOD)
    number = client.post(f"/apply/{seeded.fund_code}/submit", data={"draft": key},
                         follow_redirects=False).headers["location"].split("/")[3]
    number = number.split("?")[0]
    assert "撤回申请" in client.get(f"/my/cases/{number}").text
    client.post(f"/my/cases/{number}/act/withdraw", data={"reason": "不办了"})
    page = client.get(f"/my/cases/{number}").text
    assert "撤回" in page and "不办了" in page
    # a withdrawn case was not decided: nothing to rate
    assert "服务评价" not in page
    bad = client.post(f"/my/cases/{number}/rate", data={"score": "5"})
    assert bad.status_code == 409 and "办结后才能评价" in bad.text


def test_a_first_visit_is_asked_to_sign_in_not_told_its_session_expired(
        client: TestClient, seeded: Seeded) -> None:
    response = client.get(f"/apply/{seeded.fund_code}", follow_redirects=False)
    assert "expired" not in response.headers["location"]
    page = client.get(response.headers["location"]).text
    assert "请先登录" in page
    assert "登录已过期" not in page and "已保存" not in page


def test_a_stale_session_is_told_it_expired_and_a_saved_form_that_it_was_kept(
        login: Callable[[str], TestClient], seeded: Seeded, client: TestClient) -> None:
    login("zhangsan")
    key = _draft_key(client.get(f"/apply/{seeded.fund_code}").text)
    client.post("/logout")  # the cookie the browser still holds no longer works
    client.cookies.set("tongban_session", "an-old-token")
    gone = client.get(f"/apply/{seeded.fund_code}", follow_redirects=False)
    page = client.get(gone.headers["location"]).text
    assert "登录已过期，请重新登录" in page and "已保存" not in page
    client.get("/")  # a fresh page token for the form post
    saved = client.post(f"/apply/{seeded.fund_code}", data={**GOOD, "_draft": key},
                        follow_redirects=False)
    page = client.get(saved.headers["location"]).text
    assert "登录已过期，请重新登录，您填写的内容已保存" in page
