"""Across regions: a purpose-bound query travels as a signed federation envelope and is
checked against the grant on both nodes: the consumer node against its copy (a field
outside the grant never leaves it), the provider node against its own grant (a
revocation not yet known to the consumer still refuses); both nodes log the access, and
the subject sees the other region's read on the provider node."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select

from tests.federation.conftest import fed  # noqa: F401  (the three-node federation)
from tests.federation.harness import PASSWORD, Federation, Node
from tests.pii_scan import database_bytes
from tests.sharing.scan import assert_nothing_in_plain
from tongban.identity import service as identity
from tongban.identity.actor import SYSTEM_ACTOR, Actor, Scope
from tongban.sharing import demo, grants, queries, registries
from tongban.sharing.fields import Masking
from tongban.sharing.models import Access, Grant

FUND = "housing_fund.deposit"
SH_FUND = "12310000MBJD9YQX48"  # 上海市公积金管理中心 (the small catalog's)
PURPOSE = "000108005007"  # 住房公积金异地转移接续


def _steward() -> Actor:
    return Actor(account_id=uuid.uuid4(), name="四川数据管理员",
                 roles=frozenset({"data_steward"}), scopes=(Scope("510000", None),))


@pytest.fixture
def world(fed: Federation) -> dict[str, Any]:  # noqa: F811
    """四川 holds the demo registries; 上海's fund centre has a reviewer. Made once per
    federation (the nodes are shared by the session's tests)."""
    with fed.sc.session() as s:
        if registries.find_dataset(db_session=s, name=FUND) is None:
            demo.seed_registries(db_session=s, settings=fed.sc.settings)
    with fed.sh.session() as s:
        from tongban.catalog import service as catalog

        dept = catalog.get_department_by_credit_code(db_session=s, credit_code=SH_FUND)
        if "fund_reviewer" not in fed.sh.usernames:
            identity.create_account(db_session=s, actor=SYSTEM_ACTOR,
                                    username="rev.fund.shanghai", password=PASSWORD,
                                    display_name="上海公积金审核员", roles=["reviewer"],
                                    scopes=[("310000", dept.id)])
            fed.sh.usernames["fund_reviewer"] = "rev.fund.shanghai"
    return {"subject": demo._person_ids()["李娜"]}


def _grant(fed: Federation, **terms: Any) -> Grant:  # noqa: F811
    with fed.sc.session() as s:
        made = grants.create_grant(db_session=s, settings=fed.sc.settings, actor=_steward(),
                                   terms=grants.GrantTerms(**{
                                       "dataset": FUND, "consumer_credit_code": SH_FUND,
                                       "consumer_region": "310000",
                                       "consumer_name": "上海市公积金管理中心",
                                       "purpose_code": PURPOSE,
                                       "purpose_text": "住房公积金异地转移接续",
                                       "basis": "statute",
                                       "legal_ref": "《住房公积金管理条例》",
                                       "requires": "none",
                                       "fields": {"name": Masking.partial,
                                                  "status": Masking.none,
                                                  "balance": Masking.none},
                                       **terms}))
        s.expunge(made)
    fed.pump()
    return made


def _ask(fed: Federation, subject: str, **change: Any) -> Any:  # noqa: F811
    return fed.sh.client.post("/api/v1/sharing/queries", headers=fed.sh.token("fund_reviewer"),
                              json={"dataset": FUND, "subject": subject,
                                    "purpose_code": PURPOSE, "purpose_text": "转移接续核验",
                                    "provider_region": "510000", **change})


def _accesses(node: Node, **where: Any) -> list[Access]:
    with node.read() as s:
        rows = list(s.scalars(select(Access).where(
            *(getattr(Access, k) == v for k, v in where.items()))))
        s.expunge_all()
        return rows


def test_a_remote_query_is_answered_under_the_grant_and_logged_on_both_nodes(
        fed: Federation, world: dict[str, Any]) -> None:  # noqa: F811
    made = _grant(fed)
    with fed.sh.read() as s:  # the consumer node holds the grant's signed copy
        copy = s.get(Grant, (made.grant_id, made.version))
        assert copy is not None and copy.provider_region == "510000" and copy.jws == made.jws
    sent = _ask(fed, world["subject"])
    assert sent.status_code == 202, sent.text
    access_id = sent.json()["access_id"]
    assert sent.json()["outcome"] == "pending"
    fed.pump()
    got = fed.sh.client.get(f"/api/v1/sharing/queries/{access_id}",
                            headers=fed.sh.token("fund_reviewer")).json()
    assert got["outcome"] == "allowed", got
    [record] = got["records"]
    assert record["values"]["name"] == "李*" and set(record["values"]) == {
        "name", "status", "balance"}
    [provided] = _accesses(fed.sc, grant_id=made.grant_id, outcome="allowed")
    assert (provided.kind, provided.consumer_region, provided.consumer_credit_code) == (
        "remote_query", "310000", SH_FUND)
    assert provided.result_enc is None  # the provider keeps no copy of its answer
    with fed.sc.read() as s:  # the use is counted where the grant lives
        assert grants.usage(db_session=s, grant_id=made.grant_id).use_count == 1
        # the subject, on the provider node, sees the other region's read
        key = registries.subject_of(settings=fed.sc.settings, kind="person",
                                    identifier=world["subject"]).key
        usage = queries.usage_of(db_session=s, subject_key=key)
        assert any(a.id == provided.id and a.consumer_name == "上海市公积金管理中心"
                   for a in usage.reads)
    # the envelopes carried the ID number; neither node holds it in plain at rest
    for node in (fed.sc, fed.sh):
        assert_nothing_in_plain(database_bytes(node.engine), [world["subject"]])


def test_a_field_outside_the_grant_is_refused_on_the_consumer_node_and_never_sent(
        fed: Federation, world: dict[str, Any]) -> None:  # noqa: F811
    made = _grant(fed, purpose_code="000108005017", purpose_text="异地贷款缴存核验")
    before = len(_accesses(fed.sc, grant_id=made.grant_id))
    refused = _ask(fed, world["subject"], purpose_code="000108005017",
                   fields=["account_number"])
    assert refused.status_code == 403 and refused.json()["error"] == "field_not_granted"
    fed.pump()
    assert len(_accesses(fed.sc, grant_id=made.grant_id)) == before  # nothing travelled
    [logged] = _accesses(fed.sh, id=uuid.UUID(refused.json()["details"]["access_id"]))
    assert (logged.outcome, logged.reason) == ("denied", "field_not_granted")


def test_the_provider_node_refuses_under_its_own_grant_what_the_consumer_copy_allowed(
        fed: Federation, world: dict[str, Any]) -> None:  # noqa: F811
    made = _grant(fed, purpose_code="000108005027", purpose_text="异地提取核验")
    with fed.sc.session() as s:  # revoked on the provider; the envelope not yet delivered
        grants.revoke_grant(db_session=s, settings=fed.sc.settings, actor=_steward(),
                            grant_id=made.grant_id, reason="职能调整")
    sent = _ask(fed, world["subject"], purpose_code="000108005027")
    assert sent.status_code == 202, sent.text  # the consumer's copy still says active
    fed.pump()
    got = fed.sh.client.get(f"/api/v1/sharing/queries/{sent.json()['access_id']}",
                            headers=fed.sh.token("fund_reviewer")).json()
    assert (got["outcome"], got["reason"], got["records"]) == ("denied", "grant_revoked", [])
    [refused] = _accesses(fed.sc, grant_id=made.grant_id, outcome="denied")
    assert refused.reason == "grant_revoked" and refused.kind == "remote_query"
    # the revocation reached the consumer: now it refuses at once, nothing sent
    again = _ask(fed, world["subject"], purpose_code="000108005027")
    assert again.status_code == 403 and again.json()["error"] == "grant_revoked"


def test_the_query_page_sends_a_remote_query_and_shows_the_answer_when_it_arrives(
        fed: Federation, world: dict[str, Any]) -> None:  # noqa: F811
    import re

    from tests.web.browser import BrowserClient

    made = _grant(fed, purpose_code="000108005037", purpose_text="异地购房核验")
    page = BrowserClient(fed.sh.client.app, base_url=fed.sh.url)
    page.get("/login")
    assert page.post("/login", data={"username": "rev.fund.shanghai", "password": PASSWORD,
                                     "next": "/workbench/query"}).status_code == 200
    form = page.get(f"/workbench/query?grant={made.grant_id}").text
    assert 'id="query-form"' in form and "跨地区" in form
    sent = page.post("/workbench/query", data={
        "grant": str(made.grant_id), "subject": world["subject"], "purpose_text": "购房核验",
        "fields": ["name", "status"]})
    assert sent.status_code == 200 and 'id="pending"' in sent.text
    link = re.search(r'href="(/workbench/query/[0-9a-f-]+)"', sent.text)
    assert link is not None
    fed.pump()
    answered = page.get(link.group(1)).text
    assert 'data-outcome="allowed"' in answered
    assert re.search(r'data-field="name">李\*<', answered)
    assert 'data-field="balance"' not in answered  # only the fields asked
