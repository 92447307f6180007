"""The camera loop: source → detector → tracker → rules → evidence, with every part injected."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from detectors.base import Detector
from evidence.locker import EvidenceLocker, PendingCase
from evidence.types import EventState, ViolationEvent
from pipeline.attribute_step import AttributeStep
from pipeline.plate_step import PlateStep
from pipeline.regions import detect_regions
from pipeline.ring_buffer import PacketRingBuffer
from pipeline.rules import Rule
from pipeline.sources.base import FrameSource
from pipeline.static_foreground import StaticForeground
from pipeline.tracking import Tracker
from pipeline.types import Frame

logger = logging.getLogger(__name__)

EventSink = Callable[[ViolationEvent], None]


@dataclass
class RunnerParts:
    """Everything one camera's loop needs; tests pass fakes, replays pass a file source."""

    source: FrameSource
    detector: Detector
    tracker: Tracker
    rules: list[Rule]
    locker: EvidenceLocker
    sinks: list[EventSink] = field(default_factory=list)
    crop_regions: list[tuple[int, int, int, int]] = field(default_factory=list)
    plates: PlateStep | None = None
    attributes: AttributeStep | None = None
    static_foreground: StaticForeground | None = None
    nms_iou: float = 0.5
    pre_roll_s: float = 3.0
    post_roll_s: float = 3.0


@dataclass
class RunStats:
    frames: int = 0
    events: int = 0
    stage_s: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    def per_frame_ms(self) -> dict[str, float]:
        return {stage: 1000 * total / max(self.frames, 1) for stage, total in self.stage_s.items()}


class CameraRunner:
    def __init__(self, parts: RunnerParts) -> None:
        self.parts = parts
        self.buffer = PacketRingBuffer(parts.pre_roll_s + parts.post_roll_s + 2.0)
        self.stats = RunStats()
        self._pending: list[PendingCase] = []
        self._sealed: dict[str, ViolationEvent] = {}  # open violations' sealed starts (dropped at their end)
        self._held: list[ViolationEvent] = []  # updates and ends waiting for their start to be sealed
        self._zones = {r.zone.name: r.zone.polygon for r in parts.rules}

    def run(self, on_frame: Callable[[Frame], None] | None = None) -> RunStats:
        """Process the source to its end (or until closed); seal and emit every event."""
        for frame in self._timed_frames():
            events = self._analyse(frame)
            with self._timer("evidence"):
                self._open_cases(events, frame)
                self._seal_ready()
            if on_frame is not None:
                on_frame(frame)
        with self._timer("evidence"):
            self._open_cases([e for rule in self.parts.rules for e in rule.finish()], None)
            self._seal_ready(final=True)
        return self.stats

    def _timed_frames(self) -> Iterator[Frame]:
        frames = self.parts.source.frames(self.buffer.append)
        while True:
            start = time.perf_counter()
            frame = next(frames, None)
            self.stats.stage_s["decode"] += time.perf_counter() - start
            if frame is None:
                return
            self.stats.frames += 1
            yield frame

    def _analyse(self, frame: Frame) -> list[ViolationEvent]:
        with self._timer("detect"):
            detections = detect_regions(self.parts.detector, frame.image, self.parts.crop_regions, self.parts.nms_iou)
        if self.parts.static_foreground is not None:
            with self._timer("static"):
                found = self.parts.static_foreground.update(frame.image, frame.pts_s, detections)
                detections = detections.concat(found)
        with self._timer("track"):
            tracks, _ = self.parts.tracker.update(detections, frame.pts_s)
            forgotten = self.parts.tracker.forget_older_than(frame.pts_s - 60.0)
        if self.parts.attributes is not None:
            with self._timer("attributes"):
                tracks = self.parts.attributes.update(frame.image, tracks)
                self.parts.attributes.forget(forgotten)
        if self.parts.plates is not None:
            with self._timer("plates"):
                tracks = self.parts.plates.update(frame.image, tracks)
                self.parts.plates.forget(forgotten)
        with self._timer("rules"):
            events = [
                e
                for rule in self.parts.rules
                for e in rule.update(tracks, frame.pts_s, frame.captured_at, frame.time_source)
            ]
        return events

    def _open_cases(self, events: list[ViolationEvent], frame: Frame | None) -> None:
        for event in events:
            if event.state is EventState.START:
                assert frame is not None, "a violation can only start on a frame"
                case = self.parts.locker.open_case(event, frame.image, self._zones.get(event.zone))
                self._pending.append(case)
            else:
                self._held.append(event)

    def _seal_ready(self, final: bool = False) -> None:
        latest = self.buffer.latest_s
        still_pending = []
        for case in self._pending:
            if final or (latest is not None and latest >= case.clip_end_s):
                event = self.parts.locker.seal(case, self.buffer.snapshot(), self.parts.source.record_template)
                self._sealed[event.id] = event
                self._emit(event)
            else:
                still_pending.append(case)
        self._pending = still_pending
        held = []
        for later in self._held:  # updates and ends follow their start, carrying its sealed evidence
            sealed = self._sealed.get(later.id)
            if sealed is None:
                held.append(later)
                continue
            self._emit(self.parts.locker.publish(dataclasses.replace(later, evidence=sealed.evidence)))
            if later.state is EventState.END:
                del self._sealed[later.id]
        self._held = held

    def _emit(self, event: ViolationEvent) -> None:
        self.stats.events += event.state is EventState.START
        for sink in self.parts.sinks:
            sink(event)

    def _timer(self, stage: str) -> _StageTimer:
        return _StageTimer(self.stats, stage)


class _StageTimer:
    def __init__(self, stats: RunStats, stage: str) -> None:
        self.stats, self.stage = stats, stage

    def __enter__(self) -> None:
        self._start = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self.stats.stage_s[self.stage] += time.perf_counter() - self._start
