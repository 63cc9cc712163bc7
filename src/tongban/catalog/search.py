"""Catalog search: Chinese substrings, full pinyin and pinyin initials, one table.

What matches: every predicate is `column LIKE '%term%'` (or a prefix `LIKE 'term%'`). A
query is split on white space and every term must match (`公积金 成都`, `gjj cd`).
Ranking: the whole query equals the name, then the name starts with it, then any
substring; popularity breaks ties. `implementations_query` states exactly that as one
statement (the reference the tests compare against).

How it is found (`find_entries`), the same SQL on SQLite and PostgreSQL: an inverted
index (SearchToken, tokens.py) names a superset of the entries each term can match. The
term with the fewest postings drives: if at most CANDIDATE_CAP entries carry its
tokens, the LIKE predicates and the ranking run on those candidates only. A broader
query (or one whose terms have no safe tokens) is answered in two indexed reads: the
entries whose name starts with the query (the only ones that can rank 0 or 1, found by
their name-start token), then the other matches in popularity order, walking the
popularity index and stopping after one page. Both give exactly the reference's rows.
"""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

from pypinyin import Style, lazy_pinyin
from sqlalchemy import (
    Boolean,
    ColumnElement,
    Select,
    and_,
    case,
    delete,
    func,
    insert,
    literal,
    not_,
    or_,
    select,
    union,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import InstrumentedAttribute, Session, aliased
from sqlalchemy.sql.functions import FunctionElement

from tongban.catalog import tokens
from tongban.catalog.models import SearchEntry, SearchToken, ServiceItem
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
    """(text, pinyin, initials) of several segments, name first, joined by one space.

    Pinyin and initials are read from the normalised text, so the search index's tokens
    (tokens.entry_tokens) can be recomputed from the `text` column alone."""
    texts, fulls, firsts = [], [], []
    for part in parts:
        if not part:
            continue
        text = tokens.normalise(part)
        items, first = tokens.segment(text)
        texts.append(text)
        fulls.append("".join(items))
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


def _exact_and_prefix(
    whole: str, name: Any, pinyin: Any, initials: Any
) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    """The conditions for rank 0 (exact) and rank 1 (prefix); exact implies prefix."""
    if _ASCII_TERM.match(whole):
        exact = or_(
            pinyin == whole, initials == whole,
            _starts(pinyin, whole + " "), _starts(initials, whole + " "),
        )
        prefix = or_(_starts(pinyin, whole), _starts(initials, whole), _starts(name, whole))
    else:
        exact = name == whole
        prefix = _starts(name, whole)
    return exact, prefix


def rank(
    q: str, name: Any, pinyin: Any, initials: Any
) -> ColumnElement[int]:
    """0 exact name, 1 name prefix, 2 anything else (lower is better)."""
    whole = "".join(terms(q))
    if not whole:
        return literal(2)
    exact, prefix = _exact_and_prefix(whole, name, pinyin, initials)
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


# A person's query is a few words: a longer one is refused before any work is done (a
# 3,000-letter query was a 500, and every term costs index look-ups).
MAX_QUERY_CHARS = 100
MAX_QUERY_TERMS = 8


def check_query(q: str | None) -> None:
    """Refuse a query too long to be a person's search (422, naming the field)."""
    if q is not None and (len(q) > MAX_QUERY_CHARS or len(terms(q)) > MAX_QUERY_TERMS):
        raise InvalidInput(
            f"搜索词过长(最多 {MAX_QUERY_CHARS} 个字符、{MAX_QUERY_TERMS} 个词) / the query is "
            f"too long (at most {MAX_QUERY_CHARS} characters, {MAX_QUERY_TERMS} words)",
            code="query_too_long", details={"field": "q", "max_length": MAX_QUERY_CHARS,
                                            "max_terms": MAX_QUERY_TERMS})


def check_limit(limit: int) -> int:
    """Limits are 1..100: a bigger page is a scan, not a search."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(
            f"limit 应在1到{MAX_LIMIT}之间 / limit must be within 1..{MAX_LIMIT}",
            details={"field": "limit"},
        )
    return limit


class _digits_prefix(FunctionElement[bool]):
    """`column` starts with a string of digits: LIKE 'p%' (PostgreSQL's pattern-ops
    index), GLOB 'p*' on SQLite, whose LIKE ignores case and so cannot use an index."""

    type = Boolean()
    inherit_cache = True
    name = "digits_prefix"


@compiles(_digits_prefix)
def _like_prefix(element: _digits_prefix, compiler: Any, **kw: Any) -> str:
    column, like, _ = element.clauses.clauses
    return f"{compiler.process(column, **kw)} LIKE {compiler.process(like, **kw)}"


@compiles(_digits_prefix, "sqlite")
def _glob_prefix(element: _digits_prefix, compiler: Any, **kw: Any) -> str:
    column, _, glob = element.clauses.clauses
    return f"{compiler.process(column, **kw)} GLOB {compiler.process(glob, **kw)}"


def region_filter(col: InstrumentedAttribute[str], region_code: str) -> ColumnElement[bool]:
    """The region and every region under it, by GB/T 2260 code prefix."""
    if region_code == NATIONAL:
        return literal(True)
    prefix = region_prefix(region_code)
    if not prefix.isdigit():
        return _starts(col, prefix)
    # inline values: a generic PostgreSQL plan could not use the index for LIKE $1
    return _digits_prefix(col, literal(prefix + "%", literal_execute=True),
                          literal(prefix + "*", literal_execute=True))


def _filters(
    e: Any, region_code: str | None, department_id: uuid.UUID | None,
    item_type: str | None, applicant_type: str | None,
) -> list[ColumnElement[bool]]:
    """The non-text filters, on entity `e` (SearchEntry or an alias of it)."""
    conditions: list[ColumnElement[bool]] = []
    if region_code:
        conditions.append(region_filter(e.region_code, region_code))
    if department_id:
        conditions.append(e.department_id == department_id)
    if item_type:
        conditions.append(e.item_type == item_type)
    if applicant_type:
        conditions.append(_contains(e.applicant_types, applicant_type))
    return conditions


def _text_conditions(e: Any, words: list[str]) -> list[ColumnElement[bool]]:
    return [term_match(t, e.text, e.pinyin, e.initials) for t in words]


def _by_popularity(e: Any) -> tuple[Any, ...]:
    return (e.popularity.desc(), e.name, e.implementation_id)


def implementations_query(
    *,
    q: str | None,
    region_code: str | None = None,
    department_id: uuid.UUID | None = None,
    item_type: str | None = None,
    applicant_type: str | None = None,
) -> Select[SearchEntry, int]:
    """The ranked search over published implementations as one statement that reads
    every entry: the definition find_entries must agree with (no paging applied)."""
    e = SearchEntry
    conditions = _text_conditions(e, terms(q)) + _filters(
        e, region_code, department_id, item_type, applicant_type)
    score = rank(q or "", e.name, e.pinyin, e.initials).label("rank")
    return (
        select(e, score)
        .where(and_(True, *conditions))
        .order_by(score, *_by_popularity(e))
    )


# --- the inverted index -----------------------------------------------------------------

# Above this many candidates a term is "broad": rank the name-start matches, then walk the
# popularity index. Ranking a candidate costs a row read and a few LIKEs; walking costs
# about as much per row but stops after a page, and broad terms fill a page quickly.
CANDIDATE_CAP = 3000
# A filter (region, department, …) thins the matches a popularity walk meets, so with one
# the candidates are ranked up to this many: reading them is cheaper than a long walk.
FILTERED_CAP = 20000


def _posting(token: str) -> Select[int]:
    return select(SearchToken.doc).where(SearchToken.token == token)


def _postings_of_all(wanted: list[str]) -> Select[int]:
    """Entries carrying every token in `wanted` (rarest first): an index probe per
    posting of the first."""
    first, *others = wanted
    stmt = select(SearchToken.doc).where(SearchToken.token == first)
    for token in others:
        other = aliased(SearchToken)
        stmt = stmt.join(other, and_(other.doc == SearchToken.doc, other.token == token))
    return stmt


def _counts(db_session: Session, wanted: set[str], cap: int) -> dict[str, int]:
    """How many entries carry each token, counted up to cap + 1, in one statement."""
    ordered = sorted(wanted)
    columns = [
        select(func.count()).select_from(_posting(t).limit(cap + 1).subquery())
        .scalar_subquery().label(f"c{i}")
        for i, t in enumerate(ordered)
    ]
    row = db_session.execute(select(*columns)).one()
    return dict(zip(ordered, (int(c) for c in row), strict=True))


def _driver(plan: tuple[tokens.Alternative, ...],
            counts: dict[str, int]) -> tuple[Any, int]:
    """The candidate entries of one term (a union over its alternatives, each narrowed
    by its two rarest tokens) and an upper bound of their number; (None, 0) when no
    entry can match."""
    selects, estimate, seen = [], 0, set()
    for alternative in plan:
        if any(other < alternative for other in plan):
            continue  # needs more tokens than another reading: its entries are among those
        ranked = tuple(sorted(alternative, key=lambda t: (counts[t], t))[:2])
        if counts[ranked[0]] == 0 or ranked in seen:
            continue  # a token no entry carries: this reading matches nothing
        seen.add(ranked)
        estimate += counts[ranked[0]]
        selects.append(_postings_of_all(list(ranked)))
    if not selects:
        return None, 0
    return (selects[0] if len(selects) == 1 else union(*selects)), estimate


def find_entries(
    db_session: Session, *, q: str | None, region_code: str | None = None,
    department_id: uuid.UUID | None = None, item_type: str | None = None,
    applicant_type: str | None = None, offset: int = 0, count: int = 21,
) -> list[SearchEntry]:
    """Rows offset..offset+count-1 of implementations_query, read through the index."""
    e = SearchEntry
    words = terms(q)
    query = _Query(db_session, words, lambda a: _filters(
        a, region_code, department_id, item_type, applicant_type))
    if not words:  # browsing: no text, every entry ranks 2
        return list(db_session.scalars(select(e).where(and_(True, *query.filters(e)))
                                       .order_by(*_by_popularity(e)).offset(offset)
                                       .limit(count)))
    plans = [p for p in (tokens.term_plan(w) for w in words) if p is not None]
    cap = FILTERED_CAP if query.filters(e) else CANDIDATE_CAP
    wanted = {t for p in plans for a in p for t in a}
    counts = _counts(db_session, wanted, cap) if wanted else {}
    best: tuple[Any, int] | None = None
    for plan in plans:
        candidates, estimate = _driver(plan, counts)
        if candidates is None:
            return []  # a term no entry can match
        if best is None or estimate < best[1]:
            best = (candidates, estimate)
    if best is not None and best[1] <= cap:
        return query.ranked(best[0], offset=offset, count=count)
    return query.broad(offset + count)[offset:]


# Broad queries walk the popularity order in windows of this many entries (then 8 times
# as many, then all), checking the terms on each window.
WALK = 500


class _Query:
    """One search's terms and filters, applied to a set of entries read in a subquery.

    On PostgreSQL that subquery gets OFFSET 0, which the planner does not merge into the
    outer query: the LIKE predicates then run on the candidates only, and it cannot trade
    the index probes for a scan applying them to every entry (its estimate of a LIKE's
    selectivity is a guess, and a LIKE on Chinese text costs microseconds). SQLite
    flattens the subquery and already reads the candidates by key."""

    def __init__(self, db_session: Session, words: list[str],
                 filters: Callable[[Any], list[ColumnElement[bool]]]) -> None:
        self.db = db_session
        self.words = words
        self.whole = "".join(words)
        self.filters = filters

    def _rows(self, inner: Select[Any], *extra: Any, ranked: bool, offset: int,
              count: int) -> list[SearchEntry]:
        if self.db.get_bind().dialect.name == "postgresql":
            inner = inner.offset(0)
        a = aliased(SearchEntry, inner.subquery())
        order = (rank(self.whole, a.name, a.pinyin, a.initials),) if ranked else ()
        stmt = (select(a).where(*_text_conditions(a, self.words), *self.filters(a),
                                *(cond(a) for cond in extra))
                .order_by(*order, *_by_popularity(a)).offset(offset).limit(count))
        return list(self.db.scalars(stmt))

    def _prefix(self, a: Any) -> ColumnElement[bool]:
        return _exact_and_prefix(self.whole, a.name, a.pinyin, a.initials)[1]

    def ranked(self, candidates: Any, *, offset: int, count: int) -> list[SearchEntry]:
        """Rank the entries in `candidates` (a select of docs)."""
        inner = select(SearchEntry).where(SearchEntry.doc.in_(candidates))
        return self._rows(inner, ranked=True, offset=offset, count=count)

    def broad(self, wanted: int) -> list[SearchEntry]:
        """The first `wanted` rows: entries ranking 0 or 1 (their names start with the
        query) in rank order, then the others in popularity order."""
        rows = self._rows(select(SearchEntry).where(
            SearchEntry.doc.in_(_posting(tokens.start_token(self.whole)))),
            self._prefix, ranked=True, offset=0, count=wanted)
        if len(rows) >= wanted:
            return rows
        need = wanted - len(rows)
        last = self.db.scalar(select(func.max(SearchEntry.doc))) or 0
        window: int | None = WALK
        while True:
            inner = (select(SearchEntry).where(*self.filters(SearchEntry))
                     .order_by(*_by_popularity(SearchEntry)).limit(window))
            found = self._rows(inner, lambda a: not_(self._prefix(a)), ranked=False,
                               offset=0, count=need)
            if len(found) >= need or window is None or window >= last:
                return rows + found
            window = window * 8 if window * 8 < last else None


def sync_tokens(db_session: Session, *, doc: int, old_text: str | None, text: str) -> None:
    """Bring an entry's postings from those of `old_text` (None: a new entry) to `text`."""
    old = tokens.entry_tokens(old_text) if old_text is not None else set()
    new = tokens.entry_tokens(text)
    drop_tokens(db_session, doc=doc, wanted=old - new)
    if new - old:
        db_session.execute(insert(SearchToken),
                           [{"token": t, "doc": doc} for t in sorted(new - old)])


def drop_tokens(db_session: Session, *, doc: int, wanted: set[str]) -> None:
    """Remove an entry's postings (by their keys, so no index on doc is needed)."""
    if wanted:
        db_session.execute(delete(SearchToken).where(SearchToken.doc == doc,
                                                     SearchToken.token.in_(sorted(wanted))))


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
