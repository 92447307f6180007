"""The audit log's Merkle tree against transparency-dev's RFC 6962/9162 vectors and against itself."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest

from evidence import merkle
from tests.conftest import DATA

VECTORS = DATA / "merkle_vectors" / "testdata"
needs_vectors = pytest.mark.skipif(not VECTORS.is_dir(), reason=f"Merkle test vectors not found at {VECTORS}")


def _files(kind: str) -> list[Path]:
    return sorted((VECTORS / kind).rglob("*.json")) if VECTORS.is_dir() else []


def _b64(value: str | None) -> bytes:
    return base64.b64decode(value) if value else b""


def _proof(values: list[str] | None) -> list[bytes]:
    return [_b64(v) for v in values or []]


@needs_vectors
@pytest.mark.parametrize("path", _files("inclusion"), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_inclusion_vectors(path: Path) -> None:
    v = json.loads(path.read_text())
    args = (v["leafIdx"], v["treeSize"], _b64(v["leafHash"]), _proof(v["proof"]), _b64(v["root"]))
    if v["wantErr"]:
        with pytest.raises(merkle.ProofError):
            merkle.verify_inclusion(*args)
    else:
        merkle.verify_inclusion(*args)


@needs_vectors
@pytest.mark.parametrize("path", _files("consistency"), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_consistency_vectors(path: Path) -> None:
    v = json.loads(path.read_text())
    args = (v["size1"], v["size2"], _b64(v["root1"]), _b64(v["root2"]), _proof(v["proof"]))
    if v["wantErr"]:
        with pytest.raises(merkle.ProofError):
            merkle.verify_consistency(*args)
    else:
        merkle.verify_consistency(*args)


@needs_vectors
def test_vectors_are_all_read() -> None:
    # 98 of each kind in the pinned commit; both outcomes are present, so neither test can pass by always raising.
    for kind in ("inclusion", "consistency"):
        outcomes = [json.loads(p.read_text())["wantErr"] for p in _files(kind)]
        assert len(outcomes) == 98 and True in outcomes and False in outcomes


def test_the_happy_path_vector_tree_is_built_the_same() -> None:
    # The vectors' 8-leaf tree: leaves are RFC 6962's test inputs; its root is in inclusion/1/happy-path.json.
    inputs = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
    leaves = [merkle.leaf_hash(bytes.fromhex(x)) for x in inputs]
    assert base64.b64encode(merkle.root(leaves)).decode() == "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg="


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 8, 9, 16, 17, 31])
def test_proofs_made_here_verify_and_a_changed_leaf_does_not(size: int) -> None:
    leaves = [merkle.leaf_hash(f"entry {i}".encode()) for i in range(size)]
    top = merkle.root(leaves)
    for i in range(size):
        proof = merkle.inclusion_proof(i, leaves)
        merkle.verify_inclusion(i, size, leaves[i], proof, top)
        with pytest.raises(merkle.ProofError):
            merkle.verify_inclusion(i, size, merkle.leaf_hash(b"edited"), proof, top)
    for m in range(1, size + 1):
        older = merkle.root(leaves[:m])
        merkle.verify_consistency(m, size, older, top, merkle.consistency_proof(m, leaves))
        if m < size:  # a rewritten history: the older tree's last entry edited
            edited = merkle.root([*leaves[: m - 1], hashlib.sha256(b"x").digest()])
            with pytest.raises(merkle.ProofError):
                merkle.verify_consistency(m, size, edited, top, merkle.consistency_proof(m, leaves))


def _rfc_path(index: int, leaves: list[bytes]) -> list[bytes]:
    """PATH(m, D[n]) exactly as section 2.1.3.1 writes it (recursive, re-hashing subtrees)."""
    if len(leaves) == 1:
        return []
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    if index < k:
        return [*_rfc_path(index, leaves[:k]), merkle.root(leaves[k:])]
    return [*_rfc_path(index - k, leaves[k:]), merkle.root(leaves[:k])]


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 6, 7, 8, 9, 13, 16, 17, 31, 32, 33, 63, 64, 65, 100])
def test_proofs_made_in_one_pass_are_the_rfc_paths(size: int) -> None:
    leaves = [merkle.leaf_hash(f"entry {i}".encode()) for i in range(size)]
    assert merkle.inclusion_proofs(range(size), leaves) == {i: _rfc_path(i, leaves) for i in range(size)}
    assert merkle.inclusion_proofs([size - 1, 0, 0], leaves).keys() == {0, size - 1}
    with pytest.raises(merkle.ProofError, match=f"leaf {size} is not in a tree of {size}"):
        merkle.inclusion_proofs([0, size], leaves)
