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
            if plan.due(pts, key):
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


def test_analysis_moves_onto_the_keyframes_when_they_shift() -> None:
    # A looped clip (or a camera that restarts its encoder) shifts its keyframes by half a second: the analysed
    # times follow them (one interval of a second and a half, never a faster one), and from then on only
    # keyframes are decoded again.
    keys = [float(s) for s in range(10)] + [s + 0.5 for s in range(9, 20)]
    sent, decoded = _plan_stream(1.0, keys, fps=12, seconds=20)
    gaps = [round(b - a, 3) for a, b in itertools.pairwise(sent)]
    assert sorted(set(gaps)) == [1.0, 1.5] and gaps.count(1.5) == 1
    assert set(sent[-10:]) <= set(keys)
    assert decoded <= 12 + len(keys) + 6  # the first group, the keyframes, at most half a group at the shift


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


@pytest.mark.parametrize(
    ("camera_fps", "gop_s", "analysed_fps", "decoded_at_most"),
    [
        (25, 1.0, 2, 0.6),  # each group up to its middle frame (13 of 25)
        (30, 1.0, 4, 0.85),  # up to the last due frame, 0.75 s in (23 of 30)
        (30, 1.0, 7, 0.95),
        (30, 20 / 30, 1, 0.35),  # keyframes sooner than the analysis: never moved onto (that would be 1.5/s)
        (30, 0.56, 1, 0.35),
        (25, 2.0, 1, 0.6),
        (25, 1.0, 1, 0.1),  # keyframes only, after the first group
    ],
)
def test_real_camera_rates_are_analysed_at_fps_never_faster(
    camera_fps: int, gop_s: float, analysed_fps: int, decoded_at_most: float
) -> None:
    # 25 and 30 fps cameras: a frame a little early must not pull the next due time forward (that adds up to a
    # higher rate, off the keyframe grid, and then whole groups are decoded).
    seconds = 30
    keys = [i * gop_s for i in range(int(seconds / gop_s) + 1)]
    sent, decoded = _plan_stream(analysed_fps, keys, fps=camera_fps, seconds=seconds)
    assert seconds * analysed_fps - 1 <= len(sent) <= seconds * analysed_fps + 1
    gaps = [b - a for a, b in itertools.pairwise(sent)]
    assert min(gaps) >= 1 / analysed_fps - 1 / camera_fps - 1e-6  # at most a frame early, never a frame more
    assert decoded <= decoded_at_most * camera_fps * seconds


def test_a_packet_without_a_time_stamp_makes_the_plan_wait_for_the_next_keyframe() -> None:
    from pipeline.sources.rtsp_capture import DecodePlan

    plan = DecodePlan(0.25)
    assert plan.wants(0.0, True) and plan.wants(1 / 12, False)
    plan.lost()  # this packet was not decoded: the ones after it lack a reference
    assert not plan.wants(3 / 12, False) and plan.wants(1.0, True)


class _Pipe:
    """What the capture process sends on, kept in a list."""

    def __init__(self) -> None:
        self.sent: list[tuple[object, ...]] = []

    def send(self, message: tuple[object, ...], data: bytes | None = None) -> None:
        self.sent.append(message)


def test_heartbeats_are_batched_and_count_every_new_frame() -> None:
    from pipeline.sources.rtsp_capture import TICK_EVERY_S, Heartbeat

    now = [0.0]
    pipe = _Pipe()
    beat = Heartbeat(pipe, clock=lambda: now[0])  # type: ignore[arg-type]
    for i in range(25):  # one second of a 25 fps camera
        beat.new_frame(i / 25)
        now[0] += 1 / 25
    assert 1 / TICK_EVERY_S <= len(pipe.sent) <= 1 / TICK_EVERY_S + 1
    assert pipe.sent[0] == ("tick", 0.0, 1, [])  # the first frame is announced at once
    now[0] += TICK_EVERY_S
    beat.new_frame(1.0)  # the next tick carries the frames counted since the last one: none is lost
    assert pipe.sent[-1][1] == 1.0 and sum(m[2] for m in pipe.sent) == 26  # type: ignore[misc]


def test_a_record_streams_packets_ride_the_ticks_in_order_and_the_last_are_flushed() -> None:
    """One message a quarter second instead of one a packet; none lost, none twice, the tail sent at the end."""
    from pipeline.sources.rtsp_capture import TICK_EVERY_S, Heartbeat

    now = [0.0]
    pipe = _Pipe()
    beat = Heartbeat(pipe, clock=lambda: now[0])  # type: ignore[arg-type]
    beat.flush()
    assert pipe.sent == []  # nothing before the first timed packet
    for i in range(50):  # two seconds of a 25 fps main stream: each packet, then its new frame time
        beat.packet((b"x", i, i, 1, 1, 25, i % 25 == 0))
        beat.new_frame(i / 25)
        now[0] += 1 / 25
    beat.packet((b"tail", 50, 50, 1, 1, 25, False))  # a packet with no newer time: waits for the next tick
    sent_before_flush = len(pipe.sent)
    beat.flush()
    assert len(pipe.sent) == sent_before_flush + 1
    assert len(pipe.sent) <= 2 / TICK_EVERY_S + 2  # about 8 messages, not 50
    packets = [fields for message in pipe.sent for fields in message[3]]  # type: ignore[attr-defined]
    assert [p[1] for p in packets] == list(range(51))
    assert pipe.sent[-1][3][-1][0] == b"tail" and sum(m[2] for m in pipe.sent) == 50  # type: ignore[index, misc]
    beat.flush()
    assert len(pipe.sent) == sent_before_flush + 1  # nothing new: nothing sent


def test_packets_that_wait_when_the_stream_stops_are_sent_by_the_timer() -> None:
    """A frozen camera sends no next packet; the watchdog then kills the capture, so what waits must go first."""
    import time

    from pipeline.sources.rtsp_capture import TICK_EVERY_S, Heartbeat

    pipe = _Pipe()
    beat = Heartbeat(pipe)  # type: ignore[arg-type]
    beat.start()
    try:
        beat.packet((b"key", 0, 0, 1, 1, 25, True))
        beat.new_frame(0.0)  # the first tick goes at once, with the keyframe
        beat.packet((b"next", 1, 1, 1, 1, 25, False))  # not due yet: waits, and no packet follows it
        assert [len(m[3]) for m in pipe.sent] == [1]  # type: ignore[arg-type]
        time.sleep(3 * TICK_EVERY_S)
        assert [fields[0] for m in pipe.sent for fields in m[3]] == [b"key", b"next"]  # type: ignore[attr-defined]
    finally:
        beat.stop()
    assert len(pipe.sent) == 2  # nothing left to send at the stop, nothing sent twice


def test_the_bgr_converter_gives_what_pyav_gives_and_follows_a_size_change(tmp_path: Path) -> None:
    import av

    from pipeline.sources.bgr import BgrConverter
    from tests.runtime_fakes import write_clip

    convert = BgrConverter()
    for size in ((320, 240), (160, 96)):
        path = write_clip(tmp_path / f"{size[0]}.mp4", seconds=1, size=size)
        with av.open(str(path)) as container:
            for frame in list(container.decode(video=0))[:3]:
                image = convert(frame)
                assert image.shape == (size[1], size[0], 3) and image.dtype == np.uint8
                assert image.flags["C_CONTIGUOUS"]
                assert np.array_equal(image, frame.to_ndarray(format="bgr24"))


def test_a_stream_whose_packets_never_give_a_picture_ends_its_session() -> None:
    """Heartbeats follow packets, so without this check a stream that demuxes but never decodes would stay
    "online" with nothing analysed."""
    import time

    from pipeline.sources.rtsp_capture import (
        NO_PICTURE,
        WATCHDOG_FIRST_S,
        CaptureSettings,
        NothingDecodes,
        _Analysed,
        classify,
    )
    from pipeline.sources.stream_url import parse_stream_url

    class Undecodable:
        is_keyframe = True

        def decode(self) -> list[object]:
            return []  # what a damaged or unsupported bitstream gives

    settings = CaptureSettings(
        url=parse_stream_url("rtsp://127.0.0.1:8554/cam"), fps=20.0, transport="tcp", open_timeout_s=0.0,
        read_timeout_s=1.0, send_packets=False, stall_timeout_s=0.2,
    )  # fmt: skip
    analysed = _Analysed(settings, stream=None, pipe=None)  # type: ignore[arg-type]
    analysed.packet(Undecodable(), 0.0)  # within the stall timeout: nothing said yet
    time.sleep(0.3)
    analysed.packet(Undecodable(), 0.04)  # past the stall timeout, but the parent's watchdog speaks first
    time.sleep(WATCHDOG_FIRST_S + 0.1)
    with pytest.raises(NothingDecodes, match="no picture was decoded") as raised:
        # keyframes 40 ms apart, analysed at 20 fps: stall timeout + 50 ms + 40 ms + the watchdog's turn
        analysed.packet(Undecodable(), 0.08)
    assert classify(raised.value) == NO_PICTURE
