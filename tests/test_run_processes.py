"""``nonsite run --processes N``: cameras dealt out to analysis processes, kept where they run across a reload,
each process pushing only its own cameras' events; a live run against the real RTSP server that reloads, loses
a process to SIGKILL (started again, its cameras back) and stops cleanly."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from evidence.outbox import Outbox
from pipeline.run_processes import AssignmentError, Shard, assign, write_assignment
from tests.prometheus import scrape
from tests.rtsp_fixtures import PASSWORD, RtspServer, capture_processes, consecutive_free_ports, needs_rtsp_server
from tests.test_reload import online, write_config

NONSITE = Path(sys.executable).with_name("nonsite")


def test_cameras_are_dealt_out_and_stay_where_they_run() -> None:
    first = assign(["a", "b", "c", "d", "e"], 2)
    assert first == [["a", "c", "e"], ["b", "d"]]
    # b goes, f and g come: a, c, e and d stay put; the new ones go to the process with the fewest
    again = assign(["a", "c", "d", "e", "f", "g"], 2, first)
    assert again == [["a", "c", "e"], ["d", "f", "g"]]
    assert assign(["a"], 3) == [["a"], [], []]
    # a removed camera that comes back goes to the process it had (which may still be sealing its last case)
    assert assign(["a", "x", "y", "b"], 2, [["a"], ["x", "y"]], {"b": 1}) == [["a"], ["x", "y", "b"]]
    assert assign(["a", "x", "y", "b"], 2, [["a"], ["x", "y"]], {}) == [["a", "b"], ["x", "y"]]


def test_a_process_owns_its_cameras_and_process_0_the_ones_no_process_has(tmp_path: Path) -> None:
    path = tmp_path / "cameras.json"
    write_assignment(path, [["a", "c"], ["b"]])
    zero, one = Shard(path, 0), Shard(path, 1)
    assert [zero.owns(c) for c in ("a", "b", "c", "gone")] == [True, False, True, True]
    assert [one.owns(c) for c in ("a", "b", "c", "gone")] == [False, True, False, False]
    write_assignment(path, [["a"], ["b", "c"]])
    one.refresh()
    assert one.camera_ids == ["b", "c"]
    with pytest.raises(AssignmentError, match="no process 2"):
        Shard(path, 2)
    (tmp_path / "broken.json").write_text("{", "utf-8")
    with pytest.raises(AssignmentError, match="cannot read"):
        Shard(tmp_path / "broken.json", 0)


class Recorder:
    def __init__(self) -> None:
        self.sent: list[str] = []

    def send(self, key: str, payload: dict[str, Any]) -> int:
        self.sent.append(key)
        return 201


def test_each_process_pushes_only_its_own_cameras_events(tmp_path: Path) -> None:
    first, second = Outbox(tmp_path / "outbox.sqlite"), Outbox(tmp_path / "outbox.sqlite")  # two processes' views
    for key, camera in (("v1:start", "a"), ("v2:start", "b"), ("v3:start", "a"), ("v4:start", "gone")):
        first.enqueue(key, {"id": key.split(":")[0], "camera": camera})
    path = tmp_path / "cameras.json"
    write_assignment(path, [["a"], ["b"]])
    one, zero = Recorder(), Recorder()
    report = second.push_once(one, owns=Shard(path, 1).owns)
    assert one.sent == ["v2:start"] and (report.delivered, report.pending) == (1, 0)  # its own events' counts
    assert first.counts().pending == 3  # the whole outbox's
    report = first.drain(zero, owns=Shard(path, 0).owns, deadline_s=1)
    assert zero.sent == ["v1:start", "v3:start", "v4:start"]  # a's, and the camera no process has
    assert (report.delivered, report.pending) == (3, 0) and first.counts().delivered == 4


def analysis_processes(run: subprocess.Popen[str]) -> list[psutil.Process]:
    return [p for p in psutil.Process(run.pid).children() if "spawn_main" in " ".join(p.cmdline())]


def listener(processes: list[psutil.Process], port: int) -> psutil.Process:
    for process in processes:
        if any(c.laddr.port == port and c.status == psutil.CONN_LISTEN for c in process.net_connections("tcp")):
            return process
    raise AssertionError(f"no analysis process listens on {port}")


def _wait_for(condition: Any, timeout_s: float, run: subprocess.Popen[str], what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert run.poll() is None, run.communicate()
        try:
            if condition():
                return
        except (OSError, httpx.HTTPError, AssertionError, psutil.Error, KeyError):
            pass
        time.sleep(0.5)
    pytest.fail(f"not within {timeout_s} s: {what}")


@needs_rtsp_server
def test_two_analysis_processes_reload_restart_and_stop(rtsp_server: RtspServer, tmp_path: Path) -> None:
    port = consecutive_free_ports(2)  # the second process's metrics port must be free too
    extra = (
        "storage: {evidence_dir: ./evidence, outbox_path: ./outbox.sqlite, signing_key: ./keys/manifest.pem}\n"
        f"metrics: {{enabled: true, host: 127.0.0.1, port: {port}}}\n"
    )
    cameras = [{"id": f"gate-{n}", "url": rtsp_server.url} for n in (1, 2, 3)]
    path = write_config(tmp_path / "live.yaml", cameras, extra)
    stderr = tmp_path / "stderr.log"
    with stderr.open("w") as errors:
        run = subprocess.Popen(
            [str(NONSITE), "run", "--config", "live.yaml", "--no-push", "--processes", "2"],
            cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errors, text=True,
        )  # fmt: skip

    def on(metrics_port: int, *camera_ids: str) -> bool:
        values = scrape(metrics_port, timeout_s=5)
        return all(online(values, c) for c in camera_ids)

    try:
        _wait_for(lambda: on(port, "gate-1", "gate-3") and on(port + 1, "gate-2"), 60, run, "every camera online")
        assert ("nonsite_frames_analysed_total", (("camera", "gate-2"),)) not in scrape(port)  # each in one process
        # the one outbox is counted by process 0 only, so metrics summed over the processes count it once
        assert ("nonsite_outbox_pending", ()) in scrape(port) and ("nonsite_outbox_pending", ()) not in scrape(port + 1)
        assert (tmp_path / "keys" / "manifest.pem").stat().st_mode & 0o777 == 0o600  # made once, by the supervisor
        first_pids = {p.pid for p in analysis_processes(run)}
        assert len(first_pids) == 2

        main = rtsp_server.url.replace("/cam", "/main")  # a client joining a shared live mount stalls it
        write_config(path, [*cameras, {"id": "gate-4", "url": main}], extra)
        run.send_signal(signal.SIGHUP)  # gate-4 goes to the process with fewer cameras; the others stay untouched
        _wait_for(lambda: on(port + 1, "gate-2", "gate-4"), 40, run, "gate-4 online in process 1")
        before = scrape(port)
        assert all(before[("nonsite_reconnects_total", (("camera", c),))] == 0 for c in ("gate-1", "gate-3"))

        second = listener(analysis_processes(run), port + 1)
        second.kill()  # process 1 dies: started again, with its cameras
        _wait_for(
            lambda: second.pid not in {p.pid for p in analysis_processes(run)} and on(port + 1, "gate-2", "gate-4"),
            60,
            run,
            "process 1 started again with gate-2 and gate-4",
        )
        assert listener(analysis_processes(run), port).pid in first_pids  # process 0 was not touched
        # its cameras may stall for a moment while the new process loads its models on these two cores
        _wait_for(lambda: on(port, "gate-1", "gate-3"), 30, run, "process 0's cameras online")

        write_config(path, cameras[::2], extra)  # gate-2 and gate-4 go: process 1 has no camera left
        run.send_signal(signal.SIGHUP)
        gone = ("nonsite_frames_analysed_total", (("camera", "gate-2"),))
        _wait_for(lambda: gone not in scrape(port + 1), 30, run, "process 1 without cameras")
        emptied = listener(analysis_processes(run), port + 1)  # still there, waiting for the next reload
        write_config(path, [*cameras[::2], {"id": "gate-5", "url": main}], extra)
        run.send_signal(signal.SIGHUP)  # gate-5 goes to the empty process
        _wait_for(lambda: on(port + 1, "gate-5"), 40, run, "gate-5 online in process 1")
        assert listener(analysis_processes(run), port + 1).pid == emptied.pid
        run.send_signal(signal.SIGTERM)
        out, _ = run.communicate(timeout=90)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    err = stderr.read_text()
    assert run.returncode == 0, (out, err)
    assert "analysis process 0: gate-1, gate-3" in err and "analysis process 1: gate-2" in err
    assert "analysis process 1 exited (code -9): starting it again" in err
    assert err.count("config reloaded: 1 added, 0 removed, 0 restarted") == 2  # process 1: gate-4, then gate-5
    assert err.count("config reloaded: 0 added, 2 removed, 0 restarted") == 1  # process 1: gate-2 and gate-4
    assert err.count("config reloaded: 0 added, 0 removed, 0 restarted") == 3  # process 0: nothing to do
    for camera in ("gate-1", "gate-3", "gate-5"):
        assert f"{camera}: " in out  # every running camera's summary, from the process that ran it
    assert PASSWORD not in out + err and "p%40ss" not in out + err
    assert capture_processes() == []
    assert not [p for p in psutil.Process().children(recursive=True) if p.status() == psutil.STATUS_ZOMBIE]


def test_processes_refuse_what_runs_in_one_process_and_taken_metrics_ports(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        extra = f"metrics: {{enabled: true, host: 127.0.0.1, port: {port - 1}}}\n"
        cameras = [{"id": "a", "url": "rtsp://127.0.0.1:9/a"}, {"id": "b", "url": "rtsp://127.0.0.1:9/b"}]
        write_config(tmp_path / "live.yaml", cameras, extra)
        for args, message in (
            (["--processes", "2", "--camera", "a"], "--camera runs in one process: leave out --processes"),
            (["--processes", "2"], f"port {port} is taken"),
            (["--processes", "0"], "processes is a whole number from 1 to 64"),
        ):
            done = subprocess.run(
                [str(NONSITE), "run", "--config", "live.yaml", "--no-push", *args],
                cwd=tmp_path, capture_output=True, text=True, timeout=60,
            )  # fmt: skip
            assert done.returncode == 2, done.stderr
            assert message in done.stderr
            assert "Traceback" not in done.stderr
