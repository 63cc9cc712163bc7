"""The rules over a whole population at once (OpenFisca's model: one array per variable,
no loop over subjects), with polars.

Each dataset a rule set reads is read once: the subject keys and the fields the rules
compare, as columns (PostgreSQL streams them with COPY; other databases through a plain
SELECT). Every condition becomes a column expression over those arrays, joined onto the
population by subject key. The semantics are those of `rules.py`; the tests hold this
form equal to the single-subject interpreter and to the SQL form.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

import polars as pl
from sqlalchemy import case, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from tongban.eligibility.rules import Bound, BoundRuleSet, compare
from tongban.eligibility.sqlform import extract
from tongban.sharing import registries

KEY = "subject_key"
DECIMAL = pl.Decimal(38, 4)
Frames = dict[str, pl.DataFrame]


def _read_sql(db_session: Session, dataset: str, fields: dict[str, str],
              keys: Sequence[str] | None) -> Any:
    found = registries.get_dataset(db_session=db_session, code=dataset)
    rec = registries.current_records(dataset_id=found.id).subquery()
    # Decimals travel as text (exact), the rest typed by the database.
    columns = [(extract(rec.c["values"], name, "string" if kind == "decimal" else kind)
                .label(name)) for name, kind in fields.items()]
    stmt = select(rec.c.subject_key, *columns)
    if keys is not None:
        stmt = stmt.where(rec.c.subject_key.in_(list(keys)))
    return stmt


def _casts(fields: dict[str, str], *, text_booleans: bool) -> list[pl.Expr]:
    """Each field read as text (or as the driver typed it) to the type it compares as."""
    exprs = []
    for name, kind in fields.items():
        col = pl.col(name)
        if kind == "decimal":
            exprs.append(col.cast(pl.String).cast(DECIMAL))
        elif kind == "integer":
            exprs.append(col.cast(pl.Int64))
        elif kind == "boolean":
            exprs.append(col.cast(pl.String).is_in(["t", "true"]).alias(name)
                         if text_booleans else col.cast(pl.Boolean))
        else:
            exprs.append(col.cast(pl.String))
    return exprs


def _cast(frame: pl.DataFrame, fields: dict[str, str], *, text_booleans: bool
          ) -> pl.DataFrame:
    exprs = _casts(fields, text_booleans=text_booleans)
    return frame.with_columns(exprs) if exprs else frame


def read_columns(*, db_session: Session, dataset: str, fields: dict[str, str],
                 keys: Sequence[str] | None = None) -> pl.DataFrame:
    """The current records of a dataset as columns: subject_key and each field typed
    (name -> field type). Internal to the screening that called the grant checks."""
    stmt = _read_sql(db_session, dataset, fields, keys)
    schema = {KEY: pl.String, **{n: pl.String for n in fields}}
    if db_session.get_bind().dialect.name == "postgresql" and keys is None:
        data = _copy_csv(db_session, stmt)
        frame = pl.read_csv(data, has_header=False, new_columns=list(schema),
                            schema_overrides=schema) if data else pl.DataFrame(schema=schema)
        return _cast(frame, fields, text_booleans=True)
    rows = db_session.execute(stmt).all()
    frame = pl.DataFrame([tuple(r) for r in rows], schema=[KEY, *fields], orient="row",
                         infer_schema_length=None) if rows else pl.DataFrame(schema=schema)
    return _cast(frame, fields, text_booleans=False)


def read_frames(*, db_session: Session, rule_set: BoundRuleSet,
                keys: Sequence[str] | None = None,
                progress: Callable[[str], None] | None = None) -> Frames:
    """Every dataset the rule set reads, as columns (one read per dataset)."""
    return read_datasets(db_session=db_session, wanted=wanted_fields([rule_set]), keys=keys,
                         progress=progress)


def wanted_fields(rule_sets: Sequence[BoundRuleSet]) -> dict[str, dict[str, str]]:
    """dataset -> {field: type} that any of the rule sets reads (the union: a nightly
    run reads each registry once for all its rule sets)."""
    out: dict[str, dict[str, str]] = {}
    for rule_set in rule_sets:
        for dataset, fields in rule_set.datasets.items():
            types = out.setdefault(dataset, {})
            types.update({f: rule_set.field_types[dataset][f] for f in fields})
    return out


def read_datasets(*, db_session: Session, wanted: dict[str, dict[str, str]],
                  keys: Sequence[str] | None = None,
                  progress: Callable[[str], None] | None = None) -> Frames:
    """These datasets' fields as columns. On PostgreSQL over whole populations, one scan
    of the records table for all of them (the datasets share it: one sequential scan
    each would read the whole table as many times); otherwise one read per dataset."""
    if db_session.get_bind().dialect.name == "postgresql" and keys is None and wanted:
        out = _scan(db_session, wanted)
        for dataset in wanted:
            if progress is not None:
                progress(dataset)
        return out
    out = {}
    for dataset, types in wanted.items():
        out[dataset] = read_columns(db_session=db_session, dataset=dataset, fields=types,
                                    keys=keys)
        if progress is not None:
            progress(dataset)
    return out


def _copy_csv(db_session: Session, stmt: Any) -> bytes:
    """A SELECT's rows as CSV, streamed with COPY (PostgreSQL)."""
    sql = str(stmt.compile(dialect=postgresql.dialect(),
                           compile_kwargs={"literal_binds": True}))
    raw: Any = db_session.connection().connection.dbapi_connection  # psycopg's
    buffer = io.BytesIO()
    with raw.cursor() as cursor, cursor.copy(f"COPY ({sql}) TO STDOUT WITH CSV") as copy:
        for block in copy:
            buffer.write(block)
    return buffer.getvalue()


def _scan(db_session: Session, wanted: dict[str, dict[str, str]]) -> Frames:
    """Every wanted dataset's fields in one COPY: a row per current record, its
    dataset's index, subject key and one column per (dataset, field), empty for the
    other datasets' columns; then one frame per dataset (its rows, its columns typed),
    made in one parallel polars run."""
    codes = list(wanted)
    ids = [registries.get_dataset(db_session=db_session, code=c).id for c in codes]
    rec = registries.current_records_in(dataset_ids=ids).subquery()
    index = case({dataset_id: i for i, dataset_id in enumerate(ids)},
                 value=rec.c.dataset_id).label("_ds")
    columns: list[Any] = []
    names: dict[str, tuple[int, str]] = {}  # column label -> (dataset index, field)
    for i, types in enumerate(wanted.values()):
        for name, kind in types.items():
            label = f"_c{len(columns)}"
            names[label] = (i, name)
            columns.append(case((rec.c.dataset_id == ids[i], extract(
                rec.c["values"], name, "string" if kind == "decimal" else kind))
                ).label(label))
    stmt = select(index, rec.c.subject_key, *columns)
    schema = {"_ds": pl.Int32, KEY: pl.String, **{n: pl.String for n in names}}
    data = _copy_csv(db_session, stmt)
    frame = (pl.read_csv(data, has_header=False, new_columns=list(schema),
                         schema_overrides=schema) if data else pl.DataFrame(schema=schema))
    lazy = frame.lazy()
    plans = []
    for i, types in enumerate(wanted.values()):
        mine = {label: name for label, (j, name) in names.items() if j == i}
        part = lazy.filter(pl.col("_ds") == i).select(
            pl.col(KEY), *[pl.col(label).alias(name) for label, name in mine.items()])
        plans.append(part.with_columns(_casts(types, text_booleans=True)))
    return dict(zip(codes, pl.collect_all(plans), strict=True))


def _literal(value: Any) -> Any:
    return pl.lit(value, dtype=DECIMAL) if isinstance(value, Decimal) else pl.lit(value)


def _compare(op: str, left: pl.Expr, threshold: Any) -> pl.Expr:
    options = list(threshold) if isinstance(threshold, tuple) else None
    table: dict[str, Callable[[], pl.Expr]] = {
        "eq": lambda: left == _literal(threshold), "ne": lambda: left != _literal(threshold),
        "lt": lambda: left < _literal(threshold), "le": lambda: left <= _literal(threshold),
        "gt": lambda: left > _literal(threshold), "ge": lambda: left >= _literal(threshold),
        "in": lambda: left.is_in(options or []),
        "not_in": lambda: ~left.is_in(options or []),
        "prefix": lambda: left.str.starts_with(str(threshold)),
    }
    return table[op]()


def _part(frames: Frames, bound: Bound, name: str) -> tuple[pl.LazyFrame, pl.Expr]:
    """One condition's per-subject value (a lazy frame keyed by subject) and its test."""
    frame = frames[bound.dataset].lazy()
    for field, kind, allowed in bound.where:
        options = [v for v in allowed]
        column = pl.col(field)
        frame = frame.filter(column.is_in(pl.Series(options, dtype=DECIMAL))
                             if kind == "decimal" else column.is_in(options))
    if bound.aggregate == "value":
        per = frame.select(pl.col(KEY), pl.col(bound.field or "").alias(name))
    elif bound.aggregate == "count":
        per = frame.group_by(KEY).agg(pl.len().cast(pl.Int64).alias(name))
    else:
        col = pl.col(bound.field or "")
        folded = {"sum": col.sum(), "max": col.max(), "min": col.min()}[bound.aggregate]
        per = frame.group_by(KEY).agg(
            pl.when(col.count() > 0).then(folded).otherwise(None).alias(name))
    value = pl.col(name).fill_null(0) if bound.aggregate == "count" else pl.col(name)
    if bound.missing == "zero":
        on_missing = pl.lit(compare(bound.op, 0, bound.threshold))
    else:
        on_missing = pl.lit(bound.missing == "pass")
    test = pl.when(value.is_null()).then(on_missing).otherwise(
        _compare(bound.op, value, bound.threshold))
    return per, test


def evaluate(rule_set: BoundRuleSet, frames: Frames, *, values: bool = False
             ) -> pl.DataFrame:
    """subject_key, one boolean column per rule and `eligible`, for every subject of the
    rule set's population; with `values`, the value each condition compared too
    (`<rule id>.<part>`, for explanations)."""
    result = frames[rule_set.doc.population].lazy().select(pl.col(KEY)).unique()
    rule_tests = []
    index = 0
    for rule in rule_set.rules:
        tests = []
        for bound in rule.parts:
            per, test = _part(frames, bound, f"_v{index}")
            index += 1
            result = result.join(per, on=KEY, how="left")
            tests.append(test)
        rule_tests.append(pl.any_horizontal(tests).alias(rule.rule.id))
    ids = [r.rule.id for r in rule_set.rules]
    kept = [pl.col(f"_v{i}").alias(name) for i, name in enumerate(value_names(rule_set))
            ] if values else []
    return (result.with_columns(rule_tests)
            .with_columns(pl.all_horizontal(ids).alias("eligible"))
            .select(KEY, *ids, "eligible", *kept).collect())


def value_names(rule_set: BoundRuleSet) -> list[str]:
    """The names of the value columns, in condition order: `<rule id>.<part index>`."""
    return [f"{rule.rule.id}.{i}" for rule in rule_set.rules for i in range(len(rule.parts))]
