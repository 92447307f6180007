"""Outbox: violations survive an API outage, are retried until accepted, and a retried push files one ticket."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient

from evidence.outbox import HttpTransport, Outbox
from tests.conftest import bearer, violation_payload


class Flaky:
    """Fails the first ``failures`` sends, then forwards to the real API."""

    def __init__(self, inner: HttpTransport, failures: int, lose_response: bool = False) -> None:
        self.inner, self.failures, self.lose_response, self.calls = inner, failures, lose_response, 0

    def send(self, key: str, payload: dict[str, Any]) -> int:
        self.calls += 1
        if self.calls <= self.failures:
            if self.lose_response:  # the API got it, but the answer never came back
                self.inner.send(key, payload)
            raise httpx.ConnectError("connection reset")
        return self.inner.send(key, payload)


def test_retries_until_accepted(tmp_path: Path, client: TestClient) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite")
    outbox.enqueue(violation_payload()["key"], violation_payload())
    transport = Flaky(HttpTransport("http://test", client=as_pipeline(client)), failures=3)
    sleeps: list[float] = []
    report = outbox.drain(transport, deadline_s=60, sleep=sleeps.append, clock=lambda: sum(sleeps))
    assert (report.delivered, report.pending) == (1, 0)
    assert transport.calls == 4
    assert sleeps == [0.5, 1.0, 2.0]  # exponential backoff
    assert client.get("/api/v1/tickets").json()["total"] == 1


def test_retried_push_after_lost_response_makes_no_second_ticket(tmp_path: Path, client: TestClient) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite")
    outbox.enqueue(violation_payload()["key"], violation_payload())
    transport = Flaky(HttpTransport("http://test", client=as_pipeline(client)), failures=2, lose_response=True)
    report = outbox.drain(transport, deadline_s=60, sleep=lambda _s: None)
    assert report.delivered == 1
    assert transport.calls == 3
    assert client.get("/api/v1/tickets").json()["total"] == 1


def test_nothing_is_lost_when_the_api_is_down(tmp_path: Path, client: TestClient) -> None:
    path = tmp_path / "outbox.sqlite"
    outbox = Outbox(path)
    outbox.enqueue(violation_payload()["key"], violation_payload())
    outbox.enqueue(violation_payload()["key"], violation_payload(camera="changed"))  # same key: kept once
    down = HttpTransport("http://127.0.0.1:9", timeout_s=0.5)  # port 9 (discard): connection refused
    clock = iter(range(1000))
    report = outbox.drain(down, deadline_s=3, sleep=lambda _s: None, clock=lambda: float(next(clock)))
    assert (report.delivered, report.pending) == (0, 1)
    outbox.close()
    reopened = Outbox(path)  # survives a restart of the pipeline
    ((_key, payload),) = reopened.pending()
    assert payload["camera"] == "cam-1"
    assert reopened.push_once(HttpTransport("http://test", client=as_pipeline(client))).delivered == 1
    assert reopened.pending() == []


def test_payload_the_api_refuses_is_kept_and_not_retried(tmp_path: Path, client: TestClient) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite")
    outbox.enqueue(violation_payload()["key"], violation_payload(kind="not-a-kind"))
    report = outbox.drain(HttpTransport("http://test", client=as_pipeline(client)), deadline_s=5, sleep=lambda _s: None)
    assert (report.delivered, report.pending, report.rejected) == (0, 0, 1)


def as_pipeline(client: TestClient) -> TestClient:
    """The same app, signed in as the pipeline's account (the fixture's client is an officer)."""
    return TestClient(client.app, headers=bearer("pipeline"))
