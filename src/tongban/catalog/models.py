"""Regions, departments, standard items, implementations and their versions.

An implementation (实施清单) is edited as a draft version and published as an immutable
one; cases point at the version they were applied under. Items keep one stable id across
versions and regions.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint, event
from sqlalchemy.orm import Mapped, Mapper, mapped_column, relationship
from sqlalchemy.orm.attributes import get_history

from tongban.db import Base, CreatedMixin, IdMixin, JsonType


class ItemType(StrEnum):
    licensing = "行政许可"
    confirmation = "行政确认"
    adjudication = "行政裁决"
    benefit = "行政给付"
    reward = "行政奖励"
    filing = "行政备案"
    other_power = "其他行政权力"
    public_service = "公共服务"


class RegionLevel:
    """行使层级 / region level: 1 国家 … 6 村(社区)."""

    NATIONAL, PROVINCE, CITY, COUNTY, TOWNSHIP, VILLAGE = 1, 2, 3, 4, 5, 6
    NAMES: ClassVar[dict[int, str]] = {
        1: "国家级", 2: "省级", 3: "市级", 4: "县级", 5: "乡镇级", 6: "村(社区)级"}


class VersionState(StrEnum):
    draft = "draft"
    published = "published"
    superseded = "superseded"
    withdrawn = "withdrawn"


class Region(Base):
    """A GB/T 2260 region: 6 digits down to county, 9 for a township, 12 for a village."""

    __tablename__ = "catalog_regions"

    code: Mapped[str] = mapped_column(String(12), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    level: Mapped[int]
    parent_code: Mapped[str | None] = mapped_column(
        ForeignKey("catalog_regions.code"), index=True
    )


class Department(IdMixin, CreatedMixin, Base):
    """实施主体: the body that handles implementations; identified by its credit code."""

    __tablename__ = "catalog_departments"

    name: Mapped[str] = mapped_column(String(200))
    region_code: Mapped[str] = mapped_column(ForeignKey("catalog_regions.code"), index=True)
    credit_code: Mapped[str] = mapped_column(String(18), unique=True)
    kind: Mapped[str] = mapped_column(String(40))
    level: Mapped[int]


class ServiceItem(IdMixin, CreatedMixin, Base):
    """A standard item (基本目录) with its 12-character 基本编码."""

    __tablename__ = "catalog_items"

    basic_code: Mapped[str] = mapped_column(String(12), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    item_type: Mapped[str] = mapped_column(String(20))
    use_levels: Mapped[list[int]] = mapped_column(JsonType, default=list)
    legal_basis: Mapped[str] = mapped_column(Text, default="")
    description: Mapped[str] = mapped_column(Text, default="")
    # Life events / topics (e.g. 生育收养, 企业开办), for browsing.
    topics: Mapped[list[str]] = mapped_column(JsonType, default=list)
    # Full pinyin and initials of the name, so `GET /items?q=gjj` finds 公积金.
    name_pinyin: Mapped[str] = mapped_column(String(800), default="")
    name_initials: Mapped[str] = mapped_column(String(200), default="")


class Implementation(IdMixin, CreatedMixin, Base):
    """One department's delivery of one item in its region; versions hold the guide."""

    __tablename__ = "catalog_implementations"

    implementation_code: Mapped[str] = mapped_column(String(31), unique=True)
    item_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("catalog_items.id"), index=True)
    department_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("catalog_departments.id"), index=True
    )
    region_code: Mapped[str] = mapped_column(ForeignKey("catalog_regions.code"), index=True)
    # The published version applicants see now (None until the first publication). No
    # foreign key: versions point back here, and a cycle of keys would need ALTER on
    # SQLite; publish() is the one writer and keeps it right.
    current_version_id: Mapped[uuid.UUID | None] = mapped_column(index=True)

    item: Mapped[ServiceItem] = relationship(lazy="joined")
    department: Mapped[Department] = relationship(lazy="joined")


class ImplementationVersion(IdMixin, CreatedMixin, Base):
    """A guide snapshot; immutable once published (only its state moves on)."""

    __tablename__ = "catalog_implementation_versions"

    implementation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("catalog_implementations.id"), index=True
    )
    version: Mapped[int]
    state: Mapped[str] = mapped_column(String(12), default=VersionState.draft)
    name: Mapped[str] = mapped_column(String(200))
    # Every guide element (schemas.Guide), validated before it is stored.
    guide: Mapped[dict[str, Any]] = mapped_column(JsonType)
    form_schema: Mapped[dict[str, Any]] = mapped_column(JsonType)
    legal_days: Mapped[int]
    promised_days: Mapped[int]
    created_by: Mapped[uuid.UUID | None]
    published_at: Mapped[datetime | None]
    published_by: Mapped[uuid.UUID | None]

    __table_args__ = (UniqueConstraint("implementation_id", "version"),)

    implementation: Mapped[Implementation] = relationship(
        lazy="joined", foreign_keys=[implementation_id]
    )

    @property
    def implementation_code(self) -> str:
        return self.implementation.implementation_code


class SearchEntry(Base):
    """One row per published implementation: the denormalised text that search reads.

    `text` is the lower-cased Chinese text (name, item, department, region, topics);
    `pinyin` the full pinyin and `initials` the pinyin initials of the same segments, each
    segment without spaces and segments separated by one space, the implementation's name
    first, so `gjj` finds 住房公积金提取 and `gjj ` (prefix with a space) means "the whole
    name". SearchToken rows (an inverted index, see tokens.py) select the entries a query
    can match; the LIKE predicates then check them. `doc` is the entry's small integer key
    in that index (never reused: AUTOINCREMENT on SQLite, a sequence on PostgreSQL).
    """

    __tablename__ = "catalog_search"

    doc: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    implementation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("catalog_implementations.id"), unique=True
    )
    implementation_code: Mapped[str] = mapped_column(String(31))
    version_id: Mapped[uuid.UUID]
    basic_code: Mapped[str] = mapped_column(String(12))
    item_name: Mapped[str] = mapped_column(String(200))
    department_name: Mapped[str] = mapped_column(String(200))
    region_name: Mapped[str] = mapped_column(String(100))
    region_code: Mapped[str] = mapped_column(String(12), index=True)
    department_id: Mapped[uuid.UUID] = mapped_column(index=True)
    item_type: Mapped[str] = mapped_column(String(20), index=True)
    applicant_types: Mapped[str] = mapped_column(String(60))
    name: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    pinyin: Mapped[str] = mapped_column(Text)
    initials: Mapped[str] = mapped_column(String(400))
    popularity: Mapped[int] = mapped_column(default=0)

    __table_args__ = (
        # `region_code LIKE '5101%'` (a region and everything under it) needs pattern ops
        # on PostgreSQL unless the database collation is C; SQLite uses GLOB on the
        # plain index (search.region_filter).
        Index("ix_catalog_search_region_prefix", "region_code",
              postgresql_ops={"region_code": "varchar_pattern_ops"}).ddl_if(
                  dialect="postgresql"),
        {"sqlite_autoincrement": True},
    )


# Broad queries and browsing walk entries in result order (most popular first) and stop
# after one page, instead of sorting every match.
Index("ix_catalog_search_popular", SearchEntry.popularity.desc(), SearchEntry.name,
      SearchEntry.implementation_id)


class SearchToken(Base):
    """One posting of the search index: entry `doc` carries `token` (see tokens.py).

    No foreign key to catalog_search: a key would make deleting an entry scan this table
    on both databases; service._refresh_search_entry and withdraw keep the two in step,
    and a stale posting costs one extra candidate, never a wrong result (docs are never
    reused).
    """

    __tablename__ = "catalog_search_tokens"

    token: Mapped[str] = mapped_column(String(16), primary_key=True)
    doc: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)

    __table_args__ = ({"sqlite_with_rowid": False},)


class StandardGuideVersion(IdMixin, CreatedMixin, Base):
    """One version of a standard item's reference guide (schemas.StandardGuide); appended,
    never edited, so a diff can say which standard it compared with."""

    __tablename__ = "catalog_standard_guides"

    item_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("catalog_items.id"), index=True)
    version: Mapped[int]
    guide: Mapped[dict[str, Any]] = mapped_column(JsonType)
    created_by: Mapped[uuid.UUID | None]
    note: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (UniqueConstraint("item_id", "version"),)


class VarianceState(StrEnum):
    proposed = "proposed"
    approved = "approved"
    rejected = "rejected"
    revoked = "revoked"


class Variance(IdMixin, CreatedMixin, Base):
    """统异弹性空间: a region's declared difference from the standard guide of an item.

    `key` names the difference exactly as the diff does (e.g. `time_limit.promised_days`,
    `materials.extra:房屋租赁登记备案证明`) and `local_value` is the value declared: a
    declaration covers a difference only while the region's guide still has that value.
    Only an approved declaration counts; the approver is never the proposer.
    """

    __tablename__ = "catalog_variances"

    item_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("catalog_items.id"), index=True)
    region_code: Mapped[str] = mapped_column(ForeignKey("catalog_regions.code"), index=True)
    element: Mapped[str] = mapped_column(String(20))
    key: Mapped[str] = mapped_column(String(200))
    standard_value: Mapped[Any] = mapped_column(JsonType, nullable=True)
    local_value: Mapped[Any] = mapped_column(JsonType, nullable=True)
    reason: Mapped[str] = mapped_column(Text)
    legal_basis: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(12), default=VarianceState.proposed)
    proposed_by: Mapped[uuid.UUID | None]
    proposed_by_name: Mapped[str] = mapped_column(String(200), default="")
    approver: Mapped[str] = mapped_column(String(200), default="")
    approved_by: Mapped[uuid.UUID | None]
    decided_at: Mapped[datetime | None]
    decision_note: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (Index("ix_catalog_variances_item_region", "item_id", "region_code"),)


class AlignmentBatch(IdMixin, CreatedMixin, Base):
    """One imported local item list (地方事项清单) of a region, matched on import."""

    __tablename__ = "catalog_alignment_batches"

    region_code: Mapped[str] = mapped_column(ForeignKey("catalog_regions.code"), index=True)
    source_name: Mapped[str] = mapped_column(String(200), default="")
    line_count: Mapped[int] = mapped_column(default=0)
    created_by: Mapped[uuid.UUID | None]
    created_by_name: Mapped[str] = mapped_column(String(200), default="")


class LineStatus(StrEnum):
    matched = "matched"  # confident: best above the bar with a clear margin
    review = "review"  # low confidence or low margin: a person decides
    confirmed = "confirmed"  # a reviewer accepted the suggestion
    corrected = "corrected"  # a reviewer chose another item
    unmatched = "unmatched"  # a reviewer says the standard catalog has no such item


class AlignmentLine(IdMixin, Base):
    """One line of a local list with the matcher's suggestion and the reviewer's word."""

    __tablename__ = "catalog_alignment_lines"

    batch_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("catalog_alignment_batches.id"), index=True)
    row: Mapped[int]
    local_code: Mapped[str] = mapped_column(String(60), default="")
    name: Mapped[str] = mapped_column(String(300))
    department: Mapped[str] = mapped_column(String(200), default="")
    item_type: Mapped[str] = mapped_column(String(20), default="")
    materials: Mapped[list[str]] = mapped_column(JsonType, default=list)
    legal_days: Mapped[int | None]
    promised_days: Mapped[int | None]
    suggested_item_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("catalog_items.id"))
    confidence: Mapped[float] = mapped_column(Float, default=0.0)
    margin: Mapped[float] = mapped_column(Float, default=0.0)
    reason: Mapped[list[str]] = mapped_column(JsonType, default=list)
    runners_up: Mapped[list[dict[str, Any]]] = mapped_column(JsonType, default=list)
    status: Mapped[str] = mapped_column(String(12), index=True)
    decided_item_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("catalog_items.id"))
    decided_by: Mapped[uuid.UUID | None]
    decided_at: Mapped[datetime | None]

    __table_args__ = (UniqueConstraint("batch_id", "row"),)


class AlignmentLink(IdMixin, CreatedMixin, Base):
    """A reviewer's decision kept as training data: this local name (and department)
    means this standard item. The matcher learns aliases, word substitutions and
    department associations from these rows, and from nothing else."""

    __tablename__ = "catalog_alignment_links"

    item_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("catalog_items.id"), index=True)
    region_code: Mapped[str] = mapped_column(String(12))
    local_name: Mapped[str] = mapped_column(String(300))
    department: Mapped[str] = mapped_column(String(200), default="")
    line_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("catalog_alignment_lines.id"), unique=True)
    corrected: Mapped[bool] = mapped_column(default=False)


# Once a version leaves `draft`, only its state may move on (published -> superseded or
# withdrawn); its content is frozen because cases point at it. Enforced at flush, so no
# code path (service, import, a stray ORM edit) can change a published guide.
FROZEN_STATES = {VersionState.published, VersionState.superseded, VersionState.withdrawn}
MUTABLE_WHEN_FROZEN = {"state"}


def _old_state(target: ImplementationVersion) -> str:
    history = get_history(target, "state")
    return str(history.deleted[0]) if history.deleted else str(target.state)


@event.listens_for(ImplementationVersion, "before_update")
def _refuse_editing_frozen_version(
    _mapper: Mapper[Any], _connection: Any, target: ImplementationVersion
) -> None:
    if _old_state(target) not in FROZEN_STATES:
        return
    changed = [
        attr.key for attr in _mapper.column_attrs
        if attr.key not in MUTABLE_WHEN_FROZEN and get_history(target, attr.key).has_changes()
    ]
    if changed:
        from tongban.errors import Conflict

        raise Conflict(
            "已发布的版本不可修改,请新建草稿 / a published version is immutable; edit a new draft",
            details={"version_id": str(target.id), "fields": changed},
        )


@event.listens_for(ImplementationVersion, "before_delete")
def _refuse_deleting_frozen_version(
    _mapper: Mapper[Any], _connection: Any, target: ImplementationVersion
) -> None:
    if _old_state(target) in FROZEN_STATES:
        from tongban.errors import Conflict

        raise Conflict(
            "已发布的版本不可删除 / a published version cannot be deleted",
            details={"version_id": str(target.id)},
        )
