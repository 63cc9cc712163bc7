"""One subject, one rule set: the interpreter, with an explanation of every rule (the
values it read, where they came from, the threshold and the article behind it).

Its input is what the purpose-bound reads returned: per dataset, the subject's records
(values of the fields read, source, as_of). It follows the semantics of `rules.py`; the
vectorised and SQL forms are held equal to it by the tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from tongban.eligibility.rules import Bound, BoundRuleSet, compare, typed

# The implicit first rule: the subject is one of the population the rule set screens
# (the vectorised and SQL forms screen exactly that population).
POPULATION_RULE = "registered"

# dataset -> the subject's records: {"values": {...}, "source": ..., "as_of": ...}
Records = dict[str, list[dict[str, Any]]]


@dataclass(frozen=True)
class PartOutcome:
    dataset: str
    field: str | None
    where: dict[str, list[Any]]
    aggregate: str
    op: str
    threshold: Any
    value: Any  # what was compared (None: missing)
    missing: bool
    passed: bool
    sources: list[dict[str, str]]  # the records read: source and as_of


@dataclass(frozen=True)
class RuleOutcome:
    id: str
    label: str
    source: str
    passed: bool
    parts: list[PartOutcome]


@dataclass(frozen=True)
class Explanation:
    rule_set: str
    version: int
    sha256: str
    eligible: bool
    rules: list[RuleOutcome]
    subject: str = ""  # masked

    @property
    def failed(self) -> list[str]:
        return [r.id for r in self.rules if not r.passed]


def _selected(bound: Bound, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in records
            if all(typed(r["values"].get(name), kind) in allowed
                   for name, kind, allowed in bound.where)]


def folded(bound: Bound, selected: list[dict[str, Any]]) -> Any:
    """The value a condition compares: its aggregate over the selected records (None when
    there is nothing to compare)."""
    if bound.aggregate == "count":
        return len(selected)
    present = [v for v in (typed(r["values"].get(bound.field), bound.field_type)
                           for r in selected) if v is not None]
    if not present:
        return None
    if bound.aggregate == "value":
        return present[0]
    if bound.aggregate == "sum":
        return sum(present, Decimal(0) if bound.field_type == "decimal" else 0)
    return max(present) if bound.aggregate == "max" else min(present)


def test(bound: Bound, value: Any) -> tuple[bool, bool]:
    """(passed, missing) of a condition given its folded value."""
    if value is None:
        if bound.missing == "zero":
            return compare(bound.op, 0, bound.threshold), True
        return bound.missing == "pass", True
    return compare(bound.op, value, bound.threshold), False


def _part(bound: Bound, records: list[dict[str, Any]]) -> PartOutcome:
    selected = _selected(bound, records)
    value = folded(bound, selected)
    passed, missing = test(bound, value)
    return PartOutcome(
        dataset=bound.dataset, field=bound.field,
        where={name: list(allowed) for name, _, allowed in bound.where},
        aggregate=bound.aggregate, op=bound.op, threshold=bound.threshold, value=value,
        missing=missing, passed=passed,
        sources=[{"source": r["source"], "as_of": r["as_of"]} for r in selected])


def evaluate(rule_set: BoundRuleSet, records: Records, *, sha256: str = "") -> Explanation:
    """Every rule of the set for one subject; eligible when all pass."""
    population = records.get(rule_set.doc.population, [])
    outcomes = [RuleOutcome(
        POPULATION_RULE, "在基础库中有登记 / registered in the base registry",
        f"规则集适用人群: {rule_set.doc.population}", bool(population),
        [PartOutcome(rule_set.doc.population, None, {}, "count", "ge", 1, len(population),
                     False, bool(population),
                     [{"source": r["source"], "as_of": r["as_of"]} for r in population])])]
    for rule in rule_set.rules:
        parts = [_part(b, records.get(b.dataset, [])) for b in rule.parts]
        outcomes.append(RuleOutcome(rule.rule.id, rule.rule.label, rule.rule.source,
                                    any(p.passed for p in parts), parts))
    return Explanation(rule_set.doc.code, rule_set.doc.version, sha256,
                       all(r.passed for r in outcomes), outcomes)
