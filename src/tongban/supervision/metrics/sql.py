"""Portable SQL pieces the metrics need: the Beijing day of a UTC timestamp, a month, a
date held as text, a 0/1 counter and the series key.

China has kept UTC+8 all year since 1991, so SQLite adds eight hours to the stored UTC
text; PostgreSQL converts the timestamptz in the Asia/Shanghai zone (the same answer).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Date, String, case, cast, func, literal
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement


class local_day(FunctionElement[Any]):
    """The Asia/Shanghai date of a UTC timestamp column."""

    type = Date()
    inherit_cache = True
    name = "local_day"


@compiles(local_day, "sqlite")
def _local_day_sqlite(element: local_day, compiler: Any, **kw: Any) -> str:
    return f"date({compiler.process(element.clauses, **kw)}, '+8 hours')"


@compiles(local_day, "postgresql")
def _local_day_pg(element: local_day, compiler: Any, **kw: Any) -> str:
    return f"CAST(({compiler.process(element.clauses, **kw)}) AT TIME ZONE " \
           "'Asia/Shanghai' AS DATE)"


class month_of(FunctionElement[Any]):
    """'YYYY-MM' of a date column."""

    type = String()
    inherit_cache = True
    name = "month_of"


@compiles(month_of, "sqlite")
def _month_sqlite(element: month_of, compiler: Any, **kw: Any) -> str:
    return f"strftime('%Y-%m', {compiler.process(element.clauses, **kw)})"


@compiles(month_of, "postgresql")
def _month_pg(element: month_of, compiler: Any, **kw: Any) -> str:
    return f"to_char({compiler.process(element.clauses, **kw)}, 'YYYY-MM')"


class iso_date(FunctionElement[Any]):
    """A date written as 'YYYY-MM-DD' text (as event data holds it), comparable with a
    date column: a DATE on PostgreSQL, the text itself on SQLite (which stores dates so)."""

    type = Date()
    inherit_cache = True
    name = "iso_date"


@compiles(iso_date, "sqlite")
def _iso_date_sqlite(element: iso_date, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.clauses, **kw))


@compiles(iso_date, "postgresql")
def _iso_date_pg(element: iso_date, compiler: Any, **kw: Any) -> str:
    return f"CAST(({compiler.process(element.clauses, **kw)}) AS DATE)"


def flag(condition: ColumnElement[bool]) -> ColumnElement[int]:
    """1 where the condition holds, else 0 (a counter)."""
    return case((condition, 1), else_=0)


def series_of(region: Any, department: Any, item: Any) -> ColumnElement[str]:
    """One text key per region, department and item (cells are rebuilt per key)."""
    return (region + literal("/") + func.coalesce(cast(department, String), literal("-"))
            + literal("/") + func.coalesce(item, literal("-")))
