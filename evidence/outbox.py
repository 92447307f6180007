"""Durable outbox: violations wait in SQLite until the API has accepted them (idempotent pushes)."""

from __future__ import annotations

import json
import logging
import sqlite3
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


class Transport(Protocol):
    def send(self, key: str, payload: dict[str, Any]) -> int:
        """Deliver one violation; return the HTTP status. Raise ``httpx.TransportError`` when unreachable."""
        ...


class HttpTransport:
    """POSTs to the API with the violation id as the ``Idempotency-Key``."""

    def __init__(self, base_url: str, timeout_s: float = 10.0, client: httpx.Client | None = None) -> None:
        self._client = client or httpx.Client(base_url=base_url, timeout=timeout_s)

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
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(SCHEMA)

    def close(self) -> None:
        self._db.close()

    def enqueue(self, key: str, payload: dict[str, Any]) -> None:
        """Store a violation for delivery; enqueueing the same key again keeps the first copy."""
        self._db.execute(
            "INSERT OR IGNORE INTO outbox (key, payload, created_at) VALUES (?, ?, ?)",
            (key, json.dumps(payload, ensure_ascii=False), datetime.now(UTC).isoformat()),
        )

    def pending(self) -> list[tuple[str, dict[str, Any]]]:
        rows = self._db.execute(
            "SELECT key, payload FROM outbox WHERE delivered_at IS NULL AND rejected = 0 ORDER BY created_at, key"
        ).fetchall()
        return [(key, json.loads(payload)) for key, payload in rows]

    def counts(self) -> DeliveryReport:
        delivered, pending, rejected = self._db.execute(
            "SELECT COALESCE(SUM(delivered_at IS NOT NULL), 0),"
            " COALESCE(SUM(delivered_at IS NULL AND rejected = 0), 0), COALESCE(SUM(rejected), 0) FROM outbox"
        ).fetchone()
        return DeliveryReport(delivered=delivered, pending=pending, rejected=rejected)

    def _record(self, key: str, *, error: str | None = None, delivered: bool = False, rejected: bool = False) -> None:
        self._db.execute(
            "UPDATE outbox SET attempts = attempts + 1, last_error = ?, delivered_at = ?, rejected = ? WHERE key = ?",
            (error, datetime.now(UTC).isoformat() if delivered else None, int(rejected), key),
        )

    def push_once(self, transport: Transport) -> DeliveryReport:
        """One delivery attempt for every pending violation."""
        for key, payload in self.pending():
            try:
                status = transport.send(key, payload)
            except httpx.TransportError as exc:
                self._record(key, error=f"API unreachable: {exc}")
                continue
            if status in (200, 201):
                self._record(key, delivered=True)
            elif status in (400, 422):  # the API will never accept this payload: keep it, flagged, not retried
                self._record(key, error=f"rejected by API with {status}", rejected=True)
            else:
                self._record(key, error=f"API answered {status}")
        return self.counts()

    def drain(
        self,
        transport: Transport,
        deadline_s: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> DeliveryReport:
        """Retry with exponential backoff (0.5 s doubling, capped at 8 s) until all are delivered or time is up."""
        start, delay = clock(), 0.5
        report = self.push_once(transport)
        while report.pending and clock() - start + delay <= deadline_s:
            sleep(delay)
            delay = min(delay * 2, 8.0)
            report = self.push_once(transport)
        return report
