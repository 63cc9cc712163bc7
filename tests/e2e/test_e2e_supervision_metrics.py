"""Browser tests of supervision: the metrics dashboard draws its trend, ranking and map,
changes metric, exports Excel; a random inspection is published for anyone to re-run."""

from __future__ import annotations

import io
import json
from pathlib import Path

from openpyxl import load_workbook
from playwright.sync_api import Browser, expect

from tests.e2e.conftest import Node
from tests.e2e.test_e2e_portal_workbench import PNG, shot, sign_in
from tests.e2e.test_e2e_ratings import approved_case
from tests.web.seed_web import WALK_IN_ID
from tongban.calendar import service as calendar
from tongban.cases import service as cases
from tongban.cases.schemas import ApplicantIn
from tongban.db import make_engine, make_sessionmaker, transaction
from tongban.identity import service as identity
from tongban.node.keyring import keyring
from tongban.supervision.metrics import service as metrics
from tongban.supervision.ratings import service as ratings
from tongban.web.supervision_metrics import default_span


def _decided_cases(node: Node, count: int = 3) -> None:
    """Walk-in cases at the 成都 window, accepted and approved now; metrics refreshed."""
    engine = make_engine(node.settings.database_url, keys=keyring(node.settings))
    try:
        with transaction(make_sessionmaker(engine)) as db:
            staff = {}
            for name in ("clerk-cd", "reviewer-cd"):
                account = identity.find_account_by_username(db_session=db, username=name)
                assert account is not None
                staff[name] = identity.actor_from_account(account)
            person = identity.find_person_by_id_number(
                db_session=db, settings=node.settings, id_number=WALK_IN_ID)
            assert person is not None
            for _ in range(count):
                case = cases.submit(
                    db_session=db, settings=node.settings, actor=staff["clerk-cd"],
                    implementation_code=node.seeded.residence_code, channel="window",
                    form_data={"name": "李四"}, applicant=ApplicantIn(person_id=person.id))
                cases.attach_material(db_session=db, settings=node.settings,
                                      actor=staff["clerk-cd"], case_number=case.number,
                                      material_code="P1", filename="照片.png", data=PNG)
                for who, action in (("clerk-cd", "accept"), ("reviewer-cd", "approve")):
                    cases.act(db_session=db, settings=node.settings, actor=staff[who],
                              case_number=case.number, action=action)
            metrics.refresh(db_session=db)
    finally:
        engine.dispose()


def _good_rating(node: Node) -> tuple[int, int]:
    """张三 rates an approved case 非常满意; metrics refreshed. The node is shared with the
    other browser tests (which give bad ratings): returns 好评率's (numerator, denominator)
    as the service computes it for 钱主任 over the dashboard's default months."""
    number = approved_case(node)
    engine = make_engine(node.settings.database_url, keys=keyring(node.settings))
    try:
        with transaction(make_sessionmaker(engine)) as db:
            account = identity.find_account_by_username(db_session=db, username="zhangsan")
            assert account is not None
            ratings.rate(db_session=db, actor=identity.actor_from_account(account),
                         case_number=number, channel="online", level=5)
            metrics.refresh(db_session=db)
            head = identity.find_account_by_username(db_session=db, username="head-cd")
            assert head is not None
            start, end = default_span(calendar.now_local_date())
            report = metrics.report(db_session=db, actor=identity.actor_from_account(head),
                                    query=metrics.MetricQuery(
                                        from_month=start, to_month=end,
                                        metrics=("good_rating_rate",)))
            (good,) = report.total.values
            assert good.numerator and good.denominator
            return good.numerator, good.denominator
    finally:
        engine.dispose()


def test_the_metrics_dashboard_draws_ranks_maps_and_exports(browser: Browser, node: Node,
                                                            shots: Path) -> None:
    _decided_cases(node)
    good, rated = _good_rating(node)
    page = browser.new_page()
    page.goto(f"{node.url}/login")
    sign_in(page, node, "head-cd")
    page.goto(f"{node.url}/supervision")
    expect(page.locator("#metric-trend[data-chart-ready='1'] svg")).to_be_visible()
    expect(page.locator("#metric-ranking[data-chart-ready='1'] svg")).to_be_visible()
    expect(page.locator("#metric-map[data-chart-ready='1'] svg path").first).to_be_visible()
    mapped = page.evaluate("""() => {
        const chart = echarts.getInstanceByDom(document.getElementById('metric-map'));
        return chart.getOption().series[0].data; }""")
    assert {"name": "四川", "value": 100} in mapped
    expect(page.locator("li[data-metric='on_time_rate'] [data-value]")).to_have_text("100.0%")
    card = page.locator("li[data-metric='good_rating_rate']")
    expect(card.locator("[data-value]")).to_have_text(f"{good / rated * 100:.1f}%")
    expect(card).to_contain_text(f"{good}/{rated}")
    page.locator("#metric-map").scroll_into_view_if_needed()
    shot(page, shots, "30-supervision-metrics")

    page.get_by_label("排名与地图指标").select_option("fully_online_rate")
    page.get_by_role("button", name="查看").click()
    expect(page.locator("#metrics h3").nth(1)).to_contain_text("全程网办率")
    expect(page.locator("#metric-ranking-table")).to_contain_text("成都")
    ranked = page.evaluate("""() => echarts.getInstanceByDom(
        document.getElementById('metric-ranking')).getOption().series[0].name""")
    assert ranked == "全程网办率"

    with page.expect_download() as download:
        page.locator("#metric-export").click()
    data = Path(download.value.path()).read_bytes()
    sheet = load_workbook(io.BytesIO(data))["指标"]
    assert any(row[0] == "合计" for row in sheet.iter_rows(values_only=True))

    page.goto(f"{node.url}/supervision?from=2026-13")
    expect(page.get_by_text("YYYY-MM")).to_be_visible()
    assert json.dumps(mapped)  # the map's data is plain JSON the page carried
