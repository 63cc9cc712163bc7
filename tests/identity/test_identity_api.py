"""The identity API: login, people (masked, encrypted at rest), enterprises, accounts,
agent authorisations, and the role and scope rules stated as data."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from tests.pii_scan import database_bytes
from tongban.audit.models import AuditEntry
from tongban.db import utcnow
from tongban.identity.deps import SESSION_COOKIE
from tongban.identity.ids import make_resident_id, make_uscc
from tongban.identity.models import Person

from .conftest import PASSWORD, AccountMaker

API = "/api/v1"
ID_CHENGDU = make_resident_id("510104", date(1990, 5, 17), 123)
ID_BEIJING = make_resident_id("110101", date(1985, 11, 2), 246)
Login = Callable[[str], dict[str, str]]


@pytest.fixture
def clerk(make_account: AccountMaker, auth: Login) -> dict[str, str]:
    make_account("wang.clerk", ["clerk"], [("510104", None)])
    return auth("wang.clerk")


@pytest.fixture
def operator(make_account: AccountMaker, auth: Login) -> dict[str, str]:
    make_account("ops", ["operator"], [("510000", None)])
    return auth("ops")


def _register(client: TestClient, headers: dict[str, str], number: str = ID_CHENGDU,
              **extra: Any) -> dict[str, Any]:
    resp = client.post(f"{API}/people", headers=headers,
                       json={"name": "张三", "id_number": number, **extra})
    assert resp.status_code == 201, resp.text
    body: dict[str, Any] = resp.json()
    return body


# --- login --------------------------------------------------------------------------


def test_login_sets_an_httponly_lax_cookie_and_me_works_with_it(
    client: TestClient, make_account: AccountMaker
) -> None:
    make_account("wang.clerk", ["clerk", "reviewer"], [("510104", None)])
    resp = client.post(f"{API}/auth/login", json={"username": "wang.clerk",
                                                   "password": PASSWORD})
    assert resp.status_code == 200
    body = resp.json()
    assert body["account"]["roles"] == ["clerk", "reviewer"]
    assert body["account"]["scopes"] == [{"region_code": "510104", "department_id": None}]
    assert "password_hash" not in body["account"]
    cookie = resp.headers["set-cookie"]
    assert f"{SESSION_COOKIE}={body['token']}" in cookie
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    me = client.get(f"{API}/auth/me")  # the cookie alone
    assert me.status_code == 200 and me.json()["account"]["username"] == "wang.clerk"
    csrf = {"X-CSRF-Token": body["csrf_token"]}  # a cookie caller's writes carry it
    assert client.post(f"{API}/auth/logout", headers=csrf).status_code == 204
    client.cookies.clear()
    bearer = {"Authorization": f"Bearer {body['token']}"}
    assert client.get(f"{API}/auth/me", headers=bearer).status_code == 401


def test_a_write_authenticated_by_the_cookie_alone_needs_the_csrf_header(
        client: TestClient, make_account: AccountMaker, db_session: Session) -> None:
    make_account("wang.clerk", ["clerk"], [("510104", None)])
    body = client.post(f"{API}/auth/login", json={"username": "wang.clerk",
                                                   "password": PASSWORD}).json()
    person = {"name": "张三", "id_number": ID_CHENGDU}
    for headers in ({}, {"X-CSRF-Token": "forged.forged"},
                    {"X-CSRF-Token": body["csrf_token"].replace(".", "x.")}):
        refused = client.post(f"{API}/people", json=person, headers=headers)
        assert refused.status_code == 403 and refused.json()["error"] == "csrf"
        assert "请求已过期或来源无效" in refused.json()["message"]
        assert client.post(f"{API}/auth/logout", headers=headers).status_code == 403
    assert db_session.scalar(select(func.count()).select_from(Person)) == 0
    assert client.get(f"{API}/auth/me").status_code == 200  # not logged out either
    made = client.post(f"{API}/people", json=person,
                       headers={"X-CSRF-Token": body["csrf_token"]})
    assert made.status_code == 201
    # A bearer token is never sent by a browser on its own: no CSRF header needed.
    client.cookies.clear()
    bearer = {"Authorization": f"Bearer {body['token']}"}
    assert client.post(f"{API}/auth/logout", headers=bearer).status_code == 204


def test_bearer_logout_ends_the_session(client: TestClient, clerk: dict[str, str]) -> None:
    assert client.get(f"{API}/auth/me", headers=clerk).status_code == 200
    assert client.post(f"{API}/auth/logout", headers=clerk).status_code == 204
    resp = client.get(f"{API}/auth/me", headers=clerk)
    assert resp.status_code == 401 and resp.json()["error"] == "unauthenticated"


def test_an_expired_session_is_refused(client: TestClient, clerk: dict[str, str],
                                       db_session: Session) -> None:
    db_session.execute(text("UPDATE identity_sessions SET expires_at = :t"),
                       {"t": utcnow() - timedelta(seconds=1)})
    db_session.commit()
    assert client.get(f"{API}/auth/me", headers=clerk).status_code == 401


@pytest.mark.parametrize("body", [
    {"username": "wang.clerk", "password": "nope-nope-1"},
    {"username": "ghost", "password": PASSWORD},
    {"username": "wang.clerk"},
])
def test_bad_logins_are_refused(client: TestClient, make_account: AccountMaker,
                                body: dict[str, str]) -> None:
    make_account("wang.clerk", ["clerk"], [("510104", None)])
    resp = client.post(f"{API}/auth/login", json=body)
    assert resp.status_code in {401, 422}
    assert resp.json()["error"] in {"unauthenticated", "invalid"}
    assert "token" not in resp.json()


# --- people: masked in every response, encrypted at rest ----------------------------


def test_id_numbers_are_masked_in_every_response(client: TestClient,
                                                 clerk: dict[str, str]) -> None:
    person = _register(client, clerk, phone="13800001234")
    masked = "510***********" + ID_CHENGDU[-4:]
    assert person["id_number_masked"] == masked
    responses = [
        client.get(f"{API}/people/{person['id']}", headers=clerk),
        client.get(f"{API}/people", params={"id_number": ID_CHENGDU}, headers=clerk),
    ]
    for resp in responses:
        assert resp.status_code == 200
        assert ID_CHENGDU not in resp.text and "13800001234" not in resp.text
    assert responses[1].json()[0]["id"] == person["id"]
    assert client.get(f"{API}/people", params={"id_number": ID_BEIJING},
                      headers=clerk).json() == []


def test_reveal_returns_the_number_and_is_audited(client: TestClient, clerk: dict[str, str],
                                                  db_session: Session) -> None:
    person = _register(client, clerk)
    resp = client.post(f"{API}/people/{person['id']}/reveal", headers=clerk,
                       json={"purpose": "窗口核验身份证件"})
    assert resp.status_code == 200 and resp.json()["id_number"] == ID_CHENGDU
    entry = db_session.scalar(select(AuditEntry).where(
        AuditEntry.action == "person.reveal_id_number", AuditEntry.entity_id == person["id"]))
    assert entry is not None and entry.details["purpose"] == "窗口核验身份证件"
    assert entry.actor_name == "Wang.Clerk"
    assert ID_CHENGDU not in str(entry.details)


def _fresh_number() -> str:
    """A number no other test (of any domain) in this database file can have written."""
    born = date(1950, 1, 1) + timedelta(days=secrets.randbelow(25000))
    return make_resident_id("510104", born, secrets.randbelow(1000))


def test_id_and_phone_numbers_are_not_stored_in_plain_text(
    client: TestClient, clerk: dict[str, str], engine: Engine, db_session: Session
) -> None:
    numbers = [_fresh_number() for _ in range(3)]
    phones = [f"139{secrets.randbelow(10**8):08d}" for _ in numbers]
    for number, phone in zip(numbers, phones, strict=True):
        _register(client, clerk, number, phone=phone)
    assert db_session.scalar(select(func.count()).select_from(Person)) == 3
    stored = database_bytes(engine)
    for secret in numbers + phones:
        assert secret.encode() not in stored
        assert secret.encode("utf-16-le") not in stored
    assert numbers[0][-4:].encode() in stored  # the masked form is there, so we did look


# --- bad input: clear 4xx naming the field, never a 500, nothing half-written --------


BAD_PEOPLE = [
    ({"name": "张三", "id_number": "51010419900517123"}, 422, "id_number"),
    ({"name": "张三", "id_number": ID_CHENGDU[:17] + ("0" if ID_CHENGDU[17] != "0" else "1")},
     422, "id_number"),
    ({"name": "张三", "id_number": "510104199002301234"}, 422, "id_number"),
    ({"name": " ", "id_number": ID_BEIJING}, 422, "name"),
    ({"name": "张三", "id_number": ID_BEIJING, "phone": "call me"}, 422, "phone"),
    ({"name": "张三", "id_number": ID_CHENGDU}, 409, "id_number"),  # registered below
]


def test_bad_people_input(client: TestClient, clerk: dict[str, str],
                          db_session: Session) -> None:
    _register(client, clerk)
    for body, status, field in BAD_PEOPLE:
        resp = client.post(f"{API}/people", headers=clerk, json=body)
        assert resp.status_code == status, (body, resp.text)
        assert resp.json()["details"]["field"] == field, body
    assert db_session.scalar(select(func.count()).select_from(Person)) == 1


def _bad_request_cases(dept_id: str) -> list[tuple[str, str, dict[str, Any], int, str]]:
    staff = {"username": "li.reviewer", "password": PASSWORD, "display_name": "李审核",
             "roles": ["reviewer"], "scopes": [{"region_code": "510104"}]}
    code = make_uscc("9", "1", "510104", "MA6CABCD")
    return [
        ("post", "/accounts", {**staff, "username": "ops"}, 409, "username"),
        ("post", "/accounts", {**staff, "password": ""}, 422, "password"),
        ("post", "/accounts", {**staff, "password": "12345678"}, 422, "password"),
        ("post", "/accounts", {**staff, "scopes": []}, 422, "scopes"),
        ("post", "/accounts", {**staff, "scopes": [{"region_code": "999999"}]}, 422, "scopes"),
        ("post", "/accounts", {**staff, "scopes": [{"region_code": "510104",
                                                     "department_id": dept_id}]}, 422, "scopes"),
        ("post", "/accounts", {**staff, "roles": ["applicant"], "scopes": []}, 422,
         "person_id"),
        ("post", "/accounts", {**staff, "roles": ["emperor"]}, 422, "roles"),
        ("post", "/accounts", {**staff, "username": "李"}, 422, "username"),
        ("post", "/enterprises", {"name": "某公司", "credit_code": code[:17] + "0"
                                  if code[17] != "0" else code[:17] + "1"}, 422, "credit_code"),
        ("post", "/enterprises", {"name": "某公司", "credit_code": "91510104MA6C"}, 422,
         "credit_code"),
        ("post", "/enterprises", {"name": "某公司", "credit_code": code,
                                  "region_code": "999999"}, 422, "region_code"),
        ("get", "/people?id_number=12345", {}, 422, "id_number"),
        ("get", "/enterprises?credit_code=XYZ", {}, 422, "credit_code"),
    ]


def test_bad_account_and_enterprise_input(client: TestClient, operator: dict[str, str],
                                          make_account: AccountMaker) -> None:
    make_account("wang.clerk", ["clerk", "operator"], [("510104", None)])
    for method, path, body, status, field in _bad_request_cases(str(uuid.uuid4())):
        kwargs: dict[str, Any] = {"json": body} if method == "post" else {}
        resp = client.request(method.upper(), f"{API}{path}", headers=operator, **kwargs)
        assert resp.status_code == status, (path, body, resp.text)
        assert resp.json()["details"]["field"] == field, (path, body)


def test_duplicate_credit_code_is_a_conflict(client: TestClient, clerk: dict[str, str]) -> None:
    code = make_uscc("Y", "1", "510104", "MA6CABCD")  # letter-first: 其他
    first = client.post(f"{API}/enterprises", headers=clerk,
                        json={"name": "某社会团体", "credit_code": code})
    assert first.status_code == 201 and first.json()["region_code"] == "510104"
    again = client.post(f"{API}/enterprises", headers=clerk,
                        json={"name": "另一个", "credit_code": code.lower()})
    assert again.status_code == 409 and again.json()["details"]["field"] == "credit_code"
    found = client.get(f"{API}/enterprises", params={"credit_code": code}, headers=clerk)
    assert [e["id"] for e in found.json()] == [first.json()["id"]]
    one = client.get(f"{API}/enterprises/{first.json()['id']}", headers=clerk)
    assert one.json()["credit_code"] == code


@pytest.mark.parametrize(("method", "path", "body"), [
    ("post", "/people", {"name": "张三"}),
    ("get", "/people/not-a-uuid", None),
    ("post", "/agent-authorisations", {"agent_account_id": str(uuid.uuid4()),
                                       "valid_until": "2030-01-01T00:00:00"}),  # naive
    ("post", "/accounts", {"username": "x"}),
])
def test_malformed_requests_name_the_field(client: TestClient, operator: dict[str, str],
                                           method: str, path: str, body: Any) -> None:
    resp = client.request(method.upper(), f"{API}{path}", headers=operator, json=body)
    assert resp.status_code == 422
    assert resp.json()["error"] == "invalid" and resp.json()["details"][0]["field"]


def test_operators_create_staff_accounts_with_roles_and_scopes(
    client: TestClient, operator: dict[str, str], db_session: Session
) -> None:
    resp = client.post(f"{API}/accounts", headers=operator, json={
        "username": "Li.Reviewer", "password": PASSWORD, "display_name": "李审核",
        "roles": ["reviewer", "clerk"], "scopes": [{"region_code": "510100"}]})
    assert resp.status_code == 201, resp.text
    account = resp.json()
    assert account["username"] == "li.reviewer" and account["roles"] == ["clerk", "reviewer"]
    assert client.get(f"{API}/accounts/{account['id']}", headers=operator).status_code == 200
    entry = db_session.scalar(select(AuditEntry).where(AuditEntry.entity_id == account["id"]))
    assert entry is not None and entry.action == "account.create" and entry.actor_name == "Ops"


# --- roles and scopes, as data ------------------------------------------------------


@dataclass
class World:
    client: TestClient
    person_id: str


def _reveal(w: World, h: dict[str, str]) -> int:
    return w.client.post(f"{API}/people/{w.person_id}/reveal", headers=h,
                         json={"purpose": "核验"}).status_code


def _lookup(w: World, h: dict[str, str]) -> int:
    return w.client.get(f"{API}/people", params={"id_number": ID_CHENGDU},
                        headers=h).status_code


def _view(w: World, h: dict[str, str]) -> int:
    return w.client.get(f"{API}/people/{w.person_id}", headers=h).status_code


def _register_person(w: World, h: dict[str, str]) -> int:
    return w.client.post(f"{API}/people", headers=h,
                         json={"name": "李四", "id_number": _fresh_number()}).status_code


def _create_staff(w: World, h: dict[str, str]) -> int:
    return w.client.post(f"{API}/accounts", headers=h, json={
        "username": f"clerk.{secrets.token_hex(4)}", "password": PASSWORD,
        "display_name": "新窗口", "roles": ["clerk"], "scopes": [{"region_code": "510104"}],
    }).status_code


def _create_enterprise(w: World, h: dict[str, str]) -> int:
    body = "MA" + "".join(secrets.choice("0123456789ABCDEF") for _ in range(6))
    return w.client.post(f"{API}/enterprises", headers=h, json={
        "name": "某公司", "credit_code": make_uscc("9", "1", "510104", body)}).status_code


ACTIONS: dict[str, Callable[[World, dict[str, str]], int]] = {
    "reveal": _reveal, "lookup": _lookup, "view": _view, "register_person": _register_person,
    "create_staff": _create_staff, "create_enterprise": _create_enterprise,
}

# (role, scope region, action, expected status). 510104 is the person's home district.
ROLE_SCOPE_TABLE = [
    ("clerk", "510104", "reveal", 200),
    ("clerk", "510100", "reveal", 200),
    ("clerk", "510000", "reveal", 200),
    ("clerk", "100000", "reveal", 200),
    ("clerk", "510107", "reveal", 403),
    ("clerk", "110000", "reveal", 403),
    ("reviewer", "510104", "reveal", 200),
    ("reviewer", "110101", "reveal", 403),
    ("supervisor", "510000", "reveal", 403),
    ("operator", "510000", "reveal", 403),
    ("catalog_admin", "510000", "reveal", 403),
    ("self", None, "reveal", 200),
    ("other_applicant", None, "reveal", 403),
    ("anonymous", None, "reveal", 401),
    ("clerk", "110000", "lookup", 200),
    ("reviewer", "510104", "lookup", 200),
    ("operator", "510000", "lookup", 200),
    ("supervisor", "510000", "lookup", 403),
    ("data_steward", "510000", "lookup", 403),
    ("self", None, "lookup", 403),
    ("anonymous", None, "lookup", 401),
    ("supervisor", "510000", "view", 200),
    ("clerk", "110000", "view", 200),
    ("catalog_admin", "510000", "view", 403),
    ("self", None, "view", 200),
    ("other_applicant", None, "view", 403),
    ("anonymous", None, "view", 401),
    ("clerk", "510104", "register_person", 201),
    ("operator", "510000", "register_person", 201),
    ("reviewer", "510104", "register_person", 403),
    ("self", None, "register_person", 403),
    ("operator", "510000", "create_staff", 201),
    ("clerk", "510104", "create_staff", 403),
    ("supervisor", "510000", "create_staff", 403),
    ("anonymous", None, "create_staff", 401),
    ("clerk", "510104", "create_enterprise", 201),
    ("operator", "510000", "create_enterprise", 201),
    ("reviewer", "510104", "create_enterprise", 403),
    ("self", None, "create_enterprise", 403),
]


def _callers(client: TestClient, make_account: AccountMaker, auth: Login,
             clerk: dict[str, str], person_id: str) -> dict[tuple[str, str | None], dict[str, str]]:
    """One signed-in caller per (role, scope region) in the table."""
    other = _register(client, clerk, ID_BEIJING)
    make_account("zhang.san", ["applicant"], person_id=uuid.UUID(person_id))
    make_account("li.si", ["applicant"], person_id=uuid.UUID(other["id"]))
    callers: dict[tuple[str, str | None], dict[str, str]] = {
        ("anonymous", None): {}, ("self", None): auth("zhang.san"),
        ("other_applicant", None): auth("li.si")}
    for role, region, *_ in ROLE_SCOPE_TABLE:
        if (role, region) not in callers:
            username = f"{role.replace('_', '.')}.{region}"
            make_account(username, [role], [(region or "510000", None)])
            callers[(role, region)] = auth(username)
    return callers


def test_role_and_scope_rules(client: TestClient, make_account: AccountMaker, auth: Login,
                              clerk: dict[str, str]) -> None:
    """Every row of ROLE_SCOPE_TABLE holds (all rows run; mismatches are listed together)."""
    person = _register(client, clerk)
    world = World(client, person["id"])
    callers = _callers(client, make_account, auth, clerk, person["id"])
    wrong = [
        (role, region, action, expected, got)
        for role, region, action, expected in ROLE_SCOPE_TABLE
        if (got := ACTIONS[action](world, callers[(role, region)])) != expected
    ]
    assert wrong == [], "(role, scope, action, expected, got)"


# --- agent authorisations over HTTP -------------------------------------------------


def test_agent_authorisation_lifecycle(client: TestClient, clerk: dict[str, str],
                                       make_account: AccountMaker, auth: Login,
                                       db_session: Session) -> None:
    principal = _register(client, clerk)
    helper = _register(client, clerk, ID_BEIJING)
    make_account("zhang.san", ["applicant"], person_id=uuid.UUID(principal["id"]))
    agent = make_account("zhao.agent", ["agent"], person_id=uuid.UUID(helper["id"]))
    me, agent_h = auth("zhang.san"), auth("zhao.agent")
    until = (utcnow() + timedelta(days=30)).isoformat()
    resp = client.post(f"{API}/agent-authorisations", headers=me, json={
        "agent_account_id": str(agent.id), "principal_person_id": principal["id"],
        "item_codes": ["000201001000"], "valid_until": until})
    assert resp.status_code == 201, resp.text
    auth_id = resp.json()["id"]
    listed = client.get(f"{API}/agent-authorisations", headers=agent_h).json()
    assert [a["id"] for a in listed] == [auth_id]
    stranger_try = client.post(f"{API}/agent-authorisations", headers=agent_h, json={
        "agent_account_id": str(agent.id), "principal_person_id": principal["id"],
        "valid_until": until})
    assert stranger_try.status_code == 403
    acting = client.post(f"{API}/auth/acting-for", headers=agent_h,
                         json={"authorisation_id": auth_id})
    assert acting.status_code == 200 and acting.json()["acting_for_authorisation_id"] == auth_id
    assert client.get(f"{API}/auth/me", headers=agent_h).json()[
        "acting_for_authorisation_id"] == auth_id
    assert client.post(f"{API}/auth/acting-for", headers=me,
                       json={"authorisation_id": auth_id}).status_code == 403
    assert client.delete(f"{API}/auth/acting-for", headers=agent_h).json()[
        "acting_for_authorisation_id"] is None
    revoked = client.post(f"{API}/agent-authorisations/{auth_id}/revoke", headers=me,
                          json={"reason": "不再需要"})
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    again = client.post(f"{API}/agent-authorisations/{auth_id}/revoke", headers=me)
    assert again.status_code == 409
    actions = db_session.scalars(select(AuditEntry.action).where(
        AuditEntry.entity_id == auth_id).order_by(AuditEntry.at, AuditEntry.id)).all()
    assert actions == ["agent_authorisation.create", "account.act_for",
                       "agent_authorisation.revoke"]
