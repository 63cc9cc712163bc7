"""帮办代办 in 全程网办: an agent files another region's item for their principal at the
home node; they see that application (only those they filed) in 我的办件, and answer the
handling region's 补正 notice or withdraw it for the principal through the API, the CLI
and the page, as long as an authorisation for the item holds (as for a local case); the
principal sees and answers it too."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from tests.federation.harness import PASSWORD, Federation, Node, b64
from tests.federation.test_federation_modes import (
    API,
    GJJ_SH,
    PDF,
    act,
    code_of,
    form,
    handling_case,
    view,
)
from tests.federation.test_federation_supplements import ITEMS, SCAN
from tests.federation.test_federation_supply_at_home import (  # noqa: F401  (fixture)
    _main,
    _sent,
    _signed_in,
    at_home,
)
from tongban import cli
from tongban.cases.models import CaseEvent
from tongban.db import utcnow
from tongban.federation import modes
from tongban.federation.models import ForwardedCase
from tongban.identity import service as identity
from tongban.identity.actor import SYSTEM_ACTOR

FIELD_ITEMS = [{"field": "phone", "problem": "电话无法接通"}]


def _agent(fed: Federation, items: list[str] | None = None) -> tuple[str, uuid.UUID]:
    """A new agent account at 四川 that 张伟 authorises for `items` (default: Shanghai's
    公积金 transfer); (its key in node.usernames, the authorisation id)."""
    node = fed.sc
    key = f"agent-{uuid.uuid4().hex[:8]}"
    with node.session() as s:
        account = identity.create_account(
            db_session=s, actor=SYSTEM_ACTOR, username=f"{key}.{node.name}",
            password=PASSWORD, display_name=f"代办人{key[-4:]}", roles=["agent"], scopes=[])
        auth = identity.create_agent_authorisation(
            db_session=s, actor=node.actors["zhangwei"], agent_account_id=account.id,
            principal_person_id=node.people["zhangwei"],
            item_codes=items if items is not None else [modes.item_code_of(
                code_of(node, GJJ_SH))],
            valid_until=utcnow() + timedelta(days=30))
        node.actors[key] = identity.actor_from_account(account)
        node.usernames[key] = account.username
        return key, auth.id


def _file(fed: Federation, who: str) -> Any:
    """`who` applies at 四川 for Shanghai's 公积金 transfer in 张伟's name."""
    return fed.sc.client.post(f"{API}/cases", headers=fed.sc.token(who), json={
        "implementation_code": code_of(fed.sc, GJJ_SH), "mode": "fully_online",
        "person_id": str(fed.sc.people["zhangwei"]), "form_data": form("zhangwei", GJJ_SH),
        "materials": [{"code": "application_form", "filename": "申请表.pdf",
                       "content_base64": b64(PDF)}]})


def _filed(fed: Federation, who: str, items: list[dict[str, Any]] | None = None
           ) -> tuple[str, str]:
    """The agent's application, opened at Shanghai and (with `items`) asked to supply."""
    response = _file(fed, who)
    assert response.status_code == 201, response.text
    fed.pump()
    fc_id = response.json()["id"]
    number = view(fed.sc, fc_id, who)["remote_case_number"]
    assert number, "Shanghai opened no case"
    if items:
        act(fed.sh, number, "clerk", "request_supplement", reason="请补正", items=items)
        fed.pump()
    return fc_id, number


def _revoke(fed: Federation, authorisation_id: uuid.UUID) -> None:
    with fed.sc.session() as s:
        identity.revoke_agent_authorisation(db_session=s, actor=fed.sc.actors["zhangwei"],
                                            authorisation_id=authorisation_id,
                                            reason="不再委托")


def _listed(node: Node, who: str) -> set[str]:
    """The forwarded cases 我的办件 lists for `who` (own=True, as the portal asks)."""
    with node.read() as s:
        return {str(fc.id) for fc in modes.list_forwarded(
            db_session=s, settings=node.settings, actor=node.actors[who], own=True)}


def _supply(fed: Federation, fc_id: str, who: str) -> Any:
    return fed.sc.client.post(f"{API}/cases/{fc_id}/supply", headers=fed.sc.token(who),
                              json={"materials": [{"code": "application_form",
                                                   "filename": "申请表(已签名).pdf",
                                                   "content_base64": b64(SCAN)}]})


def _withdraw(fed: Federation, fc_id: str, who: str) -> Any:
    return fed.sc.client.post(f"{API}/cases/{fc_id}/withdraw", headers=fed.sc.token(who),
                              json={"reason": "委托人不再办理"})


def test_an_agent_files_fully_online_for_the_principal_and_both_see_it(
        fed: Federation) -> None:
    agent, authorisation_id = _agent(fed)
    other, _ = _agent(fed)  # authorised for 张伟 too, but did not file this one
    fc_id, number = _filed(fed, agent)
    with fed.sc.read() as s:
        fc = s.get(ForwardedCase, uuid.UUID(fc_id))
        assert fc is not None and fc.agent_authorisation_id == authorisation_id
        assert fc.applicant_person_id == fed.sc.people["zhangwei"]
        assert fc.applicant_account_id is None  # the agent is not the applicant
    assert fc_id in _listed(fed.sc, agent) and fc_id in _listed(fed.sc, "zhangwei")
    assert fc_id not in _listed(fed.sc, other)
    hidden = fed.sc.client.get(f"{API}/cases/{fc_id}", headers=fed.sc.token(other))
    assert hidden.status_code == 404
    listed = fed.sc.client.get(f"{API}/cases", headers=fed.sc.token(agent)).json()
    assert [c["id"] for c in listed] == [fc_id]
    # Shanghai's case is 张伟's, and says who filed it for him
    case = handling_case(fed.sh, number)
    assert case.applicant_name == "张伟"
    with fed.sh.read() as s:
        received = s.scalars(select(CaseEvent).where(
            CaseEvent.case_id == case.id, CaseEvent.action == "federation_received")).one()
    assert received.data["agent"]["authorisation_id"] == str(authorisation_id)


def test_an_agent_without_an_authorisation_for_the_item_files_nothing(
        fed: Federation) -> None:
    agent, _ = _agent(fed, items=["000000000000"])  # another item only
    before = fed.sc.count(ForwardedCase)
    refused = _file(fed, agent)
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"] == "agent_not_authorised"
    assert refused.json()["details"]["reason"] == "item_not_covered"
    # an applicant (no agent) naming someone else applies for nobody, not for themself
    for_another = fed.sc.client.post(f"{API}/cases", headers=fed.sc.token("zhangwei"), json={
        "implementation_code": code_of(fed.sc, GJJ_SH), "mode": "fully_online",
        "person_id": str(uuid.uuid4()), "form_data": form("zhangwei", GJJ_SH)})
    assert for_another.status_code == 403, for_another.text
    assert for_another.json()["error"] == "not_authorised"
    assert fed.sc.count(ForwardedCase) == before


def test_the_agent_answers_the_notice_and_withdraws_for_the_principal(
        fed: Federation) -> None:
    agent, _ = _agent(fed)
    fc_id, number = _filed(fed, agent, ITEMS)
    assert view(fed.sc, fc_id, agent)["open_notice"]["items"] == ITEMS
    answered = _supply(fed, fc_id, agent)
    assert answered.status_code == 200, answered.text
    sent = next(e for e in answered.json()["events"] if e["action"] == "supplied_here")
    assert sent["data"]["as"] == "agent"
    fed.pump()
    case = handling_case(fed.sh, number)
    assert case.state == "submitted"
    with fed.sh.read() as s:
        supply = s.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id,
                                                   CaseEvent.action == "supply")).one()
    assert "代办人" in supply.actor_name

    assert _withdraw(fed, fc_id, agent).status_code == 200
    fed.pump()
    assert handling_case(fed.sh, number).state == "withdrawn"


def test_once_the_authorisation_is_revoked_the_agent_reads_but_only_the_principal_acts(
        fed: Federation) -> None:
    agent, authorisation_id = _agent(fed)
    fc_id, number = _filed(fed, agent, ITEMS)
    _revoke(fed, authorisation_id)
    assert view(fed.sc, fc_id, agent)["open_notice"]["items"] == ITEMS  # still theirs to read
    for refused in (_supply(fed, fc_id, agent), _withdraw(fed, fc_id, agent)):
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"] == "agent_not_authorised"
        assert refused.json()["details"]["reason"] == "revoked"
    assert _sent(fed.sc, fc_id, "supplied_here") == 0
    assert _sent(fed.sc, fc_id, "withdrawal_sent") == 0
    assert _supply(fed, fc_id, "zhangwei").status_code == 200  # the principal still may
    fed.pump()
    assert handling_case(fed.sh, number).state == "submitted"


def test_the_agent_supplies_and_withdraws_with_the_cli(
        fed: Federation, at_home: Node, capsys: pytest.CaptureFixture[str],  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    agent, authorisation_id = _agent(fed)
    fc_id, number = _filed(fed, agent, FIELD_ITEMS)
    user = at_home.usernames[agent]
    monkeypatch.setenv("COLUMNS", "200")
    listed = CliRunner().invoke(cli.app, ["federation", "cases", "--as", user],
                                catch_exceptions=False)
    assert listed.exit_code == 0 and fc_id in listed.output, listed.output
    result = CliRunner().invoke(cli.app, ["federation", "supply", fc_id, "--field",
                                          "phone=13900000009", "--as", user],
                                catch_exceptions=False)
    assert result.exit_code == 0 and "supplement sent" in result.output, result.output
    fed.pump()
    case = handling_case(fed.sh, number)
    assert case.state == "submitted" and case.form_data["phone"] == "13900000009"

    _revoke(fed, authorisation_id)
    code, err = _main(capsys, monkeypatch, "withdraw", fc_id, "--reason", "不再办理",
                      "--as", user)
    assert code == 1 and "授权" in err and len(err.strip().splitlines()) == 1, err
    assert _sent(at_home, fc_id, "withdrawal_sent") == 0


def test_the_agent_answers_on_the_portal_page_until_the_authorisation_ends(
        fed: Federation) -> None:
    agent, authorisation_id = _agent(fed)
    fc_id, number = _filed(fed, agent, ITEMS)
    client = _signed_in(fed.sc, agent)
    listing = client.get("/my/cases").text
    assert f'href="/my/forwarded/{fc_id}"' in listing and 'data-principal="张伟"' in listing
    page = client.get(f"/my/forwarded/{fc_id}").text
    assert 'id="as-agent"' in page and 'id="supply-form"' in page
    assert 'id="withdraw-form"' in page and 'id="agent-blocked"' not in page
    assert 'id="as-agent"' not in _signed_in(fed.sc, "zhangwei").get(
        f"/my/forwarded/{fc_id}").text

    _revoke(fed, authorisation_id)
    blocked = client.get(f"/my/forwarded/{fc_id}").text
    assert 'id="agent-blocked"' in blocked and 'data-code="agent_not_authorised"' in blocked
    assert 'id="supply-form"' not in blocked and 'id="withdraw-form"' not in blocked
    assert 'id="supply-at-window"' not in blocked
    forged = client.post(f"/my/forwarded/{fc_id}/supply",
                         files={"file_application_form": ("申请表.pdf", SCAN,
                                                          "application/pdf")})
    assert forged.status_code == 403
    assert _sent(fed.sc, fc_id, "supplied_here") == 0
    assert handling_case(fed.sh, number).state == "supplement_requested"
