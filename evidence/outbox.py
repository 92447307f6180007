"""Durable outbox: violations wait in SQLite until the API has accepted them (idempotent pushes)."""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import httpx

logger = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    key TEXT PRIMARY KEY,
    payload TEXT NOT NULL,
    created_at TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    delivered_at TEXT,
    rejected INTEGER NOT NULL DEFAULT 0
)
"""


Owns = Callable[[str], bool]  # camera id → this pusher sends that camera's events


class OutboxError(RuntimeError):
    """The outbox file cannot be opened or written: the message names it and the reason."""


class Transport(Protocol):
    def send(self, key: str, payload: dict[str, Any]) -> int:
        """Deliver one violation event; return the HTTP status. Raise ``httpx.TransportError`` when unreachable."""
        ...


class HttpTransport:
    """POSTs to the API with the event's key (violation id, revision, state) as the ``Idempotency-Key``."""

    def __init__(
        self,
        base_url: str,
        timeout_s: float = 10.0,
        client: httpx.Client | None = None,
        auth: httpx.Auth | None = None,
    ) -> None:
        self._client = client or httpx.Client(base_url=base_url, timeout=timeout_s, auth=auth)

    def send(self, key: str, payload: dict[str, Any]) -> int:
        response = self._client.post("/api/v1/tickets", json=payload, headers={"Idempotency-Key": key})
        if response.status_code >= 400:
            logger.warning("API answered %s for %s: %s", response.status_code, key, response.text[:300])
        return response.status_code


@dataclass(frozen=True)
class DeliveryReport:
    delivered: int
    pending: int
    rejected: int


class Outbox:
    def __init__(self, path: Path) -> None:
        self.path = path
        if path.is_dir():
            raise OutboxError(f"outbox {path} is a folder; storage.outbox_path names a file (e.g. var/outbox.sqlite)")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(SCHEMA)
            # Evidence threads enqueue while the pusher reads and records: one statement (and its rows) at a time.
            self._lock = threading.Lock()
            self._queued = threading.Event()  # set by enqueue: a pusher waiting for work wakes at once
        except (sqlite3.Error, OSError) as exc:
            raise OutboxError(
                f"cannot open the outbox {path}: {exc} (it must be an SQLite file this user can write)"
            ) from exc

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _query(self, sql: str, parameters: tuple[Any, ...] = ()) -> list[Any]:
        with self._lock:
            return self._db.execute(sql, parameters).fetchall()

    def enqueue(self, key: str, payload: dict[str, Any], problem: str | None = None) -> None:
        """Store a violation event for delivery; enqueueing the same key again keeps the first copy.

        With ``problem`` the event is kept but flagged as refused: it is never pushed (nothing is lost, and
        ``nonsite outbox`` reports it).
        """
        self._query(
            "INSERT OR IGNORE INTO outbox (key, payload, created_at, last_error, rejected) VALUES (?, ?, ?, ?, ?)",
            (key, json.dumps(payload, ensure_ascii=False), datetime.now(UTC).isoformat(), problem, int(bool(problem))),
        )
        if not problem:
            self._queued.set()

    def wait_queued(self, timeout_s: float) -> bool:
        """Wait until an event is queued (or ``wake()``), at most ``timeout_s``; True when one was."""
        queued = self._queued.wait(timeout_s)
        self._queued.clear()
        return queued

    def wake(self) -> None:
        """End a ``wait_queued`` now (a pusher that is stopping)."""
        self._queued.set()

    def pending(self, owns: Owns | None = None) -> list[tuple[str, dict[str, Any]]]:
        """Undelivered events in the order they were queued (a violation's start before its updates and end);
        with ``owns``, only the events of the cameras it owns (each analysis process pushes its own)."""
        rows = self._query("SELECT key, payload FROM outbox WHERE delivered_at IS NULL AND rejected = 0 ORDER BY rowid")
        events = [(key, json.loads(payload)) for key, payload in rows]
        return events if owns is None else [(k, p) for k, p in events if owns(str(p.get("camera", "")))]

    def counts(self, owns: Owns | None = None) -> DeliveryReport:
        """The whole outbox's counts; with ``owns``, those of the cameras it owns only."""
        rows = self._query(
            "SELECT json_extract(payload, '$.camera'), COALESCE(SUM(delivered_at IS NOT NULL), 0),"
            " COALESCE(SUM(delivered_at IS NULL AND rejected = 0), 0), COALESCE(SUM(rejected), 0) FROM outbox"
            " GROUP BY 1"
        )
        kept = [r[1:] for r in rows if owns is None or owns(str(r[0] or ""))]
        delivered, pending, rejected = (sum(column) for column in zip(*kept, strict=True)) if kept else (0, 0, 0)
        return DeliveryReport(delivered=delivered, pending=pending, rejected=rejected)

    def _record(self, key: str, *, error: str | None = None, delivered: bool = False, rejected: bool = False) -> None:
        self._query(
            "UPDATE outbox SET attempts = attempts + 1, last_error = ?, delivered_at = ?, rejected = ? WHERE key = ?",
            (error, datetime.now(UTC).isoformat() if delivered else None, int(rejected), key),
        )

    def push_once(
        self,
        transport: Transport,
        on_delivered: Callable[[dict[str, Any]], None] | None = None,
        owns: Owns | None = None,
    ) -> DeliveryReport:
        """One delivery attempt for every pending event, in order within each violation.

        An event waits while an earlier event of its violation is undelivered, so the API always sees a
        violation's start, updates and end in that order.
        """
        blocked: set[str] = set()
        refused: set[str] = set()
        for key, payload in self.pending(owns):
            violation = str(payload.get("id", key))
            if violation in refused:  # its start was refused: the API can never take what follows it
                self._record(key, error="refused: an earlier event of this violation was refused", rejected=True)
                continue
            if violation in blocked:
                continue
            try:
                status = transport.send(key, payload)
            except httpx.TransportError as exc:
                self._record(key, error=f"API unreachable: {exc}")
                break  # the others would wait for the same timeout: try again next round
            if status in (200, 201):
                self._record(key, delivered=True)
                if on_delivered is not None:
                    on_delivered(payload)
            elif status in (400, 409, 413, 422):  # the API will never accept this event: kept, flagged, not retried
                self._record(key, error=f"refused by API with {status}", rejected=True)
                refused.add(violation)
            else:  # 404 (its start is not filed yet), 5xx: try again later
                self._record(key, error=f"API answered {status}")
                blocked.add(violation)
        return self.counts(owns)

    def drain(
        self,
        transport: Transport,
        deadline_s: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        owns: Owns | None = None,
    ) -> DeliveryReport:
        """Retry with exponential backoff (0.5 s doubling, capped at 8 s) until all are delivered (those
        ``owns`` owns, if given) or time is up. The counts are those of the events it pushes."""
        start, delay = clock(), 0.5
        report = self.push_once(transport, owns=owns)
        while self.pending(owns) and clock() - start + delay <= deadline_s:
            sleep(delay)
            delay = min(delay * 2, 8.0)
            report = self.push_once(transport, owns=owns)
        return report
