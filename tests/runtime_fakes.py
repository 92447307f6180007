"""Fakes for driving the real runtime: a scripted detector, a generated clip, a live source that never ends."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from detectors.base import Image, ModelInfo
from detectors.types import Detections
from evidence.locker import EvidenceLocker
from evidence.outbox import Outbox
from evidence.store import ContentStore
from evidence.types import ArtifactKind, EventState, EvidenceRecord, TimeSource, ViolationEvent
from pipeline.analysis import CameraAnalysis
from pipeline.config import TrackerConfig, ZoneConfig, ZoneKind, parse_rule
from pipeline.rules import EventContext, Rule
from pipeline.runtime import CameraParts
from pipeline.sources.base import PacketSink, RecordStreamParams
from pipeline.tracking import Tracker
from pipeline.types import Frame

Box = tuple[float, float, float, float]
T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai, a Monday
WHOLE_FRAME = ZoneConfig(name="all", kind=ZoneKind.NO_VENDING, polygon=[(0, 0), (320, 0), (320, 240), (0, 240)])


def write_clip(
    path: Path, seconds: float = 8.0, fps: int = 10, gop: int = 10, size: tuple[int, int] = (320, 240)
) -> Path:
    """A small H.264 clip (keyframe every ``gop`` frames) whose pixels change a little every frame."""
    width, height = size
    with av.open(str(path), mode="w") as container:
        options = {"g": str(gop), "keyint_min": str(gop), "sc_threshold": "0", "bf": "0"}
        stream = container.add_stream("libx264", rate=fps, options=options)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for index in range(int(seconds * fps)):
            image = np.full((height, width, 3), 60 + index % 100, np.uint8)
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            frame.pts, frame.time_base = index, Fraction(1, fps)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


class ScriptedDetector:
    """Returns given boxes per call: ``script(i)`` for the i-th image it is asked about (frames in order)."""

    info = ModelInfo(model_id="scripted", sha256="5" * 64, labels=("chair",))

    def __init__(self, script: Callable[[int], list[Box]], delay_s: float = 0.0) -> None:
        self.script, self.delay_s = script, delay_s
        self.calls = 0
        self.batch_sizes: list[int] = []
        self._lock = threading.Lock()

    def detect(self, image: Image) -> Detections:
        with self._lock:
            boxes = self.script(self.calls)
            self.calls += 1
        if self.delay_s:
            time.sleep(self.delay_s)
        return Detections.from_arrays(boxes, [0.9] * len(boxes), [0] * len(boxes), ("chair",))

    def detect_batch(self, images: Sequence[Image]) -> list[Detections]:
        self.batch_sizes.append(len(images))
        return [self.detect(image) for image in images]


def present(box: Box, from_call: int, to_call: int) -> Callable[[int], list[Box]]:
    """A script: ``box`` on calls ``from_call`` to ``to_call - 1``, nothing otherwise."""
    return lambda call: [box] if from_call <= call < to_call else []


class LiveFakeSource:
    """A camera that never ends on its own: synthetic frames every ``period_s`` of stream time until closed."""

    live = True
    record_stream: RecordStreamParams | None = None
    total_frames = None

    def __init__(self, camera_id: str, period_s: float = 0.5, pause_s: float = 0.0) -> None:
        self.camera_id, self.period_s, self.pause_s = camera_id, period_s, pause_s
        self.origin_id = f"live:{camera_id}:test"
        self.problems: list[str] = []
        self._closed = threading.Event()

    def frames(self, on_packet: PacketSink | None = None) -> Iterator[Frame]:
        seq = 0
        while not self._closed.is_set():
            pts_s = seq * self.period_s
            yield Frame(
                camera_id=self.camera_id,
                seq=seq,
                pts_s=pts_s,
                captured_at=T0 + timedelta(seconds=pts_s),
                image=np.zeros((240, 320, 3), np.uint8),
                from_file=False,
                time_source=TimeSource.WALL_CLOCK,
            )
            seq += 1
            if self.pause_s:
                self._closed.wait(self.pause_s)

    def close(self) -> None:
        self._closed.set()


def camera_parts(
    source: object,
    root: Path,
    fps: float,
    pre_roll_s: float = 2.0,
    post_roll_s: float = 1.0,
    dwell_s: float = 2.0,
    cooldown_s: float = 600.0,
) -> CameraParts:
    """One camera with a street_stall rule on the whole frame, storing evidence under ``root``."""
    camera_id = source.camera_id  # type: ignore[attr-defined]
    rule = parse_rule(
        {
            "name": "stall",
            "kind": "street_stall",
            "camera": camera_id,
            "zone": "all",
            "min_dwell_s": dwell_s,
            "lost_grace_s": 1.0,
            "cooldown_s": cooldown_s,
        }
    )
    context = EventContext(camera_id=camera_id, origin_id=source.origin_id)  # type: ignore[attr-defined]
    zone = WHOLE_FRAME.model_copy(update={"inertia": 1})
    tracker = Tracker(TrackerConfig(minimum_consecutive_frames=1, track_activation_threshold=0.1), fps)
    store, outbox = ContentStore(root / "evidence"), Outbox(root / "outbox.sqlite")
    return CameraParts(
        source=source,  # type: ignore[arg-type]
        analysis=CameraAnalysis(tracker=tracker, rules=[Rule.build(rule, zone, context)]),
        locker=EvidenceLocker(store, outbox, pre_roll_s, post_roll_s),
        fps=fps,
        zones={"all": list(zone.polygon)},
        pre_roll_s=pre_roll_s,
        post_roll_s=post_roll_s,
    )


def live_clip(events: Sequence[ViolationEvent], start: ViolationEvent) -> EvidenceRecord:
    """The clip of a live camera's violation: its start went out with the stills (and a note that the clip
    follows); the clip came in an update before the end. Revisions run 0, 1, 2, … in the order sent."""
    sent = [e for e in events if e.id == start.id]
    assert [e.revision for e in sent] == list(range(len(sent))), [e.key for e in sent]
    assert start.state is EventState.START and start.notes.get("clip", "").startswith("pending"), start.notes
    assert not [a for a in start.evidence if a.kind is ArtifactKind.ORIGINAL_CLIP]
    with_clip = [e for e in sent if any(a.kind is ArtifactKind.ORIGINAL_CLIP for a in e.evidence)]
    assert with_clip, [(e.key, e.notes) for e in sent]
    first = with_clip[0]
    assert first.state is EventState.UPDATE and "clip" not in first.notes, (first.key, first.notes)
    ends = [e for e in sent if e.state is EventState.END]
    assert all(sent.index(end) > sent.index(first) for end in ends), "an end went out before its clip"
    assert all(any(a.kind is ArtifactKind.ORIGINAL_CLIP for a in end.evidence) for end in ends)
    assert all(end.notes.get("clip") == first.notes.get("clip") for end in ends), "the clip's note was dropped"
    kinds = [a.kind for a in first.evidence]
    assert kinds[-1] is ArtifactKind.MANIFEST and {a.sha256 for a in start.evidence[:-1]} <= {
        a.sha256 for a in first.evidence
    }, "the update keeps the stills and seals them with the clip under a new manifest"
    return next(a for a in first.evidence if a.kind is ArtifactKind.ORIGINAL_CLIP)
