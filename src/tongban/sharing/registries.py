"""Base registries: the sharing catalog's datasets, their records, and reading them.

The read functions here are the domain's internal reads: they check no grant and log no
access. Staff reads go through `queries.query` (purpose-bound, audited, ledgered); a rule
engine that screens a whole population (一键核对, 免申即享) reads with `bulk_read` or
`current_records` and logs what it did with `queries.log_bulk_access`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import rfc8785
from sqlalchemy import Select, and_, case, or_, select
from sqlalchemy.orm import Session

from tongban.audit.service import record as audit
from tongban.catalog import service as catalog
from tongban.catalog.models import Department
from tongban.config import Settings
from tongban.db import utcnow
from tongban.errors import Conflict, Forbidden, InvalidInput, NotFound
from tongban.identity import crypto
from tongban.identity.actor import Actor
from tongban.identity.ids import IdentifierError, mask_id_number, parse_resident_id, validate_uscc
from tongban.sharing.fields import FieldSpec, specs_of
from tongban.sharing.models import Dataset, Record, SubjectKind
from tongban.sharing.schemas import CatalogDocument, CatalogReport, DatasetIn

PERSONAL_COLUMN = "sharing_records.personal"
SUBJECT_COLUMN = "sharing_records.subject"
# identity hashes ID numbers with the default purpose, so a person's records are found
# with identity_people.id_number_hash itself; credit codes get their own hash space.
SUBJECT_PURPOSE = {SubjectKind.person: "id_number", SubjectKind.enterprise: "credit_code"}


# --- the catalog -----------------------------------------------------------------------


def _dataset_values(data: DatasetIn, owner_id: uuid.UUID) -> dict[str, Any]:
    return {
        "code": data.code, "name": data.name, "aliases": data.aliases,
        "base_registry": data.base_registry, "owner_department_id": owner_id,
        "subject_kind": data.subject_kind.value,
        "fields": [f.model_dump(mode="json", exclude_defaults=False) for f in data.fields],
        "record_key": data.record_key, "update_frequency": data.update_frequency,
        "sharing_type": data.sharing_type.value, "sharing_conditions": data.sharing_conditions,
        "legal_basis": data.legal_basis, "description": data.description,
    }


def load_catalog(*, db_session: Session, actor: Actor, doc: dict[str, Any]) -> CatalogReport:
    """Create or update the datasets of a catalog document, all or nothing; a changed
    dataset gets the next version number (its records keep their values)."""
    from pydantic import ValidationError

    try:
        parsed = CatalogDocument.model_validate(doc)
    except ValidationError as exc:
        problems = [{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]}
                    for e in exc.errors()]
        raise InvalidInput("共享目录文件有误,未写入任何数据 / the sharing catalog document is "
                           f"invalid; nothing was written. First: {problems[0]['field']}: "
                           f"{problems[0]['message']}", details=problems) from None
    _check_unique_names(parsed.datasets)
    owners = [_catalog_owner(db_session, actor, index, data)
              for index, data in enumerate(parsed.datasets)]
    created = updated = unchanged = 0
    for data, owner in zip(parsed.datasets, owners, strict=True):
        values = _dataset_values(data, owner.id)
        existing = db_session.scalar(select(Dataset).where(Dataset.code == data.code))
        if existing is None:
            db_session.add(Dataset(**values, version=1, updated_at=utcnow()))
            created += 1
        elif any(getattr(existing, k) != v for k, v in values.items()):
            _check_compatible(db_session, existing, values)
            for key, value in values.items():
                setattr(existing, key, value)
            existing.version += 1
            existing.updated_at = utcnow()
            updated += 1
        else:
            unchanged += 1
    db_session.flush()
    report = CatalogReport(created=created, updated=updated, unchanged=unchanged)
    audit(db_session=db_session, actor_id=actor.account_id, actor_name=actor.name,
          action="sharing.catalog_load", entity="sharing_catalog", entity_id="datasets",
          details=report.model_dump())
    return report


def _check_compatible(db_session: Session, existing: Dataset, values: dict[str, Any]) -> None:
    """A dataset that holds records keeps its subject kind and each kept field's type and
    sealing (a field turned personal would leave its old values in plain text)."""
    if count_records(db_session=db_session, dataset_id=existing.id) == 0:
        return
    old = specs_of(existing.fields)
    new = specs_of(values["fields"])
    changed = [n for n in old.keys() & new.keys()
               if (old[n].type, old[n].sealed) != (new[n].type, new[n].sealed)]
    if changed or existing.subject_kind != values["subject_kind"] or \
            existing.record_key != values["record_key"]:
        raise Conflict("数据集已有记录,不能改变主体、记录标识或字段的类型与加密 / a dataset with "
                       "records cannot change its subject, record key, or a field's type or "
                       "sealing", code="dataset_has_records",
                       details={"dataset": existing.code, "fields": sorted(changed)})


def _catalog_owner(db_session: Session, actor: Actor, index: int, data: DatasetIn
                   ) -> Department:
    """The owner a catalog document names, which the actor must steward."""
    where = f"datasets.{index}.owner_credit_code"
    try:
        owner = catalog.get_department_by_credit_code(db_session=db_session,
                                                      credit_code=data.owner_credit_code)
    except NotFound as exc:
        raise InvalidInput(exc.message, details=[
            {"field": where, "message": "部门不存在 / no such department"}]) from None
    if not may_steward(actor=actor, department=owner):
        raise Forbidden("只能登记本部门的数据集 / you may only catalog datasets of "
                        "departments you steward", code="not_owner_steward",
                        details={"field": where})
    return owner


def _check_unique_names(datasets: Sequence[DatasetIn]) -> None:
    seen: dict[str, int] = {}
    problems = []
    for index, data in enumerate(datasets):
        for name in (data.code, data.name, *data.aliases):
            if name in seen and seen[name] != index:
                problems.append({"field": f"datasets.{index}",
                                 "message": f"名称或别名重复 / repeated name or alias: {name}"})
            seen[name] = index
    if problems:
        raise InvalidInput("共享目录中名称重复 / names repeat in the sharing catalog",
                           details=problems)


STEWARD_ROLES = frozenset({"data_steward"})


def may_steward(*, actor: Actor, department: Department) -> bool:
    """A data steward whose scope covers the department, or the node's operator."""
    return actor.has("operator") or (
        actor.has(*STEWARD_ROLES) and actor.covers(department.region_code, department.id))


def authorise_owner(*, db_session: Session, actor: Actor, dataset: Dataset) -> Department:
    """The dataset's owner department, if the actor stewards it; 403 otherwise."""
    owner = catalog.get_department(db_session=db_session,
                                   department_id=dataset.owner_department_id)
    if not may_steward(actor=actor, department=owner):
        raise Forbidden("只有数据提供部门的数据管理员可以维护该数据集 / only a data steward of "
                        "the owner department may do this", code="not_owner_steward",
                        details={"dataset": dataset.code, "owner": owner.name})
    return owner


def list_datasets(*, db_session: Session, registry: str | None = None) -> list[Dataset]:
    """The sharing catalog, by registry and code."""
    stmt = select(Dataset).order_by(Dataset.base_registry, Dataset.code)
    if registry:
        stmt = stmt.where(Dataset.base_registry == registry)
    return list(db_session.scalars(stmt))


def get_dataset(*, db_session: Session, code: str, for_update: bool = False) -> Dataset:
    """One dataset by code, or NotFound; `for_update` locks its row (imports into one
    dataset run one after the other)."""
    stmt = select(Dataset).where(Dataset.code == code)
    dataset = db_session.scalar(stmt.with_for_update() if for_update else stmt)
    if dataset is None:
        raise NotFound("共享目录中没有该数据集 / no such dataset", details={"dataset": code})
    return dataset


def find_dataset(*, db_session: Session, name: str) -> Dataset | None:
    """The dataset a guide's material names: by code, by name, or by one of its aliases."""
    found = db_session.scalar(select(Dataset).where(or_(Dataset.code == name,
                                                        Dataset.name == name)))
    if found is not None:
        return found
    for dataset in db_session.scalars(select(Dataset)):
        if name in (dataset.aliases or []):
            return dataset
    return None


_SPECS: dict[tuple[Any, int, Any], dict[str, FieldSpec]] = {}
_SPECS_MAX = 1024


def field_specs(dataset: Dataset) -> dict[str, FieldSpec]:
    """The dataset's fields as specs, by name, in catalog order: parsed once per process
    and catalog version of the dataset (every query and check needs them; a change of
    the fields is a new version)."""
    if dataset.id is None:
        return specs_of(dataset.fields)
    key = (dataset.id, dataset.version, dataset.updated_at)
    found = _SPECS.get(key)
    if found is None:
        found = specs_of(dataset.fields)
        if len(_SPECS) >= _SPECS_MAX:
            _SPECS.clear()
        _SPECS[key] = found
    return dict(found)


def subject_field(dataset: Dataset) -> FieldSpec:
    """The field that names a record's subject."""
    return next(s for s in field_specs(dataset).values() if s.subject)


# --- subjects ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Subject:
    kind: SubjectKind
    identifier: str  # normalised
    key: str  # keyed hash: the look-up key
    masked: str


def subject_of(*, settings: Settings, kind: SubjectKind | str, identifier: str) -> Subject:
    """A checked subject identifier and its look-up key; 422 naming `subject` if invalid."""
    kind = SubjectKind(kind)
    try:
        if kind == SubjectKind.person:
            normalised = parse_resident_id(identifier).number
            masked = mask_id_number(normalised)
        else:
            normalised = validate_uscc(identifier)
            masked = normalised  # a credit code is public
    except IdentifierError as exc:
        raise InvalidInput(str(exc), details=[{"field": "subject", "message": str(exc)}]
                           ) from None
    key = crypto.keyed_hash(settings=settings, value=normalised, purpose=SUBJECT_PURPOSE[kind])
    return Subject(kind, normalised, key, masked)


def guess_subject(*, settings: Settings, identifier: str) -> Subject:
    """A subject whose kind the identifier tells: an ID number, else a credit code (the
    check characters of the two standards rarely both hold; the ID number is tried
    first)."""
    try:
        return subject_of(settings=settings, kind=SubjectKind.person, identifier=identifier)
    except InvalidInput:
        return subject_of(settings=settings, kind=SubjectKind.enterprise,
                          identifier=identifier)


def person_key(*, id_number_hash: str) -> str:
    """A person's registry key: identity's own look-up hash of the ID number
    (identity_people.id_number_hash), so no ID number is ever opened to find records."""
    return id_number_hash


def enterprise_key(*, settings: Settings, credit_code: str) -> str:
    """An enterprise's registry key, from its (public) credit code."""
    return crypto.keyed_hash(settings=settings, value=credit_code,
                             purpose=SUBJECT_PURPOSE[SubjectKind.enterprise])


def record_key_hash(*, settings: Settings, dataset_code: str, value: Any) -> str:
    """The stored form of a record key (a plate number is personal: only its hash)."""
    if value is None or value == "":
        return ""
    return crypto.keyed_hash(settings=settings, value=str(value),
                             purpose=f"record:{dataset_code}")


def values_digest(*, settings: Settings, values: dict[str, Any]) -> str:
    """A keyed digest of a record's values (a plain hash of values holding an ID number
    could be reversed by trying every number)."""
    return hmac.new(crypto.vault_keys(settings).index_key, rfc8785.dumps(values),
                    hashlib.sha256).hexdigest()


def seal_values(*, settings: Settings, values: dict[str, Any]) -> bytes | None:
    """The personal values of a record, sealed; None when there are none."""
    if not values:
        return None
    return crypto.encrypt(settings=settings, value=json.dumps(values, ensure_ascii=False),
                          column=PERSONAL_COLUMN)


def seal_subject(*, settings: Settings, identifier: str) -> bytes:
    """A record's subject identifier, sealed (shown only masked, or to the subject)."""
    return crypto.encrypt(settings=settings, value=identifier, column=SUBJECT_COLUMN)


def open_values(*, settings: Settings, blob: bytes | None) -> dict[str, Any]:
    if blob is None:
        return {}
    loaded: dict[str, Any] = json.loads(crypto.decrypt(settings=settings, blob=blob,
                                                       column=PERSONAL_COLUMN))
    return loaded


# --- reading --------------------------------------------------------------------------


@dataclass(frozen=True)
class SubjectRecord:
    """One current record of a subject, every field (personal ones opened), with where
    it came from and as of when."""

    record_id: uuid.UUID
    dataset: str
    values: dict[str, Any]
    source: str
    as_of: datetime
    recorded_at: datetime


# Every dataset's subject field is named by its kind (catalog rule, schemas.DatasetIn).
_SUBJECT_NAME = case((Dataset.subject_kind == SubjectKind.person.value, "id_number"),
                     else_="credit_code")


def _valid_at(at: datetime | None) -> Any:
    if at is None:
        return Record.ended_at.is_(None)
    return and_(Record.recorded_at <= at, or_(Record.ended_at.is_(None), Record.ended_at > at))


def records_of(*, db_session: Session, settings: Settings, subject_key: str,
               datasets: Iterable[str] | None = None, at: datetime | None = None
               ) -> list[SubjectRecord]:
    """Every record of one subject (by look-up key), in every dataset or those named, as
    the registries held them now or at `at`. Internal: no grant is checked."""
    stmt = (select(Record, Dataset.code, _SUBJECT_NAME)
            .join(Dataset, Dataset.id == Record.dataset_id)
            .where(Record.subject_key == subject_key, _valid_at(at))
            .order_by(Dataset.code, Record.recorded_at))
    if datasets is not None:
        stmt = stmt.where(Dataset.code.in_(list(datasets)))
    return [SubjectRecord(record_id=row.id, dataset=code,
                          values=open_record(settings=settings, record=row, subject=name),
                          source=row.source, as_of=row.as_of, recorded_at=row.recorded_at)
            for row, code, name in db_session.execute(stmt)]


def open_record(*, settings: Settings, record: Record, subject: str) -> dict[str, Any]:
    """Every value of a record: the plain ones, the sealed ones opened, and the subject
    identifier under its field name."""
    return {subject: crypto.decrypt(settings=settings, blob=record.subject_enc,
                                    column=SUBJECT_COLUMN),
            **record.values, **open_values(settings=settings, blob=record.personal_enc)}


def current_records(*, dataset_id: uuid.UUID, at: datetime | None = None) -> Select[Any]:
    """The SELECT of a dataset's records (subject_key, values, as_of, ...) valid now or at
    `at`, for rules written as SQL over a whole registry (plain fields only)."""
    return (select(Record.subject_key, Record.record_key, Record.values, Record.as_of,
                   Record.source).where(Record.dataset_id == dataset_id, _valid_at(at)))


def current_records_in(*, dataset_ids: Sequence[uuid.UUID], at: datetime | None = None
                       ) -> Select[Any]:
    """`current_records` of several datasets at once (with dataset_id): one scan of the
    records table for a rule engine that reads them all."""
    return (select(Record.dataset_id, Record.subject_key, Record.record_key, Record.values,
                   Record.as_of, Record.source)
            .where(Record.dataset_id.in_(list(dataset_ids)), _valid_at(at)))


@dataclass(frozen=True)
class Columns:
    """A dataset's plain fields over its whole population, one list per field (the
    shape a vectorised rule engine wants); row i of every list is subject_keys[i]."""

    dataset: str
    subject_keys: list[str]
    values: dict[str, list[Any]]

    def __len__(self) -> int:
        return len(self.subject_keys)


def bulk_read(*, db_session: Session, dataset: str, fields: Sequence[str] | None = None,
              at: datetime | None = None, chunk: int = 20_000) -> Columns:
    """Columns of a dataset's plain fields for every current record (personal fields are
    sealed and not offered here). Internal: no grant is checked."""
    found = get_dataset(db_session=db_session, code=dataset)
    specs = field_specs(found)
    plain = [n for n, s in specs.items() if not s.sealed]
    wanted = list(fields) if fields is not None else plain
    sealed = [n for n in wanted if n not in plain]
    if sealed:
        raise InvalidInput("批量读取只提供非个人字段 / bulk reads offer plain fields only",
                           details={"fields": sealed})
    keys: list[str] = []
    columns: dict[str, list[Any]] = {n: [] for n in wanted}
    for part in iter_records(db_session=db_session, dataset_id=found.id, at=at, chunk=chunk):
        for subject_key, values in part:
            keys.append(subject_key)
            for name in wanted:
                columns[name].append(values.get(name))
    return Columns(dataset=dataset, subject_keys=keys, values=columns)


def iter_records(*, db_session: Session, dataset_id: uuid.UUID, at: datetime | None = None,
                 chunk: int = 20_000) -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """(subject_key, plain values) of a dataset's records, `chunk` rows at a time."""
    stmt = (select(Record.subject_key, Record.values)
            .where(Record.dataset_id == dataset_id, _valid_at(at))
            .execution_options(yield_per=chunk))
    result = db_session.execute(stmt)
    for part in result.partitions(chunk):
        yield [(row[0], row[1]) for row in part]


def count_records(*, db_session: Session, dataset_id: uuid.UUID) -> int:
    """How many current records a dataset holds."""
    from sqlalchemy import func

    return int(db_session.scalar(select(func.count()).select_from(Record).where(
        Record.dataset_id == dataset_id, Record.ended_at.is_(None))) or 0)
