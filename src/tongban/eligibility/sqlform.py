"""The rules as one plain SQL query over the registries (SQLAlchemy Core, the same on
SQLite and PostgreSQL): the population's subject keys with one boolean per rule and
`eligible`. It is the limit the vectorised form is measured against, and a third
evaluator the tests hold equal to the other two.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Numeric,
    Select,
    and_,
    case,
    cast,
    false,
    func,
    or_,
    select,
    true,
)
from sqlalchemy.orm import Session

from tongban.eligibility.rules import Bound, BoundRuleSet, compare
from tongban.sharing import registries
from tongban.sharing.models import Record

DECIMAL = Numeric(38, 4)


def extract(values: Any, name: str, field_type: str) -> ColumnElement[Any]:
    """One field of a record's plain JSON values, typed as the rules compare it."""
    item = values[name]
    if field_type == "integer":
        return item.as_integer()
    if field_type == "boolean":
        return item.as_boolean()
    if field_type == "decimal":
        return cast(item.as_string(), DECIMAL)
    return item.as_string()


def _compare(op: str, left: ColumnElement[Any], threshold: Any) -> ColumnElement[bool]:
    table: dict[str, Any] = {
        "eq": lambda: left == threshold, "ne": lambda: left != threshold,
        "lt": lambda: left < threshold, "le": lambda: left <= threshold,
        "gt": lambda: left > threshold, "ge": lambda: left >= threshold,
        "in": lambda: left.in_(list(threshold)),
        "not_in": lambda: left.not_in(list(threshold)),
        "prefix": lambda: left.startswith(str(threshold), autoescape=True),
    }
    return table[op]()


def _records(db_session: Session, dataset: str, keys: list[str] | None) -> Any:
    found = registries.get_dataset(db_session=db_session, code=dataset)
    stmt = registries.current_records(dataset_id=found.id)
    if keys is not None:  # the subjects asked about only (their index, not a scan)
        stmt = stmt.where(Record.subject_key.in_(keys))
    return stmt.subquery()


def _part(db_session: Session, bound: Bound, index: int, keys: list[str] | None
          ) -> tuple[Any, ColumnElement[Any]]:
    """The subquery of one condition (subject_key, v) and its test on v."""
    rec = _records(db_session, bound.dataset, keys)
    filters = [extract(rec.c["values"], name, kind).in_(list(allowed))
               for name, kind, allowed in bound.where]
    if bound.aggregate == "count":
        value: ColumnElement[Any] = func.count()
    else:
        column = extract(rec.c["values"], bound.field or "", bound.field_type)
        value = {"value": lambda: column, "sum": lambda: func.sum(column),
                 "max": lambda: func.max(column), "min": lambda: func.min(column)
                 }[bound.aggregate]()
    stmt = select(rec.c.subject_key, value.label("v")).where(*filters)
    if bound.aggregate != "value":
        stmt = stmt.group_by(rec.c.subject_key)
    sub = stmt.subquery(f"p{index}")
    v: ColumnElement[Any] = (func.coalesce(sub.c.v, 0) if bound.aggregate == "count"
                             else sub.c.v)
    if bound.missing == "zero":
        on_missing: ColumnElement[Any] = true() if compare(bound.op, 0, bound.threshold) \
            else false()
    else:
        on_missing = true() if bound.missing == "pass" else false()
    test = case((v.is_(None), on_missing), else_=_compare(bound.op, v, bound.threshold))
    return sub, test


def query(*, db_session: Session, rule_set: BoundRuleSet, keys: list[str] | None = None
          ) -> Select[Any]:
    """SELECT subject_key, <rule id>..., eligible over the rule set's population (or the
    subjects of `keys` in it)."""
    pop_rec = _records(db_session, rule_set.doc.population, keys)
    pop = select(pop_rec.c.subject_key).distinct().subquery("pop")
    joined: Any = pop
    rule_columns = []
    index = 0
    for rule in rule_set.rules:
        tests = []
        for bound in rule.parts:
            sub, test = _part(db_session, bound, index, keys)
            index += 1
            joined = joined.outerjoin(sub, sub.c.subject_key == pop.c.subject_key)
            tests.append(test)
        rule_columns.append(cast(or_(*tests), Boolean).label(rule.rule.id))
    eligible = cast(and_(*[c.element for c in rule_columns]), Boolean).label("eligible")
    return select(pop.c.subject_key, *rule_columns, eligible).select_from(joined)


def evaluate(*, db_session: Session, rule_set: BoundRuleSet, keys: list[str] | None = None
             ) -> dict[str, dict[str, bool]]:
    """subject_key -> {rule id: passed, ..., "eligible": ...}, by the SQL form."""
    stmt = query(db_session=db_session, rule_set=rule_set, keys=keys)
    out = {}
    for row in db_session.execute(stmt).mappings():
        out[row["subject_key"]] = {k: bool(v) for k, v in row.items() if k != "subject_key"}
    return out

