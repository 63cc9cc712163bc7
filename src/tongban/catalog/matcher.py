"""Local item lines → standard items: normalise, block, score with character n-grams,
re-rank, and learn from reviewers' decisions (docs/standardisation.md, "Alignment").

Pure code over plain values (no database), so the service, the CLI and bench/ use the
same matcher. The stages follow the research notes (wave2 §E.4), each over a whole batch
of lines as arrays (scipy.sparse, numpy, rapidfuzz's pairwise `cpdist`), never a Python
loop over (line, standard) pairs:

1. Normalise a name: full-width to half-width (NFKC), brackets, punctuation, the
   region's own names, boilerplate (办理, 申请 …), a short table of standard
   abbreviations written from the catalogue's vocabulary (社会保障卡 → 社保卡), and every
   substitution learnt from confirmed links.
2. Block on structured fields: the line's department is compared with the departments
   that implement each standard item (and its 主管部门); only the items of similar
   departments are candidates, unless that block finds nothing good, when the whole
   catalog is searched too.
3. Candidates: the batch's TF-IDF matrix over character 1- and 2-grams times the
   catalog's, per block; the best few of each row.
4. Re-rank the candidates with every field: name similarity (n-grams, rapidfuzz,
   in-order and IDF-weighted character coverage), department, item type, materials,
   time limits, and learnt aliases.

A line is sent to a person when the best score is low or the runner-up is close.
"""

from __future__ import annotations

import difflib
import math
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from rapidfuzz import fuzz, process
from rapidfuzz.distance import LCSseq
from scipy import sparse

# Boilerplate that says nothing about which item a name means.
BOILERPLATE = ("业务办理", "办理", "申请", "业务", "事项", "手续", "的")
# Standard abbreviations, long form → the short form both sides are reduced to. Written
# from the vocabulary of the standard catalog (not from any labelled set).
ABBREVIATIONS: tuple[tuple[str, str], ...] = (
    ("住房公积金", "公积金"), ("社会保障卡", "社保卡"), ("社会保险", "社保"),
    ("居民身份证", "身份证"), ("机动车驾驶证", "驾驶证"), ("机动车行驶证", "行驶证"),
    ("基本医疗保险", "医保"), ("医疗保障", "医保"), ("医疗保险", "医保"),
    ("基本养老保险", "养老保险"), ("有限责任公司", "有限公司"),
)
# Words regions use for the same act (left) and the catalog's word (right).
SYNONYMS: tuple[tuple[str, str], ...] = (
    ("补办", "补领"), ("补发", "补领"), ("补证", "补领"), ("丢失", "遗失"),
    ("换发", "换领"), ("换证", "换领"), ("申请领取", "申领"), ("开具", "出具"),
    ("初次", "首次"), ("过户登记", "转移登记"), ("过户", "转移登记"),
    ("注册登记", "设立登记"), ("开业登记", "设立登记"),
)
_BRACKETS = str.maketrans({"（": "(", "）": ")", "【": "(", "】": ")", "[": "(", "]": ")",
                           "〔": "(", "〕": ")", "〈": "(", "〉": ")"})
_PUNCT = re.compile(r"[\s·•、,，.。;；:：\"'“”‘’《》<>\-—_/()|]+")
_DIGITS = {c: str(i) for i, c in enumerate("零一二三四五六七八九十")}
_ORDINAL = re.compile(r"第([零一二三四五六七八九十])")
# Leading level words of a department name once its region is gone (市公积金中心).
_DEPT_LEVEL = re.compile(r"^(省|市(?!场)|区|县|州|自治区|自治州|镇|乡|街道)+")

# Re-rank weights; they sum to 1 so a score reads as a confidence.
WEIGHTS = {"ngram": 0.30, "fuzz": 0.10, "coverage": 0.12, "rare": 0.10, "department": 0.12,
           "type": 0.05, "materials": 0.13, "limits": 0.08}
CANDIDATES = 12  # selected from the index per department block
RERANKED = 6  # kept per line after re-ranking (best and runners-up)
CHUNK = 2000  # lines per sparse product
COMMON_SHARE, COMMON_MIN = 0.02, 200  # a gram in more standards than this selects nothing
PROBE_SHARE = 0.4  # ... unless less than this (squared) share of a name's weight is left
RUNNERS_UP = 3
BLOCK_BAR = 60  # rapidfuzz ratio (0-100) for a department to fall in a line's block
FALLBACK_BELOW = 0.45  # a block whose best is below this is searched again, unblocked


@dataclass(frozen=True)
class Standard:
    """One standard item as the matcher sees it."""

    key: str  # 基本编码
    name: str
    item_type: str = ""
    departments: tuple[str, ...] = ()  # 主管部门 and the departments implementing it
    materials: tuple[str, ...] = ()
    legal_days: int | None = None
    promised_days: int | None = None


@dataclass(frozen=True)
class Line:
    """One line of a region's local item list."""

    name: str
    department: str = ""
    item_type: str = ""
    materials: tuple[str, ...] = ()
    legal_days: int | None = None
    promised_days: int | None = None


@dataclass(frozen=True)
class Candidate:
    key: str
    name: str
    score: float
    features: dict[str, float]


@dataclass(frozen=True)
class Match:
    """The best candidate (None if nothing shares a character), the runners-up, and why."""

    best: Candidate | None
    runners_up: tuple[Candidate, ...]
    confidence: float
    margin: float
    reason: tuple[str, ...]
    needs_review: bool


@dataclass(frozen=True)
class Example:
    """A reviewer's decision: `name` (of `department`) means standard item `key`."""

    name: str
    key: str
    department: str = ""


@dataclass
class Knowledge:
    """What confirmed links taught: whole-name aliases, substitutions, departments."""

    aliases: dict[str, Counter[str]] = field(default_factory=dict)
    rules: list[tuple[str, str]] = field(default_factory=list)
    departments: dict[str, set[str]] = field(default_factory=dict)


# ================================================================ normalising


class Normaliser:
    """Reduces names to the form both sides are compared in."""

    def __init__(self, region_names: Iterable[str] = (),
                 rules: Sequence[tuple[str, str]] = ()) -> None:
        names = {n for n in region_names if len(n) >= 2}
        names |= {n[:-1] for n in names if len(n) >= 3 and n[-1] in "省市区县"}
        self.regions = sorted(names, key=len, reverse=True)
        self.replacements = [*ABBREVIATIONS, *SYNONYMS, *rules]

    def base(self, text: str) -> str:
        """Width, brackets, punctuation and region names gone; nothing else changed."""
        text = unicodedata.normalize("NFKC", text or "").translate(_BRACKETS)
        text = _ORDINAL.sub(lambda m: "第" + _DIGITS[m.group(1)], text)
        for name in self.regions:
            if name in text:
                text = text.replace(name, "")
        return _PUNCT.sub("", text)

    def name(self, text: str) -> str:
        """The comparable form of an item name."""
        text = self.base(text)
        for old, new in self.replacements:
            if old in text:
                text = text.replace(old, new)
        for word in BOILERPLATE:
            if word in text and len(text) > len(word) + 1:
                text = text.replace(word, "")
        return text

    def department(self, text: str) -> str:
        """The comparable form of a department name (its region and level words gone)."""
        text = _DEPT_LEVEL.sub("", self.base(text))
        for old, new in ABBREVIATIONS:
            text = text.replace(old, new)
        return text


def grams(text: str) -> Counter[str]:
    """Character unigrams and bigrams (bigrams marked with a leading '\\x01')."""
    out: Counter[str] = Counter(text)
    out.update("\x01" + text[i:i + 2] for i in range(len(text) - 1))
    return out


def bigrams(text: str) -> frozenset[str]:
    """Character bigrams (the text itself when it is one character)."""
    return frozenset(text[i:i + 2] for i in range(len(text) - 1)) or frozenset([text])


def set_dice(ga: frozenset[str], gb: frozenset[str]) -> float:
    return 2 * len(ga & gb) / (len(ga) + len(gb)) if ga and gb else 0.0


def dice(a: str, b: str) -> float:
    """Sørensen–Dice over character bigrams (unigrams for one-character texts)."""
    if not a or not b:
        return 0.0
    return set_dice(bigrams(a), bigrams(b))


# ================================================================ learning


def learn(examples: Iterable[Example], normaliser: Normaliser, standards: dict[str, Standard],
          min_count: int = 2) -> Knowledge:
    """Aliases, substitution rules and department links from reviewers' decisions.

    A substitution is a short differing segment between a confirmed local name and its
    standard name (`注册` → `设立`, `开业` → `设立`, a dropped `办理`); it is used once
    `min_count` decisions agree on it, so one odd name teaches nothing. A segment that was
    only moved (`个人殡葬服务审批` for `殡葬服务审批(个人)`) is no substitution, and neither
    is one that would make two standard names the same (`审批` → `许可` where the catalog
    has both `X审批` and `X许可`): either would erase what tells items apart.
    """
    knowledge = Knowledge()
    segments: Counter[tuple[str, str]] = Counter()
    for ex in examples:
        standard = standards.get(ex.key)
        if standard is None:
            continue
        local = normaliser.name(ex.name)
        knowledge.aliases.setdefault(local, Counter())[ex.key] += 1
        if ex.department:
            dept = normaliser.department(ex.department)
            if dept:
                knowledge.departments.setdefault(ex.key, set()).add(dept)
        target = normaliser.name(standard.name)
        matcher = difflib.SequenceMatcher(a=local, b=target, autojunk=False)
        for op, i1, i2, j1, j2 in matcher.get_opcodes():
            old, new = local[i1:i2], target[j1:j2]
            if op not in ("replace", "delete") or not 0 < len(old) <= 4 or len(new) > 4:
                continue
            moved = bool(bigrams(old) & bigrams(target)) or bool(
                new and bigrams(new) & bigrams(local))
            if not moved and (new or len(old) >= 2):
                segments[(old, new)] += 1
    names = {normaliser.name(s.name) for s in standards.values()}
    knowledge.rules = sorted((pair for pair, n in segments.items()
                              if n >= min_count and not _merges(pair, names)),
                             key=lambda p: (-len(p[0]), p))
    return knowledge


def _merges(rule: tuple[str, str], names: set[str]) -> bool:
    """Whether a substitution would make two different standard names the same."""
    old, new = rule
    changed = {n: n.replace(old, new) for n in names if old in n}
    after = set(changed.values())
    return len(after) < len(changed) or any(c in names and c != n for n, c in changed.items())


# ================================================================ the matcher


@dataclass
class _Pairs:
    """Candidate (line, standard) pairs of a batch as parallel arrays, with their features."""

    rows: np.ndarray  # the line's position in the batch
    docs: np.ndarray  # the standard's position in the catalog
    cos: np.ndarray  # TF-IDF cosine of the names
    features: dict[str, np.ndarray] = field(default_factory=dict)
    score: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def __post_init__(self) -> None:
        if len(self.score) != len(self.rows):
            self.score = np.zeros(len(self.rows))

    def take(self, keep: np.ndarray) -> _Pairs:
        return _Pairs(self.rows[keep], self.docs[keep], self.cos[keep],
                      {k: v[keep] for k, v in self.features.items()}, self.score[keep])

    @staticmethod
    def join(parts: Sequence[_Pairs]) -> _Pairs:
        if not parts:
            return _Pairs(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0))
        names = set.intersection(*(set(p.features) for p in parts))
        return _Pairs(np.concatenate([p.rows for p in parts]),
                      np.concatenate([p.docs for p in parts]),
                      np.concatenate([p.cos for p in parts]),
                      {k: np.concatenate([p.features[k] for p in parts]) for k in names},
                      np.concatenate([p.score for p in parts]))


@dataclass
class _Batch:
    """The lines of one batch, normalised once, as arrays the scorer gathers from."""

    lines: Sequence[Line]
    norms: list[str]
    vectors: sparse.csr_matrix  # one TF-IDF row per line
    probes: sparse.csr_matrix  # the same without the catalog's commonest grams
    chars: sparse.csr_matrix  # each distinct character's share of the name's IDF mass
    departments: list[str]  # normalised
    blocks: list[tuple[str, ...]]
    types: np.ndarray  # item type id, -1 when absent
    legal: np.ndarray  # -1 when absent
    promised: np.ndarray
    wanted: list[list[str]]  # normalised materials
    aliases: list[Counter[str]]


class Matcher:
    """The standard catalog, indexed; `match_many(lines)` suggests an item for each line.

    Every stage works on a whole batch of lines as arrays: the names of a batch are one
    sparse TF-IDF matrix, candidates are the top entries of its product with the
    catalog's matrix restricted to each department block, and the fields of every
    candidate pair are scored in C (rapidfuzz's pairwise `cpdist`, numpy gathers), so the
    Python work is per line, never per (line, standard) pair.
    """

    def __init__(self, standards: Sequence[Standard], *, region_names: Iterable[str] = (),
                 knowledge: Knowledge | None = None, review_below: float = 0.62,
                 review_margin: float = 0.04,
                 rerank: Callable[[str, list[str]], list[float]] | None = None) -> None:
        self.knowledge = knowledge or Knowledge()
        self.normaliser = Normaliser(region_names, self.knowledge.rules)
        self.review_below, self.review_margin = review_below, review_margin
        self.rerank = rerank
        self.standards = list(standards)
        self.norms = [self.normaliser.name(s.name) for s in self.standards]
        self.spaced = [" ".join(n) for n in self.norms]
        self.by_key = {s.key: i for i, s in enumerate(self.standards)}
        order = sorted(range(len(self.standards)), key=lambda i: self.standards[i].key)
        self._key_rank = np.empty(len(self.standards), dtype=np.int64)
        self._key_rank[order] = np.arange(len(self.standards))
        self._build_vectors()
        self._build_departments()
        self._build_fields()
        self._build_materials()
        self._dept_cache: dict[str, tuple[str, ...]] = {}
        self._block_cache: dict[tuple[str, ...], tuple[np.ndarray, sparse.csr_matrix]] = {}

    # ------------------------------------------------------------ the index

    def _build_vectors(self) -> None:
        counts = [grams(n) for n in self.norms]
        df: Counter[str] = Counter(g for c in counts for g in c)
        total = max(len(self.standards), 1)
        self.vocab = {g: j for j, g in enumerate(df)}
        self.idf = {g: math.log((1 + total) / (1 + n)) + 1 for g, n in df.items()}
        self._unseen_idf = math.log(1 + total) + 1  # a gram no standard name has
        self.matrix = self._vectors(counts)
        self._matrix_t = self.matrix.T.tocsr()
        # Grams in more than COMMON_SHARE of a large catalog (证, 登记 …) select no
        # candidates (they would make every line's product row dense); they still count
        # in the exact cosine of the candidates.
        frequency = np.diff(self._matrix_t.indptr)
        bar = max(COMMON_SHARE * total, COMMON_MIN)
        self._rare = (frequency <= bar).astype(np.float32)
        present = self.matrix.copy()
        present.data[:] = 1.0
        self._present = present

    def _char_shares(self, texts: Sequence[str]) -> sparse.csr_matrix:
        """Each distinct character of a text weighted by its IDF, as a share of the
        text's total (characters no standard has count in the total only)."""
        rows = []
        for text in texts:
            weights = {c: self.idf.get(c, self._unseen_idf) for c in set(text)}
            rows.append((weights, sum(weights.values()) or 1.0))
        return self._rows(rows)

    def _vectors(self, counts: Sequence[Counter[str]]) -> sparse.csr_matrix:
        """One unit-length TF-IDF row per text (bigrams count double); grams outside the
        catalog's vocabulary count in a row's length but match nothing."""
        rows = []
        for count in counts:
            row = {g: (2.0 if g[0] == "\x01" else 1.0) * n * self.idf.get(g, self._unseen_idf)
                   for g, n in count.items()}
            rows.append((row, math.sqrt(sum(w * w for w in row.values())) or 1.0))
        return self._rows(rows)

    def _rows(self, rows: Sequence[tuple[dict[str, float], float]]) -> sparse.csr_matrix:
        """A sparse matrix over the vocabulary, one row per (weights, divisor)."""
        indptr, indices, data = [0], [], []
        for weights, divisor in rows:
            for g, w in weights.items():
                j = self.vocab.get(g)
                if j is not None:
                    indices.append(j)
                    data.append(w / divisor)
            indptr.append(len(indices))
        return sparse.csr_matrix((np.asarray(data, dtype=np.float32),
                                  np.asarray(indices, dtype=np.int32),
                                  np.asarray(indptr, dtype=np.int64)),
                                 shape=(len(rows), max(len(self.vocab), 1)))

    def _build_departments(self) -> None:
        """Each standard's departments (normalised), and the block of each department."""
        per_doc: list[tuple[str, ...]] = []
        self._blocks: dict[str, list[int]] = defaultdict(list)
        for i, s in enumerate(self.standards):
            depts = {self.normaliser.department(d) for d in s.departments}
            depts |= self.knowledge.departments.get(s.key, set())
            names = tuple(sorted(d for d in depts if d))
            per_doc.append(names)
            for d in names:
                self._blocks[d].append(i)
        self.doc_departments = per_doc
        self._block_names = list(self._blocks)
        position = {d: j for j, d in enumerate(self._block_names)}
        self._dept_ptr = np.zeros(len(per_doc) + 1, dtype=np.int64)
        np.cumsum([len(d) for d in per_doc], out=self._dept_ptr[1:])
        self._dept_ids = np.asarray([position[d] for names in per_doc for d in names],
                                    dtype=np.int64)

    def _build_fields(self) -> None:
        self._type_ids: dict[str, int] = {}
        self.doc_types = np.asarray([self._type_id(s.item_type) for s in self.standards],
                                    dtype=np.int64)
        self.doc_legal = np.asarray([_days(s.legal_days) for s in self.standards],
                                    dtype=np.int64)
        self.doc_promised = np.asarray([_days(s.promised_days) for s in self.standards],
                                       dtype=np.int64)

    def _type_id(self, item_type: str) -> int:
        return self._type_ids.setdefault(item_type, len(self._type_ids)) if item_type else -1

    def _build_materials(self) -> None:
        """Every standard's materials (normalised) as ids into one list of distinct names."""
        self._material_ids: dict[str, int] = {}
        per_doc = [[self._material_ids.setdefault(m, len(self._material_ids))
                    for m in dict.fromkeys(self.normaliser.name(x) for x in s.materials) if m]
                   for s in self.standards]
        self.doc_material_count = np.asarray([len(s.materials) for s in self.standards],
                                             dtype=np.int64)
        names = list(self._material_ids)
        self._material_grams = {g: j for j, g in enumerate(
            dict.fromkeys(g for n in names for g in bigrams(n)))}
        self._material_matrix, self._material_sizes = self._gram_rows(names)
        # material × standard: 1 where the standard lists that material
        rows = [m for ms in per_doc for m in ms]
        cols = [i for i, ms in enumerate(per_doc) for _ in ms]
        self._material_docs = sparse.csr_matrix(
            (np.ones(len(rows), dtype=np.float32), (rows, cols)),
            shape=(max(len(names), 1), len(self.standards)))

    def _gram_rows(self, texts: Sequence[str]) -> tuple[sparse.csr_matrix, np.ndarray]:
        """Binary bigram rows over the materials' vocabulary, and each text's bigram count."""
        rows, cols, sizes = [], [], []
        for r, text in enumerate(texts):
            gs = bigrams(text)
            sizes.append(len(gs))
            for g in gs:
                j = self._material_grams.get(g)
                if j is not None:
                    rows.append(r)
                    cols.append(j)
        shape = (len(texts), max(len(self._material_grams), 1))
        matrix = sparse.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)),
                                   shape=shape)
        return matrix, np.asarray(sizes, dtype=np.float32)

    # ------------------------------------------------------------ stages

    def block(self, department: str) -> tuple[str, ...]:
        """The known departments similar to a line's department (cached per text)."""
        if department not in self._dept_cache:
            dept = self.normaliser.department(department)
            found: tuple[str, ...] = ()
            if dept and self._block_names:
                hits = process.extract(dept, self._block_names, scorer=fuzz.ratio,
                                       score_cutoff=BLOCK_BAR, limit=None)
                # 住建局 abbreviates 住房和城乡建设局: every character, in order.
                partial = [name for name in self._block_names if len(dept) >= 3 and (
                    name in dept or LCSseq.similarity(dept, name) == len(dept))]
                found = tuple(sorted(dict.fromkeys([h[0] for h in hits] + partial)))
            self._dept_cache[department] = found
        return self._dept_cache[department]

    def _block_matrix(self, names: tuple[str, ...]) -> tuple[np.ndarray, sparse.csr_matrix]:
        """The standards of a block and their TF-IDF columns (cached per block)."""
        if names not in self._block_cache:
            ids = np.unique(np.asarray([i for n in names for i in self._blocks[n]],
                                       dtype=np.int64))
            self._block_cache[names] = (ids, self.matrix[ids].T.tocsr())
        return self._block_cache[names]

    def _prepare(self, lines: Sequence[Line]) -> _Batch:
        norms_of: dict[str, str] = {}
        norms = [norms_of.get(ln.name) or norms_of.setdefault(ln.name,
                                                               self.normaliser.name(ln.name))
                 for ln in lines]
        distinct = list(dict.fromkeys(norms))
        where = {n: r for r, n in enumerate(distinct)}
        vectors = self._vectors([grams(n) for n in distinct])[[where[n] for n in norms]]
        chars = self._char_shares(distinct)[[where[n] for n in norms]]
        probes = vectors.multiply(self._rare[None, :]).tocsr()
        kept = np.asarray(probes.multiply(probes).sum(axis=1)).ravel()
        weak = np.flatnonzero(kept < PROBE_SHARE)  # little left: probe with every gram
        if len(weak):
            probes = sparse.vstack([probes, vectors[weak]]).tocsr()[
                _replace_rows(len(lines), weak)]
        depts_of: dict[str, str] = {}
        departments = [depts_of.get(ln.department) or depts_of.setdefault(
            ln.department, self.normaliser.department(ln.department)) for ln in lines]
        materials_of: dict[str, str] = {}
        wanted = [[m for m in (materials_of.get(x) or materials_of.setdefault(
            x, self.normaliser.name(x)) for x in ln.materials if x) if m] for ln in lines]
        empty: Counter[str] = Counter()
        return _Batch(
            lines=lines, norms=norms, vectors=vectors, probes=probes, chars=chars,
            departments=departments,
            blocks=[self.block(ln.department) if ln.department else () for ln in lines],
            types=np.asarray([self._type_ids.get(ln.item_type, -2) if ln.item_type else -1
                              for ln in lines], dtype=np.int64),
            legal=np.asarray([_days(ln.legal_days) for ln in lines], dtype=np.int64),
            promised=np.asarray([_days(ln.promised_days) for ln in lines], dtype=np.int64),
            wanted=wanted,
            aliases=[self.knowledge.aliases.get(n, empty) for n in norms])

    def _candidates(self, batch: _Batch, rows: np.ndarray, blocked: bool) -> _Pairs:
        """The CANDIDATES best standards by cosine for each of `rows`: within each row's
        department block, or over the whole catalog."""
        groups: dict[tuple[str, ...], list[int]] = defaultdict(list)
        for r in rows.tolist():
            groups[batch.blocks[r] if blocked else ()].append(r)
        parts = []
        for names, members in groups.items():
            if names:
                ids, columns = self._block_matrix(names)
            else:
                ids, columns = np.arange(len(self.standards)), self._matrix_t
            member = np.asarray(members, dtype=np.int64)
            for start in range(0, len(member), CHUNK):
                part = member[start:start + CHUNK]
                parts.append(_top(batch.probes[part] @ columns, part, ids, CANDIDATES))
        pairs = _Pairs.join(parts)
        pairs.cos = self._cosines(batch, pairs.rows, pairs.docs)
        return pairs

    def _cosines(self, batch: _Batch, rows: np.ndarray, docs: np.ndarray) -> np.ndarray:
        """The exact TF-IDF cosine of each (line, standard) pair."""
        if len(rows) == 0:
            return np.zeros(0)
        product = batch.vectors[rows].multiply(self.matrix[docs])
        return np.asarray(product.sum(axis=1), dtype=np.float64).ravel()

    def _with_aliases(self, batch: _Batch, pairs: _Pairs, rows: np.ndarray) -> _Pairs:
        """Learnt aliases join their line's candidates (with their exact cosine)."""
        extra_rows, extra_docs = [], []
        for r in rows.tolist():
            for key in batch.aliases[r]:
                i = self.by_key.get(key)
                if i is not None:
                    extra_rows.append(r)
                    extra_docs.append(i)
        if not extra_rows:
            return pairs
        er = np.asarray(extra_rows, dtype=np.int64)
        ed = np.asarray(extra_docs, dtype=np.int64)
        both = _Pairs.join([pairs, _Pairs(er, ed, self._cosines(batch, er, ed))])
        return both.take(_unique_pairs(both, len(self.standards)))

    def _score(self, batch: _Batch, pairs: _Pairs) -> _Pairs:
        """Every field of every candidate pair, and the weighted score."""
        rows, docs = pairs.rows, pairs.docs
        if len(rows) == 0:
            pairs.score = np.zeros(0)
            pairs.features = {k: np.zeros(0) for k in WEIGHTS}
            return pairs
        local = [batch.norms[r] for r in rows.tolist()]
        target = [self.norms[d] for d in docs.tolist()]
        ratio = process.cpdist(local, target, scorer=fuzz.ratio, dtype=np.float32)
        spaced = process.cpdist([" ".join(n) for n in local],
                                [self.spaced[d] for d in docs.tolist()],
                                scorer=fuzz.token_sort_ratio, dtype=np.float32)
        lcs = process.cpdist(local, target, scorer=LCSseq.similarity, dtype=np.int32)
        lengths = np.maximum(np.fromiter(map(len, local), dtype=np.float64, count=len(local)), 1)
        line_types, doc_types = batch.types[rows], self.doc_types[docs]
        features = {
            "ngram": pairs.cos.astype(np.float64),
            "fuzz": np.maximum(ratio, spaced).astype(np.float64) / 100,
            # Local names abbreviate: their characters appear, in order, in the full name
            # (购房提取公积金 in 购买自住住房提取公积金).
            "coverage": lcs / lengths,
            # ... and the rare characters count most (购 of 购房 is not in 租赁住房).
            "rare": self._rare_coverage(batch, rows, docs),
            "department": self._department_scores(batch, rows, docs),
            "type": np.where((line_types == -1) | (doc_types == -1), 0.5,
                             (line_types == doc_types).astype(np.float64)),
            "materials": self._material_scores(batch, rows, docs),
            "limits": self._limit_scores(batch, rows, docs),
        }
        score = sum(WEIGHTS[k] * v for k, v in features.items())
        assert isinstance(score, np.ndarray)
        alias = np.zeros(len(rows))
        for p in np.flatnonzero([bool(batch.aliases[r]) for r in rows.tolist()]).tolist():
            counter = batch.aliases[int(rows[p])]
            share = counter.get(self.standards[int(docs[p])].key, 0) / sum(counter.values())
            if share:
                alias[p] = share
                score[p] = max(score[p], 0.9 + 0.1 * share)
        features["alias"] = alias
        pairs.features, pairs.score = features, np.round(score, 4)
        return pairs

    def _rare_coverage(self, batch: _Batch, rows: np.ndarray, docs: np.ndarray) -> np.ndarray:
        """The IDF-weighted share of the line's characters that the standard's name has."""
        product = batch.chars[rows].multiply(self._present[docs])
        return np.asarray(product.sum(axis=1), dtype=np.float64).ravel()

    def _department_scores(self, batch: _Batch, rows: np.ndarray,
                           docs: np.ndarray) -> np.ndarray:
        """fuzz.ratio of the line's department to the closest of the standard's."""
        out = np.full(len(rows), 0.5)
        counts = self._dept_ptr[docs + 1] - self._dept_ptr[docs]
        has = np.asarray([bool(batch.departments[r]) for r in rows.tolist()]) & (counts > 0)
        if not has.any() or not self._block_names:
            return out
        idx = np.flatnonzero(has)
        line_depts = list(dict.fromkeys(batch.departments[r] for r in rows[idx].tolist()))
        which = {d: j for j, d in enumerate(line_depts)}
        table = process.cdist(line_depts, self._block_names, scorer=fuzz.ratio,
                              dtype=np.float32)
        line_of = np.asarray([which[batch.departments[r]] for r in rows[idx].tolist()])
        n = counts[idx]
        starts = np.repeat(self._dept_ptr[docs[idx]], n)
        offsets = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
        values = table[np.repeat(line_of, n), self._dept_ids[starts + offsets]]
        out[idx] = np.maximum.reduceat(values, np.cumsum(n) - n) / 100
        return out

    def _material_scores(self, batch: _Batch, rows: np.ndarray, docs: np.ndarray) -> np.ndarray:
        """Share of materials that agree (bigram Dice >= 0.5), over the longer list."""
        out = np.full(len(rows), 0.5)
        wanted_n = np.asarray([len(batch.wanted[r]) for r in rows.tolist()], dtype=np.int64)
        doc_n = self.doc_material_count[docs]
        has = (wanted_n > 0) & (doc_n > 0)
        if not has.any():
            return out
        idx = np.flatnonzero(has)
        names = list(dict.fromkeys(m for r in rows[idx].tolist() for m in batch.wanted[r]))
        which = {m: j for j, m in enumerate(names)}
        matrix, sizes = self._gram_rows(names)
        shared = (matrix @ self._material_matrix.T).tocoo()
        dice = 2 * shared.data / (sizes[shared.row] + self._material_sizes[shared.col])
        agree = sparse.csr_matrix((np.ones(int((dice >= 0.5).sum()), dtype=np.float32),
                                   (shared.row[dice >= 0.5], shared.col[dice >= 0.5])),
                                  shape=(len(names), self._material_matrix.shape[0]))
        # wanted material × standard: does the standard list an agreeing material?
        hit = (agree @ self._material_docs).tocoo()
        n_docs = len(self.standards)
        keys = np.sort(hit.row.astype(np.int64) * n_docs + hit.col)
        n = wanted_n[idx]
        per = np.asarray([which[m] for r in rows[idx].tolist() for m in batch.wanted[r]],
                         dtype=np.int64)
        probe = per * n_docs + np.repeat(docs[idx], n)
        at = np.minimum(np.searchsorted(keys, probe), max(len(keys) - 1, 0))
        found = (keys[at] == probe).astype(np.float64) if len(keys) else np.zeros(len(probe))
        hits = np.add.reduceat(found, np.cumsum(n) - n)
        out[idx] = hits / np.maximum(n, doc_n[idx])
        return out

    def _limit_scores(self, batch: _Batch, rows: np.ndarray, docs: np.ndarray) -> np.ndarray:
        pairs = [(batch.legal[rows], self.doc_legal[docs]),
                 (batch.promised[rows], self.doc_promised[docs])]
        known = sum(((a >= 0) & (b >= 0)).astype(np.int64) for a, b in pairs)
        same = sum(((a >= 0) & (b >= 0) & (a == b)).astype(np.int64) for a, b in pairs)
        return np.where(known == 0, 0.5, same / np.maximum(known, 1))

    def _ranked(self, pairs: _Pairs) -> _Pairs:
        """Pairs by line, then best score first (ties by standard code)."""
        order = np.lexsort((self._key_rank[pairs.docs], -pairs.score, pairs.rows))
        return pairs.take(order)

    # ------------------------------------------------------------ matching

    def match(self, line: Line) -> Match:
        """The best standard item for one local line, with runners-up and reasons."""
        return self.match_many([line])[0]

    def match_many(self, lines: Sequence[Line]) -> list[Match]:
        """The best standard item for each line, with runners-up and reasons."""
        if not lines:
            return []
        batch = self._prepare(lines)
        everyone = np.arange(len(lines), dtype=np.int64)
        blocked = np.asarray([bool(b) for b in batch.blocks])
        pairs = _Pairs.join([self._candidates(batch, everyone[blocked], True),
                             self._candidates(batch, everyone[~blocked], False)])
        pairs = self._ranked(self._score(batch, self._with_aliases(batch, pairs, everyone)))
        # A block whose best is weak is searched again over the whole catalog; the
        # block's candidates stay in the running.
        best = np.full(len(lines), -1.0)
        np.maximum.at(best, pairs.rows, pairs.score)
        again = everyone[blocked & (best < FALLBACK_BELOW)]
        if len(again):
            wider = self._score(batch, self._candidates(batch, again, False))
            both = _Pairs.join([pairs, wider])
            pairs = self._ranked(both.take(_unique_pairs(both, len(self.standards))))
        return self._verdicts(batch, pairs)

    def _verdicts(self, batch: _Batch, pairs: _Pairs) -> list[Match]:
        starts = np.searchsorted(pairs.rows, np.arange(len(batch.lines) + 1))
        names = list(pairs.features)
        columns = {k: pairs.features[k].tolist() for k in names}
        scores, docs = pairs.score.tolist(), pairs.docs.tolist()
        out = []
        for r, line in enumerate(batch.lines):
            keep = RERANKED if self.rerank is not None else 1 + RUNNERS_UP
            span = range(int(starts[r]), min(int(starts[r + 1]), int(starts[r]) + keep))
            ranked = []
            for p in span:
                s = self.standards[docs[p]]
                feats = {k: columns[k][p] for k in names if k != "alias" or columns[k][p]}
                ranked.append(Candidate(key=s.key, name=s.name, score=scores[p],
                                        features=feats))
            if self.rerank is not None and ranked:
                extra = self.rerank(line.name, [c.name for c in ranked])
                ranked = sorted((Candidate(c.key, c.name, round(0.7 * c.score + 0.3 * e, 4),
                                           {**c.features, "encoder": e})
                                 for c, e in zip(ranked, extra, strict=True)),
                                key=lambda c: (-c.score, c.key))
            out.append(self._verdict(line, ranked[:1 + RUNNERS_UP]))
        return out

    def _verdict(self, line: Line, ranked: list[Candidate]) -> Match:
        if not ranked:
            return Match(best=None, runners_up=(), confidence=0.0, margin=0.0,
                         reason=("没有任何名称相近的标准事项 / nothing in the catalog is alike",),
                         needs_review=True)
        best, rest = ranked[0], tuple(ranked[1:1 + RUNNERS_UP])
        margin = best.score - (rest[0].score if rest else 0.0)
        review = best.score < self.review_below or margin < self.review_margin
        return Match(best=best, runners_up=rest, confidence=best.score,
                     margin=round(margin, 4), reason=explain(line, best, margin),
                     needs_review=review)


def _days(value: int | None) -> int:
    return -1 if value is None else int(value)


def _top(product: sparse.spmatrix, rows: np.ndarray, ids: np.ndarray, k: int) -> _Pairs:
    """The k largest entries of each row of a sparse product, as pairs."""
    product = sparse.csr_matrix(product)
    counts = np.diff(product.indptr)
    local = np.repeat(np.arange(len(rows)), counts)
    # one float key (row, then the larger entry first) sorts faster than a lexsort
    order = np.argsort(local + (1.0 - np.clip(product.data, 0, 1)) * 0.5, kind="quicksort")
    rank = np.arange(len(order)) - np.repeat(product.indptr[:-1], counts)
    keep = order[rank < k]
    keep = keep[product.data[keep] > 0]
    return _Pairs(rows[local[keep]], ids[product.indices[keep]], np.zeros(len(keep)))


def _replace_rows(n: int, weak: np.ndarray) -> np.ndarray:
    """Row order that takes row `weak[j]` from position n + j of a stacked matrix."""
    order = np.arange(n)
    order[weak] = n + np.arange(len(weak))
    return order


def _unique_pairs(pairs: _Pairs, n_docs: int) -> np.ndarray:
    """Positions of the first of each (line, standard) pair."""
    _, first = np.unique(pairs.rows * n_docs + pairs.docs, return_index=True)
    return np.sort(first)


def explain(line: Line, best: Candidate, margin: float) -> tuple[str, ...]:
    """Why this candidate, in words a reviewer reads (Chinese / English)."""
    f = best.features
    out = [f"名称相似度 {f['ngram']:.2f} / name similarity {f['ngram']:.2f}"]
    if f.get("alias"):
        out.append("同名事项已由审核人员确认 / this name was confirmed before")
    if line.department:
        out.append(f"部门相似度 {f['department']:.2f} / department similarity "
                   f"{f['department']:.2f}")
    if line.item_type and f["type"] != 0.5:
        out.append("事项类型一致 / same item type" if f["type"] else
                   "事项类型不同 / different item type")
    if line.materials and f["materials"] != 0.5:
        out.append(f"材料吻合度 {f['materials']:.2f} / materials agree {f['materials']:.2f}")
    if f["limits"] != 0.5:
        out.append("时限一致 / same time limits" if f["limits"] == 1 else
                   "时限不同 / different time limits")
    out.append(f"领先第二名 {margin:.2f} / ahead of the runner-up by {margin:.2f}")
    return tuple(out)


_SHARED: Matcher | None = None


def _match_chunk(lines: list[Line]) -> list[Match]:
    assert _SHARED is not None
    return _SHARED.match_many(lines)


def match_all(matcher: Matcher, lines: Sequence[Line], workers: int = 1,
              chunk: int = 2000) -> list[Match]:
    """Match many lines, in `workers` forked processes that share the built index."""
    global _SHARED
    if workers <= 1 or len(lines) < 2 * chunk:
        return [m for i in range(0, len(lines), chunk)
                for m in matcher.match_many(lines[i:i + chunk])]
    import gc
    import multiprocessing

    _SHARED = matcher
    # The children inherit this process's open database connections. A child must never
    # touch one, not even to free it: a SQLite connection closed in a forked child
    # writes to the WAL index the parent still uses (the parent's database then reads as
    # "disk I/O error" or "file is not a database"). So collect what is already garbage
    # here, then freeze every object: a child's collector never visits what it inherited.
    frozen_before = gc.get_freeze_count()  # a server froze its start-up objects: keep them so
    gc.collect()
    gc.freeze()
    try:
        context = multiprocessing.get_context("fork")
        with context.Pool(workers) as pool:
            parts = pool.map(_match_chunk, [list(lines[i:i + chunk])
                                            for i in range(0, len(lines), chunk)])
    finally:
        if not frozen_before:
            gc.unfreeze()
        _SHARED = None
    return [m for part in parts for m in part]
