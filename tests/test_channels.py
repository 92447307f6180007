"""Channel health and live alerts: the API's channel and alert endpoints, and the pipeline's side of them
(the health reporter, the outbox pusher, Prometheus metrics) on the real runtime."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from api.schemas import ChannelsReport
from api.settings import Settings
from evidence.api_login import PasswordLogin
from evidence.outbox import Outbox
from pipeline.config import ScheduleWindow
from pipeline.coverage import AnalysedTime
from pipeline.metrics import PipelineMetrics
from pipeline.runtime import Runtime
from pipeline.service import ApiHealthSink, HealthReporter, OutboxPusher
from pipeline.sources.video_file import VideoFileSource
from tests.conftest import (
    PASSWORDS,
    LiveServer,
    add_test_users,
    bearer,
    free_port,
    key_header,
    settings_for,
    violation_payload,
)
from tests.prometheus import parse_samples
from tests.runtime_fakes import LiveFakeSource, ScriptedDetector, camera_parts, present, write_clip

BOX = (100.0, 80.0, 140.0, 160.0)
SECOND_ID = "22222222-3333-4444-5555-666666666666"


def channel(camera_id: str = "cam-1", **overrides: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "camera_id": camera_id,
        "status": "online",
        "runtime_state": "running",
        "input_fps": 25.0,
        "analysed_fps": 1.0,
        "frames_in": 100,
        "analysed": 100,
        "dropped": 3,
        "reconnects": 1,
        "last_frame_at": datetime.now(UTC).isoformat(),
        "last_error": None,
        "frame_size": [640, 360],
        "open_violations": 0,
        "violations": 2,
        "windows": [],
    }
    return value | overrides


def report(*channels: dict[str, Any], at: datetime | None = None) -> dict[str, Any]:
    return {"reported_at": (at or datetime.now(UTC)).isoformat(), "channels": list(channels)}


def jpeg() -> bytes:
    ok, data = cv2.imencode(".jpg", np.full((36, 64, 3), 128, np.uint8))
    assert ok
    return data.tobytes()


# ---------------------------------------------------------------- API: channels
def test_a_report_replaces_each_cameras_row_and_is_listed_with_counts(client: TestClient) -> None:
    assert (
        client.put(
            "/api/v1/channels", json=report(channel("cam-1"), channel("cam-2")), headers=bearer("pipeline")
        ).status_code
        == 204
    )
    later = report(channel("cam-2", status="stalled", last_error="no new frame for 10 s"))
    assert client.put("/api/v1/channels", json=later, headers=bearer("pipeline")).status_code == 204
    body = client.get("/api/v1/channels").json()
    assert [c["camera_id"] for c in body["items"]] == ["cam-1", "cam-2"]
    assert body["items"][1]["status"] == "stalled" and body["items"][1]["last_error"] == "no new frame for 10 s"
    assert body["items"][0]["dropped"] == 3 and body["items"][0]["stale"] is False
    assert body["counts"] == {"online": 1, "stalled": 1}


def test_a_late_older_report_does_not_overwrite_a_newer_one(client: TestClient) -> None:
    now = datetime.now(UTC)
    client.put("/api/v1/channels", json=report(channel(status="offline"), at=now), headers=bearer("pipeline"))
    client.put(
        "/api/v1/channels",
        json=report(channel(status="online"), at=now - timedelta(seconds=5)),
        headers=bearer("pipeline"),
    )
    assert client.get("/api/v1/channels").json()["items"][0]["status"] == "offline"


def test_a_channel_whose_reports_stop_is_shown_offline_and_stale(tmp_path: Path) -> None:
    from api.app import create_app

    settings = settings_for(tmp_path, channel_stale_s=0.2)
    add_test_users(settings)
    with TestClient(create_app(settings), headers=bearer("operator")) as client:
        client.put("/api/v1/channels", json=report(channel()), headers=bearer("pipeline"))
        assert client.get("/api/v1/channels").json()["items"][0]["status"] == "online"
        time.sleep(0.3)
        item = client.get("/api/v1/channels").json()["items"][0]
    assert item["status"] == "offline" and item["reported_status"] == "online" and item["stale"] is True


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"status": "sleeping"}, "status"),
        ({"input_fps": -1}, "input_fps"),
        ({"camera_id": "../etc"}, "camera_id"),
        ({"url": "rtsp://admin:secret@10.0.0.1/main"}, "url"),  # no field for a URL: it is refused
        ({"frame_size": [640]}, "frame_size"),
    ],
)
def test_a_malformed_report_is_refused_with_the_field_named(
    client: TestClient, change: dict[str, Any], field: str
) -> None:
    response = client.put("/api/v1/channels", json=report(channel() | change), headers=bearer("pipeline"))
    assert response.status_code == 422
    assert field in json.dumps(response.json()["detail"])
    assert "secret" not in response.text


def test_snapshots_are_stored_per_camera_and_checked(client: TestClient) -> None:
    image = jpeg()
    headers = {**bearer("pipeline"), "Content-Type": "image/jpeg"}
    assert client.put("/api/v1/channels/cam-1/snapshot", content=image, headers=headers).status_code == 404
    client.put("/api/v1/channels", json=report(channel()), headers=bearer("pipeline"))
    assert client.put("/api/v1/channels/cam-1/snapshot", content=b"GIF89a", headers=headers).status_code == 415
    assert client.put("/api/v1/channels/cam-1/snapshot", content=image, headers=headers).status_code == 204
    got = client.get("/api/v1/channels/cam-1/snapshot")
    assert got.status_code == 200 and got.content == image and got.headers["content-type"] == "image/jpeg"
    assert (
        client.get("/api/v1/channels")
        .json()["items"][0]["snapshot_url"]
        .startswith("/api/v1/channels/cam-1/snapshot?at=")
    )
    assert client.get("/api/v1/channels/cam-9/snapshot").status_code == 404


def test_todays_counts_are_per_kind(client: TestClient) -> None:
    for violation_id in ("11111111-2222-3333-4444-555555555555", SECOND_ID):
        payload = violation_payload(violation_id)
        assert client.post("/api/v1/tickets", json=payload, headers=key_header(payload)).status_code == 201
    stats = client.get("/api/v1/stats/today").json()
    assert stats["total"] == 2 and stats["by_kind"] == {payload["kind"]: 2}
    assert stats["timezone"] == "Asia/Shanghai"


# ---------------------------------------------------------------- API: live alerts (SSE)
def sse_events(response: httpx.Response) -> Iterator[dict[str, str]]:
    """Parse a text/event-stream into events (comments and keep-alives skipped)."""
    event: dict[str, str] = {}
    for line in response.iter_lines():
        if not line:
            if event:
                yield event
            event = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            event[name] = value.removeprefix(" ")


@pytest.fixture
def live_api(api_settings: Settings) -> Iterator[str]:
    with LiveServer(api_settings.model_copy(update={"alert_poll_s": 0.1})) as live:
        yield live.url


def test_the_alert_stream_pushes_each_new_ticket_once(live_api: str) -> None:
    first = violation_payload()
    httpx.post(f"{live_api}/api/v1/tickets", json=first, headers=key_header(first)).raise_for_status()
    received: list[dict[str, str]] = []

    def post_later() -> None:
        time.sleep(0.5)
        second = violation_payload(SECOND_ID)
        httpx.post(f"{live_api}/api/v1/tickets", json=second, headers=key_header(second)).raise_for_status()

    with httpx.stream("GET", f"{live_api}/api/v1/alerts/stream", timeout=10, headers=bearer("operator")) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        poster = threading.Thread(target=post_later)
        for event in sse_events(response):
            received.append(event)
            if event.get("event") == "ready":
                poster.start()  # the first ticket was filed before: a new subscriber does not get it
            if event.get("event") == "alert":
                break
    poster.join()
    ready, alert = received
    assert ready["id"] == "1"
    data = json.loads(alert["data"])
    assert alert["id"] == "2" and data["ticket_id"] == 2 and data["kind"] == first["kind"]
    assert data["camera"] == first["camera"]


@pytest.mark.parametrize("header", ["²", "99999999999999999999999", "abc", "-1"])
def test_a_malformed_last_event_id_is_ignored(live_api: str, header: str) -> None:
    headers = {b"Last-Event-ID": header.encode("latin-1")}  # what a browser or a forger may send, as bytes
    headers |= {k.encode(): v.encode() for k, v in bearer("operator").items()}
    with httpx.stream("GET", f"{live_api}/api/v1/alerts/stream", headers=headers, timeout=10) as response:
        assert response.status_code == 200
        assert next(sse_events(response))["event"] == "ready"


def test_recent_alerts_are_listed_newest_first(client: TestClient) -> None:
    for violation_id in ("11111111-2222-3333-4444-555555555555", SECOND_ID):
        payload = violation_payload(violation_id)
        client.post("/api/v1/tickets", json=payload, headers=key_header(payload))
    assert [a["ticket_id"] for a in client.get("/api/v1/alerts?limit=5").json()] == [2, 1]
    assert [a["ticket_id"] for a in client.get("/api/v1/alerts?limit=1").json()] == [2]


def test_a_reconnecting_browser_resumes_after_its_last_event_id(live_api: str) -> None:
    for violation_id in ("11111111-2222-3333-4444-555555555555", SECOND_ID):
        payload = violation_payload(violation_id)
        httpx.post(f"{live_api}/api/v1/tickets", json=payload, headers=key_header(payload)).raise_for_status()
    with httpx.stream(
        "GET", f"{live_api}/api/v1/alerts/stream", headers={"Last-Event-ID": "1", **bearer("operator")}, timeout=10
    ) as response:
        events = sse_events(response)
        assert next(events)["event"] == "ready"
        assert next(events)["id"] == "2"


# ---------------------------------------------------------------- pipeline side
class RecordingSink:
    def __init__(self) -> None:
        self.reports: list[dict[str, Any]] = []
        self.snapshots: list[tuple[str, bytes]] = []

    def report(self, report: dict[str, Any]) -> None:
        self.reports.append(report)

    def snapshot(self, camera_id: str, jpeg: bytes) -> None:
        self.snapshots.append((camera_id, jpeg))


def file_runtime(tmp_path: Path, schedules: dict[str, list[ScheduleWindow]] | None = None) -> Runtime:
    source = VideoFileSource("cam", write_clip(tmp_path / "clip.mp4"), fps=2.0)
    parts = camera_parts(source, tmp_path, fps=2.0)
    if schedules is not None:
        parts.analysed_time = AnalysedTime(schedules, "Asia/Shanghai", credit_cap_s=2.0)
    return Runtime([parts], ScriptedDetector(present(BOX, 2, 12)))


def test_the_reporters_report_is_what_the_api_accepts(tmp_path: Path) -> None:
    runtime = file_runtime(tmp_path, {"stall": [ScheduleWindow()]})
    runtime.run()
    sink = RecordingSink()
    reporter = HealthReporter(runtime, sink, interval_s=1.0)
    reporter.step()
    reporter.step()  # the same last frame: no second snapshot
    parsed = ChannelsReport.model_validate(sink.reports[0])
    (cam,) = parsed.channels
    assert cam.camera_id == "cam" and cam.status == "offline" and cam.runtime_state == "finished"
    assert cam.analysed == 16 and cam.violations == 1
    (window,) = cam.windows
    assert window.rule == "stall" and window.analysed_s == pytest.approx(7.5)  # 16 frames, 0.5 s apart
    ((camera_id, jpeg),) = sink.snapshots
    decoded = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert camera_id == "cam" and decoded is not None and decoded.shape == (240, 320, 3)


def test_health_and_violations_reach_a_live_api_while_the_camera_runs(tmp_path: Path, api_settings: Settings) -> None:
    source = LiveFakeSource("cam", period_s=0.5, pause_s=0.05)
    parts = camera_parts(source, tmp_path, fps=2.0, dwell_s=1.0)
    outbox = parts.locker.outbox
    runtime = Runtime([parts], ScriptedDetector(present(BOX, 0, 10_000)))
    with LiveServer(api_settings) as live:
        pusher = OutboxPusher(outbox, _transport(live.url), interval_s=0.2)
        reporter = HealthReporter(
            runtime,
            ApiHealthSink(live.url, 5.0, auth=PasswordLogin("pipeline", PASSWORDS["pipeline"])),
            interval_s=1.0,
            snapshot_interval_s=1.0,
        )
        runtime.start()
        pusher.start()
        reporter.start()
        try:
            tickets = _wait_for(
                lambda: httpx.get(f"{live.url}/api/v1/tickets", headers=bearer("officer")).json()["total"], timeout_s=20
            )
            channels = _wait_for(
                lambda: httpx.get(f"{live.url}/api/v1/channels", headers=bearer("operator")).json()["items"],
                timeout_s=10,
                until=bool,
            )
        finally:
            runtime.stop()
            runtime.join(10)
            pusher.stop()
            reporter.stop()
        assert tickets == 1  # filed while the camera was still running, not at the end
        assert channels[0]["camera_id"] == "cam" and channels[0]["status"] == "online"
        assert httpx.get(f"{live.url}/api/v1/channels/cam/snapshot", headers=bearer("operator")).status_code == 200
        final = httpx.get(f"{live.url}/api/v1/channels", headers=bearer("operator")).json()["items"][0]
        assert final["status"] == "offline" and final["runtime_state"] == "stopped"  # the last report on stop


def _transport(url: str) -> Any:
    from evidence.outbox import HttpTransport

    return HttpTransport(url, 5.0, auth=PasswordLogin("pipeline", PASSWORDS["pipeline"]))


def _wait_for(probe: Any, timeout_s: float, until: Any = None) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if (until(value) if until else value) or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


class FailingTransport:
    def __init__(self) -> None:
        self.calls = 0

    def send(self, key: str, payload: dict[str, Any]) -> int:
        self.calls += 1
        raise httpx.ConnectError("connection refused")


class RefusingTransport:
    def send(self, key: str, payload: dict[str, Any]) -> int:
        return 422


def test_the_pusher_waits_longer_while_the_api_is_down_and_keeps_everything(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite")
    outbox.enqueue("v:0:start", violation_payload())
    pusher = OutboxPusher(outbox, FailingTransport(), interval_s=1.0, max_wait_s=8.0)
    waits = [pusher.step() for _ in range(4)]
    assert waits == [2.0, 4.0, 8.0, 8.0]
    assert outbox.counts().pending == 1
    pusher.transport = RefusingTransport()  # the API is back (and refuses this one): the normal pace again
    assert pusher.step() == 1.0 and outbox.counts().rejected == 1


class RecordingTransport:
    def __init__(self) -> None:
        self.sent: list[str] = []
        self.got = threading.Event()

    def send(self, key: str, payload: dict[str, Any]) -> int:
        self.sent.append(key)
        self.got.set()
        return 201


def test_the_pusher_sends_an_event_as_soon_as_it_is_queued(tmp_path: Path) -> None:
    """Not at the next round (30 s away here): a live camera's ticket is filed within the second; stopping
    does not wait for the round either."""
    outbox = Outbox(tmp_path / "outbox.sqlite")
    transport = RecordingTransport()
    pusher = OutboxPusher(outbox, transport, interval_s=30.0)  # its first round is 30 s away too
    pusher.start()
    try:
        time.sleep(0.3)
        assert transport.sent == []
        outbox.enqueue("v:0:start", violation_payload())
        assert transport.got.wait(10.0), "still waiting for the round"
        deadline = time.monotonic() + 10.0  # sent, then recorded as delivered: poll for the second
        while outbox.counts().delivered < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert transport.sent == ["v:0:start"] and outbox.counts().delivered == 1
    finally:
        stopped_at = time.monotonic()
        pusher.stop()
    assert time.monotonic() - stopped_at < 10.0


def test_the_reporter_survives_an_api_that_is_down(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    runtime = file_runtime(tmp_path)
    runtime.run()
    reporter = HealthReporter(runtime, ApiHealthSink(f"http://127.0.0.1:{free_port()}", 1.0), interval_s=1.0)
    for _ in range(3):
        assert reporter.step() == 1.0
    assert sum("not delivered" in r.message for r in caplog.records) == 1  # said once per outage


def test_metrics_are_served_for_prometheus(tmp_path: Path) -> None:
    runtime = file_runtime(tmp_path, {"stall": [ScheduleWindow()]})
    outbox = Outbox(tmp_path / "metrics-outbox.sqlite")
    outbox.enqueue("v:0:start", violation_payload())
    metrics = PipelineMetrics()
    metrics.watch(runtime, outbox)
    port = free_port()
    metrics.serve("127.0.0.1", port)
    try:
        runtime.run()
        text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    finally:
        metrics.close()
    samples = parse_samples(text)
    cam = (("camera", "cam"),)
    assert samples[("nonsite_frames_analysed_total", cam)] == 16
    assert samples[("nonsite_violations_total", cam)] == 1
    assert samples[("nonsite_channel_status", (("camera", "cam"), ("status", "offline")))] == 1
    assert samples[("nonsite_outbox_pending", ())] == 1
    assert samples[("nonsite_window_analysed_seconds", (("camera", "cam"), ("rule", "stall")))] == pytest.approx(7.5)
    assert samples[("nonsite_stage_seconds_count", (("stage", "detect"),))] == 16
    assert samples[("nonsite_camera_stage_seconds_total", (("camera", "cam"), ("stage", "detect")))] > 0
    assert text.count("# TYPE nonsite_stage_seconds ") == 1  # one metric per name (strict scrapers refuse two)
    assert not any("rtsp" in str(labels) for _, labels in samples)


def test_capture_to_ticket_latency_is_observed_for_live_starts_only() -> None:
    metrics = PipelineMetrics()
    now = datetime.now(UTC)
    metrics.delivered(
        {"state": "start", "time_source": "wall_clock", "captured_at": (now - timedelta(seconds=2)).isoformat()}
    )
    metrics.delivered({"state": "end", "time_source": "wall_clock", "captured_at": now.isoformat()})
    metrics.delivered({"state": "start", "time_source": "config", "captured_at": "2020-01-01T00:00:00+00:00"})
    assert metrics.registry.get_sample_value("nonsite_capture_to_ticket_seconds_count") == 1
    assert 2.0 <= metrics.registry.get_sample_value("nonsite_capture_to_ticket_seconds_sum") < 5.0  # type: ignore[operator]
