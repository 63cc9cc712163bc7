"""Catalog search: Chinese substrings, full pinyin and pinyin initials, one table.

Every predicate is `column LIKE '%term%'` (or a prefix `LIKE 'term%'`), which PostgreSQL's
pg_trgm GIN indexes serve; SQLite scans. A query is split on white space and every term
must match (`公积金 成都`, `gjj cd`). Ranking: the whole query equals the name, then the name
starts with it, then any substring; popularity breaks ties.
"""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from pypinyin import Style, lazy_pinyin
from sqlalchemy import ColumnElement, Select, and_, case, literal, or_, select
from sqlalchemy.orm import InstrumentedAttribute

from tongban.catalog.models import SearchEntry, ServiceItem
from tongban.errors import InvalidInput
from tongban.identity.actor import region_prefix

_NOT_ALNUM = re.compile(r"[^a-z0-9]+")
_ASCII_TERM = re.compile(r"^[a-z0-9]+$")
NATIONAL = "100000"
MAX_LIMIT = 100


@lru_cache(maxsize=65536)
def pinyin_of(text: str) -> tuple[str, str]:
    """Full pinyin and initials of one text, lower case, letters and digits only.

    Cached: region, department and item names repeat across thousands of entries."""
    full = "".join(lazy_pinyin(text, errors="default"))
    initials = "".join(lazy_pinyin(text, style=Style.FIRST_LETTER, errors="default"))
    return _NOT_ALNUM.sub("", full.lower()), _NOT_ALNUM.sub("", initials.lower())


def segments(parts: Sequence[str]) -> tuple[str, str, str]:
    """(text, pinyin, initials) of several segments, name first, joined by one space."""
    texts, fulls, firsts = [], [], []
    for part in parts:
        if not part:
            continue
        full, first = pinyin_of(part)
        texts.append(part.lower().replace(" ", ""))
        fulls.append(full)
        firsts.append(first)
    return " ".join(texts), " ".join(fulls), " ".join(firsts)


def terms(q: str | None) -> list[str]:
    """The query's terms, lower case; empty for a blank query."""
    return [t for t in (q or "").lower().split() if t]


def escape_like(value: str) -> str:
    """Escape LIKE wildcards so `%` and `_` in a query match themselves."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _contains(col: Any, term: str) -> ColumnElement[bool]:
    return col.like(f"%{escape_like(term)}%", escape="\\")


def _starts(col: Any, term: str) -> ColumnElement[bool]:
    return col.like(f"{escape_like(term)}%", escape="\\")


def term_match(
    term: str, text: Any, pinyin: Any, initials: Any
) -> ColumnElement[bool]:
    """One term matches Chinese text, or (if it is Latin) pinyin or initials."""
    if _ASCII_TERM.match(term):
        return or_(_contains(text, term), _contains(pinyin, term), _contains(initials, term))
    return _contains(text, term)


def rank(
    q: str, name: Any, pinyin: Any, initials: Any
) -> ColumnElement[int]:
    """0 exact name, 1 name prefix, 2 anything else (lower is better)."""
    whole = "".join(terms(q))
    if not whole:
        return literal(2)
    if _ASCII_TERM.match(whole):
        exact = or_(
            pinyin == whole, initials == whole,
            _starts(pinyin, whole + " "), _starts(initials, whole + " "),
        )
        prefix = or_(_starts(pinyin, whole), _starts(initials, whole), _starts(name, whole))
    else:
        exact = name == whole
        prefix = _starts(name, whole)
    return case((exact, 0), (prefix, 1), else_=2)


def encode_cursor(offset: int) -> str:
    """An opaque cursor for the next page (an offset: results are ranked, not keyed)."""
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    """The offset a cursor stands for; a malformed cursor is the caller's error."""
    if not cursor:
        return 0
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, value = raw.partition(":")
        offset = int(value)
        if kind != "o" or offset < 0:
            raise ValueError(raw)
    except ValueError:
        raise InvalidInput(
            "分页游标无效 / invalid cursor", details={"field": "cursor"}
        ) from None
    return offset


def check_limit(limit: int) -> int:
    """Limits are 1..100: a bigger page is a scan, not a search."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(
            f"limit 应在1到{MAX_LIMIT}之间 / limit must be within 1..{MAX_LIMIT}",
            details={"field": "limit"},
        )
    return limit


def region_filter(col: InstrumentedAttribute[str], region_code: str) -> ColumnElement[bool]:
    """The region and every region under it, by GB/T 2260 code prefix."""
    if region_code == NATIONAL:
        return literal(True)
    return _starts(col, region_prefix(region_code))


def implementations_query(
    *,
    q: str | None,
    region_code: str | None = None,
    department_id: uuid.UUID | None = None,
    item_type: str | None = None,
    applicant_type: str | None = None,
) -> Select[SearchEntry, int]:
    """The ranked search over published implementations (no paging applied)."""
    e = SearchEntry
    conditions: list[ColumnElement[bool]] = [
        term_match(t, e.text, e.pinyin, e.initials) for t in terms(q)
    ]
    if region_code:
        conditions.append(region_filter(e.region_code, region_code))
    if department_id:
        conditions.append(e.department_id == department_id)
    if item_type:
        conditions.append(e.item_type == item_type)
    if applicant_type:
        conditions.append(_contains(e.applicant_types, applicant_type))
    score = rank(q or "", e.name, e.pinyin, e.initials).label("rank")
    return (
        select(e, score)
        .where(and_(True, *conditions))
        .order_by(score, e.popularity.desc(), e.name, e.implementation_id)
    )


def items_query(
    *, q: str | None, item_type: str | None = None
) -> Select[ServiceItem, int]:
    """The ranked search over standard items (`GET /items?q=`)."""
    i = ServiceItem
    conditions: list[ColumnElement[bool]] = [
        term_match(t, i.name, i.name_pinyin, i.name_initials) for t in terms(q)
    ]
    if item_type:
        conditions.append(i.item_type == item_type)
    score = rank(q or "", i.name, i.name_pinyin, i.name_initials).label("rank")
    return (
        select(i, score)
        .where(and_(True, *conditions))
        .order_by(score, i.basic_code)
    )
