"""跨省通办 at the window of a federated node, through its pages: the clerk delivers a
forwarded case's result once the handling node's decision has arrived (and is told why
not before), lists this node's forwarded cases with a 待送达 filter, starts a 多地联办
joint application and follows each node's part, and reads the 数据回流 records of the
region's people. Out-of-scope staff get 404, forms without the CSRF token 403, bad
input a clear 4xx, and none of these write anything."""

from __future__ import annotations

import re
import uuid
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.federation.conftest import fed  # noqa: F401  (the three-node federation)
from tests.federation.harness import PASSWORD, PEOPLE, Federation, Node
from tests.federation.test_federation_modes import (
    HUKOU_IN_SH,
    HUKOU_OUT_SC,
    PDF,
    _decide,
    act,
    code_of,
    complete,
    form,
    handling_case,
)
from tests.web.browser import BrowserClient
from tests.web.test_web_csrf import snapshot
from tests.web.test_web_forwarding import _clerk, _person_link
from tongban.cases import service as cases
from tongban.cases.models import CaseMaterial
from tongban.federation.models import ForwardedCase, JointCase
from tongban.identity import service as identity
from tongban.identity.actor import SYSTEM_ACTOR
from tongban.identity.ids import make_resident_id

PICKUP = {"method": "pickup", "pickup_window": "成都市政务服务中心 3 号窗口"}


def _signed_in(node: Node, username: str) -> BrowserClient:
    client = BrowserClient(node.client.app, base_url=node.url)
    client.get("/login")
    signed = client.post("/login", data={"username": username, "password": PASSWORD,
                                         "next": "/workbench"}, follow_redirects=False)
    assert signed.status_code == 303, signed.text
    client.get(signed.headers["location"])
    return client


def _staff(node: Node, role: str, region: str) -> BrowserClient:
    """A new staff member of the node, scoped to `region`, signed in."""
    username = f"{role}-{region}-{uuid.uuid4().hex[:8]}"
    with node.session() as s:
        identity.create_account(db_session=s, actor=SYSTEM_ACTOR, username=username,
                                password=PASSWORD, display_name=f"{role} {region}",
                                roles=[role], scopes=[(region, None)])
    return _signed_in(node, username)


def _lookup(client: TestClient, login: str = "zhangwei", q: str = "户口") -> str:
    _name, home, born, seq, _ = PEOPLE[login]
    found = client.post("/workbench/intake", data={
        "id_number": make_resident_id(home, born, seq), "q": q})
    assert found.status_code == 200
    return found.text


def _forward(federation: Federation, client: TestClient) -> tuple[str, str]:
    """Receive 张伟's 户口迁入 for 上海 at 四川's window; (forwarded-case path, remote number)."""
    code = code_of(federation.sc, HUKOU_IN_SH)
    form_page = client.get(_person_link(_lookup(client), code)).text
    hidden = dict(re.findall(r'name="(_key|_person)" value="([^"]+)"', form_page))
    fields = {k: str(v) for k, v in form("zhangwei", HUKOU_IN_SH).items()}
    done = client.post(f"/workbench/intake/forward/{code}", data={
        **fields, **hidden, "identity_checked": "on", "form_checked": "on"},
        files={"file_application_form": ("申请表.pdf", PDF, "application/pdf")},
        follow_redirects=False)
    assert done.status_code == 303, done.text
    federation.pump()
    page = client.get(done.headers["location"]).text
    number = re.search(r"<dd>(31\d{18})</dd>", page)
    assert number, "the handling node opened its case"
    return done.headers["location"], number.group(1)


def _forwarded_row(federation: Federation, path: str) -> ForwardedCase:
    with federation.sc.read() as s:
        row = s.get(ForwardedCase, uuid.UUID(path.rsplit("/", 1)[1]))
        assert row is not None
        return row


def test_the_window_delivers_the_result_once_the_handling_region_has_decided(
        fed: Federation) -> None:  # noqa: F811
    clerk = _clerk(fed.sc)
    path, number = _forward(fed, clerk)
    fc_id = path.rsplit("/", 1)[1]

    waiting = clerk.get(path).text
    assert 'data-stage="waiting"' in waiting and "办理地尚未作出决定，暂不能送达" in waiting
    assert 'id="deliver-form"' not in waiting
    before = snapshot(fed.sc.engine, fed.sc.settings)
    early = clerk.post(f"{path}/deliver", data=PICKUP)
    assert early.status_code == 409 and "办理地尚未作出决定，暂不能送达" in early.text
    assert snapshot(fed.sc.engine, fed.sc.settings) == before

    complete(fed.sh, number)
    act(fed.sh, number, "clerk", "accept")
    act(fed.sh, number, "reviewer", "approve")
    fed.pump()
    ready = clerk.get("/workbench/forwarded?show=ready").text
    assert f'data-forwarded="{fc_id}" data-stage="ready"' in ready and "待送达" in ready
    page = clerk.get(path).text
    assert 'data-decision="approved"' in page and 'id="deliver-form"' in page
    assert re.search(r'id="deliver-form".*?name="csrf_token"', page, flags=re.S)

    before = snapshot(fed.sc.engine, fed.sc.settings)
    no_tracking = clerk.post(f"{path}/deliver", data={"method": "post", "carrier": "EMS"})
    assert no_tracking.status_code == 422 and "邮寄送达须填写快递单号" in no_tracking.text
    assert 'value="EMS"' in no_tracking.text  # what was typed is kept
    clerk.send_csrf = False
    forged = clerk.post(f"{path}/deliver", data=PICKUP)
    clerk.send_csrf = True
    assert forged.status_code == 403 and "请求已过期" in forged.text
    assert snapshot(fed.sc.engine, fed.sc.settings) == before

    done = clerk.post(f"{path}/deliver", data=PICKUP, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == path
    delivered = clerk.get(path).text
    assert 'data-stage="delivered"' in delivered and "已送达" in delivered
    assert "成都市政务服务中心 3 号窗口" in delivered and 'data-method="pickup"' in delivered
    assert f'data-forwarded="{fc_id}"' not in clerk.get("/workbench/forwarded?show=ready").text
    assert _forwarded_row(fed, path).delivered_at is not None

    fed.pump()
    assert handling_case(fed.sh, number).state == "delivered"
    mirrored = clerk.get(path).text
    assert 'data-state="delivered"' in mirrored and "办理地：送达" in mirrored
    again = clerk.post(f"{path}/deliver", data=PICKUP)
    assert again.status_code == 409 and "该办件已送达" in again.text

    # 数据回流: 张伟 lives in 锦江区 (四川), so 四川 holds the result of 上海's case.
    results = clerk.get("/workbench/results").text
    row = re.search(rf'<tr data-result="{number}">.*?</tr>', results, flags=re.S)
    assert row and "张伟" in row.group(0) and "准予" in row.group(0)


def test_the_forwarded_list_is_linked_from_the_navigation_and_filters(
        fed: Federation) -> None:  # noqa: F811
    clerk = _clerk(fed.sc)
    path, _number = _forward(fed, clerk)
    fc_id = path.rsplit("/", 1)[1]
    home = clerk.get("/workbench").text
    assert 'href="/workbench/forwarded"' in home
    listed = clerk.get("/workbench/forwarded").text
    assert f'data-forwarded="{fc_id}" data-stage="waiting"' in listed
    assert "异地代收代办" in listed and "上海市" in listed
    assert f'data-forwarded="{fc_id}"' not in clerk.get("/workbench/forwarded?show=ready").text
    english = clerk.get("/workbench/forwarded?lang=en").text
    assert "Forwarded cases" in english and "Ready to deliver" in english


def test_staff_out_of_scope_see_no_forwarded_case_and_deliver_nothing(
        fed: Federation) -> None:  # noqa: F811
    path, number = _forward(fed, _clerk(fed.sc))
    complete(fed.sh, number)
    act(fed.sh, number, "clerk", "accept")
    act(fed.sh, number, "reviewer", "approve")
    fed.pump()
    fc_id = path.rsplit("/", 1)[1]
    for region in ("500000", "510104"):  # another province; a district below the node's
        outsider = _staff(fed.sc, "clerk", region)
        assert outsider.get(path).status_code == 404
        assert f'data-forwarded="{fc_id}"' not in outsider.get("/workbench/forwarded").text
        before = snapshot(fed.sc.engine, fed.sc.settings)
        refused = outsider.post(f"{path}/deliver", data=PICKUP)
        assert refused.status_code == 404 and "没有该转办件" in refused.text
        assert snapshot(fed.sc.engine, fed.sc.settings) == before
    applicant = _signed_in(fed.sc, fed.sc.usernames["zhangwei"])
    assert applicant.get(path).status_code == 403
    assert applicant.get("/workbench/results").status_code == 403
    assert _forwarded_row(fed, path).delivered_at is None


def test_result_records_are_shown_to_staff_whose_scope_holds_the_persons_home(
        fed: Federation) -> None:  # noqa: F811
    _path, number = _forward(fed, _clerk(fed.sc))
    complete(fed.sh, number)
    act(fed.sh, number, "clerk", "accept")
    act(fed.sh, number, "reviewer", "approve")
    fed.pump()
    district = _staff(fed.sc, "supervisor", "510104").get("/workbench/results").text
    assert f'data-result="{number}"' in district  # 张伟's home is 锦江区
    city = _staff(fed.sc, "supervisor", "510100").get("/workbench/results").text
    assert f'data-result="{number}"' in city  # 成都市 holds 锦江区
    other = _staff(fed.sc, "supervisor", "500000").get("/workbench/results").text
    assert f'data-result="{number}"' not in other and "暂无回流数据" in other


def _joint_form(client: TestClient, kind: str, person: str, **picked: str) -> Any:
    return client.get(f"/workbench/intake/joint/{kind}", params={"person": person, **picked})


def test_a_joint_application_is_started_at_the_window_and_followed_per_region(
        fed: Federation) -> None:  # noqa: F811
    clerk = _clerk(fed.sc)
    intake = _lookup(clerk, q="")
    link = re.search(r'href="/workbench/intake/joint/hukou_migration\?person=([0-9a-f-]+)"',
                     intake)
    assert link and 'id="joint-kinds"' in intake
    person = link.group(1)
    out_code, in_code = code_of(fed.sc, HUKOU_OUT_SC), code_of(fed.sc, HUKOU_IN_SH)

    roles = _joint_form(clerk, "hukou_migration", person).text
    assert "迁出地" in roles and "迁入地" in roles and out_code in roles and in_code in roles
    assert 'id="joint-form"' not in roles  # no form until each region has its item
    wrong = _joint_form(clerk, "hukou_migration", person, impl_0="x" * 31, impl_1=in_code)
    assert "请从列表中选择" in wrong.text and 'id="joint-form"' not in wrong.text
    assert _joint_form(clerk, "no_such_kind", person).status_code == 404

    page = _joint_form(clerk, "hukou_migration", person, impl_0=out_code, impl_1=in_code).text
    assert 'id="joint-form"' in page
    assert page.count('name="id_number"') == 1  # shared fields are asked once
    assert 'name="to_region"' in page and 'name="spouse_name"' in page
    assert page.count('name="file_application_form"') == 1  # collected once for both
    # shared data is not fetched yet: collected as a file like any other material
    assert 'name="file_marriage_cert"' in page and 'name="file_property_info"' in page
    both = {**form("zhangwei", HUKOU_OUT_SC), **form("zhangwei", HUKOU_IN_SH)}
    posted = {"_person": person, "impl_0": out_code, "impl_1": in_code,
              **{k: str(v) for k, v in both.items()}}

    outsider = _staff(fed.sc, "clerk", "500000")
    outsider.get(f"/workbench/intake/joint/hukou_migration?person={person}")
    clerk.get(f"/workbench/intake/joint/hukou_migration?person={person}")
    before = snapshot(fed.sc.engine, fed.sc.settings)
    missing = clerk.post("/workbench/intake/joint/hukou_migration",
                         data={**posted, "id_number": ""})
    assert missing.status_code == 422 and 'data-field-error="id_number"' in missing.text
    clerk.send_csrf = False
    forged = clerk.post("/workbench/intake/joint/hukou_migration", data=posted)
    clerk.send_csrf = True
    assert forged.status_code == 403
    refused = outsider.post("/workbench/intake/joint/hukou_migration", data=posted)
    assert refused.status_code == 403 and "您不是本节点的窗口人员" in refused.text
    assert snapshot(fed.sc.engine, fed.sc.settings) == before

    clerk.get(f"/workbench/intake/joint/hukou_migration?person={person}")
    done = clerk.post("/workbench/intake/joint/hukou_migration", data=posted,
                      files={"file_application_form": ("申请表.pdf", PDF, "application/pdf"),
                             "file_marriage_cert": ("结婚证.pdf", PDF, "application/pdf")},
                      follow_redirects=False)
    assert done.status_code == 303, done.text
    joint_path = done.headers["location"]
    first = clerk.get(joint_path).text
    assert 'data-joint-state="open"' in first and first.count('data-state="forwarding"') == 2
    fed.pump()
    opened = clerk.get(joint_path).text
    numbers = dict(re.findall(r'data-task="(迁出地|迁入地)".*?<td[^>]*>(\d{20})</td>', opened,
                              flags=re.S))
    assert set(numbers) == {"迁出地", "迁入地"}
    assert numbers["迁出地"].startswith("51") and numbers["迁入地"].startswith("31")
    assert "四川省" in opened and "上海市" in opened and "办理地：" in opened
    assert outsider.get(joint_path).status_code == 404
    for node, role, expected in ((fed.sc, "迁出地", ["application_form"]),
                                 (fed.sh, "迁入地", ["application_form", "marriage_cert"])):
        with node.read() as s:
            case = cases.get_case(db_session=s, case_number=numbers[role])
            assert sorted(s.scalars(select(CaseMaterial.material_code).where(
                CaseMaterial.case_id == case.id))) == expected

    _decide(fed.sc, numbers["迁出地"])
    fed.pump()
    half = clerk.get(joint_path).text
    assert 'data-joint-state="open"' in half and 'data-state="approved"' in half
    _decide(fed.sh, numbers["迁入地"])
    fed.pump()
    completed = clerk.get(joint_path).text
    assert 'data-joint-state="completed"' in completed and "已办结" in completed
    with fed.sc.read() as s:
        joint = s.get(JointCase, uuid.UUID(joint_path.rsplit("/", 1)[1]))
        assert joint is not None and joint.state == "completed"
    task = re.search(r'href="(/workbench/forwarded/[0-9a-f-]+)"', completed)
    assert task and 'id="joint-link"' in clerk.get(task.group(1)).text
