"""Disk pressure: free space on the disks the API writes (evidence store, SQLite database, audit folder).

Evidence is never deleted here: what any ticket lists is on legal hold while its case is open or decided. On
low space non-evidence goes first (the quarantine: oldest files first, and anything past its retention);
below the reserve, new non-evidence writes are refused with 507 and health is degraded, so the space left
is kept for evidence and the audit log. When a write fails anyway (the disk filled between checks) the
request gets 507, never a 500 (``api.errors``).
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)
MB = 1024 * 1024


@dataclass(frozen=True)
class DiskState:
    free_bytes: int
    where: Path  # the fullest of the watched folders
    low: bool  # below disk_low_mb: pruning non-evidence, health degraded
    full: bool  # below disk_reserve_mb: non-evidence writes refused

    @property
    def problem(self) -> str | None:
        if self.full:
            return (
                f"disk: {self.free_bytes // MB} MB free at {self.where}, below the reserve kept for evidence: "
                "new non-evidence writes are refused"
            )
        if self.low:
            return f"disk: {self.free_bytes // MB} MB free at {self.where}: low, non-evidence is being pruned"
        return None


@dataclass(frozen=True)
class Pruned:
    files: int
    bytes: int
    names: tuple[str, ...] = ()  # relative to the quarantine folder
    why: str = ""  # "retention" (past quarantine_retention_days) and/or "low disk"


def watched_folders(database_url: str, *folders: Path) -> list[Path]:
    url = make_url(database_url)
    found = list(folders)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        found.append(Path(url.database).parent)
    return found


class DiskGuard:
    def __init__(
        self,
        folders: list[Path],
        *,
        quarantine: Path,
        low_bytes: int,
        reserve_bytes: int,
        quarantine_retention_s: float,
        cache_s: float = 2.0,
        on_pruned: Callable[[Pruned], None] | None = None,
    ) -> None:
        self.folders, self.quarantine = folders, quarantine
        self.low_bytes, self.reserve_bytes = low_bytes, reserve_bytes
        self.quarantine_retention_s, self.cache_s = quarantine_retention_s, cache_s
        self._cached: tuple[float, DiskState] | None = None
        self.on_pruned = on_pruned  # told what was deleted (the API records it in the audit log)
        self._pruning = threading.Lock()  # request threads and the retention job may prune at once

    def measure(self) -> DiskState:
        free, where = min((shutil.disk_usage(_existing(f)).free, f) for f in self.folders)
        return DiskState(free, where, free < self.low_bytes, free < self.reserve_bytes)

    def state(self) -> DiskState:
        """The state, measured at most every ``cache_s``; on low space non-evidence is pruned first."""
        now = time.monotonic()
        if self._cached is not None and now - self._cached[0] < self.cache_s:
            return self._cached[1]
        state = self.measure()
        if state.low and self.prune(self.low_bytes - state.free_bytes).files:
            state = self.measure()
        self._cached = (now, state)
        return state

    def _quarantined(self) -> list[tuple[Path, os.stat_result]]:
        """Files in the quarantine, oldest first (one gone meanwhile is left out)."""
        if not self.quarantine.is_dir():
            return []
        found = [(p, _stat_or_none(p)) for p in self.quarantine.rglob("*") if p.is_file()]
        return sorted(((p, s) for p, s in found if s is not None), key=lambda item: item[1].st_mtime)

    def prune(self, wanted_bytes: int) -> Pruned:
        """Delete quarantined files past their retention, then the oldest others until ``wanted_bytes`` are free."""
        with self._pruning:
            freed, names, reasons = 0, [], set()
            cutoff = time.time() - self.quarantine_retention_s
            for path, stat in self._quarantined():
                expired = stat.st_mtime < cutoff
                if not expired and freed >= wanted_bytes:
                    continue
                try:
                    path.chmod(0o644)
                    path.unlink()
                except FileNotFoundError:  # another worker process pruned it a moment ago
                    continue
                freed += stat.st_size
                names.append(str(path.relative_to(self.quarantine)))
                reasons.add("retention" if expired else "low disk")
        pruned = Pruned(len(names), freed, tuple(names), " and ".join(sorted(reasons)))
        if names:
            log.warning("disk: pruned %d quarantined file(s), %d bytes (%s)", len(names), freed, pruned.why)
            if self.on_pruned is not None:
                self.on_pruned(pruned)
        return pruned


def _stat_or_none(path: Path) -> os.stat_result | None:
    try:
        return path.stat()
    except FileNotFoundError:
        return None


def _existing(folder: Path) -> Path:
    """The folder, or its nearest parent that exists (statvfs needs a path)."""
    path = folder.resolve()
    while not path.exists():  # "/" always exists
        path = path.parent
    return path
