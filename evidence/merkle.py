"""RFC 9162 (Certificate Transparency v2) Merkle tree hashes and proofs over the audit log's entries.

Written out here rather than taken from a library: the Python Merkle libraries on PyPI either prove in their own
proof format (pymerkle's proofs carry extra direction bits, so an RFC 9162 audit path cannot be checked with them)
or keep the algorithms private (sigstore). These functions follow the RFC's sections 2.1.1-2.1.4 line by line and
are checked against every inclusion and consistency vector of transparency-dev/merkle (tests/test_merkle.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

LEAF_PREFIX, NODE_PREFIX = b"\x00", b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()
HASH_SIZE = 32


class ProofError(ValueError):
    """A proof that does not verify, with the reason (a wrong size, a wrong length, a different root)."""


def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(LEAF_PREFIX + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n > 1): where RFC 9162 splits a tree of n leaves."""
    return 1 << ((n - 1).bit_length() - 1)


def root(leaves: Sequence[bytes]) -> bytes:
    """MTH(D[n]) of leaf hashes (section 2.1.1)."""
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    k = _split(len(leaves))
    return node_hash(root(leaves[:k]), root(leaves[k:]))


def prefix_roots(leaves: Sequence[bytes], sizes: Sequence[int]) -> dict[int, bytes]:
    """MTH(D[size]) for each of ``sizes``, in one pass over ``leaves`` (a stack of perfect subtrees, the
    compact range of RFC 9162's section 2.1.1 tree): how every checkpoint is checked without re-hashing per
    checkpoint."""
    wanted, found = set(sizes), {}
    if 0 in wanted:
        found[0] = EMPTY_ROOT
    stack: list[tuple[int, bytes]] = []  # (leaf count, hash) of perfect subtrees, largest first
    for count, leaf in enumerate(leaves, start=1):
        size, node = 1, leaf
        while stack and stack[-1][0] == size:
            node = node_hash(stack.pop()[1], node)
            size *= 2
        stack.append((size, node))
        if count in wanted:
            top = stack[-1][1]
            for _, left in reversed(stack[:-1]):
                top = node_hash(left, top)
            found[count] = top
    missing = wanted - found.keys()
    if missing:
        raise ProofError(f"no tree of size {min(missing)} in {len(leaves)} leaves")
    return found


def inclusion_proof(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]) (section 2.1.3.1): the audit path of leaf ``index`` in the tree of ``leaves``."""
    return inclusion_proofs([index], leaves)[index]


def inclusion_proofs(indices: Iterable[int], leaves: Sequence[bytes]) -> dict[int, list[bytes]]:
    """PATH(m, D[n]) for each of ``indices``, in one pass over the tree (n - 1 hashes however many are asked,
    where the section's recursion re-hashes the whole tree for each): a case's timeline or export proves all
    its entries at the cost of one.

    The tree is built level by level from the leaves, pairing neighbours and carrying an odd last node up
    unchanged: that is the RFC's tree (its split at the largest power of two below n leaves the right part
    short, and a short right part is exactly what carrying makes), and a leaf's path is its sibling on each
    level that has one, lowest first (the order of the section's recursion)."""
    wanted = sorted(set(indices))
    for index in wanted:
        if not 0 <= index < len(leaves):
            raise ProofError(f"leaf {index} is not in a tree of {len(leaves)}")
    paths: dict[int, list[bytes]] = {index: [] for index in wanted}
    if not paths:
        return paths
    at = {index: index for index in wanted}  # each leaf's node on the current level
    level: Sequence[bytes] = leaves
    while len(level) > 1:
        for index, node in at.items():
            if (sibling := node ^ 1) < len(level):
                paths[index].append(level[sibling])
            at[index] = node // 2
        above = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            above.append(level[-1])
        level = above
    return paths


def consistency_proof(size1: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) (section 2.1.4.1): that the tree of the first ``size1`` leaves is a prefix of this one."""
    if not 0 < size1 <= len(leaves):
        raise ProofError(f"no consistency proof from size {size1} to size {len(leaves)}")
    return _subproof(size1, leaves, True)


def _subproof(m: int, leaves: Sequence[bytes], complete: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if complete else [root(leaves)]
    k = _split(n)
    if m <= k:
        return [*_subproof(m, leaves[:k], complete), root(leaves[k:])]
    return [*_subproof(m - k, leaves[k:], False), root(leaves[:k])]


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], expected_root: bytes) -> None:
    """Section 2.1.3.2; raises ``ProofError`` unless ``leaf`` is entry ``index`` of the tree ``expected_root``."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is outside a tree of size {size}")
    if len(leaf) != HASH_SIZE or any(len(p) != HASH_SIZE for p in proof):
        raise ProofError(f"a leaf hash and each proof hash must be {HASH_SIZE} bytes (SHA-256)")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise ProofError("the proof is longer than the tree is high")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("the proof is shorter than the tree is high")
    if r != expected_root:
        raise ProofError("the proof leads to a different root")


def verify_consistency(size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes]) -> None:
    """Section 2.1.4.2; raises ``ProofError`` unless tree ``root2`` of ``size2`` extends tree ``root1``."""
    if size1 <= 0 or size2 < size1:
        raise ProofError(f"no consistency between sizes {size1} and {size2}")
    if size1 == size2:
        if proof:
            raise ProofError("a proof between equal sizes must be empty")
        if root1 != root2:
            raise ProofError("equal sizes with different roots")
        return
    if not proof:
        raise ProofError("the proof is empty")
    fr, sr = _consistency_roots(size1, size2, [root1, *proof] if size1 & (size1 - 1) == 0 else list(proof))
    if fr != root1:
        raise ProofError("the proof does not lead to the older root")
    if sr != root2:
        raise ProofError("the proof does not lead to the newer root")


def _consistency_roots(size1: int, size2: int, path: list[bytes]) -> tuple[bytes, bytes]:
    """Steps 2-6 of section 2.1.4.2: the two roots a consistency path leads to."""
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("the proof is longer than the trees need")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("the proof is shorter than the trees need")
    return fr, sr
