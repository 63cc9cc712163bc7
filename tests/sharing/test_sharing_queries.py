"""Purpose-bound queries: only granted fields, masked as granted; every query (and every
refusal, each with its reason) in the access log, the audit trail and the ledger; the
subject's "我的数据被谁用了" with delayed disclosure; the use limit under concurrency."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from tests.pii_scan import database_bytes
from tests.sharing.conftest import WITHDRAWAL_ITEM, World, account, bearer, grant, steward
from tests.sharing.scan import (
    assert_nothing_in_plain,
        registry_secrets,
    scanned_node,
)
from tongban.audit.models import AuditEntry
from tongban.config import Settings
from tongban.db import make_sessionmaker, utcnow
from tongban.outbox.models import OutboxMessage
from tongban.sharing import consents, grants, queries, registries
from tongban.sharing.fields import Masking
from tongban.sharing.models import Access

FUND = "housing_fund.deposit"


def _consent(db: Session, world: World, who: str = "张伟", dataset: str = FUND,
             purpose: str = WITHDRAWAL_ITEM, consumer: str = "gjj",
             days_ago: int = 0) -> uuid.UUID:
    from tongban.identity.models import Person

    person = db.get(Person, world.people[who])
    assert person is not None
    made = consents.give(db_session=db, settings=world.settings, actor=steward(),
                         subject_key=person.id_number_hash, person_id=person.id,
                         enterprise_id=None, consumer_credit_code=world.owners[consumer],
                         consumer_name="成都住房公积金管理中心", dataset=dataset,
                         purpose_code=purpose, purpose_text="租赁提取", valid_days=30,
                         via="window", now=utcnow() - timedelta(days=days_ago))
    db.commit()
    return made.id


@pytest.fixture
def api(client: TestClient, db_session: Session, world: World) -> dict[str, Any]:
    """Logins: a 公积金 reviewer, a 人社 reviewer, an applicant (张伟), a steward."""
    gjj, hrss = world.departments["gjj"], world.departments["hrss"]
    account(db_session, "rev.gjj", ["reviewer"], [("510100", gjj.id)])
    account(db_session, "rev.rs", ["reviewer"], [("510100", hrss.id)])
    account(db_session, "zhangwei", ["applicant"], person_id=world.people["张伟"])
    account(db_session, "steward.sc", ["data_steward"], [("510000", None)])
    return {who: bearer(client, who) for who in ("rev.gjj", "rev.rs", "zhangwei",
                                                  "steward.sc")}


def test_a_query_returns_only_granted_fields_masked_as_granted(
        client: TestClient, db_session: Session, world: World, api: dict[str, Any]) -> None:
    grant(db_session, world, FUND, fields={
        "id_number": Masking.partial, "name": Masking.partial, "status": Masking.none,
        "balance": Masking.none, "opened_on": Masking.year,
        "account_number": Masking.presence})
    consent = _consent(db_session, world)
    before_ledger = db_session.scalar(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.topic == "ledger", OutboxMessage.kind == "sharing.access"))
    resp = client.post("/api/v1/sharing/queries", headers=api["rev.gjj"], json={
        "dataset": FUND, "subject": world.ids["张伟"], "purpose_code": WITHDRAWAL_ITEM,
        "purpose_text": "核验缴存状态", "consent_id": str(consent)})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    [record] = body["records"]
    assert record["values"] == {
        "id_number": world.ids["张伟"][:3] + "*" * 11 + world.ids["张伟"][-4:],
        "name": "张*", "status": "正常", "balance": "86400.00", "opened_on": "2012",
        "account_number": True}
    assert record["source"] == "成都住房公积金管理中心" and record["as_of"].startswith("2026-11-30")
    assert body["masking"]["id_number"] == "partial"
    # only some fields asked: only those answered
    resp = client.post("/api/v1/sharing/queries", headers=api["rev.gjj"], json={
        "dataset": FUND, "subject": world.ids["张伟"], "purpose_code": WITHDRAWAL_ITEM,
        "fields": ["status"], "consent_id": str(consent)})
    assert resp.json()["records"][0]["values"] == {"status": "正常"}
    db_session.expire_all()
    logged = db_session.scalars(select(Access).order_by(Access.at)).all()
    assert [(a.outcome, a.result_count, a.fields) for a in logged][-1] == (
        "allowed", 1, ["status"])
    assert logged[0].actor_name == "rev.gjj" and logged[0].purpose_text == "核验缴存状态"
    after_ledger = db_session.scalar(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.topic == "ledger", OutboxMessage.kind == "sharing.access"))
    assert after_ledger == (before_ledger or 0) + 2
    assert db_session.scalar(select(func.count()).select_from(AuditEntry).where(
        AuditEntry.action == "sharing.query")) == 2


# Every way a query is refused, as data: (who, change to the query, grant terms or a
# setup step, the reason code). Each answers 403 with that code and is logged.
DENIALS: list[tuple[str, dict[str, Any], dict[str, Any], str]] = [
    ("rev.gjj", {"purpose_code": ""}, {}, "purpose_missing"),
    ("rev.gjj", {"purpose_code": "000108005009"}, {}, "no_grant"),
    ("rev.rs", {}, {}, "no_grant"),  # another department holds no grant
    ("zhangwei", {}, {}, "not_consumer_staff"),
    ("rev.gjj", {"fields": ["balance", "account_number"]},
     {"fields": {"balance": "none"}}, "field_not_granted"),
    ("rev.gjj", {}, {"requires": "consent"}, "consent_required"),
    ("rev.gjj", {}, {}, "case_or_consent_required"),
    ("rev.gjj", {"case_number": "510100-20261201-0001"}, {"requires": "case"},
     "case_mismatch"),
    ("rev.gjj", {}, {"requires": "case"}, "case_required"),
    ("rev.gjj", {"consent": True}, {"revoke": True}, "grant_revoked"),
    ("rev.gjj", {"consent": True}, {"valid_from_days": -400, "valid_days": 365},
     "grant_expired"),
    ("rev.gjj", {"consent": True}, {"use_limit": 1, "use_up": True}, "grant_exhausted"),
    ("rev.gjj", {"consent": "revoked"}, {}, "consent_revoked"),
    ("rev.gjj", {"dataset": "income_tax.returns"}, {"none": True}, "dataset_not_shared"),
    ("rev.gjj", {"dataset": "no_such.dataset"}, {"none": True}, "unknown_dataset"),
    ("rev.gjj", {"consent": True}, {"valid_from_days": 10}, "grant_not_yet_valid"),
    ("rev.gjj", {"consent": True}, {"pause": True}, "grant_paused"),
    ("rev.gjj", {"consent": "expired"}, {}, "consent_expired"),
    ("rev.gjj", {"consent": "other_purpose"}, {}, "consent_mismatch"),
    ("rev.gjj", {"consent": "other_person"}, {}, "consent_mismatch"),
]
# A consent as the query names it: the subject's own, given 31 days ago (30 valid), or
# one for another purpose or another person.
CONSENTS: dict[str, dict[str, Any]] = {
    "expired": {"days_ago": 31}, "other_purpose": {"purpose": "000108005009"},
    "other_person": {"who": "李娜"}}


@pytest.mark.parametrize(("who", "change", "setup", "reason"), DENIALS,
                         ids=[d[3] + "-" + d[0] for d in DENIALS])
def test_every_refusal_is_403_with_its_reason_and_still_logged(
        client: TestClient, db_session: Session, world: World, api: dict[str, Any],
        engine: Engine, who: str, change: dict[str, Any], setup: dict[str, Any],
        reason: str) -> None:
    setup = dict(setup)
    revoke, use_up = setup.pop("revoke", False), setup.pop("use_up", False)
    pause = setup.pop("pause", False)
    start = setup.pop("valid_from_days", None)
    if start is not None:
        setup["valid_from"] = utcnow() + timedelta(days=start)
    made = None if setup.pop("none", False) else grant(db_session, world, FUND, **setup)
    body = {"dataset": FUND, "subject": world.ids["张伟"], "purpose_code": WITHDRAWAL_ITEM,
            **{k: v for k, v in change.items() if k != "consent"}}
    if change.get("consent"):
        body["consent_id"] = str(_consent(db_session, world,
                                          **CONSENTS.get(str(change["consent"]), {})))
        if change["consent"] == "revoked":
            client.post(f"/api/v1/sharing/consents/{body['consent_id']}/revoke",
                        headers=api["zhangwei"])
    if revoke and made is not None:
        client.post(f"/api/v1/sharing/grants/{made.grant_id}/revoke",  # type: ignore[attr-defined]
                    headers=api["steward.sc"], json={"reason": "职能调整"})
    if pause and made is not None:
        assert client.post(f"/api/v1/sharing/grants/{made.grant_id}/pause",  # type: ignore[attr-defined]
                           headers=api["steward.sc"],
                           json={"reason": "核查异常调用"}).status_code == 200
    if use_up:
        assert client.post("/api/v1/sharing/queries", headers=api[who],
                           json=body).status_code == 200
    resp = client.post("/api/v1/sharing/queries", headers=api[who], json=body)
    assert resp.status_code == 403, resp.text
    assert resp.json()["error"] == reason
    assert resp.json()["message"] == queries.REASONS[reason]
    access_id = uuid.UUID(resp.json()["details"]["access_id"])
    with make_sessionmaker(engine)() as fresh:  # committed, not just flushed
        row = fresh.get(Access, access_id)
        assert row is not None and (row.outcome, row.reason) == ("denied", reason)
        assert row.result_count == 0 and row.result_enc is None
        assert fresh.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.entity_id == str(access_id))) == 1
        assert any(m.payload.get("reason") == reason for m in fresh.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == "sharing.access")))


def test_a_case_number_of_the_department_and_subject_justifies_the_read(
        db_session: Session, world: World) -> None:
    from tests.sharing.conftest import publish_withdrawal
    from tongban.cases import service as cases
    from tongban.identity.actor import Actor

    code = publish_withdrawal(db_session, world)
    applicant = Actor(account_id=None, name="张伟", roles=frozenset({"applicant"}),
                      person_id=world.people["张伟"])
    case = cases.submit(db_session=db_session, settings=world.settings, actor=applicant,
                        channel="online", implementation_code=code,
                        form_data={"rent_monthly": 2800})
    grant(db_session, world, FUND, requires="case")
    staff = world.staff("gjj", "reviewer")
    ok = queries.query(db_session=db_session, settings=world.settings, actor=staff,
                       dataset=FUND, identifier=world.ids["张伟"],
                       purpose_code=WITHDRAWAL_ITEM, case_number=case.number)
    assert isinstance(ok, queries.Allowed) and ok.access.case_number == case.number
    other = queries.query(db_session=db_session, settings=world.settings, actor=staff,
                          dataset=FUND, identifier=world.ids["李娜"],
                          purpose_code=WITHDRAWAL_ITEM, case_number=case.number)
    assert isinstance(other, queries.Denied) and other.reason == "case_mismatch"


def test_my_usage_shows_every_read_and_delays_what_a_grant_hides(
        client: TestClient, db_session: Session, world: World, api: dict[str, Any]) -> None:
    grant(db_session, world, FUND, requires="consent")
    grant(db_session, world, FUND, consumer="police", purpose_code="GA-XC-001",
          purpose_text="经济犯罪案件侦查协查", requires="none", hidden_days=180,
          hidden_reason="《中华人民共和国刑事诉讼法》第一百五十二条")
    consent = _consent(db_session, world)
    assert client.post("/api/v1/sharing/queries", headers=api["rev.gjj"], json={
        "dataset": FUND, "subject": world.ids["张伟"], "purpose_code": WITHDRAWAL_ITEM,
        "purpose_text": "租赁提取核验", "consent_id": str(consent)}).status_code == 200
    police = world.staff("police", "reviewer", name="经侦民警")
    assert isinstance(queries.query(
        db_session=db_session, settings=world.settings, actor=police, dataset=FUND,
        identifier=world.ids["张伟"], purpose_code="GA-XC-001"), queries.Allowed)
    db_session.commit()
    usage = client.get("/api/v1/sharing/my-usage", headers=api["zhangwei"]).json()
    assert [(r["who"], r["purpose"], r["dataset_name"]) for r in usage["reads"]] == [
        ("成都住房公积金管理中心", "租赁提取核验", "住房公积金缴存信息")]
    [hidden] = usage["hidden"]
    assert "第一百五十二条" in hidden["reason"] and hidden["shows_on"] > utcnow().isoformat()
    # after the delay, the read shows, with who and why
    later = queries.usage_of(db_session=db_session,
                             subject_key=_key(db_session, world, "张伟"),
                             now=utcnow() + timedelta(days=181))
    assert {a.consumer_name for a in later.reads} == {"成都住房公积金管理中心", "成都市公安局"}
    assert later.hidden == []
    # another person sees none of it
    assert client.get("/api/v1/sharing/my-usage",
                      headers=api["rev.gjj"]).status_code == 403


def _key(db: Session, world: World, who: str) -> str:
    from tongban.identity.models import Person

    person = db.get(Person, world.people[who])
    assert person is not None
    return person.id_number_hash


def test_concurrent_queries_never_overrun_the_use_limit(
        db_session: Session, world: World, engine: Engine, settings: Settings) -> None:
    grant(db_session, world, FUND, requires="none", use_limit=1)
    staff = world.staff("gjj", "reviewer")
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def run() -> None:
        with make_sessionmaker(engine)() as s:
            barrier.wait()
            out = queries.query(db_session=s, settings=settings, actor=staff, dataset=FUND,
                                identifier=world.ids["张伟"], purpose_code=WITHDRAWAL_ITEM)
            s.commit()
            outcomes.append("allowed" if isinstance(out, queries.Allowed) else out.reason)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["allowed", "grant_exhausted"]
    db_session.expire_all()
    assert grants.usage(db_session=db_session,
                        grant_id=db_session.scalars(select(Access.grant_id).where(
                            Access.outcome == "allowed")).one()).use_count == 1


def test_no_registry_value_is_at_rest_in_plain_after_queries_consents_and_refusals(
        engine: Engine, settings: Settings, tmp_path: Path) -> None:
    """Answers kept for later (免提交, remote) are sealed; the log, audit trail, ledger
    outbox and consents name subjects by keyed hash and mask only."""
    with scanned_node(engine, settings, tmp_path) as (eng, db, world):
        staff = world.staff("gjj", "reviewer")
        for dataset in (FUND, "vehicle.registration", "real_estate.property"):
            grant(db, world, dataset, requires="none")  # every field, unmasked
        _consent(db, world, who="李娜")
        found = dict.fromkeys((FUND, "vehicle.registration", "real_estate.property"), 0)
        for who in ("张伟", "李娜"):
            for dataset in (FUND, "vehicle.registration", "real_estate.property"):
                subject = registries.subject_of(settings=settings, kind="person",
                                                identifier=world.ids[who])
                ask = queries.Ask(dataset=dataset, subject=subject, fields=None,
                                  purpose_code=WITHDRAWAL_ITEM, purpose_text="核验",
                                  case_number=None, consent_id=None, kind="no_submit")
                kept = queries.read(db_session=db, settings=settings, actor=staff,
                                    consumer=queries.local_consumer(world.departments["gjj"]),
                                    ask=ask, keep=True)
                assert isinstance(kept, queries.Allowed)
                found[dataset] += len(kept.records)
            refused = queries.query(db_session=db, settings=settings, actor=staff,
                                    dataset=FUND, identifier=world.ids[who],
                                    purpose_code="000108005009")
            assert isinstance(refused, queries.Denied)
        db.commit()
        stored = database_bytes(eng)
    assert all(found.values()), found  # plate, address and account were all read
    assert_nothing_in_plain(stored, registry_secrets(world))


def test_a_read_of_several_datasets_is_all_or_nothing_and_counts_each_use_once(
        db_session: Session, world: World) -> None:
    """One request reads several datasets (一键核对): each passes every check and is
    logged as its own access; if one is refused (here its use limit is reached), the
    refusal is logged, nothing is read and no other grant's use is counted."""
    pension, medical = "social_insurance.pension", "social_insurance.medical"
    made = {d: grant(db_session, world, d, requires="none",
                     use_limit=2 if d == medical else None) for d in (FUND, pension, medical)}
    staff = world.staff("gjj", "reviewer")
    consumer = queries.local_consumer(world.departments["gjj"])
    subject = registries.subject_of(settings=world.settings, kind="person",
                                    identifier=world.ids["张伟"])

    def asks(*datasets: str) -> list[queries.Ask]:
        return [queries.Ask(dataset=d, subject=subject, fields=None,
                            purpose_code=WITHDRAWAL_ITEM, purpose_text="核验",
                            case_number=None, consent_id=None) for d in datasets]

    def uses() -> dict[str, int]:
        db_session.expire_all()
        return {d: grants.usage(db_session=db_session, grant_id=g.grant_id).use_count  # type: ignore[attr-defined]
                for d, g in made.items()}

    out = queries.read_all(db_session=db_session, settings=world.settings, actor=staff,
                           consumer=consumer, asks=asks(FUND, pension, medical, medical))
    assert not isinstance(out, queries.Denied)
    assert [a.access.dataset_code for a in out] == [FUND, pension, medical, medical]
    assert all(a.access.outcome == "allowed" and a.records for a in out)
    assert out[0].records[0]["values"]["account_number"]  # the granted fields, read
    assert uses() == {FUND: 1, pension: 1, medical: 2}  # a grant asked twice counts twice
    again = queries.read_all(db_session=db_session, settings=world.settings, actor=staff,
                             consumer=consumer, asks=asks(FUND, pension, medical))
    assert isinstance(again, queries.Denied) and again.reason == "grant_exhausted"
    assert again.access.dataset_code == medical
    assert uses() == {FUND: 1, pension: 1, medical: 2}  # the others' counts put back
    db_session.commit()
    assert db_session.scalar(select(func.count()).select_from(Access)) == 5
    # one audit entry and one ledger act per request, binding each of its access rows
    entries = db_session.scalars(select(AuditEntry).where(
        AuditEntry.entity == "sharing_access").order_by(AuditEntry.at)).all()
    acts = db_session.scalars(select(OutboxMessage).where(
        OutboxMessage.kind == "sharing.access").order_by(OutboxMessage.seq)).all()
    assert len(entries) == len(acts) == 2
    assert [r["access_id"] for r in acts[0].payload["reads"]] == [
        str(a.access.id) for a in out]
    assert [r["dataset"] for r in entries[0].details["reads"]] == [FUND, pension, medical,
                                                                   medical]
    assert acts[1].payload["access_id"] == str(again.access.id)
    assert acts[1].payload["reason"] == "grant_exhausted"
    unknown = queries.read_all(db_session=db_session, settings=world.settings, actor=staff,
                               consumer=consumer, asks=asks(FUND, "no.such_dataset"))
    assert isinstance(unknown, queries.Denied) and unknown.reason == "unknown_dataset"
    assert uses()[FUND] == 1
