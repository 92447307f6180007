"""Sources: analysis fps from frame timestamps, and a specific error for every kind of bad input."""

from __future__ import annotations

import itertools
from pathlib import Path

import cv2
import numpy as np
import pytest

from pipeline.cli import main
from pipeline.sources.base import SourceError
from pipeline.sources.image_folder import ImageFolderSource
from pipeline.sources.video_file import VideoFileSource
from tests.conftest import CLIP_27, needs_data


@needs_data
def test_file_is_processed_completely_at_the_configured_fps() -> None:
    source = VideoFileSource("cam", CLIP_27, fps=2.0)
    times = [f.pts_s for f in source.frames()]
    assert times[0] == 0.0
    assert 15.0 <= times[-1] <= 15.9, "the whole 15.8 s clip is read"
    gaps = np.diff(times)
    assert np.all(gaps >= 0.45) and np.all(gaps <= 0.6)
    assert source.total_frames is not None and abs(source.total_frames - len(times)) <= 1


def test_missing_video(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="video file not found"):
        VideoFileSource("cam", tmp_path / "nope.mp4", fps=1)


def test_corrupt_video(corrupt_video: Path) -> None:
    with pytest.raises(SourceError, match=r"not a readable video|no decodable frames|corrupt"):
        source = VideoFileSource("cam", corrupt_video, fps=1)
        list(source.frames())


@needs_data
def test_truncated_video_yields_what_it_has_then_stops(truncated_video: Path) -> None:
    source = VideoFileSource("cam", truncated_video, fps=2)
    try:
        frames = list(source.frames())
    except SourceError as exc:
        assert "corrupt or truncated" in str(exc)
    else:
        assert 0 < len(frames) < 10


def test_image_folder(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="holds no images"):
        ImageFolderSource("cam", tmp_path, fps=1)
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"{i:03}.jpg"), np.full((20, 30, 3), i * 40, np.uint8))
    (tmp_path / "003.jpg").write_bytes(b"broken")
    source = ImageFolderSource("cam", tmp_path, fps=2)
    frames = list(source.frames())
    assert [f.pts_s for f in frames] == [0.0, 0.5, 1.0]
    assert source.problems == [f"skipped {tmp_path / '003.jpg'}: not a readable image"], "reported, not dropped"


def test_run_cli_reports_missing_and_corrupt_sources(
    tmp_path: Path, corrupt_video: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        "cameras:\n  - id: cam\n    inputs:\n      - path: missing.mp4\n"
        f"storage:\n  evidence_dir: {tmp_path / 'ev'}\n  outbox_path: {tmp_path / 'ob.sqlite'}\n"
    )
    assert main(["run", "--config", str(config), "--no-push"]) == 2
    err = capsys.readouterr().err
    assert "camera cam: video file not found" in err and "1 camera(s) failed: cam" in err
    assert main(["run", "--config", str(config), "--camera", "cam", "--source", str(corrupt_video), "--no-push"]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "Traceback" not in err
    assert main(["run", "--config", str(config), "--camera", "other", "--no-push"]) == 2
    assert "no camera 'other'" in capsys.readouterr().err


@needs_data
def test_keyframes_only_when_the_analysis_interval_allows() -> None:
    slow = VideoFileSource("cam", CLIP_27, fps=1.0)  # the clip has a keyframe every second
    times = [f.pts_s for f in slow.frames()]
    assert slow.keyframes_only
    assert times == pytest.approx([float(i) for i in range(len(times))], abs=0.05)
    assert len(times) == 16
    assert not VideoFileSource("cam", CLIP_27, fps=4.0).keyframes_only


def test_a_failing_camera_does_not_stop_the_others(
    tmp_path: Path, corrupt_video: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "stills"
    folder.mkdir()
    for i in range(2):
        cv2.imwrite(str(folder / f"{i}.jpg"), np.full((48, 64, 3), 90, np.uint8))
    config = tmp_path / "c.yaml"
    config.write_text(
        f"cameras:\n  - id: broken\n    inputs:\n      - path: {corrupt_video}\n"
        f"  - id: good\n    inputs:\n      - path: {folder}\n"
        f"storage:\n  evidence_dir: {tmp_path / 'ev'}\n  outbox_path: {tmp_path / 'ob.sqlite'}\n"
    )
    assert main(["run", "--config", str(config), "--no-push"]) == 2
    out, err = capsys.readouterr()
    assert "good: 2 frames analysed" in out
    assert "error: camera broken:" in err and "1 camera(s) failed: broken" in err


def _plan_stream(plan_fps: float, keyframes_s: list[float], fps: float, seconds: float) -> tuple[list[float], int]:
    """Feed a camera's packets (no B-frames: a decoded packet gives its own frame) through a DecodePlan; returns
    the frame times sent for analysis and how many packets were decoded. Asserts no packet is decoded without
    every reference since its keyframe."""
    from pipeline.sources.rtsp_capture import DecodePlan

    plan = DecodePlan(1.0 / plan_fps)
    keys = {round(k * fps) for k in keyframes_s}
    sent, synced = [], False
    for i in range(int(seconds * fps)):
        pts, key = i / fps, i in keys
        synced = synced or key
        if plan.wants(pts, key):
            assert synced, f"packet {i} decoded without its references"
            if plan.due(pts):
                sent.append(pts)
        else:
            synced = False
    return sent, plan.decoded


def test_a_live_stream_decodes_only_what_the_due_frames_need() -> None:
    # A keyframe a second at 12 fps, analysed at 1 fps: after the first group (the plan learns the interval)
    # only keyframes are decoded, and they are exactly the frames analysed.
    sent, decoded = _plan_stream(1.0, [float(s) for s in range(20)], fps=12, seconds=20)
    assert sent == pytest.approx([float(s) for s in range(20)])
    assert decoded <= 12 + 19  # the first group whole, then one packet a second
    # A keyframe every 2 s, analysed at 1 fps: each group is decoded up to its middle frame, the rest skipped.
    sent, decoded = _plan_stream(1.0, [float(s) for s in range(0, 20, 2)], fps=12, seconds=20)
    assert sent == pytest.approx([float(s) for s in range(20)])
    assert decoded <= 12 * 2 + 9 * 13
    # Analysed at 4 fps with a keyframe a second: each group up to its last due frame (0.75 s), not the two
    # packets after it.
    sent, decoded = _plan_stream(4.0, [float(s) for s in range(10)], fps=12, seconds=10)
    assert sent == pytest.approx([i / 4 for i in range(40)]) and decoded == 12 + 9 * 10


def test_a_camera_whose_groups_of_pictures_vary_is_planned_for_the_long_ones() -> None:
    # Keyframes 1 s apart, then one group of 3 s: the plan expects the next keyframe no sooner than the longest
    # recent interval, so it decodes through the long group and still analyses once a second.
    keys = [0.0, 1.0, 2.0, 3.0, 6.0, 7.0, 10.0, 11.0, 12.0, 13.0]
    sent, _ = _plan_stream(1.0, keys, fps=12, seconds=14)
    assert sent[:4] == pytest.approx([0.0, 1.0, 2.0, 3.0])
    gaps = [b - a for a, b in itertools.pairwise(sent)]
    # The first long group is a surprise: the frames inside it are missed until its end (a gap of one group);
    # after it, every gap is one second.
    assert max(gaps[4:]) == pytest.approx(1.0) and max(gaps) <= 3.0 + 1e-6
