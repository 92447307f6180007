"""The real runtime driven by a scripted detector: evidence scheduling against a golden file, concurrency,
health, stop(), a failing camera, and the live-source drop policy."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from evidence.types import EventState, ViolationEvent
from pipeline.analysis import CameraAnalysis
from pipeline.runtime import CameraState, Runtime
from pipeline.sources.base import SourceError
from pipeline.sources.video_file import VideoFileSource
from tests.runtime_fakes import LiveFakeSource, ScriptedDetector, camera_parts, present, write_clip

GOLDEN = Path(__file__).parent / "golden" / "scripted_run.json"
BOX = (100.0, 80.0, 140.0, 160.0)
OTHER = (200.0, 60.0, 260.0, 180.0)


def summary(event: ViolationEvent) -> dict[str, Any]:
    """What the golden file pins down: states, times, and the clip's stream-time range."""
    clip = next((a for a in event.evidence if a.kind.value == "original_clip"), None)
    return {
        "state": event.state.value,
        "revision": event.revision,
        "track_box": [round(v, 1) for v in event.box],
        "start_s": event.start_s,
        "end_s": event.end_s,
        "key_frame_pts_s": event.key_frame_pts_s,
        "clip_s": [round(v, 3) for v in clip.frame_range] if clip and clip.frame_range else None,
        "artifacts": [a.kind.value for a in event.evidence],
    }


def scripted_run(tmp_path: Path) -> list[dict[str, Any]]:
    """An 8 s clip analysed at 2 fps: a chair from 1.0 s to 4.5 s, another from 4.5 s to the end of the file."""
    clip = write_clip(tmp_path / "clip.mp4")
    source = VideoFileSource("cam", clip, fps=2.0)
    parts = camera_parts(source, tmp_path, fps=2.0, cooldown_s=0.0)
    events: list[ViolationEvent] = []
    parts.sinks.append(events.append)
    # Analysed frame k is at k / 2 s: calls 2..9 see the first chair, 9..15 the second.
    first, second = present(BOX, 2, 10), present(OTHER, 9, 16)
    detector = ScriptedDetector(lambda call: first(call) + second(call))
    health = Runtime([parts], detector).run()["cam"]
    assert health.state is CameraState.FINISHED and health.error is None
    assert health.analysed == health.frames_in == 16 and health.dropped == 0
    return [summary(e) for e in events]


def test_evidence_scheduling_matches_the_golden_file(tmp_path: Path) -> None:
    got = scripted_run(tmp_path)
    if not GOLDEN.exists():  # pragma: no cover - to make a new golden file: delete it, run, review, commit
        GOLDEN.write_text(json.dumps(got, indent=1) + "\n")
        pytest.fail(f"{GOLDEN} was missing and has been written: review it, then commit it")
    assert got == json.loads(GOLDEN.read_text())


def test_the_golden_file_says_what_the_scheduling_promises() -> None:
    """The golden numbers, read against the rules they must obey (so a wrong golden file cannot pass)."""
    first_start, first_end, second_start, second_end = json.loads(GOLDEN.read_text())
    pre_roll, post_roll, dwell = 2.0, 1.0, 2.0
    assert [e["state"] for e in (first_start, first_end, second_start, second_end)] == ["start", "end"] * 2
    assert first_start["key_frame_pts_s"] - first_start["start_s"] >= dwell
    clip_start, clip_end = first_start["clip_s"]
    assert (
        clip_start <= first_start["key_frame_pts_s"] - pre_roll
        and clip_end >= first_start["key_frame_pts_s"] + post_roll
    )
    assert first_end["end_s"] == 4.5 and first_end["clip_s"] == first_start["clip_s"]
    # The second chair is still there when the file ends: it is ended and sealed by the flush at the end, with
    # the post-roll the file still had.
    assert second_end["end_s"] == 7.5 and second_start["clip_s"][1] <= 8.0
    assert second_start["artifacts"] == ["original_clip", "snapshot", "annotated_snapshot", "crop", "manifest"]


def test_cameras_run_at_once_and_share_one_detector(tmp_path: Path) -> None:
    cameras = []
    for name in ("a", "b"):
        root = tmp_path / name
        root.mkdir()
        cameras.append(
            camera_parts(VideoFileSource(name, write_clip(root / "clip.mp4", seconds=4), fps=4.0), root, 4.0)
        )
    detector = ScriptedDetector(lambda call: [BOX], delay_s=0.01)
    health = Runtime(cameras, detector, max_batch=4).run()
    assert {h.state for h in health.values()} == {CameraState.FINISHED}
    analysed = [health[c].analysed for c in ("a", "b")]
    assert analysed[0] == analysed[1] == health["a"].frames_in > 10 and detector.calls == sum(analysed)
    assert max(detector.batch_sizes) > 1, "frames of both cameras went to the detector in one call"
    assert all(h.capture_queue == 0 and h.evidence_queue == 0 and h.open_violations == 0 for h in health.values())


class BreaksAfter(VideoFileSource):
    def frames(self, on_packet=None):
        for frame in super().frames(on_packet):
            if frame.seq == 6:
                raise SourceError(f"{self.path}: the camera disappeared")
            yield frame


def test_a_failing_camera_keeps_what_it_sealed_and_the_others_go_on(tmp_path: Path) -> None:
    roots = [tmp_path / "good", tmp_path / "bad"]
    for root in roots:
        root.mkdir()
    good = camera_parts(VideoFileSource("good", write_clip(roots[0] / "c.mp4"), fps=2.0), roots[0], 2.0)
    bad = camera_parts(BreaksAfter("bad", write_clip(roots[1] / "c.mp4"), fps=2.0), roots[1], 2.0, post_roll_s=0.0)
    events: dict[str, list[ViolationEvent]] = {"good": [], "bad": []}
    good.sinks.append(events["good"].append)
    bad.sinks.append(events["bad"].append)
    health = Runtime([good, bad], ScriptedDetector(lambda call: [BOX])).run()
    assert health["good"].state is CameraState.FINISHED and health["good"].analysed == 16
    assert health["bad"].state is CameraState.FAILED and "the camera disappeared" in (health["bad"].error or "")
    # The bad camera's violation had started before the failure: it is ended and sealed, not lost.
    assert [e.state for e in events["bad"]] == [EventState.START, EventState.END]
    assert [e.state for e in events["good"]] == [EventState.START, EventState.END]


def test_stop_ends_open_violations_and_seals_them(tmp_path: Path) -> None:
    source = LiveFakeSource("live", period_s=0.5, pause_s=0.01)
    parts = camera_parts(source, tmp_path, fps=2.0)
    events: list[ViolationEvent] = []
    parts.sinks.append(events.append)
    runtime = Runtime([parts], ScriptedDetector(lambda call: [BOX]))
    runtime.start()
    deadline = time.monotonic() + 20
    while not any(e.state is EventState.START for e in events):
        assert time.monotonic() < deadline, runtime.health()
        time.sleep(0.05)
    runtime.stop()
    assert runtime.join(timeout_s=20)
    health = runtime.health()["live"]
    assert health.state is CameraState.STOPPED and health.open_violations == 0
    assert [e.state for e in events] == [EventState.START, EventState.END]
    assert health.last_frame_pts_s is not None and health.last_frame_at is not None


def _wait(condition, timeout_s: float, what: object) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_cameras_are_added_and_removed_while_the_others_run(tmp_path: Path) -> None:
    """What a config reload does: a second camera joins the running analysis; the first is removed, its open
    violation ended and sealed; the second never stopped."""
    first = camera_parts(LiveFakeSource("first", period_s=0.5, pause_s=0.01), tmp_path / "first", fps=2.0)
    second = camera_parts(LiveFakeSource("second", period_s=0.5, pause_s=0.01), tmp_path / "second", fps=2.0)
    events: dict[str, list[ViolationEvent]] = {"first": [], "second": []}
    first.sinks.append(events["first"].append)
    second.sinks.append(events["second"].append)
    runtime = Runtime([first], ScriptedDetector(lambda call: [BOX]))
    with pytest.raises(RuntimeError, match="running runtime"):
        runtime.add_camera(second)
    runtime.start()
    try:
        _wait(lambda: any(e.state is EventState.START for e in events["first"]), 20, runtime.health())
        runtime.add_camera(second)
        with pytest.raises(ValueError, match="already running"):
            runtime.add_camera(camera_parts(LiveFakeSource("second"), tmp_path / "again", fps=2.0))
        _wait(lambda: runtime.health()["second"].analysed >= 4, 20, runtime.health())
        runtime.remove_camera("first")
        _wait(lambda: "first" not in runtime.health(), 20, runtime.health())
        analysed = runtime.health()["second"].analysed
        _wait(lambda: runtime.health()["second"].analysed >= analysed + 4, 20, runtime.health())
        with pytest.raises(KeyError):
            runtime.remove_camera("first")
    finally:
        runtime.stop()
        assert runtime.join(timeout_s=20)
    assert [e.state for e in events["first"]] == [EventState.START, EventState.END]  # sealed on removal
    assert [e.state for e in events["second"]] == [EventState.START, EventState.END]
    assert list(runtime.health()) == ["second"]


def test_a_camera_added_after_every_other_ended_gets_an_analysis_stage(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "clip.mp4", seconds=2.0)
    runtime = Runtime(
        [camera_parts(VideoFileSource("file", clip, fps=2.0), tmp_path, fps=2.0)], ScriptedDetector(lambda call: [])
    )
    runtime.start()
    _wait(lambda: runtime.health()["file"].state is CameraState.FINISHED, 20, runtime.health())
    assert runtime.join(timeout_s=10)
    late = camera_parts(LiveFakeSource("late", period_s=0.5, pause_s=0.01), tmp_path / "late", fps=2.0)
    runtime.add_camera(late)
    _wait(lambda: runtime.health()["late"].analysed >= 2, 20, runtime.health())
    runtime.stop()
    assert runtime.join(timeout_s=20)


def test_a_live_source_keeps_the_latest_frames_when_analysis_is_behind(tmp_path: Path) -> None:
    source = LiveFakeSource("live", period_s=0.1)  # as fast as the capture thread can make frames
    parts = camera_parts(source, tmp_path, fps=10.0)
    runtime = Runtime([parts], ScriptedDetector(lambda call: [], delay_s=0.05), queue_frames=2)
    runtime.start()
    time.sleep(1.0)
    runtime.stop()
    assert runtime.join(timeout_s=20)
    health = runtime.health()["live"]
    assert health.dropped > 0 and health.analysed < health.frames_in
    assert health.analysed + health.dropped <= health.frames_in <= health.analysed + health.dropped + 3


@pytest.mark.parametrize(("queue_frames", "max_batch"), [(0, 1), (1, 0)])
def test_runtime_limits_are_checked(tmp_path: Path, queue_frames: int, max_batch: int) -> None:
    with pytest.raises(ValueError, match="must be >= 1"):
        Runtime([], ScriptedDetector(lambda call: []), queue_frames=queue_frames, max_batch=max_batch)


def test_the_pre_roll_survives_capture_running_far_ahead_of_the_evidence_stage(tmp_path: Path) -> None:
    """A long file, an instant detector and a slow evidence store: capture and analysis race far ahead of
    sealing, and the clip still has its whole pre-roll (the ring is pinned at the clip's start until sealed)."""
    source = VideoFileSource("cam", write_clip(tmp_path / "long.mp4", seconds=120), fps=2.0)
    parts = camera_parts(source, tmp_path, fps=2.0, pre_roll_s=3.0, post_roll_s=2.0)
    parts.locker = SlowStills(parts.locker)  # type: ignore[assignment]
    events: list[ViolationEvent] = []
    parts.sinks.append(events.append)
    Runtime([parts], ScriptedDetector(present(BOX, 10, 40))).run()  # a chair from 5 s to 19.5 s, then 100 s more
    start = next(e for e in events if e.state is EventState.START)
    clip = next(a for a in start.evidence if a.kind.value == "original_clip")
    assert clip.frame_range is not None
    assert clip.frame_range[0] <= start.key_frame_pts_s - 3.0 and clip.frame_range[1] >= start.key_frame_pts_s + 2.0
    assert "clip_range" not in start.notes


class Wrapped:
    def __init__(self, inner: object) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


class SlowStills(Wrapped):
    """Writing the stills takes half a second (a slow disk)."""

    def open_case(self, *args: object) -> object:
        time.sleep(0.5)
        return self.inner.open_case(*args)  # type: ignore[attr-defined]


class FailsOnce(Wrapped):
    """A locker whose first seal fails with an error the locker does not handle itself (say, the outbox)."""

    failed = False

    def seal(self, *args: object) -> ViolationEvent:
        if not self.failed:
            self.failed = True
            raise RuntimeError("database is locked")
        return self.inner.seal(*args)  # type: ignore[attr-defined, no-any-return]


def test_a_seal_that_fails_sends_the_start_once_with_a_note_and_the_end_follows(tmp_path: Path) -> None:
    parts = camera_parts(VideoFileSource("cam", write_clip(tmp_path / "c.mp4"), fps=2.0), tmp_path, fps=2.0)
    parts.locker = FailsOnce(parts.locker)  # type: ignore[assignment]
    events: list[ViolationEvent] = []
    parts.sinks.append(events.append)
    health = Runtime([parts], ScriptedDetector(lambda call: [BOX])).run()["cam"]
    assert [e.state for e in events] == [EventState.START, EventState.END]
    assert "database is locked" in events[0].notes["evidence"] and health.violations == 1
    assert health.open_violations == 0


class BrokenPlan(CameraAnalysis):
    def plan(self, frame):
        raise RuntimeError("a bug in planning")


def test_a_crash_in_the_analysis_stage_fails_every_camera_instead_of_hanging(tmp_path: Path) -> None:
    parts = camera_parts(VideoFileSource("cam", write_clip(tmp_path / "c.mp4"), fps=2.0), tmp_path, fps=2.0)
    broken = parts.analysis
    parts.analysis = BrokenPlan(tracker=broken.tracker, rules=broken.rules)
    runtime = Runtime([parts], ScriptedDetector(lambda call: [BOX]), queue_frames=1)
    runtime.start()
    assert runtime.join(timeout_s=30), "every stage ended"
    health = runtime.health()["cam"]
    assert health.state is CameraState.FAILED and "a bug in planning" in (health.error or "")


def test_the_next_batch_is_detected_while_the_last_one_is_analysed(tmp_path: Path) -> None:
    """Detection runs one batch ahead of tracking and rules: the analysis of frame 0 waits here until the
    detector has been asked about frame 1, which one thread doing both in turn could never do."""
    parts = camera_parts(VideoFileSource("cam", write_clip(tmp_path / "c.mp4", seconds=2), fps=2.0), tmp_path, 2.0)
    second_call = threading.Event()

    def script(call: int) -> list[tuple[float, float, float, float]]:
        if call == 1:
            second_call.set()
        return []

    detector = ScriptedDetector(script)
    waited: list[bool] = []

    def analysed(camera_id: str) -> None:
        if not waited:
            waited.append(second_call.wait(timeout=10))

    health = Runtime([parts], detector, max_batch=1, on_analysed=analysed).run()["cam"]
    assert waited == [True], "frame 1 was detected while frame 0 was still being analysed"
    assert health.state is CameraState.FINISHED and health.analysed == health.frames_in == detector.calls


def test_a_crash_after_detection_fails_every_camera_and_each_still_ends(tmp_path: Path) -> None:
    cameras = []
    for name in ("a", "b"):
        root = tmp_path / name
        root.mkdir()
        cameras.append(camera_parts(VideoFileSource(name, write_clip(root / "c.mp4"), fps=2.0), root, 2.0))
    sealed: list[ViolationEvent] = []
    for parts in cameras:
        parts.sinks.append(sealed.append)

    def broken(camera_id: str) -> None:
        raise RuntimeError("a bug after the rules")

    runtime = Runtime(cameras, ScriptedDetector(lambda call: [BOX]), queue_frames=1, on_analysed=broken)
    runtime.start()
    assert runtime.join(timeout_s=30), "every stage ended"
    health = runtime.health()
    assert {h.state for h in health.values()} == {CameraState.FAILED}
    assert all("a bug after the rules" in (h.error or "") for h in health.values())
    assert all(h.analysed <= 1 for h in health.values()), "nothing was analysed after the failure"
