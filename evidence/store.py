"""Content-addressed, write-once evidence store on the local disk."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from evidence.types import ArtifactKind, EvidenceRecord


class EvidenceIntegrityError(RuntimeError):
    """Stored bytes no longer match their SHA-256."""


class EvidenceStoreError(RuntimeError):
    """The store's folder cannot be created or used (a file in its place, no permission)."""


def atomic_write(path: Path, data: bytes) -> None:
    """Write via a temp file in the same folder, fsync, rename, fsync the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class ContentStore:
    """Objects live at ``root/objects/<sha[:2]>/<sha>``; the key is the hash of the bytes."""

    def __init__(self, root: Path) -> None:
        self.root = root
        try:
            (root / "objects").mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise EvidenceStoreError(f"cannot use {root} as the evidence store: {exc.strerror or exc}") from exc

    def path_for(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")
        return self.root / "objects" / sha256[:2] / sha256

    def put(
        self,
        data: bytes,
        *,
        kind: ArtifactKind,
        media_type: str,
        parent_sha256: str | None = None,
        frame_range: tuple[float, float] | None = None,
    ) -> EvidenceRecord:
        digest = hashlib.sha256(data).hexdigest()
        path = self.path_for(digest)
        if not path.exists():  # write-once: identical bytes are already sealed
            atomic_write(path, data)
            path.chmod(0o444)
        return EvidenceRecord(
            kind=kind,
            storage_key=digest,
            sha256=digest,
            bytes=len(data),
            media_type=media_type,
            frame_range=frame_range,
            parent_sha256=parent_sha256,
        )

    def read_verified(self, sha256: str) -> bytes:
        """The object's bytes, after checking they still hash to ``sha256``."""
        path = self.path_for(sha256)
        if not path.is_file():
            raise FileNotFoundError(f"evidence object {sha256} is not in {self.root}")
        data = path.read_bytes()
        actual = hashlib.sha256(data).hexdigest()
        if actual != sha256:
            raise EvidenceIntegrityError(f"evidence object {sha256} was altered (now hashes to {actual})")
        return data
