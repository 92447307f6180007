"""What runs beside the cameras while ``nonsite run`` serves: the outbox is pushed as violations are sealed
(not only at the end), and each camera's health goes to the API every few seconds.

Both are best-effort loops on their own threads: an API that is down delays tickets (they wait in the
outbox, which is durable) and leaves the channel grid stale (the API marks it), but never slows the cameras.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx

from evidence.outbox import Outbox, Owns, Transport
from pipeline.channel_report import channel_report, snapshot_jpeg
from pipeline.runtime import Runtime

logger = logging.getLogger(__name__)

REPORT_CHUNK = 200  # channels per request: well under the API's body limit with every window listed


class _Loop:
    """A daemon thread calling ``step`` until stopped; ``step`` returns the seconds to wait before the next."""

    def __init__(self, name: str, first_delay_s: float) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._delay = first_delay_s

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 15.0) -> None:
        self._stop.set()
        self._thread.join(timeout_s)

    def _run(self) -> None:
        while not self.wait(self._delay):
            try:
                self._delay = self.step()
            except Exception:  # a bug here must not end the loop silently: it is logged, the loop goes on
                logger.exception("%s failed; trying again", self._thread.name)

    def wait(self, delay_s: float) -> bool:
        """Wait before the next step; True when stopped."""
        return self._stop.wait(delay_s)

    def step(self) -> float:
        raise NotImplementedError


class OutboxPusher(_Loop):
    """Pushes a violation event as soon as it is queued, and whatever is pending every ``interval_s`` (an update
    whose start the API has not filed yet); while the API fails, waits longer (doubling, capped)."""

    def __init__(
        self,
        outbox: Outbox,
        transport: Transport,
        interval_s: float = 1.0,
        max_wait_s: float = 30.0,
        on_delivered: Callable[[dict[str, Any]], None] | None = None,
        owns: Owns | None = None,
    ) -> None:
        super().__init__("outbox-push", interval_s)
        self.outbox, self.transport, self.on_delivered, self.owns = outbox, transport, on_delivered, owns
        self.interval_s, self.max_wait_s = interval_s, max_wait_s
        self._wait = interval_s

    def step(self) -> float:
        watched = _FailureWatch(self.transport)
        self.outbox.push_once(watched, self.on_delivered, self.owns)
        # Longer waits only while the API fails (unreachable, 5xx); an event still pending because it was queued
        # during the push, or because its start is not filed yet, is simply sent next round.
        self._wait = min(self._wait * 2, self.max_wait_s) if watched.failed else self.interval_s
        return self._wait

    def wait(self, delay_s: float) -> bool:
        if self._wait > self.interval_s:  # the API is failing: back off, whatever is queued meanwhile
            return super().wait(delay_s)
        self.outbox.wait_queued(delay_s)
        return self._stop.is_set()

    def stop(self, timeout_s: float = 15.0) -> None:
        self._stop.set()
        self.outbox.wake()
        super().stop(timeout_s)


class _FailureWatch:
    """A transport that remembers whether the API failed (unreachable or 5xx) during one push."""

    def __init__(self, transport: Transport) -> None:
        self.transport, self.failed = transport, False

    def send(self, key: str, payload: dict[str, Any]) -> int:
        try:
            status = self.transport.send(key, payload)
        except httpx.TransportError:
            self.failed = True
            raise
        self.failed = self.failed or status >= 500
        return status


class HealthSink(Protocol):
    def report(self, report: dict[str, Any]) -> None:
        """Every camera's health (``PUT /api/v1/channels``); raise ``httpx.HTTPError`` when not delivered."""
        ...

    def snapshot(self, camera_id: str, jpeg: bytes) -> None:
        """A camera's newest frame, small (``PUT /api/v1/channels/{id}/snapshot``)."""
        ...


class HealthReporter(_Loop):
    """Every ``interval_s`` every camera's health goes to the API, and every ``snapshot_interval_s`` a small
    JPEG of each camera's newest frame (when a new one came)."""

    def __init__(
        self,
        runtime: Runtime,
        sink: HealthSink,
        interval_s: float = 5.0,
        snapshot_interval_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__("health-report", 0.0)
        self.runtime, self.sink, self.clock = runtime, sink, clock
        self.interval_s, self.snapshot_interval_s = interval_s, snapshot_interval_s
        self._previous: dict[str, tuple[float, int, int]] = {}  # camera → (time, frames in, analysed)
        self._snapshot_seq: dict[str, int] = {}
        self._snapshots_at: float | None = None
        self._failing = False

    def stop(self, timeout_s: float = 15.0) -> None:
        """Stop, then send one last report: the API learns how each camera ended (finished, failed, stopped)."""
        super().stop(timeout_s)
        try:
            self.step()
        except Exception:  # shutting down: logged, never in the way of the rest of the shutdown
            logger.exception("the last channel health report failed")

    def report(self) -> dict[str, Any]:
        now, wall = self.clock(), datetime.now(UTC)
        channels = []
        healths = self.runtime.health()
        self._previous = {k: v for k, v in self._previous.items() if k in healths}  # cameras a reload removed
        for camera_id, health in healths.items():
            then, frames_then, analysed_then = self._previous.get(camera_id, (now, health.frames_in, health.analysed))
            if health.analysed < analysed_then or health.frames_in < frames_then:  # restarted by a reload
                then, frames_then, analysed_then = now, health.frames_in, health.analysed
            span = now - then
            self._previous[camera_id] = (now, health.frames_in, health.analysed)
            channels.append(
                channel_report(
                    health,
                    analysed_fps=(health.analysed - analysed_then) / span if span > 0 else 0.0,
                    input_fps=(health.frames_in - frames_then) / span if span > 0 else 0.0,
                )
            )
        return {"reported_at": wall.isoformat(), "channels": channels}

    def step(self) -> float:
        try:
            report = self.report()
            channels = report["channels"]
            for first in range(0, max(len(channels), 1), REPORT_CHUNK):  # bounded bodies, however many cameras
                self.sink.report(report | {"channels": channels[first : first + REPORT_CHUNK]})
            now = self.clock()
            if self._snapshots_at is None or now - self._snapshots_at >= self.snapshot_interval_s:
                self._snapshots_at = now
                for camera_id, jpeg in self._new_snapshots():
                    self.sink.snapshot(camera_id, jpeg)
        except (httpx.HTTPError, OSError) as exc:
            if not self._failing:  # said once per outage, not every few seconds
                logger.warning("channel health not delivered to the API: %s (will keep trying)", exc)
            self._failing = True
        else:
            if self._failing:
                logger.info("channel health reaches the API again")
            self._failing = False
        return self.interval_s

    def _new_snapshots(self) -> Iterator[tuple[str, bytes]]:
        for camera_id in self.runtime.health():
            try:
                frame = self.runtime.last_frame(camera_id)
            except KeyError:  # removed by a reload meanwhile
                continue
            if frame is None or self._snapshot_seq.get(camera_id) == frame.seq:
                continue
            self._snapshot_seq[camera_id] = frame.seq
            yield camera_id, snapshot_jpeg(frame.image)


class ApiHealthSink:
    """The API's channel endpoints over HTTP; a refusal (4xx/5xx) raises like an unreachable API."""

    def __init__(
        self, base_url: str, timeout_s: float, client: httpx.Client | None = None, auth: httpx.Auth | None = None
    ) -> None:
        self._client = client or httpx.Client(base_url=base_url, timeout=timeout_s, auth=auth)

    def report(self, report: dict[str, Any]) -> None:
        self._check(self._client.put("/api/v1/channels", json=report))

    def snapshot(self, camera_id: str, jpeg: bytes) -> None:
        response = self._client.put(
            f"/api/v1/channels/{camera_id}/snapshot", content=jpeg, headers={"Content-Type": "image/jpeg"}
        )
        self._check(response)

    @staticmethod
    def _check(response: httpx.Response) -> None:
        if response.status_code >= 400:
            raise httpx.HTTPStatusError(
                f"the API answered {response.status_code}: {response.text[:200]}",
                request=response.request,
                response=response,
            )
