"""Live RTSP cameras against a real RTSP server on 127.0.0.1: frames, faults and recovery, health, secrets."""

from __future__ import annotations

import itertools
import logging
import subprocess
import sys
import threading
import time

import pytest

from pipeline.config import StreamConfig
from pipeline.sources.rtsp import ChannelState, RtspSource
from pipeline.sources.stream_url import StreamUrlError, parse_stream_url, scrub
from tests.rtsp_fixtures import (
    PASSWORD,
    HealthLog,
    ResettingProxy,
    RtspServer,
    capture_processes,
    free_port,
    needs_rtsp_server,
)

FAST = StreamConfig(
    open_timeout_s=4.0, read_timeout_s=2.0, stall_timeout_s=2.0, backoff_initial_s=0.2, backoff_max_s=1.0
)


class Consumer:
    """Takes frames from a source as the analysis would, recording their times."""

    def __init__(self, source: RtspSource) -> None:
        self.source = source
        self.times: list[float] = []
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        for frame in self.source.frames():
            self.times.append(frame.pts_s)

    def wait_frames(self, count: int, timeout_s: float) -> None:
        start, wanted = time.monotonic(), len(self.times) + count
        while len(self.times) < wanted:
            assert time.monotonic() - start < timeout_s, f"{len(self.times)} frames, {self.source.health()}"
            time.sleep(0.05)


def open_camera(url: str, fps: float = 4.0) -> tuple[RtspSource, HealthLog, Consumer]:
    source = RtspSource("cam-live", parse_stream_url(url), fps, FAST)
    return source, HealthLog(source), Consumer(source)


def close_all(source: RtspSource, log: HealthLog) -> None:
    source.close()
    log.stop()
    assert capture_processes() == [], "every capture process is reaped"


def assert_strictly_increasing(times: list[float]) -> None:
    assert all(b > a for a, b in itertools.pairwise(times)), times


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://cam.example/stream", "must be rtsp:// or rtsps://"),
        ("file:///etc/passwd", "must be rtsp:// or rtsps://"),
        ("concat:a.mp4|b.mp4", "must be rtsp:// or rtsps://"),
        ("rtsp:///no-host", "has no host"),
        ("rtsp://admin:s3cret@cam:99999/x", "not a valid stream URL"),
    ],
)
def test_only_rtsp_urls_are_accepted_and_errors_hide_the_password(url: str, message: str) -> None:
    with pytest.raises(StreamUrlError, match=message) as error:
        parse_stream_url(url)
    assert "s3cret" not in str(error.value)


def test_a_password_with_at_colon_and_dot_is_split_redacted_and_scrubbed() -> None:
    url = parse_stream_url(f"rtsp://admin:{PASSWORD}@127.0.0.1:8554/cam?channel=1")
    assert (url.username, url.password, url.host, url.port, url.path) == (
        "admin", PASSWORD, "127.0.0.1", 8554, "/cam?channel=1")  # fmt: skip
    assert url.redacted == "rtsp://***@127.0.0.1:8554/cam?channel=1" == str(url)
    assert PASSWORD not in repr(url) and PASSWORD not in url.redacted
    assert url.for_demuxer == "rtsp://admin:p%40ss%3Aw.rd@127.0.0.1:8554/cam?channel=1"
    leak = f"Connection refused: '{url.for_demuxer}' (password {PASSWORD})"
    assert PASSWORD not in scrub(leak, url) and "p%40ss" not in scrub(leak, url)
    assert url.redacted in scrub(leak, url)


@needs_rtsp_server
def test_frames_arrive_live_with_increasing_times_and_the_password_never_shows(
    rtsp_server: RtspServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    source, log, consumer = open_camera(rtsp_server.url)
    try:
        consumer.wait_frames(6, timeout_s=15)
        health = source.health()
        assert health.state is ChannelState.ONLINE and health.frame_size == (640, 360)
        assert health.input_fps > 0 and health.reconnects == 0
        assert source.record_stream is not None and source.record_stream.codec == "h264"
        assert_strictly_increasing(consumer.times)
        assert PASSWORD not in repr(health) and "p%40ss" not in repr(health)
    finally:
        close_all(source, log)
    assert PASSWORD not in caplog.text and "p%40ss" not in caplog.text


@needs_rtsp_server
def test_a_killed_server_is_reconnected_to_when_it_comes_back(rtsp_server: RtspServer) -> None:
    source, log, consumer = open_camera(rtsp_server.url)
    try:
        consumer.wait_frames(3, timeout_s=15)
        rtsp_server.kill()
        lost_s = log.wait_for(ChannelState.OFFLINE, timeout_s=FAST.stall_timeout_s + FAST.read_timeout_s + 8)
        before = len(consumer.times)
        rtsp_server.start()
        back_s = log.wait_for(ChannelState.ONLINE, timeout_s=FAST.backoff_max_s + FAST.open_timeout_s + 10)
        consumer.wait_frames(3, timeout_s=10)
        health = source.health()
        assert health.reconnects >= 1 and health.last_error  # the last failure stays visible once back
        assert len(consumer.times) > before
        assert_strictly_increasing(consumer.times)
        print(f"killed: offline after {lost_s:.1f} s; online {back_s:.1f} s after the restart")
    finally:
        close_all(source, log)
    states = log.transitions()
    assert states[:2] == [ChannelState.RECONNECTING, ChannelState.ONLINE] and states[-1] is ChannelState.ONLINE
    assert ChannelState.OFFLINE in states


@needs_rtsp_server
def test_a_frozen_server_is_detected_by_the_watchdog_and_recovered(rtsp_server: RtspServer) -> None:
    source, log, consumer = open_camera(rtsp_server.url)
    try:
        consumer.wait_frames(3, timeout_s=15)
        rtsp_server.freeze()  # SIGSTOP: the connection stays open, nothing new arrives
        stalled_s = log.wait_for(ChannelState.STALLED, timeout_s=FAST.stall_timeout_s + 3)
        time.sleep(1.0)
        frozen_frames = len(consumer.times)
        rtsp_server.thaw()
        back_s = log.wait_for(ChannelState.ONLINE, timeout_s=FAST.open_timeout_s + FAST.backoff_max_s + 10)
        consumer.wait_frames(3, timeout_s=10)
        assert source.health().reconnects >= 1 and "stalled" in (source.health().last_error or "")
        assert len(consumer.times) > frozen_frames
        assert_strictly_increasing(consumer.times)
        print(f"frozen: stalled after {stalled_s:.1f} s; online {back_s:.1f} s after SIGCONT")
    finally:
        close_all(source, log)
    assert ChannelState.STALLED in log.transitions()


@needs_rtsp_server
def test_connections_reset_by_the_network_are_reconnected(rtsp_server: RtspServer) -> None:
    proxy = ResettingProxy(rtsp_server.port)
    source, log, consumer = open_camera(rtsp_server.url.replace(f":{rtsp_server.port}/", f":{proxy.port}/"))
    try:
        for _ in range(2):
            consumer.wait_frames(3, timeout_s=15)
            assert proxy.reset() >= 1
            lost = {ChannelState.RECONNECTING, ChannelState.STALLED}
            log.wait_for(lost, timeout_s=FAST.stall_timeout_s + FAST.read_timeout_s + 5)
            back_s = log.wait_for(ChannelState.ONLINE, timeout_s=FAST.open_timeout_s + FAST.backoff_max_s + 10)
            print(f"connection reset: online again after {back_s:.1f} s")
        consumer.wait_frames(2, timeout_s=10)
        assert source.health().reconnects >= 2
        assert_strictly_increasing(consumer.times)
    finally:
        close_all(source, log)
        proxy.close()


@needs_rtsp_server
def test_a_camera_down_at_start_up_comes_online_when_it_appears() -> None:
    server = RtspServer(free_port())
    source, log, consumer = open_camera(server.url)
    try:
        log.wait_for(ChannelState.OFFLINE, timeout_s=15)
        assert "refused" in (source.health().last_error or "")
        server.start()
        back_s = log.wait_for(ChannelState.ONLINE, timeout_s=FAST.backoff_max_s + FAST.open_timeout_s + 10)
        consumer.wait_frames(2, timeout_s=10)
        print(f"down at start-up: online {back_s:.1f} s after the server started")
    finally:
        close_all(source, log)
        server.stop()


@needs_rtsp_server
@pytest.mark.parametrize(
    ("change", "error"),
    [
        (lambda url: url.replace("/cam", "/nope"), "not_found"),
        (lambda url: url.replace(PASSWORD, "wr@ng:pass"), "unauthorized"),
        (lambda url: url.replace("/cam", "/audio"), "no video stream (it sends audio)"),
    ],
    ids=["wrong path", "wrong password", "audio only"],
)
def test_bad_camera_inputs_are_offline_with_a_specific_message(rtsp_server: RtspServer, change, error) -> None:
    source, log, _consumer = open_camera(change(rtsp_server.url))
    try:
        log.wait_for(ChannelState.OFFLINE, timeout_s=15)
        health = source.health()
        assert error in (health.last_error or ""), health.last_error
        for secret in (PASSWORD, "p%40ss", "wr@ng:pass", "wr%40ng"):
            assert secret not in (health.last_error or ""), health.last_error
    finally:
        close_all(source, log)


@needs_rtsp_server
def test_three_live_cameras_one_frozen_the_others_keep_their_rate_and_seal_clips(tmp_path) -> None:
    """Three cameras on three real servers in one runtime with one shared detector; one server freezes. The
    other two keep at least 95 % of their analysed rate, the frozen one comes back, and the violations on the
    live streams are sealed with clips cut from the streams' own packets."""
    from evidence.types import EventState, ViolationEvent
    from pipeline.runtime import Runtime
    from tests.runtime_fakes import ScriptedDetector, camera_parts, live_clip

    servers = [RtspServer(free_port(), size="320x180") for _ in range(3)]
    for server in servers:
        server.start()
    sources = [RtspSource(f"cam-{i}", parse_stream_url(s.url), 2.0, FAST) for i, s in enumerate(servers)]
    events: list[ViolationEvent] = []
    parts = []
    for i, source in enumerate(sources):
        part = camera_parts(source, tmp_path / f"cam-{i}", fps=2.0, pre_roll_s=1.0, post_roll_s=1.0)
        part.sinks.append(events.append)
        parts.append(part)
    chair = (60.0, 40.0, 120.0, 150.0)  # a still object on every frame: each camera's stall rule fires
    runtime = Runtime(parts, ScriptedDetector(lambda call: [chair]))
    runtime.start()
    logs = [HealthLog(source) for source in sources]
    try:
        for log in logs:
            log.wait_for(ChannelState.ONLINE, timeout_s=20)
        time.sleep(4.0)

        def analysed() -> dict[str, int]:
            return {k: h.analysed for k, h in runtime.health().items()}

        before, t0 = analysed(), time.monotonic()
        time.sleep(6.0)
        normal, t1 = analysed(), time.monotonic()
        servers[1].freeze()
        time.sleep(6.0)
        frozen, t2 = analysed(), time.monotonic()
        servers[1].thaw()
        logs[1].wait_for(ChannelState.ONLINE, timeout_s=FAST.open_timeout_s + FAST.backoff_max_s + 10)
        for camera in ("cam-0", "cam-2"):
            rate_normal = (normal[camera] - before[camera]) / (t1 - t0)
            rate_frozen = (frozen[camera] - normal[camera]) / (t2 - t1)
            print(f"{camera}: {rate_normal:.2f} analysed fps before, {rate_frozen:.2f} while cam-1 was frozen")
            # one frame of slack per window: at 2 fps over 6 s a window holds about 12 frames
            assert rate_frozen >= 0.95 * rate_normal - 1.0 / (t2 - t1), (camera, rate_normal, rate_frozen)
        assert frozen["cam-1"] - normal["cam-1"] <= 2 * 2.0 * FAST.stall_timeout_s  # it did stop
        assert ChannelState.STALLED in logs[1].transitions()
        assert runtime.health()["cam-1"].channel is not None
    finally:
        runtime.stop()
        assert runtime.join(timeout_s=30)
        for log in logs:
            log.stop()
        for server in servers:
            server.stop()
    assert capture_processes() == []
    starts = [e for e in events if e.state is EventState.START]
    assert {e.camera for e in starts} == {"cam-0", "cam-1", "cam-2"}
    for start in starts:
        live_clip(events, start)  # filed at once with the stills, the clip in a later update


@needs_rtsp_server
def test_clips_come_from_the_main_stream_while_the_sub_stream_is_analysed(tmp_path) -> None:
    """Sub-stream (320x180) for analysis, main stream (1280x720) for evidence: the clip is the main stream's own
    packets on the analysis timeline; a main stream that is down leaves analysis online and says so."""
    import av

    from evidence.store import ContentStore
    from evidence.types import EventState, ViolationEvent
    from pipeline.runtime import Runtime
    from tests.runtime_fakes import ScriptedDetector, camera_parts, live_clip

    server = RtspServer(free_port(), size="320x180", main_size="960x540")
    server.start()
    sub, main = parse_stream_url(server.url), parse_stream_url(server.url.replace("/cam", "/main"))
    source = RtspSource("cam", sub, 2.0, FAST, record_url=main)
    broken: RtspSource | None = None
    events: list[ViolationEvent] = []
    part = camera_parts(source, tmp_path, fps=2.0, pre_roll_s=1.0, post_roll_s=1.0)
    part.sinks.append(events.append)
    runtime = Runtime([part], ScriptedDetector(lambda call: [(60.0, 40.0, 120.0, 150.0)]))
    runtime.start()
    try:
        deadline = time.monotonic() + 30
        while not any(e.state is EventState.START for e in events) and time.monotonic() < deadline:
            time.sleep(0.2)
        health = source.health()
        assert health.frame_size == (320, 180) and health.record is not None, health
        assert health.record.state is ChannelState.ONLINE and health.record.frame_size == (960, 540)
        assert source.record_stream is not None and source.record_stream.width == 960
        # A second camera once the first is up (gst-rtsp-server is not happy preparing one shared mount for two
        # clients at the same instant), whose main stream is on a wrong path.
        broken = RtspSource("cam-2", sub, 2.0, FAST, record_url=parse_stream_url(server.url.replace("/cam", "/nope")))
        log = HealthLog(broken)
        log.wait_for(ChannelState.ONLINE, timeout_s=15)  # the sub-stream is analysed whatever the main one does
        log.stop()
        time.sleep(FAST.open_timeout_s)
        record = broken.health().record
        assert record is not None and record.state is ChannelState.OFFLINE and "not_found" in (record.last_error or "")
        assert PASSWORD not in repr(broken.health())
    finally:
        runtime.stop()
        assert runtime.join(timeout_s=30)
        if broken is not None:
            broken.close()
        server.stop()
    assert capture_processes() == []
    clip = live_clip(events, next(e for e in events if e.state is EventState.START))
    data = ContentStore(tmp_path / "evidence").read_verified(clip.sha256)
    path = tmp_path / "clip.mp4"
    path.write_bytes(data)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert (stream.width, stream.height) == (960, 540)
        assert sum(1 for _ in container.decode(stream)) >= 10  # pre-roll + post-roll at 10 fps, from a keyframe


LIVE_CONFIG = """\
cameras:
  - id: gate-1
    fps: 2
    inputs:
{inputs}
    stream: {{stall_timeout_s: 3, backoff_max_s: 10}}
    zones:
      - {{name: road, kind: watched_road, polygon: [[0, 0], [640, 0], [640, 360], [0, 360]]}}
rules:
  - {{name: muck, kind: muck_truck, camera: gate-1, zone: road}}
"""


def test_a_live_camera_in_the_config_becomes_a_supervised_rtsp_source(tmp_path) -> None:
    from pipeline.config import load_config
    from pipeline.sources.factory import open_source

    path = tmp_path / "live.yaml"
    path.write_text(LIVE_CONFIG.format(inputs=f'      - url: "rtsp://admin:{PASSWORD}@127.0.0.1:9/cam"'), "utf-8")
    camera = load_config(path).cameras[0]
    assert PASSWORD not in repr(camera) and PASSWORD not in camera.model_dump_json()
    source = open_source(camera)  # nothing listens on port 9: the source starts anyway and keeps trying
    try:
        assert isinstance(source, RtspSource) and source.live and source.settings.stall_timeout_s == 3
        assert source.health().url == "rtsp://***@127.0.0.1:9/cam"
    finally:
        source.close()
    assert capture_processes() == []


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ('      - url: "http://admin:s3cret@cam.example/live"', "must be rtsp:// or rtsps://"),
        (
            '      - url: "rtsp://admin:s3cret@cam/x"\n        roles: [detect]\n      - path: main.mp4\n'
            "        roles: [record]",
            "either all stream URLs or all files",
        ),
        (
            '      - url: "rtsp://admin:s3cret@cam/sub"\n        roles: [detect]\n      - url: "http://admin:s3cret@cam/main"\n'
            "        roles: [record]",
            "must be rtsp:// or rtsps://",
        ),
    ],
    ids=["http url", "url and file", "http record url"],
)
def test_bad_live_inputs_are_config_errors_that_hide_the_password(tmp_path, inputs: str, message: str) -> None:
    from pipeline.config import ConfigError, load_config

    path = tmp_path / "live.yaml"
    path.write_text(LIVE_CONFIG.format(inputs=inputs), "utf-8")
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert message in str(error.value) and "s3cret" not in str(error.value)
    assert "s3cret" not in str(error.value.__cause__ or ""), "nor in the pydantic error a traceback would show"


@needs_rtsp_server
def test_nonsite_run_on_a_live_camera_stops_cleanly_on_sigterm(rtsp_server: RtspServer, tmp_path) -> None:
    """The service mode: `nonsite run` keeps a live camera running until SIGTERM (twice here, as an impatient
    supervisor does), then ends cleanly with its summary, exit status 0 and no capture process left behind."""
    import signal
    import subprocess
    import sys
    from pathlib import Path

    inputs = f'      - url: "{rtsp_server.url}"'
    config = LIVE_CONFIG.format(inputs=inputs) + "storage: {evidence_dir: ./evidence, outbox_path: ./outbox.sqlite}\n"
    (tmp_path / "live.yaml").write_text(config, "utf-8")
    nonsite = Path(sys.executable).with_name("nonsite")
    run = subprocess.Popen(
        [str(nonsite), "run", "--config", "live.yaml", "--no-push"],
        cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        time.sleep(12)  # models load, the camera connects, frames are analysed
        assert run.poll() is None, run.communicate()
        run.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        run.send_signal(signal.SIGTERM)
        out, err = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert run.returncode == 0, (out, err)
    assert "gate-1:" in out and "frames analysed" in out and "stopped:" in err
    assert PASSWORD not in out + err and "p%40ss" not in out + err
    leftovers = [p for p in Path("/proc").glob("[0-9]*/cmdline") if b"rtsp_capture" in _read(p)]
    assert leftovers == [], "no capture process outlives nonsite"


def _read(path) -> bytes:
    try:
        return bytes(path.read_bytes())
    except OSError:
        return b""


def test_the_capture_process_loads_numpy_only_when_it_decodes() -> None:
    # One record-only capture runs per camera whose main stream is recorded: numpy would add about 11 MB to each.
    probe = "import sys, pipeline.sources.rtsp_capture; print('numpy' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60)
    assert done.stdout.strip() == "False"
