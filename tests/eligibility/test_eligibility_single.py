"""一键核对 of one subject: an explanation per rule, every read purpose-bound and logged."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from tests.sharing.conftest import World, account, bearer
from tongban.cli import app as cli
from tongban.eligibility import rules, service
from tongban.errors import Conflict, InvalidInput
from tongban.identity.actor import SYSTEM_ACTOR
from tongban.sharing import grants
from tongban.sharing.fields import Masking
from tongban.sharing.models import Access


def civil(world: World) -> Any:
    return world.staff("civil", "reviewer", name="民政局核对员")


def rule(explanation: Any, rule_id: str) -> Any:
    return next(r for r in explanation.rules if r.id == rule_id)


def test_every_shipped_rule_set_binds_to_the_sharing_catalog(db_session: Session,
                                                               elig: World) -> None:
    rows = service.list_rule_sets(db_session=db_session)
    assert {r.code for r in rows} == {d.code for d in rules.shipped()}
    for row in rows:
        bound = service.bound_rule_set(db_session=db_session, rule_set=row)
        assert bound.doc.legal_basis and all(r.rule.source for r in bound.rules)


def test_liu_yang_qualifies_for_temporary_assistance_and_each_rule_says_why(
        db_session: Session, elig: World) -> None:
    out = service.check(db_session=db_session, settings=elig.settings, actor=civil(elig),
                        code="temporary_assistance", identifier=elig.ids["刘洋"])
    assert not isinstance(out, service.Refused)
    assert out.eligible and out.failed == []
    income = rule(out, "income").parts[0]
    assert income.value == Decimal("9600") and income.threshold == Decimal("25920")
    assert income.sources and income.sources[0]["source"]
    lives = rule(out, "lives_here")
    assert [p.passed for p in lives.parts] == [False, True]  # Nanjing hukou, 成都 residence
    assert rule(out, "out_of_work").parts[0].value == "暂停缴费"
    assert out.subject.startswith(elig.ids["刘洋"][:3]) and "*" in out.subject


def test_zhang_wei_fails_minimum_living_on_income_and_his_car(db_session: Session,
                                                             elig: World) -> None:
    out = service.check(db_session=db_session, settings=elig.settings, actor=civil(elig),
                        code="minimum_living", identifier=elig.ids["张伟"])
    assert not isinstance(out, service.Refused)
    assert not out.eligible and out.failed == ["income", "no_vehicle"]
    assert rule(out, "income").parts[0].value == Decimal("216000")  # 2025 only, not 2024
    assert rule(out, "homes").passed  # one flat


def test_no_income_record_counts_as_no_income_where_the_rule_says_so(
        db_session: Session, elig: World) -> None:
    out = service.check(db_session=db_session, settings=elig.settings, actor=civil(elig),
                        code="minimum_living", identifier=elig.ids["杨帆"])
    assert not isinstance(out, service.Refused)
    income = rule(out, "income").parts[0]
    assert income.missing and income.value is None and income.passed
    assert out.failed == ["lives_here", "not_yet_recipient"]  # 合肥, already in 低保


def test_each_registry_read_of_a_check_is_one_purpose_bound_access(
        db_session: Session, elig: World) -> None:
    actor = civil(elig)
    service.check(db_session=db_session, settings=elig.settings, actor=actor,
                  code="temporary_assistance", identifier=elig.ids["刘洋"])
    rows = list(db_session.scalars(select(Access).where(Access.kind == "eligibility")))
    doc = next(d for d in rules.shipped() if d.code == "temporary_assistance")
    assert sorted(a.dataset_code for a in rows) == sorted(doc.datasets())
    assert {a.purpose_code for a in rows} == {doc.purpose_code}
    assert {a.outcome for a in rows} == {"allowed"}
    assert {a.actor_id for a in rows} == {actor.account_id}


def test_a_check_reads_its_registries_in_statements_that_do_not_grow_with_them(
        db_session: Session, elig: World) -> None:
    """One purpose-bound read of all the rule set's datasets: the grants resolved in one
    statement, their uses counted in one, the records read in one, the access rows,
    audit entries and ledger acts each written in one (seven datasets, not 7 x 10)."""
    from sqlalchemy import event

    actor = civil(elig)
    seen: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement.split(None, 1)[0].upper())

    bind = db_session.get_bind()
    service.check(db_session=db_session, settings=elig.settings, actor=actor,
                  code="minimum_living", identifier=elig.ids["张伟"])  # warm caches
    db_session.flush()
    event.listen(bind, "before_cursor_execute", count)
    try:
        out = service.check(db_session=db_session, settings=elig.settings, actor=actor,
                            code="minimum_living", identifier=elig.ids["刘洋"])
        db_session.flush()
    finally:
        event.remove(bind, "before_cursor_execute", count)
    assert not isinstance(out, service.Refused)
    doc = next(d for d in rules.shipped() if d.code == "minimum_living")
    assert len(doc.datasets()) >= 7
    writes = [s for s in seen if s in ("INSERT", "UPDATE")]
    assert writes.count("UPDATE") == 1  # every grant's use, counted at once
    assert writes.count("INSERT") == 3  # access rows, audit entries, ledger acts
    assert len(seen) <= 10, seen  # rule set, catalog, datasets, grants, records
    rows = list(db_session.scalars(select(Access).where(Access.kind == "eligibility")))
    assert len(rows) == 2 * len(doc.datasets())  # still one access row per dataset read


def test_a_revoked_grant_refuses_the_check_and_the_refusal_is_logged(
        db_session: Session, elig: World) -> None:
    doc = next(d for d in rules.shipped() if d.code == "minimum_living")
    income = next(g for g in grants.list_grants(db_session=db_session,
                                                dataset="income_tax.annual")
                  if g.purpose_code == doc.purpose_code)
    grants.revoke_grant(db_session=db_session, settings=elig.settings, actor=SYSTEM_ACTOR,
                        grant_id=income.grant_id, reason="核对授权到期停用")
    out = service.check(db_session=db_session, settings=elig.settings, actor=civil(elig),
                        code="minimum_living", identifier=elig.ids["刘洋"])
    assert isinstance(out, service.Refused) and out.reason == "grant_revoked"
    assert out.details["dataset"] == "income_tax.annual"
    denied = db_session.scalars(select(Access).where(Access.outcome == "denied")).one()
    assert denied.dataset_code == "income_tax.annual" and denied.kind == "eligibility"
    # all or nothing: no other registry of the check was read under the refused request
    assert db_session.scalars(select(Access).where(Access.outcome == "allowed")).first() \
        is None
    usage = [grants.usage(db_session=db_session, grant_id=g.grant_id).use_count
             for g in grants.list_grants(db_session=db_session)
             if g.purpose_code == doc.purpose_code]
    assert set(usage) == {0}  # and no grant's use was counted


def test_a_grant_masking_a_compared_field_refuses_the_check_before_anything_is_read(
        db_session: Session, elig: World) -> None:
    """A masked income cannot be compared with a threshold: the check is refused, logged
    as one denied access naming the field, and no registry is read or grant use counted."""
    doc = next(d for d in rules.shipped() if d.code == "minimum_living")
    income = next(g for g in grants.list_grants(db_session=db_session,
                                                dataset="income_tax.annual")
                  if g.purpose_code == doc.purpose_code)
    fields = dict(income.detail["scope"]["fields"]) | {"annual_income": Masking.partial}
    grants.amend_grant(db_session=db_session, settings=elig.settings, actor=SYSTEM_ACTOR,
                       grant_id=income.grant_id, change=grants.GrantChange(
                           reason="收入字段改为脱敏提供", fields={
                               f: Masking(m) for f, m in fields.items()}))
    out = service.check(db_session=db_session, settings=elig.settings, actor=civil(elig),
                        code="minimum_living", identifier=elig.ids["刘洋"])
    assert isinstance(out, service.Refused) and out.reason == "field_masked"
    assert out.details["dataset"] == "income_tax.annual"
    assert out.details["fields"] == ["annual_income"]
    denied = db_session.scalars(select(Access).where(Access.outcome == "denied")).one()
    assert denied.dataset_code == "income_tax.annual" and denied.kind == "eligibility"
    assert db_session.scalars(select(Access).where(Access.outcome == "allowed")).first() \
        is None
    assert {grants.usage(db_session=db_session, grant_id=g.grant_id).use_count
            for g in grants.list_grants(db_session=db_session)
            if g.purpose_code == doc.purpose_code} == {0}


def test_staff_of_another_department_cannot_run_a_policy(db_session: Session,
                                                         elig: World) -> None:
    out = service.check(db_session=db_session, settings=elig.settings,
                        actor=elig.staff("gjj", "reviewer"), code="minimum_living",
                        identifier=elig.ids["刘洋"])
    assert isinstance(out, service.Refused) and out.reason == "not_policy_staff"
    assert db_session.scalars(select(Access)).first() is None  # nothing was read


def test_a_rule_set_version_is_never_changed_in_place(db_session: Session,
                                                      elig: World) -> None:
    doc = next(d for d in rules.shipped() if d.code == "housing_security")
    code = elig.owners["housing"]
    _, what = service.load_rule_set(db_session=db_session, actor=SYSTEM_ACTOR, doc=doc,
                                    department_credit_code=code)
    assert what == "unchanged"
    changed = doc.model_copy(update={"name": "住房保障(改)"})
    with pytest.raises(Conflict):
        service.load_rule_set(db_session=db_session, actor=SYSTEM_ACTOR, doc=changed,
                              department_credit_code=code)
    newer = doc.model_copy(update={"version": 2, "name": "住房保障(2)"})
    _, what = service.load_rule_set(db_session=db_session, actor=SYSTEM_ACTOR, doc=newer,
                                      department_credit_code=code)
    assert what == "created"
    assert service.current_rule_set(db_session=db_session, code=doc.code).version == 2


@pytest.mark.parametrize(("change", "field"), [
    ({"field": "household_address"}, "rules.0(r).field"),  # sealed personal field
    ({"field": "nope"}, "rules.0(r).field"),
    ({"dataset": "legal_entity.registration", "field": "status"}, "rules.0(r).dataset"),
    ({"field": "household_size", "value": "51"}, "rules.0(r).op"),  # no prefix of a number
    ({"field": "household_size", "op": "ge", "value": "many"}, "rules.0(r).value"),
])
def test_a_rule_that_does_not_fit_the_catalog_is_refused_naming_rule_and_field(
        db_session: Session, elig: World, change: dict[str, Any], field: str) -> None:
    base = {"id": "r", "label": "x", "source": "y", "dataset": "population.household",
            "field": "household_region", "op": "prefix", "value": "5101"}
    doc = next(d for d in rules.shipped() if d.code == "housing_security")
    raw = doc.model_dump(mode="json")
    raw["rules"] = [{**base, **change}]
    raw["version"] = 9
    bad = rules.parse(raw)
    with pytest.raises(InvalidInput) as err:
        service.load_rule_set(db_session=db_session, actor=SYSTEM_ACTOR, doc=bad,
                              department_credit_code=elig.owners["housing"])
    assert err.value.details[0]["field"] == field


def test_a_malformed_rule_set_names_the_field(elig: World) -> None:
    with pytest.raises(InvalidInput) as err:
        rules.parse_toml('format = "tongban-rule-set/1"\ncode = "x1"\nversion = 0\n')
    assert any(p["field"] == "version" for p in err.value.details)
    with pytest.raises(InvalidInput):
        rules.parse_toml("not toml = = =")


def test_the_api_checks_as_department_staff_and_refuses_others(
        client: TestClient, db_session: Session, elig: World) -> None:
    account(db_session, "rev.civil", ["reviewer"], [("510100", elig.departments["civil"].id)])
    account(db_session, "rev.gjj", ["reviewer"], [("510100", elig.departments["gjj"].id)])
    body = {"rule_set": "temporary_assistance", "subject": elig.ids["刘洋"]}
    ok = client.post("/api/v1/eligibility/checks", json=body,
                     headers=bearer(client, "rev.civil"))
    assert ok.status_code == 200, ok.text
    assert ok.json()["eligible"] is True
    assert {r["id"] for r in ok.json()["rules"]} >= {"registered", "income", "lives_here"}
    refused = client.post("/api/v1/eligibility/checks", json=body,
                          headers=bearer(client, "rev.gjj"))
    assert refused.status_code == 403 and refused.json()["error"] == "not_policy_staff"
    listed = client.get("/api/v1/eligibility/rule-sets").json()
    assert {r["code"] for r in listed} == {d.code for d in rules.shipped()}
    bad = client.post("/api/v1/eligibility/checks", json={**body, "subject": "123"},
                      headers=bearer(client, "rev.civil"))
    assert bad.status_code == 422


def test_the_cli_explains_a_check(cli_env: None, db_session: Session, elig: World,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("data_key", "index_key", "csrf_key", "node_key"):  # the node's own keys
        monkeypatch.setenv(f"TONGBAN_{key.upper()}", getattr(elig.settings, key))
    from rich.console import Console

    import tongban.cli

    monkeypatch.setattr(tongban.cli, "console", Console(width=250))
    account(db_session, "rev.civil", ["reviewer"], [("510100", elig.departments["civil"].id)])
    runner = CliRunner()
    done = runner.invoke(cli, ["eligibility", "check", "temporary_assistance",
                               elig.ids["刘洋"], "--as", "rev.civil", "--json"])
    assert done.exit_code == 0, done.output
    assert '"eligible": true' in done.output
    listed = runner.invoke(cli, ["eligibility", "rule-sets"])
    assert "minimum_living" in listed.output
