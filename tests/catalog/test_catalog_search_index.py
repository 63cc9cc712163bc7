"""The search index: tokens cover every match, and indexed search returns exactly the rows
of the reference LIKE query, in the same order, on random catalogs."""

from __future__ import annotations

import sys
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from tests.catalog.conftest import CHENGDU_HF, Catalog, code_of
from tongban.catalog import search, service, tokens
from tongban.catalog.models import Implementation, SearchEntry, SearchToken
from tongban.db import new_id
from tongban.identity.actor import SYSTEM_ACTOR

# Characters whose pinyin collide and overlap (xi'an / xian, gong / gongji, 行 xing/hang),
# Latin letters and digits, LIKE wildcards and punctuation.
ALPHABET = "公积金户口成都证照银行西安先生长城重庆乐a bzg1%_(）"
segment_text = st.text(alphabet=ALPHABET, min_size=1, max_size=8)


def like_matches(term: str, text: str) -> bool:
    """The reference semantics of one term on one entry (search.term_match)."""
    _, pinyin, initials = search.segments(text.split(" "))
    if search._ASCII_TERM.match(term):
        return any(term in col for col in (text, pinyin, initials))
    return term in text


def covered(term: str, text: str) -> bool:
    plan = tokens.term_plan(term)
    held = tokens.entry_tokens(text)
    return plan is None or any(alternative <= held for alternative in plan)


@settings(max_examples=200, deadline=None)
@given(parts=st.lists(segment_text, min_size=1, max_size=4), data=st.data())
def test_every_matching_entry_carries_one_alternative_of_the_term(
    parts: list[str], data: st.DataObject
) -> None:
    text, pinyin, initials = search.segments(parts)
    source = data.draw(st.sampled_from([text, pinyin, initials]))
    start = data.draw(st.integers(0, max(0, len(source) - 1)))
    term = data.draw(st.one_of(
        st.just(source[start:start + data.draw(st.integers(1, 9))]),
        st.text(alphabet=ALPHABET + "ngjixu", min_size=1, max_size=6)))
    term = term.replace(" ", "").lower()
    if term and like_matches(term, text):
        assert covered(term, text), (term, text, tokens.term_plan(term))


def test_an_entry_is_indexed_by_bigrams_syllables_pairs_initials_and_name_start() -> None:
    text, _, _ = search.segments(["住房公积金提取(成都)", "成都住房公积金管理中心"])
    held = tokens.entry_tokens(text)
    assert {"公积", "积金", "户"} - held == {"户"}
    assert {"gong", "gong'ji", "ji'jin", ":gjj", ":zf", "^住房", "^zhu", "^zfg"} <= held
    assert tokens.OTHER not in held


def test_latin_letters_in_a_name_mark_the_entry_for_every_latin_term() -> None:
    text, _, _ = search.segments(["IC卡补办"])
    assert tokens.OTHER in tokens.entry_tokens(text)
    plan = tokens.term_plan("icka")
    assert plan is not None and frozenset({tokens.OTHER}) in plan


@pytest.mark.parametrize(("term", "expected"), [
    ("公积金", (frozenset({"公积", "积金"}),)),
    ("证", (frozenset({"证"}),)),
])
def test_a_chinese_term_needs_its_bigrams(term: str, expected: object) -> None:
    assert tokens.term_plan(term) == expected


@pytest.mark.parametrize("term", ["g", "uan", "xian", "ban"])
def test_a_latin_term_inside_one_syllable_has_no_safe_tokens(term: str) -> None:
    # `xian` also lies inside xiang (香), `ban` inside bang (帮): only LIKE can tell.
    assert tokens.term_plan(term) is None


def test_a_latin_term_is_read_as_initials_and_every_syllable_parse() -> None:
    plan = tokens.term_plan("gongjijin")
    assert plan is not None
    assert frozenset({":gon", ":ong", ":ngj", ":gji", ":jij", ":iji", ":jin"}) in plan
    assert frozenset({"gong'ji", "ji'jin"}) in plan
    assert frozenset({"gong'ji"}) in plan  # …gong ji + the head of jing/jin…
    assert tokens.term_plan("hukou") is not None
    assert frozenset({"kou"}) in tokens.term_plan("hukou")  # type: ignore[operator]


def _enumerated_parses(term: str) -> list[tuple[str, ...]] | None:
    """The readings of `term` by plain enumeration (the reference, fine for short terms)."""
    suffixes, prefixes, inner = tokens._affixes()
    known = tokens.syllables()
    if term in inner:
        return None
    out: list[tuple[str, ...]] = []
    starts = [0] + [k for k in range(1, len(term)) if term[:k] in suffixes]
    if any(k > 0 and term[k:] in prefixes for k in starts):
        return None

    def walk(pos: int, items: tuple[str, ...]) -> None:
        if items and (pos == len(term) or term[pos:] in prefixes):
            out.append(items)
        for end in range(pos + 1, min(len(term), pos + 6) + 1):
            if term[pos:end] in known:
                walk(end, (*items, term[pos:end]))

    for start in starts:
        walk(start, ())
    return out if len(out) <= tokens.MAX_PARSES else None


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(sorted(tokens.syllables())), min_size=1, max_size=3),
       st.integers(0, 3), st.integers(0, 3))
def test_the_linear_parser_finds_exactly_the_readings_enumeration_finds(
        syllables: list[str], cut_head: int, cut_tail: int) -> None:
    whole = "".join(syllables)
    term = whole[cut_head:len(whole) - cut_tail] or whole
    found, expected = tokens._pinyin_parses(term), _enumerated_parses(term)
    assert (found is None) == (expected is None)
    if found is not None and expected is not None:
        assert sorted(found) == sorted(expected)


@pytest.mark.parametrize("term", ["xian" * 11 + "ii", "xian" * 12 + "ii", "xian" * 25,
                                  "a" * 100, "xianan" * 16])
def test_a_term_with_exponentially_many_readings_is_planned_in_linear_work(term: str) -> None:
    # Work counted as lines executed (a clock would measure the machine's load): linear is
    # some fifty lines a character; enumerating the readings took 15 s for the first term.
    tokens.term_plan("warm")  # the syllable tables are built once per process
    lines = 0

    def trace(_frame: Any, event: str, _arg: Any) -> Any:
        nonlocal lines
        lines += event == "line"
        return trace

    sys.settrace(trace)
    try:
        tokens.term_plan(term)
    finally:
        sys.settrace(None)
    assert lines <= 100 * len(term)


# --- indexed search == the reference query, on the database ---------------------------------

REGIONS = ("510104", "510107", "500103")


def _load(db_session: Session, rows: list[tuple[str, int, str]]) -> None:
    """Entries (name, popularity, region) with their postings, as publish would write."""
    catalog = Catalog(db_session)
    catalog.regions()
    dept = catalog.department(CHENGDU_HF, "510100", "成都住房公积金管理中心")
    item = catalog.item("000101001000", "住房公积金提取")
    for n, (name, popularity, region) in enumerate(rows):
        impl_id = new_id()
        code = code_of(CHENGDU_HF, 3, f"{n:012d}")
        db_session.execute(insert(Implementation).values(
            id=impl_id, implementation_code=code, item_id=item.id, department_id=dept.id,
            region_code=region))
        text, pinyin, initials = search.segments([name, "住房公积金", "成都", region[-2:]])
        entry = SearchEntry(
            implementation_id=impl_id, implementation_code=code, version_id=uuid.uuid4(),
            basic_code="000101001000", item_name=item.name, department_name=dept.name,
            region_name="成都", region_code=region, department_id=dept.id,
            item_type="公共服务", applicant_types="person", name=name, text=text,
            pinyin=pinyin, initials=initials, popularity=popularity)
        db_session.add(entry)
        db_session.flush()
        search.sync_tokens(db_session, doc=entry.doc, old_text=None, text=text)


def _reference(db_session: Session, q: str, region: str | None, offset: int,
               count: int) -> list[uuid.UUID]:
    stmt = search.implementations_query(q=q, region_code=region).offset(offset).limit(count)
    return [row[0].implementation_id for row in db_session.execute(stmt)]


names = st.text(alphabet=ALPHABET, min_size=1, max_size=7)
queries = st.one_of(
    st.text(alphabet=ALPHABET + "ngjixuoa", min_size=1, max_size=5),
    st.sampled_from(["gjj", "gongji", "xian", "户口", "hk", "yinhang", "yh", "公积金 cd",
                     "%", "_", "a b", "1", "chengdu", "zhong", "公"]),
)


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow])
@given(rows=st.lists(st.tuples(names, st.integers(0, 3), st.sampled_from(REGIONS)),
                     min_size=1, max_size=12),
       asked=st.lists(st.tuples(queries, st.sampled_from([None, "510100", "500000"]),
                                st.integers(0, 3)), min_size=1, max_size=6))
def test_indexed_search_returns_the_reference_rows_in_order(
    db_session: Session, monkeypatch: pytest.MonkeyPatch,
    rows: list[tuple[str, int, str]], asked: list[tuple[str, str | None, int]],
) -> None:
    try:
        _load(db_session, rows)
        # broad (walking windows of 1, 8, 64 …), mixed, candidates only
        for cap, walk in ((0, 1), (2, 3), (10**6, 2000)):
            monkeypatch.setattr(search, "CANDIDATE_CAP", cap)
            monkeypatch.setattr(search, "FILTERED_CAP", cap)
            monkeypatch.setattr(search, "WALK", walk)
            for q, region, offset in asked:
                found = [e.implementation_id for e in search.find_entries(
                    db_session, q=q, region_code=region, offset=offset, count=4)]
                assert found == _reference(db_session, q, region, offset, 4), (q, region, cap)
    finally:
        db_session.rollback()


def test_republishing_and_withdrawing_keep_postings_in_step(standard: Catalog,
                                                            db_session: Session) -> None:
    code = code_of(CHENGDU_HF, 3, "000101001000")
    entry = db_session.scalar(select(SearchEntry).where(
        SearchEntry.implementation_code == code))
    assert entry is not None
    held = set(db_session.scalars(select(SearchToken.token).where(SearchToken.doc == entry.doc)))
    assert held == tokens.entry_tokens(entry.text)
    service.withdraw(db_session=db_session, actor=SYSTEM_ACTOR, implementation_code=code)
    assert not list(db_session.scalars(select(SearchToken).where(SearchToken.doc == entry.doc)))
