"""CSRF: a state-changing page request must carry the token of a page this node rendered
for the same session (or, before sign-in, the same pre-session cookie); without it the
answer is 403 and nothing is read or written. Every POST route of the app is tried, so a
new route that slips past the check fails here."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from tests.web.browser import BrowserClient, page_token
from tests.web.seed_web import PASSWORD, WALK_IN_ID, Seeded
from tests.web.test_web_apply import GOOD, PDF, _apply, _draft_key
from tests.web.test_web_workbench import _submitted_case
from tongban.cases.models import Case
from tongban.config import Settings
from tongban.db import Base
from tongban.identity import csrf
from tongban.identity.models import LoginSession
from tongban.identity.models import Person as PersonRow

WEB = Path(__file__).resolve().parents[2] / "src" / "tongban" / "web"
REFUSED = "请求已过期或来源无效，请刷新页面后重试"
Login = Callable[[str], TestClient]


def _refused(response: Any) -> bool:
    return bool(response.status_code == 403 and REFUSED in response.text)


def web_routes(app: Any) -> list[tuple[str, str]]:
    """(method, path) of every state-changing route that is not the JSON API (FastAPI
    keeps included routers nested: iter_route_contexts walks them all)."""
    return sorted((method, route.path) for route in iter_route_contexts(app.routes)
                  if route.path and not route.path.startswith("/api/")
                  for method in (route.methods or set()) & csrf.UNSAFE_METHODS)


def snapshot(engine: Engine, settings: Settings) -> tuple[Any, ...]:
    """Every row of every table, and every file under the node's var dir."""
    with engine.connect() as conn:
        rows = tuple(tuple(sorted(map(repr, conn.execute(select(table)).all())))
                     for table in Base.metadata.sorted_tables)
    var = Path(settings.var_dir)
    files = tuple(sorted(str(p) for p in var.rglob("*"))) if var.exists() else ()
    return rows, files


@dataclass
class Attempt:
    """One realistic request to a route, made ready by its setup."""

    url: str
    data: dict[str, Any] = field(default_factory=dict)
    files: dict[str, Any] | None = None
    writes: bool = True  # with the token, the request changes the database


def _person_id(db_session: Session, name: str) -> str:
    db_session.expire_all()
    return str(db_session.scalar(select(PersonRow.id).where(PersonRow.name == name)))


def _approved_case(client: TestClient, login: Login, seeded: Seeded) -> str:
    login("zhangsan")
    key = _apply(client, seeded.fund_code, GOOD)
    for code in ("M1", "M3"):  # M3: the ID card's scan (no e-licence is held)
        client.post(f"/apply/{seeded.fund_code}/materials/{code}", data={"draft": key},
                    files={"file": (f"{code}.pdf", PDF, "application/pdf")})
    number = client.post(f"/apply/{seeded.fund_code}/submit", data={"draft": key},
                         follow_redirects=False).headers["location"].split("/")[3]
    number = number.split("?")[0]
    login("clerk-cd")
    for action in ("pre_review_pass", "accept"):
        client.post(f"/workbench/cases/{number}/act/{action}", data={})
    login("reviewer-cd")
    client.post(f"/workbench/cases/{number}/act/approve", data={})
    login("zhangsan")
    return number


def _bundle_case(client: TestClient, login: Login, seeded: Seeded) -> str:
    login("zhangsan")
    page = client.get(f"/bundles/{seeded.bundle_code}").text
    key = re.search(r'name="_key" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    done = client.post(f"/bundles/{seeded.bundle_code}", data={**GOOD, "_key": key},
                       follow_redirects=False)
    return str(done.headers["location"].split("/")[3].split("?")[0])


def _intake_form(client: TestClient, login: Login, db_session: Session, path: str
                 ) -> dict[str, str]:
    login("clerk-cd")
    person = _person_id(db_session, "李四")
    page = client.get(path, params={"person": person}).text
    key = re.search(r'name="_key" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    return {"_key": key, "_person": person}


def _authorisation(client: TestClient, login: Login) -> str:
    page = login("agent-wang").get("/agent/principals").text
    found = re.search(r'name="authorisation_id" value="([^"]+)"', page)
    assert found
    return found.group(1)


def _attempt(route: tuple[str, str], client: TestClient, login: Login, seeded: Seeded,
             db_session: Session) -> Attempt:
    """Set up what the route needs (through the pages, with their tokens) and name the
    request; a route this table does not know yet gets a generic one."""
    upload = {"file": ("合同.pdf", PDF, "application/pdf")}
    fund = seeded.fund_code
    match route[1]:
        case "/login":
            client.cookies.clear()
            client.get("/login")
            return Attempt("/login", {"username": "zhangsan", "password": PASSWORD})
        case "/logout":
            login("zhangsan")
            return Attempt("/logout")
        case "/apply/{code}":
            key = _draft_key(login("zhangsan").get(f"/apply/{fund}").text)
            return Attempt(f"/apply/{fund}", {**GOOD, "_draft": key})
        case "/apply/{code}/materials/{material_code}":
            key = _apply(login("zhangsan"), fund, GOOD)
            return Attempt(f"/apply/{fund}/materials/M1", {"draft": key}, upload)
        case "/apply/{code}/submit":
            key = _apply(login("zhangsan"), fund, GOOD)
            return Attempt(f"/apply/{fund}/submit", {"draft": key})
        case "/my/cases/{number}/act/{action}":
            number = _submitted_case(client, login, seeded)
            return Attempt(f"/my/cases/{number}/act/withdraw", {"reason": "不办了"})
        case "/my/cases/{number}/materials/{material_code}":
            number = _submitted_case(client, login, seeded)
            login("clerk-cd").post(f"/workbench/cases/{number}/act/request_supplement",
                                   data={"material": ["M1"], "reason": "材料不齐"})
            login("zhangsan")
            return Attempt(f"/my/cases/{number}/materials/M1", files=upload)
        case "/my/cases/{number}/rate":
            number = _approved_case(client, login, seeded)
            return Attempt(f"/my/cases/{number}/rate", {"score": "5", "comment": "很快"})
        case "/workbench/cases/{number}/act/{action}":
            number = _submitted_case(client, login, seeded)
            login("clerk-cd")
            return Attempt(f"/workbench/cases/{number}/act/pre_review_pass")
        case "/workbench/cases/{number}/materials/{material_code}":
            number = _submitted_case(client, login, seeded)
            login("clerk-cd")
            return Attempt(f"/workbench/cases/{number}/materials/M1", files=upload)
        case "/workbench/intake":
            login("clerk-cd")
            return Attempt("/workbench/intake", {"id_number": WALK_IN_ID, "q": ""})
        case "/workbench/intake/{code}":
            path = f"/workbench/intake/{seeded.residence_code}"
            hidden = _intake_form(client, login, db_session, path)
            return Attempt(path, {**hidden, "name": "李四"})
        case "/workbench/intake/forward/{code}":
            # This node has no federation: the forward fails whatever the token says.
            path = f"/workbench/intake/forward/{seeded.nanjing_code}"
            hidden = _intake_form(client, login, db_session, path)
            return Attempt(path, {**hidden, "name": "李四", "identity_checked": "on",
                                  "form_checked": "on"}, writes=False)
        case "/workbench/forwarded/{forwarded_id}/deliver":
            # No forwarded case on a node without a federation: 404 whatever the token.
            login("clerk-cd")
            return Attempt(f"/workbench/forwarded/{uuid.uuid4()}/deliver",
                           {"method": "pickup", "pickup_window": "3 号窗口"}, writes=False)
        case "/workbench/intake/joint/{kind}":
            # Likewise: joint handling needs a federation.
            hidden = _intake_form(client, login, db_session,
                                  f"/workbench/intake/{seeded.residence_code}")
            return Attempt("/workbench/intake/joint/hukou_migration",
                           {"_person": hidden["_person"]}, writes=False)
        case "/agent/act-for":
            return Attempt("/agent/act-for", {"authorisation_id": _authorisation(client, login)})
        case "/agent/stop":
            client.post("/agent/act-for", data={"authorisation_id": _authorisation(client, login)})
            return Attempt("/agent/stop")
        case "/bundles/{code}":
            page = login("zhangsan").get(f"/bundles/{seeded.bundle_code}").text
            key = re.search(r'name="_key" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
            return Attempt(f"/bundles/{seeded.bundle_code}", {**GOOD, "_key": key})
        case "/my/bundles/{number}/materials/{material_code}":
            number = _bundle_case(client, login, seeded)
            return Attempt(f"/my/bundles/{number}/materials/M1", files=upload)
    login("zhangsan")
    return Attempt(re.sub(r"\{[^}]+\}", "0", route[1]), writes=False)


def test_every_state_changing_page_route_needs_the_token(
        client: BrowserClient, login: Login, seeded: Seeded, db_session: Session,
        engine: Engine, settings: Settings) -> None:
    routes = web_routes(client.app)
    assert ("POST", "/login") in routes and len(routes) >= 15
    someone_else = csrf.issue(settings=settings, session="another-session",
                              presession="another-visitor")
    problems = []
    for route in routes:
        attempt = _attempt(route, client, login, seeded, db_session)
        method, before = route[0], snapshot(engine, settings)
        client.send_csrf = False
        for token in (None, "", someone_else):
            data = attempt.data if token is None else {**attempt.data, "csrf_token": token}
            response = client.request(method, attempt.url, data=data, files=attempt.files,
                                      follow_redirects=False)
            if not _refused(response):
                problems.append(f"{route}: token {token!r} gave {response.status_code}")
            if snapshot(engine, settings) != before:
                problems.append(f"{route}: token {token!r} was refused but wrote")
        client.send_csrf = True
        response = client.request(method, attempt.url, data=attempt.data,
                                  files=attempt.files, follow_redirects=False)
        if _refused(response):
            problems.append(f"{route}: the page's own token was refused")
        elif attempt.writes and snapshot(engine, settings) == before:
            problems.append(f"{route}: with the token it wrote nothing "
                            f"({response.status_code})")
    assert problems == []


def test_submitting_without_the_token_creates_no_case(
        login: Login, seeded: Seeded, db_session: Session) -> None:
    client = login("zhangsan")
    key = _apply(client, seeded.fund_code, GOOD)
    forged = client.post(f"/apply/{seeded.fund_code}/submit",
                         data={"draft": key, "csrf_token": ""}, follow_redirects=False)
    assert forged.status_code == 403
    assert "请求已过期" in forged.text and "please reload the page" in forged.text
    assert 'class="who"' in forged.text  # still shown as signed in, not offered a login
    assert db_session.scalar(select(func.count()).select_from(Case)) == 0
    done = client.post(f"/apply/{seeded.fund_code}/submit", data={"draft": key},
                       follow_redirects=False)
    assert done.status_code == 303
    assert db_session.scalar(select(func.count()).select_from(Case)) == 1


def test_a_token_from_another_session_takes_no_action(
        client: BrowserClient, login: Login, seeded: Seeded, db_session: Session) -> None:
    number = _submitted_case(client, login, seeded)
    applicants_token = client.page_token
    login("clerk-cd")
    acted = client.post(f"/workbench/cases/{number}/act/pre_review_pass",
                        data={"csrf_token": applicants_token})
    assert acted.status_code == 403
    db_session.expire_all()
    case = db_session.scalar(select(Case).where(Case.number == number))
    assert case is not None and case.state == "pre_review"


def test_login_without_the_token_signs_nobody_in(client: BrowserClient, seeded: Seeded,
                                                 db_session: Session) -> None:
    form = client.get("/login")  # the form's token is bound to a new pre-session cookie
    cookie = form.headers["set-cookie"]
    assert "tongban_csrf=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert f'name="csrf_token" value="{page_token(form.text)}"' in form.text
    client.send_csrf = False
    refused = client.post("/login", data={"username": "zhangsan", "password": PASSWORD},
                          follow_redirects=False)
    assert _refused(refused) and "tongban_session" not in refused.headers.get("set-cookie", "")
    assert db_session.scalar(select(func.count()).select_from(LoginSession)) == 0
    signed = client.post("/login", data={"username": "zhangsan", "password": PASSWORD,
                                         "csrf_token": page_token(form.text)},
                         follow_redirects=False)
    assert signed.status_code == 303 and "tongban_session=" in signed.headers["set-cookie"]


def test_htmx_sends_the_token_as_a_header(login: Login, seeded: Seeded,
                                          db_session: Session) -> None:
    client = login("zhangsan")
    page = client.get(f"/apply/{seeded.fund_code}").text
    token = page_token(page)
    assert f'hx-headers=\'{{"X-CSRF-Token": "{token}"}}\'' in page
    client.send_csrf = False
    saved = client.post(f"/apply/{seeded.fund_code}",
                        data={**GOOD, "_draft": _draft_key(page), "_go": "save"},
                        headers={"X-CSRF-Token": token, "HX-Request": "true"})
    assert saved.status_code == 200
    wrong = client.post("/logout", headers={"X-CSRF-Token": "x" + token})
    assert _refused(wrong)


def test_another_origin_is_refused_even_with_the_token(login: Login, seeded: Seeded) -> None:
    client = login("zhangsan")
    for headers in ({"Origin": "https://evil.example"}, {"Origin": "null"},
                    {"Referer": "https://evil.example/page"}):
        assert _refused(client.post("/logout", headers=headers))
    assert "您好" in client.get("/").text  # still signed in
    ours = client.post("/logout", headers={"Origin": "http://testserver"})
    assert ours.status_code == 200 and "您好" not in ours.text


def test_an_upload_script_gets_the_refusal_as_json(login: Login, seeded: Seeded) -> None:
    client = login("zhangsan")
    key = _apply(client, seeded.fund_code, GOOD)
    client.send_csrf = False
    refused = client.post(f"/apply/{seeded.fund_code}/materials/M1", data={"draft": key},
                          files={"file": ("合同.pdf", PDF, "application/pdf")},
                          headers={"X-Requested-With": "XMLHttpRequest"})
    assert refused.status_code == 403
    assert refused.json()["error"] == "csrf" and REFUSED in refused.json()["message"]


def test_every_post_form_in_the_templates_carries_the_token() -> None:
    forms = 0
    for path in (WEB / "templates").rglob("*.html"):
        html = path.read_text(encoding="utf-8")
        for form in re.findall(r"<form\b[^>]*>.*?</form>", html, flags=re.S):
            if re.search(r'method="post"', form, flags=re.I):
                forms += 1
                assert "{{ csrf_input() }}" in form, f"{path.name}: {form[:80]}"
    assert forms >= 15
