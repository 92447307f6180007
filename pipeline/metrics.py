"""Prometheus metrics of a running pipeline, served on ``/metrics`` (``metrics.enabled`` in the config).

Per camera: status, counters of frames received / analysed / dropped, reconnects, violations, queue depths,
the last frame's time, seconds spent per stage and the current enforcement window's analysed seconds. Per
process: stage latency and capture-to-ticket latency histograms, the outbox's depth. Labels carry camera
ids and rule names only, never a URL. Rates (analysed fps) are ``rate(nonsite_frames_analysed_total[1m])``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from evidence.outbox import Outbox
from evidence.types import EventState, TimeSource
from pipeline.channel_report import channel_status, frames_dropped, last_frame_at
from pipeline.runtime import Runtime

STATUSES = ("online", "stalled", "reconnecting", "offline")
STAGE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
TICKET_BUCKETS = (0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 30.0, 60.0)


class PipelineMetrics:
    """One registry per run: the collector reads the runtime at scrape time; the histograms are observed."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.stage_seconds = Histogram(
            "nonsite_stage_seconds",
            "Seconds per analysed frame spent in each stage (decode/wait, detect, track, rules, evidence …).",
            ["stage"],
            buckets=STAGE_BUCKETS,
            registry=self.registry,
        )
        self.capture_to_ticket = Histogram(
            "nonsite_capture_to_ticket_seconds",
            "Live cameras: from the capture of the frame that met the dwell to the ticket accepted by the API.",
            buckets=TICKET_BUCKETS,
            registry=self.registry,
        )
        self._server: Any = None

    def watch(self, runtime: Runtime, outbox: Outbox | None) -> None:
        """``outbox``: None in the processes of ``run --processes`` but the first (one outbox, counted once)."""
        self.registry.register(_RuntimeCollector(runtime, outbox))
        runtime.stage_observer = self._observe_stage  # cameras a reload adds later
        for times in runtime.stage_times().values():
            times.observer = self._observe_stage

    def _observe_stage(self, stage: str, seconds: float) -> None:
        self.stage_seconds.labels(stage).observe(seconds)

    def delivered(self, payload: dict[str, Any]) -> None:
        """The outbox pusher's hook: a start event the API accepted."""
        if payload.get("state") != EventState.START.value or payload.get("time_source") != TimeSource.WALL_CLOCK:
            return  # a file's capture time is its recorded time, not when this machine saw it
        captured = datetime.fromisoformat(str(payload["captured_at"]))
        self.capture_to_ticket.observe(max(0.0, (datetime.now(UTC) - captured).total_seconds()))

    def serve(self, host: str, port: int) -> None:
        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        self._server = server

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


class _RuntimeCollector(Collector):
    def __init__(self, runtime: Runtime, outbox: Outbox | None) -> None:
        self.runtime, self.outbox = runtime, outbox

    def collect(self) -> Iterator[Metric]:
        status = GaugeMetricFamily(
            "nonsite_channel_status", "1 for the channel's current status.", labels=["camera", "status"]
        )
        gauges = {
            name: GaugeMetricFamily(f"nonsite_{name}", text, labels=["camera"])
            for name, text in (
                ("channel_input_fps", "Live cameras: new frames per second arriving from the camera."),
                ("last_frame_timestamp_seconds", "Unix time of the newest frame delivered."),
                ("capture_queue_frames", "Frames waiting for analysis."),
                ("evidence_queue_items", "Batches of events waiting to be sealed."),
                ("open_violations", "Violations started and not yet ended."),
            )
        }
        counters = {
            name: CounterMetricFamily(f"nonsite_{name}", text, labels=["camera"])
            for name, text in (
                ("frames_received", "Frames the source delivered."),
                ("frames_analysed", "Frames analysed."),
                ("frames_dropped", "Frames dropped because analysis was behind (live cameras)."),
                ("reconnects", "Capture sessions started after the first."),
                ("violations", "Violations sealed."),
            )
        }
        stage = CounterMetricFamily(
            "nonsite_camera_stage_seconds", "Seconds spent per stage, per camera.", labels=["camera", "stage"]
        )
        stage_cpu = CounterMetricFamily(
            "nonsite_camera_stage_cpu_seconds",
            "CPU seconds the stage's own thread used, per camera (not the detector's ONNX Runtime threads).",
            labels=["camera", "stage"],
        )
        window = {
            name: GaugeMetricFamily(f"nonsite_window_{name}_seconds", text, labels=["camera", "rule"])
            for name, text in (
                ("analysed", "Seconds of the rule's current enforcement window the camera was analysed."),
                ("elapsed", "Seconds of the rule's current enforcement window gone by."),
            )
        }
        times = self.runtime.stage_times()
        for camera, health in self.runtime.health().items():
            current = channel_status(health)
            for name in STATUSES:
                status.add_metric([camera, name], 1.0 if name == current else 0.0)
            channel = health.channel
            if channel is not None:
                gauges["channel_input_fps"].add_metric([camera], channel.input_fps)
            last = last_frame_at(health)
            if last is not None:
                gauges["last_frame_timestamp_seconds"].add_metric([camera], last.timestamp())
            gauges["capture_queue_frames"].add_metric([camera], health.capture_queue)
            gauges["evidence_queue_items"].add_metric([camera], health.evidence_queue)
            gauges["open_violations"].add_metric([camera], health.open_violations)
            counters["frames_received"].add_metric([camera], health.frames_in)
            counters["frames_analysed"].add_metric([camera], health.analysed)
            counters["frames_dropped"].add_metric([camera], frames_dropped(health))
            counters["reconnects"].add_metric([camera], channel.reconnects if channel else 0)
            counters["violations"].add_metric([camera], health.violations)
            spent = times.get(camera)  # None: a camera a reload added just now
            for name, seconds in dict(spent.seconds if spent else {}).items():
                stage.add_metric([camera, name], seconds)
            for name, seconds in dict(spent.cpu_seconds if spent else {}).items():
                stage_cpu.add_metric([camera, name], seconds)
            latest: dict[str, Any] = {w.rule: w for w in health.windows}  # the newest window of each rule
            for rule, w in latest.items():
                window["analysed"].add_metric([camera, rule], w.analysed_s)
                window["elapsed"].add_metric([camera, rule], w.elapsed_s)
        yield from (status, *gauges.values(), *counters.values(), stage, stage_cpu, *window.values())
        if self.outbox is None:
            return
        report = self.outbox.counts()
        outbox = GaugeMetricFamily("nonsite_outbox_pending", "Violation events waiting for the API.")
        outbox.add_metric([], report.pending)
        delivered = CounterMetricFamily("nonsite_outbox_delivered", "Violation events the API accepted.")
        delivered.add_metric([], report.delivered)
        refused = CounterMetricFamily("nonsite_outbox_refused", "Violation events the API refused (kept).")
        refused.add_metric([], report.rejected)
        yield from (outbox, delivered, refused)
