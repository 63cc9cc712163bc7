"""Inputs and outputs of 双随机一公开, checked field by field."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tongban.identity.ids import validate_uscc

MAX_ENTRIES = 100_000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TargetEntry(_Strict):
    """检查对象: an enterprise by its 统一社会信用代码; a stratum for proportional draws."""

    id: str = Field(min_length=18, max_length=18)
    name: str = Field(min_length=1, max_length=200)
    stratum: str = Field(default="", max_length=40)

    @field_validator("id")
    @classmethod
    def _credit_code(cls, value: str) -> str:
        return validate_uscc(value)


class InspectorEntry(_Strict):
    """执法检查人员: by their enforcement certificate number; targets they may not inspect."""

    id: str = Field(pattern=r"^[A-Za-z0-9-]{1,40}$")
    name: str = Field(min_length=1, max_length=100)
    department: str = Field(default="", max_length=200)
    conflicts: list[str] = Field(default_factory=list, max_length=1000)


class ListIn(_Strict):
    kind: Literal["targets", "inspectors"]
    name: str = Field(min_length=1, max_length=200)
    region_code: str = Field(pattern=r"^[0-9]{6}$")
    entries: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_ENTRIES)


class Rules(_Strict):
    """抽查细则: how many targets (a number or a percentage, per stratum or overall) and
    how many inspectors each (at least two, by 国办发〔2015〕58号)."""

    sample_size: int | None = Field(default=None, ge=1, le=MAX_ENTRIES)
    sample_percent: str | None = Field(default=None,
                                       pattern=r"^(100|[1-9]?[0-9])(\.[0-9]{1,2})?$")
    per_stratum: bool = False
    inspectors_per_target: int = Field(default=2, ge=2, le=10)

    @model_validator(mode="after")
    def _one_size(self) -> Rules:
        if (self.sample_size is None) == (self.sample_percent is None):
            raise ValueError("须且只须给出 sample_size 或 sample_percent 之一 / give exactly "
                             "one of sample_size and sample_percent")
        if self.sample_percent is not None and float(self.sample_percent) <= 0:
            raise ValueError("抽查比例须大于0 / sample_percent must be above 0")
        return self

    def as_data(self) -> dict[str, Any]:
        """The rules as committed (only the keys given)."""
        return self.model_dump(exclude_none=True)


class SourceIn(_Strict):
    """Where the randomness will come from, fixed before it exists."""

    kind: Literal["ledger", "drand"] = "ledger"
    delay_seconds: int = Field(default=600, ge=0, le=7 * 86400)
    round: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _round_for_drand(self) -> SourceIn:
        if (self.kind == "drand") != (self.round is not None):
            raise ValueError("drand 须指定轮次 round,账本来源不需要 / a drand source names "
                             "its round; a ledger source does not")
        return self


class DrawIn(_Strict):
    task: str = Field(min_length=1, max_length=200)
    targets_list_id: uuid.UUID
    inspectors_list_id: uuid.UUID
    rules: Rules
    source: SourceIn = Field(default_factory=SourceIn)


class RunIn(_Strict):
    drand_signature: str | None = Field(default=None, pattern=r"^[0-9a-f]{96,192}$")


class RecusalIn(_Strict):
    target_id: str = Field(min_length=1, max_length=40)
    inspector_id: str = Field(min_length=1, max_length=40)
    reason: str = Field(min_length=2, max_length=500)


class ListOut(BaseModel):
    id: uuid.UUID
    kind: str
    name: str
    region_code: str
    state: str
    sha256: str | None
    frozen_at: datetime | None
    entries: list[dict[str, Any]]


class RecusalOut(BaseModel):
    seq: int
    target_id: str
    inspector_id: str
    reason: str
    recorded_by: str
    recorded_at: datetime


class DrawOut(BaseModel):
    id: uuid.UUID
    task: str
    region_code: str
    state: str
    rules: dict[str, Any]
    commitment: dict[str, Any]
    commitment_hash: str
    committed_at: datetime
    randomness: str | None
    seed: str | None
    result: dict[str, Any] | None
    drawn_at: datetime | None
    recusals: list[RecusalOut]
