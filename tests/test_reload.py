"""Config reload: what a new file changes (plan), applying it to a running runtime, and SIGHUP on a live
`nonsite run` against the real RTSP server (a camera added without restarting the other)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from pipeline.config import NonsiteConfig, load_config
from pipeline.reload import Reloader, plan_reload
from pipeline.runtime import CameraParts, Runtime
from tests.conftest import free_port
from tests.prometheus import scrape
from tests.rtsp_fixtures import PASSWORD, RtspServer, capture_processes, needs_rtsp_server
from tests.runtime_fakes import LiveFakeSource, ScriptedDetector, camera_parts

CAMERA = """\
  - id: {id}
    fps: {fps}
    inputs:
      - url: "{url}"
    stream: {{stall_timeout_s: 3, backoff_max_s: 2}}
    zones:
      - {{name: road, kind: watched_road, polygon: [[0, 0], [640, 0], [640, 360], [0, 360]]}}
"""
RULE = "  - {{name: muck-{id}, kind: muck_truck, camera: {id}, zone: road, min_dwell_s: {dwell}}}\n"


def write_config(path: Path, cameras: list[dict[str, Any]], extra: str = "") -> Path:
    text = "cameras:\n" + "".join(CAMERA.format(**{"fps": 2, **c}) for c in cameras)
    text += "rules:\n" + "".join(RULE.format(**{"dwell": 60, **c}) for c in cameras) + extra
    path.write_text(text, "utf-8")
    return path


def url(name: str) -> str:
    return f"rtsp://admin:{PASSWORD}@127.0.0.1:9/{name}"


def test_the_plan_names_added_removed_changed_and_what_needs_a_restart(tmp_path: Path) -> None:
    old = load_config(write_config(tmp_path / "a.yaml", [{"id": "a", "url": url("a")}, {"id": "b", "url": url("b")}]))
    new = load_config(
        write_config(
            tmp_path / "b.yaml",
            [{"id": "a", "url": url("a"), "dwell": 30}, {"id": "c", "url": url("c")}],
            extra="timezone: Asia/Urumqi\n",
        )
    )
    plan = plan_reload(old, new)
    assert (plan.added, plan.removed, plan.changed) == (("c",), ("b",), ("a",))  # a: its rule changed
    assert plan.needs_restart == ("timezone",)
    same = plan_reload(old, old)
    assert same.empty and same.needs_restart == ()
    moved = load_config(
        write_config(tmp_path / "c.yaml", [{"id": "a", "url": url("a2")}, {"id": "b", "url": url("b")}])
    )
    assert plan_reload(old, moved).changed == ("a",)  # a new camera URL (a secret) is a change too
    assert PASSWORD not in repr(plan_reload(old, moved))


def fake_build(root: Path) -> Any:
    def build(config: NonsiteConfig, camera_id: str) -> CameraParts:
        camera = config.camera(camera_id)
        return camera_parts(
            LiveFakeSource(camera_id, period_s=1 / camera.fps, pause_s=0.01), root / camera_id, camera.fps
        )

    return build


def test_a_reload_changes_only_what_changed_and_a_bad_file_changes_nothing(tmp_path: Path) -> None:
    path = write_config(tmp_path / "live.yaml", [{"id": "a", "url": url("a")}, {"id": "b", "url": url("b")}])
    config = load_config(path)
    build = fake_build(tmp_path)
    runtime = Runtime([build(config, "a"), build(config, "b")], ScriptedDetector(lambda call: []))
    reloader = Reloader(path, config, runtime, build)
    runtime.start()
    try:
        time.sleep(1.0)
        path.write_text("cameras: [", "utf-8")
        assert reloader.apply() is None and set(runtime.health()) == {"a", "b"}
        write_config(path, [{"id": "a", "url": url("a")}, {"id": "c", "url": url("c"), "fps": 4}])
        plan = reloader.apply()
        assert plan is not None and plan.added == ("c",) and plan.removed == ("b",) and plan.changed == ()
        assert set(runtime.health()) == {"a", "c"}
        before = runtime.health()["a"].analysed
        time.sleep(1.5)
        assert runtime.health()["a"].analysed > before  # never stopped
        assert runtime.health()["c"].analysed > 0
        assert [c.id for c in reloader.config.cameras] == ["a", "c"]
    finally:
        runtime.stop()
        assert runtime.join(timeout_s=20)


def test_a_changed_camera_restarts_and_one_that_cannot_start_is_tried_again(tmp_path: Path) -> None:
    path = write_config(tmp_path / "live.yaml", [{"id": "a", "url": url("a")}])
    config = load_config(path)
    build = fake_build(tmp_path)
    refuse = {"bad"}

    def flaky_build(new_config: NonsiteConfig, camera_id: str) -> CameraParts:
        if camera_id in refuse:
            raise RuntimeError("camera bad: cannot start")
        parts: CameraParts = build(new_config, camera_id)
        return parts

    runtime = Runtime([build(config, "a")], ScriptedDetector(lambda call: []))
    reloader = Reloader(path, config, runtime, flaky_build)
    runtime.start()
    try:
        time.sleep(1.5)
        before = runtime.health()["a"].analysed
        assert before > 0
        write_config(path, [{"id": "a", "url": url("a"), "fps": 4}, {"id": "bad", "url": url("bad")}])
        plan = reloader.apply()
        assert plan is not None and plan.changed == ("a",) and plan.added == ("bad",)
        assert set(runtime.health()) == {"a"} and runtime.health()["a"].analysed < before  # a started afresh
        refuse.clear()
        again = reloader.apply()  # the same file: "bad" never ran, so it is tried again
        assert again is not None and again.added == ("bad",) and again.changed == ()
        assert set(runtime.health()) == {"a", "bad"}
    finally:
        runtime.stop()
        assert runtime.join(timeout_s=20)


def online(values: dict[Any, float], camera: str) -> bool:
    return values.get(("nonsite_channel_status", (("camera", camera), ("status", "online")))) == 1


@needs_rtsp_server
def test_sighup_adds_a_camera_to_a_running_service_without_touching_the_other(
    rtsp_server: RtspServer, tmp_path: Path
) -> None:
    port = free_port()
    extra = (
        "storage: {evidence_dir: ./evidence, outbox_path: ./outbox.sqlite}\n"
        f"metrics: {{enabled: true, host: 127.0.0.1, port: {port}}}\n"
    )
    main = rtsp_server.url.replace("/cam", "/main")
    path = write_config(tmp_path / "live.yaml", [{"id": "gate-1", "url": rtsp_server.url}], extra)
    nonsite = Path(sys.executable).with_name("nonsite")
    stderr = tmp_path / "stderr.log"  # read while it runs: SIGTERM goes only once the reload has said it is done
    with stderr.open("w") as errors:
        run = subprocess.Popen(
            [str(nonsite), "run", "--config", "live.yaml", "--no-push"],
            cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errors, text=True,
        )  # fmt: skip
    removed = "config reloaded: 0 added, 1 removed, 0 restarted"
    try:
        values = _poll(port, lambda v: online(v, "gate-1"), timeout_s=40, process=run)
        write_config(path, [{"id": "gate-1", "url": rtsp_server.url}, {"id": "gate-2", "url": main}], extra)
        run.send_signal(signal.SIGHUP)
        values = _poll(port, lambda v: online(v, "gate-2"), timeout_s=30, process=run)
        assert online(values, "gate-1")
        assert values[("nonsite_reconnects_total", (("camera", "gate-1"),))] == 0  # never restarted
        write_config(path, [{"id": "gate-2", "url": main}], extra)
        run.send_signal(signal.SIGHUP)
        values = _poll(
            port,
            lambda v: (
                ("nonsite_frames_analysed_total", (("camera", "gate-1"),)) not in v and removed in stderr.read_text()
            ),
            timeout_s=30,
            process=run,
        )
        assert online(values, "gate-2")
        run.send_signal(signal.SIGTERM)
        out, _ = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    err = stderr.read_text()
    assert run.returncode == 0, (out, err)
    assert "config reloaded: 1 added, 0 removed, 0 restarted" in err
    assert removed in err
    assert PASSWORD not in out + err and "p%40ss" not in out + err
    assert capture_processes() == []


def _poll(port: int, condition: Any, timeout_s: float, process: subprocess.Popen[str]) -> dict[Any, float]:
    deadline = time.monotonic() + timeout_s
    values: dict[Any, float] = {}
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        try:
            values = scrape(port, timeout_s=5)
        except httpx.HTTPError:
            values = {}
        if values and condition(values):
            return values
        time.sleep(0.5)
    pytest.fail(f"condition not met in {timeout_s} s: {sorted(k for k in values if k[0] == 'nonsite_channel_status')}")
