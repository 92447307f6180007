"""The audit log's tamper evidence outside the database: each entry's leaf hash, the mirror of leaves and signed
checkpoints on disk, and the comparison that names what was changed.

Every audit entry is a leaf of an RFC 9162 Merkle tree: ``leaf_hash(canonical JSON of the entry)``, in the order
of its sequence number (leaf index = seq - 1). The API appends the leaves to a mirror file beside the database and
signs a checkpoint of the tree head (:mod:`evidence.checkpoints`). The database refuses UPDATE and DELETE on the
log; someone who goes around that (a superuser, a file edit) still cannot make the rows match the mirror and the
signed heads again, and :func:`compare` says at which position they differ: an edited row, a deleted one, a
truncated tail, a rewritten mirror.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from evidence import checkpoints, merkle, signing
from evidence.manifest import canonical_bytes

ENTRY_FIELDS = ("seq", "at", "actor", "role", "action", "object", "ticket_id", "outcome", "detail")
MAX_FINDINGS = 50  # a wholesale rewrite is named by its first positions, not one line per entry


def entry_bytes(entry: Mapping[str, Any]) -> bytes:
    """The canonical form an entry is hashed (and exported) in."""
    return canonical_bytes({k: entry[k] for k in ENTRY_FIELDS})


def entry_leaf(entry: Mapping[str, Any]) -> bytes:
    return merkle.leaf_hash(entry_bytes(entry))


@dataclass(frozen=True)
class Finding:
    """One thing that does not hold. ``position``: the entry's sequence number, when one entry is to blame."""

    problem: str
    position: int | None = None

    def __str__(self) -> str:
        return f"entry {self.position}: {self.problem}" if self.position is not None else self.problem


class AuditMirror:
    """``folder``: ``leaves`` (32 bytes per entry, appended), ``checkpoints.jsonl`` (one signed checkpoint per
    line, appended) and ``checkpoint.key`` (the Ed25519 key that signs them; made on first use, mode 0600)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.leaves_path = folder / "leaves"
        self.checkpoints_path = folder / "checkpoints.jsonl"
        self.key_path = folder / "checkpoint.key"

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Held while appending, so several API workers never interleave their writes."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / ".lock", "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def signer(self) -> signing.ManifestSigner:
        return signing.ManifestSigner.load_or_create(self.key_path)

    def leaves(self) -> list[bytes]:
        data = self.leaves_path.read_bytes() if self.leaves_path.exists() else b""
        whole = len(data) - len(data) % merkle.HASH_SIZE  # a torn last write is not a leaf
        return [data[i : i + merkle.HASH_SIZE] for i in range(0, whole, merkle.HASH_SIZE)]

    def checkpoint_documents(self) -> list[bytes]:
        if not self.checkpoints_path.exists():
            return []
        return [line for line in self.checkpoints_path.read_bytes().splitlines() if line.strip()]

    def append(self, new_leaves: Sequence[bytes], at: datetime) -> checkpoints.Checkpoint:
        """Append leaves and a signed checkpoint of the whole tree (call with :meth:`lock` held)."""
        old = self.leaves()
        if self.leaves_path.exists() and self.leaves_path.stat().st_size != len(old) * merkle.HASH_SIZE:
            os.truncate(self.leaves_path, len(old) * merkle.HASH_SIZE)  # drop a torn write before appending
        _append(self.leaves_path, b"".join(new_leaves))
        size = len(old) + len(new_leaves)
        root = merkle.prefix_roots([*old, *new_leaves], [size])[size]
        document = checkpoints.sign(self.signer(), size, root, at)
        _append(self.checkpoints_path, document + b"\n")
        return checkpoints.verify(document)


def _append(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def signed_checkpoints(
    mirror: AuditMirror, trusted: dict[str, Ed25519PublicKey]
) -> tuple[list[checkpoints.Checkpoint], list[Finding]]:
    """The checkpoints whose signature holds, oldest first, and a finding for each line that does not."""
    found, findings = [], []
    for number, document in enumerate(mirror.checkpoint_documents(), start=1):
        try:
            found.append(checkpoints.verify(document, trusted))
        except checkpoints.CheckpointError as exc:
            findings.append(Finding(f"checkpoint line {number} of {mirror.checkpoints_path.name}: {exc}"))
    return found, findings


def compare(
    rows: Sequence[tuple[int, bytes]],
    mirror_leaves: Sequence[bytes],
    signed: Sequence[checkpoints.Checkpoint],
) -> list[Finding]:
    """What does not hold between the database's entries (``(seq, leaf hash)``, by seq), the mirror's leaves and
    the signed checkpoints. Empty when the log is intact."""
    findings = _mirror_findings(mirror_leaves, signed)
    covered = max([len(mirror_leaves), *(c.size for c in signed)], default=0)
    by_seq = dict(rows)
    last = max(by_seq, default=0)
    if last < covered:
        findings.append(
            Finding(
                f"entries {last + 1}-{covered} are missing: the log ends at {last}, "
                f"but the signed checkpoints cover {covered} (truncated)",
                last + 1,
            )
        )
    for seq in range(1, min(last, len(mirror_leaves)) + 1):
        leaf = by_seq.get(seq)
        if leaf is None:
            findings.append(Finding("missing from the database (deleted)", seq))
        elif leaf != mirror_leaves[seq - 1]:
            findings.append(Finding("altered: it no longer hashes to the leaf the signed checkpoints cover", seq))
        if len(findings) >= MAX_FINDINGS:
            return findings
    for seq in range(len(mirror_leaves) + 1, last + 1):
        if seq not in by_seq:
            findings.append(Finding("missing: a gap in the sequence after the last checkpoint (deleted)", seq))
    return findings[:MAX_FINDINGS]


def _mirror_findings(mirror_leaves: Sequence[bytes], signed: Sequence[checkpoints.Checkpoint]) -> list[Finding]:
    """The mirror must hold every leaf each checkpoint covers, and hash to each checkpoint's root."""
    findings, sizes = [], {c.size for c in signed if c.size <= len(mirror_leaves)}
    roots = merkle.prefix_roots(mirror_leaves, sorted(sizes))
    for checkpoint in signed:
        if checkpoint.size > len(mirror_leaves):
            findings.append(
                Finding(
                    f"the checkpoint of {checkpoint.at} covers {checkpoint.size} entries, but the leaf mirror holds "
                    f"only {len(mirror_leaves)} (the mirror was truncated)"
                )
            )
        elif roots[checkpoint.size] != checkpoint.root:
            findings.append(
                Finding(
                    f"the leaf mirror's first {checkpoint.size} entries do not hash to the root signed at "
                    f"{checkpoint.at} (the mirror was rewritten)"
                )
            )
    return findings
