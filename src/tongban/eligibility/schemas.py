"""Pydantic models of the eligibility API."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tongban.eligibility import single


class RuleSetOut(BaseModel):
    code: str
    version: int
    name: str
    kind: str
    subject_kind: str
    mode: str
    confirmation: str
    department_name: str
    department_credit_code: str
    effective_from: date
    effective_until: date | None
    sha256: str
    document: dict[str, Any]


class CheckIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    rule_set: str = Field(min_length=1, max_length=60)
    subject: str = Field(min_length=1, max_length=40, description="ID number or credit code")
    case_number: str | None = Field(default=None, max_length=32)
    consent_id: uuid.UUID | None = None


class PartOut(BaseModel):
    dataset: str
    field: str | None
    where: dict[str, list[Any]]
    aggregate: str
    op: str
    threshold: Any
    value: Any
    missing: bool
    passed: bool
    sources: list[dict[str, str]]


class RuleOut(BaseModel):
    id: str
    label: str
    source: str
    passed: bool
    parts: list[PartOut]


class CheckOut(BaseModel):
    rule_set: str
    version: int
    sha256: str
    subject: str  # masked
    eligible: bool
    failed: list[str]
    rules: list[RuleOut]


def check_out(explanation: single.Explanation) -> CheckOut:
    """The API form of an explanation."""
    return CheckOut(rule_set=explanation.rule_set, version=explanation.version,
                    sha256=explanation.sha256, subject=explanation.subject,
                    eligible=explanation.eligible,
                    failed=explanation.failed,
                    rules=[RuleOut.model_validate(asdict(r)) for r in explanation.rules])


class RunIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    rule_set: str = Field(min_length=1, max_length=60)


class RunOut(BaseModel):
    rule_set: str
    version: int
    population: int
    eligible: int
    new: int
    refused: str | None


class QualificationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    rule_set_code: str
    rule_set_version: int
    subject_kind: str
    name: str
    state: str
    found_at: datetime
    decided_at: datetime | None
    decided_by_name: str
    reason: str
    case_number: str | None


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    confirm: bool
    reason: str = Field(default="", max_length=500)
