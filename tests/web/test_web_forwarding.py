"""代收代办(跨省) at the window, through the web pages of a federated node: the clerk finds
another province's item, records the window's checks, forwards it, and follows the
handling node's case on the forwarded-case page."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from tests.federation.conftest import fed  # noqa: F401  (the three-node federation)
from tests.federation.harness import PASSWORD, PEOPLE, Federation, Node
from tests.federation.test_federation_modes import HUKOU_IN_SH, PDF, code_of, form
from tests.web.browser import BrowserClient
from tests.web.seed_web import WALK_IN_ID, Seeded
from tongban.identity.ids import make_resident_id


def _clerk(node: Node) -> TestClient:
    """A browser-like client of the node's own app, signed in as its clerk."""
    client = BrowserClient(node.client.app, base_url=node.url)
    client.get("/login")
    signed = client.post("/login", data={"username": node.usernames["clerk"],
                                         "password": PASSWORD, "next": "/workbench"},
                         follow_redirects=False)
    assert signed.status_code == 303, signed.text
    client.get(signed.headers["location"])  # land on the workbench, as a browser does
    return client


def _person_link(html: str, code: str) -> str:
    found = re.search(rf'href="(/workbench/intake/forward/{code}\?person=[0-9a-f-]+)"', html)
    assert found, "the other province's item is offered for receive-and-forward"
    return found.group(1)


def test_a_window_receives_for_another_province_and_follows_the_case(
        fed: Federation) -> None:  # noqa: F811
    name, home, born, seq, _ = PEOPLE["zhangwei"]
    code = code_of(fed.sc, HUKOU_IN_SH)
    client = _clerk(fed.sc)
    found = client.post("/workbench/intake", data={
        "id_number": make_resident_id(home, born, seq), "q": "户口"})
    assert found.status_code == 200 and name in found.text
    page = client.get(_person_link(found.text, code))
    assert page.status_code == 200 and 'id="window-checks"' in page.text
    assert 'name="file_id_card"' in page.text  # a licence material: its original, scanned
    key = re.search(r'name="_key" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    person = re.search(r'name="_person" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    fields = {k: str(v) for k, v in form("zhangwei", HUKOU_IN_SH).items()}

    unchecked = client.post(f"/workbench/intake/forward/{code}",
                            data={**fields, "_key": key, "_person": person})
    assert unchecked.status_code == 422 and "代收窗口须核验身份和表单" in unchecked.text

    nobody = client.post(f"/workbench/intake/forward/{code}",
                         data={**fields, "_key": key, "_person": "not-a-person"})
    assert nobody.status_code == 422 and "须指明申请人" in nobody.text

    def forward() -> Any:
        return client.post(f"/workbench/intake/forward/{code}", data={
            **fields, "_key": key, "_person": person, "identity_checked": "on",
            "form_checked": "on", "check_note": "核验身份证原件"},
            files={"file_application_form": ("申请表.pdf", PDF, "application/pdf")},
            follow_redirects=False)

    done = forward()
    assert done.status_code == 303, done.text
    again = forward()  # a double submit: the same forwarded case, nothing sent twice
    assert again.status_code == 303 and again.headers["location"] == done.headers["location"]
    forwarded = client.get(done.headers["location"]).text
    assert 'data-state="forwarding"' in forwarded and "等待办理地接收" in forwarded
    fed.pump()
    after = client.get(done.headers["location"]).text
    assert re.search(r"<dd>(31\d{18})</dd>", after), "the handling node's case number"
    assert "办理地：提交申请" in after and "窗口收件" in after  # the mirrored history


def test_no_other_province_item_matching_says_so(fed: Federation) -> None:  # noqa: F811
    _name, home, born, seq, _ = PEOPLE["zhangwei"]
    client = _clerk(fed.sc)
    page = client.post("/workbench/intake", data={
        "id_number": make_resident_id(home, born, seq), "q": "zzzz-nothing"})
    assert "没有可代收的外省事项" in page.text


def test_a_node_without_a_federation_says_so(login: Callable[[str], TestClient],
                                             seeded: Seeded) -> None:
    client = login("clerk-cd")
    page = client.post("/workbench/intake", data={"id_number": WALK_IN_ID, "q": ""})
    assert page.status_code == 200 and 'id="not-federated"' in page.text
