"""The Merkle tree against RFC 6962 test vectors, a from-the-RFC reference written here,
and pymerkle (an independent implementation) for every tree size 1..64."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping, Sequence

import pytest
from pymerkle import InmemoryTree

from tongban.ledger import merkle
from tongban.ledger.merkle import MemoryTree, ProofError

# --- RFC 6962 test vectors, transcribed from transparency-dev/merkle proof/verify_test.go
# (Apache-2.0), the vectors certificate-transparency-go's tests also use. ---------------

VECTOR_LEAVES = [
    b"", b"\x00", b"\x10", b"\x20\x21", b"\x30\x31", b"\x40\x41\x42\x43",
    bytes.fromhex("5051525354555657"), bytes.fromhex("606162636465666768696a6b6c6d6e6f"),
]
VECTOR_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
# (1-based leaf, tree size, audit path)
VECTOR_INCLUSION = [
    (1, 1, []),
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (3, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (2, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]
VECTOR_CONSISTENCY = [
    (1, 1, []),
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
    (6, 7, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
]


def _hexes(hashes: list[bytes]) -> list[str]:
    return [h.hex() for h in hashes]


@pytest.fixture(scope="module")
def vector_tree() -> MemoryTree:
    tree = MemoryTree()
    for data in VECTOR_LEAVES:
        tree.append(data)
    return tree


def test_tree_heads_match_the_rfc6962_vectors(vector_tree: MemoryTree) -> None:
    assert merkle.EMPTY_ROOT.hex() == hashlib.sha256(b"").hexdigest()
    for size, root in enumerate(VECTOR_ROOTS, start=1):
        assert vector_tree.reader.root(size).hex() == root


@pytest.mark.parametrize(("leaf", "size", "path"), VECTOR_INCLUSION)
def test_inclusion_proofs_match_the_rfc6962_vectors(
    vector_tree: MemoryTree, leaf: int, size: int, path: list[str]
) -> None:
    proof = vector_tree.reader.inclusion_proof(leaf - 1, size)
    assert _hexes(proof) == path
    merkle.verify_inclusion(leaf - 1, size, merkle.leaf_hash(VECTOR_LEAVES[leaf - 1]), proof,
                            bytes.fromhex(VECTOR_ROOTS[size - 1]))


@pytest.mark.parametrize(("first", "second", "path"), VECTOR_CONSISTENCY)
def test_consistency_proofs_match_the_rfc6962_vectors(
    vector_tree: MemoryTree, first: int, second: int, path: list[str]
) -> None:
    proof = vector_tree.reader.consistency_proof(first, second)
    assert _hexes(proof) == path
    merkle.verify_consistency(first, second, bytes.fromhex(VECTOR_ROOTS[first - 1]),
                              bytes.fromhex(VECTOR_ROOTS[second - 1]), proof)


# --- a reference written straight from the recursive definitions of RFC 6962 §2.1 ---------


def _ref_mth(d: list[bytes]) -> bytes:
    if not d:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return hashlib.sha256(b"\x00" + d[0]).digest()
    k = 1
    while k * 2 < len(d):
        k *= 2
    return hashlib.sha256(b"\x01" + _ref_mth(d[:k]) + _ref_mth(d[k:])).digest()


def _ref_split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def _ref_path(m: int, d: list[bytes]) -> list[bytes]:
    if len(d) <= 1:
        return []
    k = _ref_split(len(d))
    if m < k:
        return [*_ref_path(m, d[:k]), _ref_mth(d[k:])]
    return [*_ref_path(m - k, d[k:]), _ref_mth(d[:k])]


def _ref_subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [_ref_mth(d)]
    k = _ref_split(n)
    if m <= k:
        return [*_ref_subproof(m, d[:k], b), _ref_mth(d[k:])]
    return [*_ref_subproof(m - k, d[k:], False), _ref_mth(d[:k])]


DATA = [f"act-{i}".encode() for i in range(64)]


@pytest.fixture(scope="module")
def ours() -> MemoryTree:
    tree = MemoryTree()
    for data in DATA:
        tree.append(data)
    return tree


@pytest.fixture(scope="module")
def peer() -> InmemoryTree:
    tree = InmemoryTree(algorithm="sha256")  # RFC 6962 prefixes 0x00 / 0x01 (security on)
    for data in DATA:
        tree.append_entry(data)
    return tree


@pytest.mark.parametrize("size", range(1, 65))
def test_every_proof_of_every_size_up_to_64_is_accepted_by_pymerkle(
    ours: MemoryTree, peer: InmemoryTree, size: int
) -> None:
    root = ours.reader.root(size)
    assert root == peer.get_root(size) == _ref_mth(DATA[:size])
    for index in range(size):
        path = ours.reader.inclusion_proof(index, size)
        assert path == _ref_path(index, DATA[:size])
        leaf = merkle.leaf_hash(DATA[index])
        # pymerkle verifies our audit path under its own layout of that proof
        theirs = peer.prove_inclusion(index + 1, size)
        theirs.path = [leaf, *path]
        theirs.verify(leaf, root, index=index + 1, size=size)
        merkle.verify_inclusion(index, size, leaf, path, root)


def test_consistency_proofs_of_all_pairs_up_to_64_follow_the_rfc(
    ours: MemoryTree, peer: InmemoryTree
) -> None:
    for second in range(1, 65):
        for first in range(1, second + 1):
            proof = ours.reader.consistency_proof(first, second)
            assert proof == _ref_subproof(first, DATA[:second], True)
            merkle.verify_consistency(first, second, peer.get_root(first),
                                      peer.get_root(second), proof)
            peer.prove_consistency(first, second).verify(peer.get_root(first),
                                                         peer.get_root(second))


def test_random_large_pairs_agree_with_pymerkle() -> None:
    rng = random.Random(6962)
    data = [rng.randbytes(rng.randint(0, 40)) for _ in range(1500)]
    tree, peer = MemoryTree(), InmemoryTree(algorithm="sha256")
    for item in data:
        tree.append(item)
        peer.append_entry(item)
    for _ in range(60):
        second = rng.randint(1, len(data))
        first = rng.randint(1, second)
        index = rng.randrange(second)
        r1, r2 = tree.reader.root(first), tree.reader.root(second)
        assert (r1, r2) == (peer.get_root(first), peer.get_root(second))
        proof = tree.reader.consistency_proof(first, second)
        merkle.verify_consistency(first, second, r1, r2, proof)
        theirs = peer.prove_inclusion(index + 1, second)
        theirs.path = [merkle.leaf_hash(data[index]), *tree.reader.inclusion_proof(index, second)]
        theirs.verify(merkle.leaf_hash(data[index]), r2)


def test_stored_levels_hold_only_every_fourth_level(ours: MemoryTree) -> None:
    levels = {level for level, _ in ours.stored}
    assert levels == {0, 4}  # 64 leaves: leaves, and the four 16-leaf subtrees
    assert len(ours.stored) == 64 + 4


# --- bad proofs are refused -----------------------------------------------------------------


def _flip(value: bytes) -> bytes:
    return bytes([value[0] ^ 8]) + value[1:]


def test_tampered_inclusion_proofs_are_rejected(ours: MemoryTree) -> None:
    size, index = 45, 13
    root, leaf = ours.reader.root(size), merkle.leaf_hash(DATA[index])
    path = ours.reader.inclusion_proof(index, size)
    bad_cases = [
        (index + 1, size, leaf, path, root),
        (index, size * 2, leaf, path, root),
        (index, size, _flip(leaf), path, root),
        (index, size, leaf, path[:-1], root),
        (index, size, leaf, [*path, root], root),
        (index, size, leaf, [_flip(path[0]), *path[1:]], root),
        (index, size, leaf, path, _flip(root)),
        (size, size, leaf, path, root),
    ]
    for case in bad_cases:
        with pytest.raises(ProofError):
            merkle.verify_inclusion(*case)


def test_tampered_consistency_proofs_are_rejected(ours: MemoryTree) -> None:
    first, second = 21, 50
    r1, r2 = ours.reader.root(first), ours.reader.root(second)
    proof = ours.reader.consistency_proof(first, second)
    bad_cases = [
        (first + 1, second, r1, r2, proof),
        (first, second * 2, r1, r2, proof),
        (first, second // 2, r1, r2, proof),
        (first, second, r2, r1, proof),
        (first, second, r1, r2, []),
        (first, second, r1, r2, proof[:-1]),
        (first, second, r1, r2, [*proof, r1]),
        (first, second, r1, r2, [_flip(proof[0]), *proof[1:]]),
        (second, first, r2, r1, proof),
        (0, second, r1, r2, proof),
    ]
    for case in bad_cases:
        with pytest.raises(ProofError):
            merkle.verify_consistency(*case)


def test_proofs_outside_the_tree_are_refused(ours: MemoryTree) -> None:
    with pytest.raises(ProofError):
        ours.reader.inclusion_proof(10, 10)
    with pytest.raises(ProofError):
        ours.reader.consistency_proof(11, 10)
    with pytest.raises(ProofError):
        ours.reader.consistency_proof(0, 10)


def test_a_proof_in_a_tree_of_a_million_reads_a_few_hundred_hashes_in_one_batch() -> None:
    calls: list[int] = []

    def fetch(requests: Mapping[int, Sequence[tuple[int, int]]]) -> dict[merkle.Key, bytes]:
        keys = {(level, j) for level, spans in requests.items() for a, b in spans
                for j in range(a, b)}
        assert all(merkle.is_stored_level(level) for level, _ in keys)
        calls.append(len(keys))
        return {key: hashlib.sha256(repr(key).encode()).digest() for key in keys}

    reader = merkle.TreeReader(fetch)
    size = 1_000_003
    reader.ranges([(0, size), *merkle.inclusion_ranges(777_777, size)])
    reader.consistency_proof(654_321, size)
    assert len(calls) == 2 and max(calls) < 300
