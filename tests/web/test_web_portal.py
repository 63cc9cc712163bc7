"""The portal renders from the catalog service, in Chinese first and English on request."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from tests.web.seed_web import Seeded


def test_home_shows_search_popular_items_topics_and_departments(
        client: TestClient, seeded: Seeded) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert '<html lang="zh-CN">' in page.text
    assert "搜索事项" in page.text and "住房公积金提取(成都)" in page.text
    assert "住房" in page.text and "成都市公安局" in page.text


def test_pinyin_initials_find_the_housing_fund(client: TestClient, seeded: Seeded) -> None:
    page = client.get("/search", params={"q": "gjj"})
    assert page.status_code == 200
    assert f"/guide/{seeded.fund_code}" in page.text
    assert "居住证" not in page.text


def test_search_without_match_says_so(client: TestClient, seeded: Seeded) -> None:
    assert "没有找到相关事项" in client.get("/search", params={"q": "不存在的事项"}).text


def test_region_switch_narrows_search_to_the_region(client: TestClient, seeded: Seeded) -> None:
    client.get("/region", params={"code": "320100", "next": "/"})
    page = client.get("/search", params={"q": "jzz"})
    assert "居住证签发(南京)" in page.text and "居住证签发(成都)" not in page.text
    assert "selected>　南京市" in page.text


def test_unknown_region_code_is_ignored(client: TestClient, seeded: Seeded) -> None:
    client.get("/region", params={"code": "999999"})
    assert client.cookies.get("region") is None


def test_guide_shows_every_element_and_no_submit_marks(client: TestClient,
                                                      seeded: Seeded) -> None:
    page = client.get(f"/guide/{seeded.fund_code}").text
    for text in ("受理条件", "连续足额缴存住房公积金满3个月", "购房合同", "法定时限",
                 "20 个工作日", "承诺时限", "3 个工作日", "不收费", "全程网办",
                 "《住房公积金管理条例》第二十四条", "12329", "在线申请"):
        assert text in page, text
    row = page[page.index("居民身份证"):page.index("居民身份证") + 400]
    assert "免提交" in row
    assert "免提交" not in page[page.index("购房合同"):page.index("婚姻关系证明")]


def test_guide_of_unknown_implementation_is_a_404_page(client: TestClient,
                                                       seeded: Seeded) -> None:
    page = client.get("/guide/nope")
    assert page.status_code == 404
    assert "text/html" in page.headers["content-type"] and "页面不存在" in page.text


def test_english_switch_sticks_in_a_cookie(client: TestClient, seeded: Seeded) -> None:
    page = client.get("/?lang=en")
    assert '<html lang="en">' in page.text and "Search services" in page.text
    assert client.cookies.get("lang") == "en"
    assert "Popular services" in client.get("/").text


def test_bad_search_cursor_is_a_readable_error(client: TestClient, seeded: Seeded) -> None:
    page = client.get("/search", params={"q": "gjj", "cursor": "!!"})
    assert page.status_code == 422 and "分页游标无效" in page.text


def test_login_sets_the_cookie_and_logout_ends_the_session(
        client: TestClient, login: Callable[[str], TestClient]) -> None:
    login("zhangsan")
    assert "您好，张三" in client.get("/").text
    client.post("/logout")
    assert "您好" not in client.get("/").text


def test_wrong_password_shows_the_form_again_with_the_username(
        client: TestClient, seeded: Seeded) -> None:
    client.get("/login")
    page = client.post("/login", data={"username": "zhangsan", "password": "wrong"})
    assert page.status_code == 401
    assert "用户名或密码错误" in page.text and 'value="zhangsan"' in page.text


def test_login_never_redirects_off_site(client: TestClient, seeded: Seeded) -> None:
    from tests.web.seed_web import PASSWORD

    client.get("/login")
    response = client.post("/login", data={"username": "zhangsan", "password": PASSWORD,
                                           "next": "//evil.example/"},
                           follow_redirects=False)
    assert response.headers["location"] == "/"
