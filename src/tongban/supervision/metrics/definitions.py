"""The metric definitions: data (data/definitions.json), checked once when first read.

Each metric names the fact counters it divides, the period it is counted in (the month a
case was submitted, or decided) and a written definition in Chinese and English. A
definition is versioned: changing what a metric means is a new version in the file, and
every published figure carries the version it was computed under plus the hash of the
whole file, so a regulator can tell which rule produced a number.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date
from functools import lru_cache
from importlib import resources
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# The counters of a metric cell (models.MetricCell) a case-sourced metric may name.
CASE_COUNTERS = ("submitted", "online_capable", "fully_online", "zero_visit", "immediate",
                 "cross_province", "decided", "on_time", "handling_days")
SUBMITTED_COUNTERS = frozenset(CASE_COUNTERS[:6])
DECIDED_COUNTERS = frozenset(CASE_COUNTERS[6:])
# ... a rating-sourced one (counted in the month of the rating), a complaint-sourced one
# (in the month the ticket closed).
RATING_COUNTERS = ("rated", "good", "bad", "bad_rectified")
COMPLAINT_COUNTERS = ("complaints_closed", "complaints_on_time")
CELL_COUNTERS = (*CASE_COUNTERS, *RATING_COUNTERS, *COMPLAINT_COUNTERS)
# Which counters each source and basis may divide.
BASES: dict[tuple[str, str], frozenset[str]] = {
    ("cases", "submitted"): SUBMITTED_COUNTERS, ("cases", "decided"): DECIDED_COUNTERS,
    ("ratings", "rated"): frozenset(RATING_COUNTERS),
    ("complaints", "closed"): frozenset(COMPLAINT_COUNTERS),
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FactRules(_Strict):
    """How a case's events become facts (see the file's note)."""

    version: int = Field(ge=1)
    note: str
    excluded_kinds: tuple[str, ...]
    online_channels: tuple[str, ...] = Field(min_length=1)
    online_capable_min_depth: int = Field(ge=1, le=4)
    decision_states: tuple[str, ...] = Field(min_length=1)
    window_delivery_methods: tuple[str, ...]
    immediate_workflows: tuple[str, ...] = Field(min_length=1)


class MetricDefinition(_Strict):
    """One metric: what it counts, over what, in which period, and what that means."""

    id: str = Field(pattern=r"^[a-z][a-z_]{2,40}$")
    version: int = Field(ge=1)
    effective_from: date
    name: str = Field(min_length=1)
    name_en: str = Field(min_length=1)
    kind: Literal["ratio", "mean", "count"]
    unit: Literal["ratio", "working_days", "count"] | None = None
    source: Literal["cases", "ratings", "complaints"]
    basis: str
    numerator: str
    denominator: str | None = None
    definition: str = Field(min_length=10)
    definition_en: str = Field(min_length=10)

    @model_validator(mode="after")
    def _consistent(self) -> MetricDefinition:
        if (self.kind == "count") != (self.denominator is None):
            raise ValueError(f"{self.id}: a count has no denominator, a ratio or mean has one")
        counters = {self.numerator, *([self.denominator] if self.denominator else [])}
        unknown = counters - set(CELL_COUNTERS)
        if unknown:
            raise ValueError(f"{self.id}: unknown counters {sorted(unknown)}")
        allowed = BASES.get((self.source, self.basis))
        if allowed is None or not counters <= allowed:
            raise ValueError(f"{self.id}: counters {sorted(counters)} are not all counted "
                             f"by {self.source} per {self.basis!r}")
        return self

    @property
    def value_unit(self) -> str:
        return self.unit or {"ratio": "ratio", "mean": "working_days", "count": "count"}[
            self.kind]


class DefinitionFile(_Strict):
    schema_: str = Field(alias="schema", pattern=r"^tongban-metric-definitions/1$")
    facts: FactRules
    metrics: tuple[MetricDefinition, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> DefinitionFile:
        ids = [m.id for m in self.metrics]
        if len(ids) != len(set(ids)):
            raise ValueError("metric ids repeat")
        return self


@lru_cache(maxsize=1)
def _raw() -> bytes:
    return resources.files("tongban.supervision.metrics").joinpath(
        "data/definitions.json").read_bytes()


@lru_cache(maxsize=1)
def definitions() -> DefinitionFile:
    """The shipped definitions, validated (a broken file fails at first use, loudly)."""
    return DefinitionFile.model_validate(json.loads(_raw()))


def definitions_hash() -> str:
    """SHA-256 of the definition file as shipped: published with every figure."""
    return hashlib.sha256(_raw()).hexdigest()


def by_id() -> dict[str, MetricDefinition]:
    """Every metric by its id, in the file's order."""
    return {m.id: m for m in definitions().metrics}


def fact_rules() -> FactRules:
    return definitions().facts
