"""API models of standardisation (diff, variances, conformance) and alignment."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tongban.catalog.schemas import StandardGuide, _Strict


class StandardGuideIn(_Strict):
    guide: StandardGuide
    note: str = Field(default="", max_length=500)


class StandardGuideOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    version: int
    guide: StandardGuide
    note: str
    created_at: datetime


class DifferenceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    element: str
    key: str
    standard: Any
    local: Any
    direction: str
    declared: bool
    variance_id: uuid.UUID | None


class ColumnOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    implementation_code: str
    region_code: str
    region_name: str
    department_name: str
    version: int
    score: float
    differences: list[DifferenceOut]


class ItemDiffOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    basic_code: str
    item_name: str
    standard_version: int
    score: float | None
    columns: list[ColumnOut]


class RegionScoreOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    region_code: str
    region_name: str
    items: int
    score: float
    declared: int
    undeclared: int


class ConformanceOut(BaseModel):
    overall: float | None
    regions: list[RegionScoreOut]
    items: list[ItemDiffOut]


class VarianceIn(_Strict):
    basic_code: str
    region_code: str
    key: str = Field(min_length=1, max_length=200)
    reason: str = Field(min_length=1, max_length=2000)
    legal_basis: str = Field(min_length=1, max_length=2000)


class VarianceDecisionIn(_Strict):
    note: str = Field(default="", max_length=2000)


class VarianceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    basic_code: str
    region_code: str
    element: str
    key: str
    standard_value: Any
    local_value: Any
    reason: str
    legal_basis: str
    state: str
    proposed_by_name: str
    approver: str
    decided_at: datetime | None
    decision_note: str
    created_at: datetime


class BatchOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    region_code: str
    source_name: str
    line_count: int
    created_by_name: str
    created_at: datetime
    counts: dict[str, int] = Field(default_factory=dict)


class RunnerUp(BaseModel):
    basic_code: str
    name: str
    score: float


class LineOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    row: int
    local_code: str
    name: str
    department: str
    item_type: str
    materials: list[str]
    legal_days: int | None
    promised_days: int | None
    suggested: RunnerUp | None
    confidence: float
    margin: float
    reason: list[str]
    runners_up: list[RunnerUp]
    status: str
    decided_basic_code: str | None


class DecisionIn(_Strict):
    action: Literal["confirm", "correct", "unmatched"]
    basic_code: str | None = None
