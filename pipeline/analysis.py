"""One camera's analysis after detection: static foreground → track → per-track steps → rules.

Detection itself is not here: the runtime plans each frame's images (whole frame and zone crops), sends the
images of several cameras to the shared detector in one batch, and hands each frame its result.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from detectors.base import Image
from detectors.types import Detections
from evidence.locker import PlateStill
from evidence.types import ViolationEvent
from pipeline.attribute_step import AttributeStep
from pipeline.plate_step import PlateStep
from pipeline.regions import Offset, merge_images, plan_images
from pipeline.rules import Rule
from pipeline.static_foreground import StaticForeground
from pipeline.tracking import Tracker
from pipeline.types import Frame

# Tracks unseen this long (stream seconds) are forgotten by the tracker and every per-track step.
FORGET_AFTER_S = 60.0


@dataclass
class StageTimes:
    """Seconds spent per stage, and the frames they were spent on.

    ``seconds`` is wall time (what latency is made of); ``cpu_seconds`` is the CPU the stage's own thread used
    (``timing`` stages only), which on a busy box is less: a Python thread's wall time includes waiting its turn
    for the interpreter. The detector's CPU is not here (its ONNX Runtime threads are its own)."""

    frames: int = 0
    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    cpu_seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    observer: Callable[[str, float], None] | None = None  # e.g. a Prometheus histogram, per stage and frame

    def add(self, stage: str, seconds: float) -> None:
        self.seconds[stage] += seconds
        if self.observer is not None:
            self.observer(stage, seconds)

    def per_frame_ms(self) -> dict[str, float]:
        return {stage: 1000 * total / max(self.frames, 1) for stage, total in self.seconds.items()}

    @contextmanager
    def timing(self, stage: str) -> Iterator[None]:
        start, cpu = time.perf_counter(), time.thread_time()
        try:
            yield
        finally:
            self.cpu_seconds[stage] += time.thread_time() - cpu
            self.add(stage, time.perf_counter() - start)


@dataclass
class CameraAnalysis:
    """Everything after detection for one camera, with its parts injected."""

    tracker: Tracker
    rules: list[Rule]
    crop_regions: list[tuple[int, int, int, int]] = field(default_factory=list)
    plates: PlateStep | None = None
    attributes: AttributeStep | None = None
    static_foreground: StaticForeground | None = None
    nms_iou: float = 0.5
    times: StageTimes = field(default_factory=StageTimes)

    def plan(self, frame: Frame) -> tuple[list[Image], list[Offset]]:
        """The images the detector must see for this frame."""
        return plan_images(frame.image, self.crop_regions)

    def analyse(self, frame: Frame, results: list[Detections], offsets: list[Offset]) -> list[ViolationEvent]:
        """This frame's violation events, from the detector's results for its planned images."""
        self.times.frames += 1
        detections = merge_images(results, offsets, self.nms_iou)
        if self.static_foreground is not None:
            with self.times.timing("static"):
                detections = detections.concat(self.static_foreground.update(frame.image, frame.pts_s, detections))
        with self.times.timing("track"):
            tracks, _ = self.tracker.update(detections, frame.pts_s)
            forgotten = self.tracker.forget_older_than(frame.pts_s - FORGET_AFTER_S)
        if self.attributes is not None:
            with self.times.timing("attributes"):
                tracks = self.attributes.update(frame.image, tracks)
                self.attributes.forget(forgotten)
        if self.plates is not None:
            with self.times.timing("plates"):
                tracks = self.plates.update(frame.image, tracks, frame.pts_s)
                self.plates.forget(forgotten)
        for rule in self.rules:
            rule.forget(forgotten)
        with self.times.timing("rules"):
            return [
                event
                for rule in self.rules
                for event in rule.update(tracks, frame.pts_s, frame.captured_at, frame.time_source)
            ]

    def plate_stills(self, events: list[ViolationEvent]) -> dict[str, PlateStill]:
        """For each violation event whose vehicle's plate was seen, the best crop of it so far (by violation id)."""
        if self.plates is None:
            return {}
        found = {e.id: self.plates.best_still(e.track_id) for e in events}
        return {violation: still for violation, still in found.items() if still is not None}

    def finish(self) -> list[ViolationEvent]:
        """End every open violation (end of file, or the camera stopped)."""
        return [event for rule in self.rules for event in rule.finish()]
