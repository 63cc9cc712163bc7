"""RFC 6962 / RFC 9162 Merkle tree: hashing, tree heads, inclusion and consistency proofs.

Storage-agnostic. A tree is read through a `fetch` function that returns stored node
hashes; interior nodes of complete subtrees are stored only at levels that are multiples
of `STRIDE` (leaf hashes are level 0), so a node at any other level is recomputed from at
most 2**(STRIDE-1) stored children. A proof at any tree size then costs O(log n) hashing
and a handful of batched reads, and the stored interior nodes add only ~n/15 rows.

Notation follows RFC 9162 §2.1: MTH(D[a:b]) is the hash of the leaves a..b-1; a node
`(level, idx)` is the complete subtree D[idx*2**level : (idx+1)*2**level].
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

STRIDE = 4
EMPTY_ROOT = hashlib.sha256(b"").digest()
HASH_SIZE = 32

Key = tuple[int, int]  # (level, idx)
# level -> list of [start, end) idx ranges to read; returns {(level, idx): hash}
Fetch = Callable[[Mapping[int, Sequence[tuple[int, int]]]], Mapping[Key, bytes]]


class ProofError(ValueError):
    """A proof, or the sizes and hashes it is checked against, do not fit together."""


def leaf_hash(data: bytes) -> bytes:
    """RFC 6962 leaf hash: SHA-256(0x00 || data), so a leaf can never pass as a node."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962 interior hash: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly smaller than n (n > 1): where RFC 6962 splits."""
    return 1 << ((n - 1).bit_length() - 1)


def is_stored_level(level: int) -> bool:
    """Whether nodes of this level are kept in storage (leaves are level 0)."""
    return level % STRIDE == 0


# --- which subtrees a head or a proof needs --------------------------------------------


def range_keys(start: int, end: int) -> list[Key]:
    """The complete subtrees, left to right, whose right fold is MTH(D[start:end]).

    Valid for the ranges the RFC recursion produces (start aligned to the size's split).
    """
    keys: list[Key] = []
    while start < end:
        size = end - start
        width = size if size & (size - 1) == 0 else _split(size)
        level = width.bit_length() - 1
        keys.append((level, start >> level))
        start += width
    return keys


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """PATH(m, D[n]) of RFC 9162 §2.1.3.1 as leaf ranges, bottom-up."""
    ranges: list[tuple[int, int]] = []
    start, end, m = 0, size, index
    while end - start > 1:
        k = _split(end - start)
        if m < k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start, m = start + k, m - k
    ranges.reverse()
    return ranges


def consistency_ranges(first: int, second: int) -> list[tuple[int, int]]:
    """PROOF(m, D[n]) = SUBPROOF(m, D[n], true) of RFC 9162 §2.1.4.1 as leaf ranges."""
    ranges: list[tuple[int, int]] = []
    start, end, m, whole = 0, second, first, True
    while m != end - start:
        k = _split(end - start)
        if m <= k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start, m, whole = start + k, m - k, False
    if not whole:
        ranges.append((start, end))
    ranges.reverse()
    return ranges


def fold_right(hashes: Sequence[bytes]) -> bytes:
    """Combine complete subtrees (left to right, decreasing) into one MTH."""
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = node_hash(left, result)
    return result


# --- reading a stored tree -------------------------------------------------------------


class TreeReader:
    """Computes subtree hashes from stored nodes, fetching all it needs in one call."""

    def __init__(self, fetch: Fetch) -> None:
        self._fetch = fetch

    def nodes(self, keys: Iterable[Key]) -> dict[Key, bytes]:
        """Hashes of the given complete subtrees (any level)."""
        wanted = set(keys)
        requests: dict[int, list[tuple[int, int]]] = {}
        for level, idx in wanted:
            base = level - level % STRIDE
            shift = level - base
            requests.setdefault(base, []).append((idx << shift, (idx + 1) << shift))
        stored = self._fetch(requests)
        out: dict[Key, bytes] = {}
        for level, idx in wanted:
            base = level - level % STRIDE
            shift = level - base
            row = []
            for j in range(idx << shift, (idx + 1) << shift):
                if (base, j) not in stored:
                    raise LookupError(f"stored node ({base}, {j}) is missing")
                row.append(stored[(base, j)])
            while len(row) > 1:
                row = [node_hash(row[i], row[i + 1]) for i in range(0, len(row), 2)]
            out[(level, idx)] = row[0]
        return out

    def ranges(self, ranges: Sequence[tuple[int, int]]) -> list[bytes]:
        """MTH of each leaf range, in order."""
        per_range = [range_keys(a, b) for a, b in ranges]
        hashes = self.nodes(k for keys in per_range for k in keys)
        return [fold_right([hashes[k] for k in keys]) for keys in per_range]

    def root(self, size: int) -> bytes:
        """MTH of the first `size` leaves (the empty tree hashes to SHA-256 of nothing)."""
        if size == 0:
            return EMPTY_ROOT
        return self.ranges([(0, size)])[0]

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """The audit path of leaf `index` in the tree of `size` leaves."""
        if not 0 <= index < size:
            raise ProofError(f"leaf index {index} is not in a tree of size {size}")
        return self.ranges(inclusion_ranges(index, size))

    def consistency_proof(self, first: int, second: int) -> list[bytes]:
        """The proof that the tree of `first` leaves is a prefix of the one of `second`."""
        if not 0 < first <= second:
            raise ProofError(f"no consistency proof from size {first} to size {second}")
        return self.ranges(consistency_ranges(first, second))


# --- appending: the compact range of the tree's right edge -------------------------------


@dataclass
class Frontier:
    """The complete subtrees covering D[0:size], so leaves can be appended in O(1) amortised.

    `push` reports each interior node that completes at a stored level, to be persisted.
    """

    size: int = 0
    stack: list[tuple[int, bytes]] = field(default_factory=list)  # (level, hash), left to right

    @classmethod
    def load(cls, size: int, reader: TreeReader) -> Frontier:
        """The frontier of a stored tree of `size` leaves."""
        keys = range_keys(0, size)
        hashes = reader.nodes(keys)
        return cls(size=size, stack=[(level, hashes[(level, idx)]) for level, idx in keys])

    def push(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Append one leaf hash; return the new stored-level nodes (level >= STRIDE)."""
        self.size += 1
        level, current = 0, leaf
        completed: list[tuple[int, int, bytes]] = []
        while self.stack and self.stack[-1][0] == level:
            _, left = self.stack.pop()
            current = node_hash(left, current)
            level += 1
            if is_stored_level(level):
                completed.append((level, (self.size >> level) - 1, current))
        self.stack.append((level, current))
        return completed

    def root(self) -> bytes:
        """The tree head of everything pushed so far."""
        if not self.stack:
            return EMPTY_ROOT
        return fold_right([h for _, h in self.stack])


# --- verification (RFC 9162 §2.1.3.2 and §2.1.4.2) ------------------------------------------


def _check_hashes(*hashes: bytes) -> None:
    for value in hashes:
        if not isinstance(value, bytes) or len(value) != HASH_SIZE:
            raise ProofError("a hash is not 32 bytes")


def root_from_inclusion_proof(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes]
) -> bytes:
    """The root that an audit path leads to (RFC 9162 §2.1.3.2), or ProofError."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is not in a tree of size {size}")
    _check_hashes(leaf, *proof)
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise ProofError("the audit path is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the audit path is too short")
    return r


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Raise ProofError unless `leaf` is leaf `index` of the tree with this root."""
    _check_hashes(root)
    if not hmac.compare_digest(root_from_inclusion_proof(index, size, leaf, proof), root):
        raise ProofError("the audit path does not lead to the root")


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> None:
    """Raise ProofError unless the tree (first, first_root) is a prefix of (second, ...)."""
    _check_hashes(first_root, second_root, *proof)
    if not 0 < first <= second:
        raise ProofError(f"no consistency proof from size {first} to size {second}")
    if first == second:
        if proof:
            raise ProofError("a proof between equal sizes must be empty")
        if not hmac.compare_digest(first_root, second_root):
            raise ProofError("equal sizes with different roots")
        return
    if not proof:
        raise ProofError("the consistency proof is empty")
    path = list(proof)
    if first & (first - 1) == 0:  # first is a power of two: its root is the first node
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("the consistency proof is too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the consistency proof is too short")
    if not hmac.compare_digest(fr, first_root):
        raise ProofError("the proof does not lead to the first root")
    if not hmac.compare_digest(sr, second_root):
        raise ProofError("the proof does not lead to the second root")


# --- in memory: for tests, tools and re-deriving a tree -----------------------------------


class MemoryTree:
    """A tree held in memory with the same stored-levels layout as the database."""

    def __init__(self) -> None:
        self.frontier = Frontier()
        self.stored: dict[Key, bytes] = {}
        self.reader = TreeReader(self._fetch)

    def append(self, data: bytes) -> int:
        """Append one entry's bytes; return its leaf index."""
        leaf = leaf_hash(data)
        index = self.frontier.size
        self.stored[(0, index)] = leaf
        for level, idx, value in self.frontier.push(leaf):
            self.stored[(level, idx)] = value
        return index

    def _fetch(self, requests: Mapping[int, Sequence[tuple[int, int]]]) -> dict[Key, bytes]:
        return {
            (level, j): self.stored[(level, j)]
            for level, spans in requests.items()
            for a, b in spans
            for j in range(a, b)
            if (level, j) in self.stored
        }
