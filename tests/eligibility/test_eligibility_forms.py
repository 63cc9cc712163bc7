"""One rule source, three evaluators: the single-subject interpreter, the vectorised
form (polars columns over the population) and the one SQL query agree on every subject
and every rule, on the demo registries and on random ones."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy.orm import Session

from tests.sharing.conftest import World
from tongban.eligibility import rules, service, single, sqlform, vector
from tongban.identity.actor import SYSTEM_ACTOR
from tongban.identity.ids import make_resident_id
from tongban.sharing import importer, registries
from tongban.sharing.demo import as_csv


def _single(db: Session, world: World, code: str, key: str) -> dict[str, bool]:
    """The interpreter's verdicts for one subject (records read without a grant: this
    test compares evaluators, the grant path has its own tests)."""
    row = service.current_rule_set(db_session=db, code=code)
    bound = service.bound_rule_set(db_session=db, rule_set=row)
    records: single.Records = {}
    for dataset in bound.datasets:
        records[dataset] = [
            {"values": r.values, "source": r.source, "as_of": r.as_of.isoformat()}
            for r in registries.records_of(db_session=db, settings=world.settings,
                                           subject_key=key, datasets=[dataset])]
    out = single.evaluate(bound, records)
    return {**{r.id: r.passed for r in out.rules if r.id != single.POPULATION_RULE},
            "eligible": out.eligible}


def _agree(db: Session, world: World) -> dict[str, int]:
    eligible = {}
    for row in service.list_rule_sets(db_session=db):
        bound = service.bound_rule_set(db_session=db, rule_set=row)
        table = vector.evaluate(bound, vector.read_frames(db_session=db, rule_set=bound))
        by_vector = {r.pop(vector.KEY): r for r in table.to_dicts()}
        by_sql = sqlform.evaluate(db_session=db, rule_set=bound)
        assert by_vector == by_sql, row.code
        for key, verdicts in by_sql.items():
            assert _single(db, world, row.code, key) == verdicts, (row.code, key)
            # the SQL form asked about one subject reads only that subject's rows
            assert sqlform.evaluate(db_session=db, rule_set=bound, keys=[key]) == {
                key: verdicts}, (row.code, key)
        eligible[row.code] = sum(v["eligible"] for v in by_sql.values())
    return eligible


def test_the_three_forms_agree_on_the_demo_registries(db_session: Session,
                                                      elig: World) -> None:
    counts = _agree(db_session, elig)
    # 刘洋 qualifies for 低保 (成都 residence permit) and 临时救助; 王芳 for 住房保障;
    # 蜀锦 for both enterprise policies, 浦江 (a broken commitment) for 稳岗返还 only.
    assert counts == {"minimum_living": 1, "temporary_assistance": 1,
                      "housing_security": 1, "job_retention_refund": 2,
                      "small_business_insurance_subsidy": 1}


def _random_people(rng: random.Random, n: int) -> dict[str, list[dict[str, Any]]]:
    """n random people over the datasets the person rule sets read, with edge values at
    the thresholds (12960, 25920, 60000, 12 months) and gaps (no record, empty field)."""
    rows: dict[str, list[dict[str, Any]]] = {k: [] for k in (
        "population.household", "population.residence", "population.death",
        "income_tax.annual", "real_estate.property", "vehicle.registration",
        "civil_assistance.recipient", "social_insurance.pension",
        "social_insurance.medical", "housing_fund.deposit")}
    for i in range(n):
        number = make_resident_id("510104", date(1960 + i % 40, 1 + i % 12, 1 + i % 28),
                                  100 + i)
        who = {"id_number": number, "name": f"测试{i}"}
        if rng.random() < 0.9:
            rows["population.household"].append({**who, "household_region": rng.choice(
                ["510104", "510100", "320102", "5101", "310115"])})
        if rng.random() < 0.3:
            rows["population.residence"].append({**who, "residence_region": rng.choice(
                ["510104", "500103"]), "registered_on": "2024-01-01"})
        if rng.random() < 0.05:
            rows["population.death"].append({**who, "died_on": "2026-01-01"})
        for year in rng.sample([2024, 2025], rng.randint(0, 2)):
            rows["income_tax.annual"].append({**who, "year": year, "annual_income": rng.choice(
                ["0", "12960", "12960.01", "25920", "59999.99", "60000", "60000.01",
                 "150000"])})
        for j in range(rng.choice([0, 0, 1, 2])):
            rows["real_estate.property"].append({**who, "certificate_number": f"C{i}-{j}",
                                                 "location": "某地", "use": rng.choice(
                                                     ["住宅", "商业", "办公", "其他"])})
        if rng.random() < 0.3:
            rows["vehicle.registration"].append({**who, "plate_number": f"川A{i:05d}",
                                                 "status": rng.choice(["正常", "注销"])})
        for kind in rng.sample(["最低生活保障", "临时救助"], rng.randint(0, 1)):
            rows["civil_assistance.recipient"].append({**who, "assistance_type": kind,
                                                       "status": rng.choice(["在保", "停保"])})
        if rng.random() < 0.8:
            rows["social_insurance.pension"].append({**who, "status": rng.choice(
                ["正常参保", "暂停缴费", "终止参保", "退休"]), "months_contributed": rng.choice(
                    [None, 0, 11, 12, 200])})
        if rng.random() < 0.5:
            rows["social_insurance.medical"].append({**who, "scheme": "城乡居民基本医疗保险",
                                                     "status": "正常", "insured_region":
                                                     rng.choice(["510100", "320100", ""])})
        if rng.random() < 0.5:
            rows["housing_fund.deposit"].append({**who, "account_number": f"G{i}",
                                                 "status": "正常",
                                                 "has_loan": rng.choice(["是", "否", ""])})
    return rows


@pytest.mark.parametrize("seed", [7, 2026])
def test_the_three_forms_agree_on_random_registries(db_session: Session, elig: World,
                                                    seed: int) -> None:
    rng = random.Random(seed)
    for code, rows in _random_people(rng, 60).items():
        clean = [{k: v for k, v in row.items() if v is not None} for row in rows]
        if clean:
            importer.import_records(db_session=db_session, settings=elig.settings,
                                    actor=SYSTEM_ACTOR, dataset=code, data=as_csv(clean),
                                    filename=f"{code}.csv",
                                    as_of=datetime(2026, 12, 1, tzinfo=UTC))
    db_session.commit()
    counts = _agree(db_session, elig)
    assert counts["housing_security"] > 1 and counts["minimum_living"] > 1


def test_rules_module_types_thresholds_exactly() -> None:
    assert rules.typed("12960.01", "decimal") > rules.typed("12960", "decimal")
    assert rules.compare("le", rules.typed("12960.00", "decimal"),
                         rules.typed("12960", "decimal"))
