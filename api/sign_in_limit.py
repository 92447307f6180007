"""Failed sign-ins per user name and client address in a moving minute, counted from the audit log.

Every failed sign-in is already an audit entry (``auth.sign_in_failed``, with the client's address), so the
count is the same for every worker of ``nonsite serve --workers N`` and survives a restart: N workers no longer
allow N times the attempts, and restarting the server does not reset a guesser's count.

Sign-ins of one user name from one address take turns (:class:`Turns`), in every thread of every worker: each is
checked, its password tried and its failure written before the next is checked, so a burst of guesses sent at
once cannot all pass the check before the first failure is counted.
"""

from __future__ import annotations

import fcntl
import math
import threading
import weakref
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.audit import Action
from api.models import AuditEntry

WINDOW = timedelta(minutes=1)
STRIPES = 1024  # sign-ins of different names or addresses wait for each other only when they share a stripe


class Turns:
    """One sign-in at a time per user name and address across the server's workers: a lock in this process (for
    its request threads) and a byte-range lock on a file shared with the other workers (for them).

    The file stays open while the app lives: closing any descriptor of a file drops every POSIX lock this
    process holds on it."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(path, "a+b")  # noqa: SIM115 - held open on purpose (above)
        weakref.finalize(self, self._file.close)
        self._threads = [threading.Lock() for _ in range(STRIPES)]

    @contextmanager
    def turn(self, username: str, client: str) -> Iterator[None]:
        stripe = zlib.crc32(f"{client}\0{subject(username)}".encode()) % STRIPES
        with self._threads[stripe]:
            fcntl.lockf(self._file, fcntl.LOCK_EX, 1, stripe)
            try:
                yield
            finally:
                fcntl.lockf(self._file, fcntl.LOCK_UN, 1, stripe)


@dataclass(frozen=True)
class Refusal:
    retry_after_s: int  # until the oldest of the last ``allowed`` failures is out of the window


def check(session: Session, username: str, client: str, allowed: int, now: datetime) -> Refusal | None:
    """``None`` when another attempt is allowed; else how long to wait. ``now``: an aware time."""
    if now.tzinfo is None:
        raise ValueError("the sign-in limit needs an aware time (the audit log's times are UTC)")
    cutoff = (now.astimezone(UTC) - WINDOW).isoformat(timespec="microseconds")
    times = session.scalars(
        select(AuditEntry.at)
        .where(
            AuditEntry.action == Action.SIGN_IN_FAILED.value,
            AuditEntry.object == subject(username),
            AuditEntry.at > cutoff,
            AuditEntry.detail["client"].as_string() == client,
        )
        .order_by(AuditEntry.at.desc())
        .limit(allowed)
    ).all()
    if len(times) < allowed:
        return None
    oldest_counted = datetime.fromisoformat(times[-1])  # the allowed-th newest: the next to leave that matters
    wait_s = (oldest_counted + WINDOW - now).total_seconds()
    return Refusal(retry_after_s=max(1, math.ceil(wait_s)))


def subject(username: str) -> str:
    """The audit entry's object for a sign-in as ``username`` (cut to what the log keeps)."""
    return f"user/{username[:64]}"
