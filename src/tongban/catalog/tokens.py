"""The search index's tokens: what a search entry is indexed under, and which tokens a
query term needs, so search reads posting lists instead of scanning every entry.

Search keeps its substring semantics (see search.py): a term matches when it is a
substring of the Chinese text or, for a Latin term, of the full pinyin or the initials.
The index only narrows the rows that the same LIKE predicates then check, so a plan must
name a *superset* of the matching entries, never miss one:

- Chinese text: every character bigram of each segment, and each non-alphanumeric
  character alone (for one-character queries). A term of n >= 2 characters can only
  occur where all its bigrams occur.
- Initials (`gjj`): every bigram and trigram of each segment's initials, prefixed `:`.
- Full pinyin (`gongjijin`): each syllable, and each pair of neighbouring syllables
  (`gong'ji`). A term occurs in full pinyin as the tail of one item, whole items, and the
  head of another; `query_alternatives` enumerates those parses and asks for the whole
  items of each (any parse may be the true one, so their union is the candidate set).
  An item that is not a known syllable (Latin letters or digits in a name, `ic` of IC卡)
  marks the entry with OTHER, and every Latin term includes OTHER entries, so parsing is
  only needed over real syllables.
- A Latin term that matches the Chinese text also matches the full pinyin (pinyin keeps
  Latin letters and digits as they are), so its pinyin and initials alternatives suffice.
- Name starts (`START` + the first 1..3 characters of the name's text, pinyin and
  initials) find the entries that rank as exact or prefix matches.

A term with no safe token set (a Latin term inside one syllable, like `uan`, or one
letter) is "unrestricted": the search then checks it by LIKE over whatever other terms or
the popularity order select.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from itertools import pairwise

from pypinyin import Style, lazy_pinyin
from pypinyin.phrases_dict import phrases_dict
from pypinyin.pinyin_dict import pinyin_dict
from pypinyin.style import convert

OTHER = "\x01"  # the entry's pinyin has an item that is not a syllable
START = "^"  # name-start tokens
INITIALS = ":"  # initials n-grams
PAIR = "'"  # between the two syllables of a pair token
MAX_PARSES = 64  # beyond this many ways to read a Latin term, treat it as unrestricted
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")
_ALNUM = re.compile(r"^[a-z0-9]+$")

# One alternative: tokens that must all be present. A term's plan: alternatives any of
# which may hold (None: no safe plan, the term is unrestricted).
Alternative = frozenset[str]
Plan = tuple[Alternative, ...] | None


@lru_cache(maxsize=1)
def syllables() -> frozenset[str]:
    """Every toneless syllable pypinyin can produce (lazy_pinyin's NORMAL style)."""
    readings: set[str] = set()
    for value in pinyin_dict.values():
        readings.update(value.split(","))
    for phrase in phrases_dict.values():
        for options in phrase:
            readings.update(options)
    out = {_NOT_ALNUM.sub("", convert(r, Style.NORMAL, True, None).lower()) for r in readings}
    return frozenset(s for s in out if s)


@lru_cache(maxsize=1)
def _affixes() -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    """Proper suffixes, proper prefixes and inner substrings of syllables."""
    suffixes, prefixes, inner = set(), set(), set()
    for s in syllables():
        for i in range(1, len(s)):
            suffixes.add(s[i:])
            prefixes.add(s[:i])
        for i in range(len(s)):
            for j in range(i + 1, len(s) + 1):
                if (i, j) != (0, len(s)):
                    inner.add(s[i:j])
    return frozenset(suffixes), frozenset(prefixes), frozenset(inner)


def normalise(part: str) -> str:
    """A segment as the `text` column stores it: lower case, without spaces."""
    return part.lower().replace(" ", "")


@lru_cache(maxsize=65536)
def segment(text: str) -> tuple[tuple[str, ...], str]:
    """(pinyin items, initials) of one normalised segment; search.segments joins the items
    into the `pinyin` column, so the two never disagree."""
    items = tuple(i for i in (_NOT_ALNUM.sub("", p.lower())
                              for p in lazy_pinyin(text, errors="default")) if i)
    initials = _NOT_ALNUM.sub(
        "", "".join(lazy_pinyin(text, style=Style.FIRST_LETTER, errors="default")).lower())
    return items, initials


def _grams(s: str, n: int) -> Iterable[str]:
    return (s[i:i + n] for i in range(len(s) - n + 1))


def entry_tokens(text: str) -> set[str]:
    """The tokens of an entry, from its stored `text` column (segments joined by one
    space, the name first), so the old tokens of an entry can be recomputed to delete."""
    out: set[str] = set()
    known = syllables()
    for index, seg in enumerate(text.split(" ")):
        items, initials = segment(seg)
        out.update(_grams(seg, 2))
        out.update(c for c in seg if not _ALNUM.match(c))
        out.update(INITIALS + g for n in (2, 3) for g in _grams(initials, n))
        out.update(i for i in items if i in known)
        out.update(a + PAIR + b for a, b in pairwise(items) if a in known and b in known)
        if any(i not in known for i in items):
            out.add(OTHER)
        if index == 0:
            pinyin = "".join(items)
            out.update(START + s[:k] for s in (seg, pinyin, initials) for k in (1, 2, 3) if s)
    return out


def _pinyin_parses(term: str) -> list[tuple[str, ...]] | None:
    """Each way `term` can lie over syllables: the whole syllables it covers (a proper
    suffix of one before them, a proper prefix of one after them). None when some
    reading covers no whole syllable, or there are too many readings.

    Counted by dynamic programming from the end of the term (how many readings continue
    from each position, capped), so the work is linear in the term's length: enumerating
    the readings depth first took 15 s for 'xian' * 11 + 'ii', whose readings double with
    each 'xian' (xian, xi'an, xi'a'n ...) and none of which ends the term."""
    suffixes, prefixes, inner = _affixes()
    if term in inner:
        return None  # inside one syllable (or its head or tail): no whole item
    starts = [0] + [k for k in range(1, len(term)) if term[:k] in suffixes]
    if any(k > 0 and term[k:] in prefixes for k in starts):
        return None  # a tail and a head, nothing whole between them
    steps = _syllable_steps(term)
    ways = _ways_to_end(term, steps, prefixes)
    if sum(ways[end] for k in starts for end in steps[k]) > MAX_PARSES:
        return None
    tails: dict[int, list[tuple[str, ...]]] = {}
    for pos in range(len(term), -1, -1):
        if ways[pos] <= MAX_PARSES:  # every position a reading passes through is
            tails[pos] = [()] * _ends_here(term, pos, prefixes) + [
                (term[pos:end], *tail) for end in steps[pos] for tail in tails[end]]
    return [(term[k:end], *tail) for k in starts for end in steps[k] for tail in tails[end]]


def _syllable_steps(term: str) -> list[list[int]]:
    """For each position, the ends of the syllables (at most 6 letters) starting there."""
    known = syllables()
    return [[end for end in range(pos + 1, min(len(term), pos + 6) + 1)
             if term[pos:end] in known] for pos in range(len(term) + 1)]


def _ends_here(term: str, pos: int, prefixes: frozenset[str]) -> int:
    """1 if a reading may stop at `pos` (the rest is empty or the head of a syllable)."""
    return int(pos == len(term) or term[pos:] in prefixes)


def _ways_to_end(term: str, steps: list[list[int]], prefixes: frozenset[str]) -> list[int]:
    """How many readings continue from each position after a whole syllable, capped just
    above MAX_PARSES so the numbers stay small."""
    ways = [0] * (len(term) + 1)
    for pos in range(len(term), -1, -1):
        ways[pos] = min(MAX_PARSES + 1, _ends_here(term, pos, prefixes)
                        + sum(ways[end] for end in steps[pos]))
    return ways


def term_plan(term: str) -> Plan:
    """The token alternatives one query term needs (a superset of its matches)."""
    if not _ALNUM.match(term):
        return (frozenset(_grams(term, 2)) if len(term) > 1 else frozenset({term}),)
    if len(term) < 2:
        return None
    parses = _pinyin_parses(term)
    if parses is None:
        return None
    initials = frozenset(INITIALS + g for g in _grams(term, min(3, len(term))))
    alternatives = {initials, frozenset({OTHER})}
    for items in parses:
        if len(items) == 1:
            alternatives.add(frozenset(items))
        else:
            alternatives.add(frozenset(a + PAIR + b for a, b in pairwise(items)))
    return tuple(alternatives)


def start_token(whole: str) -> str:
    """The token every entry whose name (text, pinyin or initials) starts with `whole`
    carries."""
    return START + whole[:3]
