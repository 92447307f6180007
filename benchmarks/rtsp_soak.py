"""Soak under repeated camera faults: memory growth and zombie processes of the live-camera runtime.

Usage (from the repository root)::

    .venv/bin/python -m benchmarks.rtsp_soak [--minutes 5] [--cameras 4] [--fault-every 20]

Debian's gst-rtsp-server (``tests/rtsp_server.py``) serves a live pattern on 127.0.0.1; ``--cameras`` cameras
read it through the real runtime (supervised capture processes, watchdog, backoff, evidence sealing of a
violation that fires on every camera; a scripted detector stands in for the model, so what is measured is the
runtime, not inference). Every ``--fault-every`` seconds the server is, in turn, killed and restarted, frozen
(SIGSTOP) for longer than the stall timeout and thawed, or left alone. Sampled every 2 s: the resident memory of
this process and of its capture processes, and zombie children. Reported: memory after the first minute and at
the end, the growth between them (per hour), the most capture processes alive at once, zombies seen, each
camera's reconnects and final state, and leftover capture processes after the runtime stopped.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import tempfile
import time
from pathlib import Path

import psutil

from pipeline.config import StreamConfig
from pipeline.runtime import Runtime
from pipeline.sources.rtsp import RtspSource
from pipeline.sources.stream_url import parse_stream_url
from tests.rtsp_fixtures import RtspServer, free_port
from tests.runtime_fakes import ScriptedDetector, camera_parts

SETTINGS = StreamConfig(stall_timeout_s=3, open_timeout_s=5, read_timeout_s=5, backoff_initial_s=0.5, backoff_max_s=4)
CHAIR = (60.0, 40.0, 120.0, 150.0)


def sample(me: psutil.Process, zombie_pids: set[int] | None = None) -> tuple[float, float, int, int]:
    """(this process's RSS MB, capture processes' RSS MB, capture processes alive, zombie children); the
    zombies' pids are added to ``zombie_pids``."""
    children = me.children(recursive=True)
    zombies = captures = 0
    capture_rss = 0
    for child in children:
        try:
            if child.status() == psutil.STATUS_ZOMBIE:
                zombies += 1
                if zombie_pids is not None:
                    zombie_pids.add(child.pid)
            elif "rtsp_capture" in " ".join(child.cmdline()):
                captures += 1
                capture_rss += child.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return me.memory_info().rss / 2**20, capture_rss / 2**20, captures, zombies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--cameras", type=int, default=4)
    parser.add_argument("--fault-every", type=float, default=20.0, help="seconds between faults")
    args = parser.parse_args()
    server = RtspServer(free_port(), size="320x180")
    server.start()
    url = parse_stream_url(server.url)
    me = psutil.Process()
    with tempfile.TemporaryDirectory(prefix="nonsite-soak-") as tmp:
        sources = [RtspSource(f"cam-{i}", url, 2.0, SETTINGS) for i in range(args.cameras)]
        parts = [
            camera_parts(s, Path(tmp) / s.camera_id, fps=2.0, pre_roll_s=1.0, post_roll_s=1.0, cooldown_s=30.0)
            for s in sources
        ]
        runtime = Runtime(parts, ScriptedDetector(lambda call: [CHAIR]))
        runtime.start()
        samples: list[tuple[float, float, float, int, int]] = []
        zombie_sets: list[set[int]] = []
        faults: list[str] = []
        start = time.monotonic()
        next_fault = start + args.fault_every
        turn = 0
        try:
            while time.monotonic() - start < args.minutes * 60:
                now = time.monotonic()
                zombie_sets.append(set())
                samples.append((now - start, *sample(me, zombie_sets[-1])))
                if now >= next_fault:
                    kind = ("kill", "freeze", "none")[turn % 3]
                    turn += 1
                    faults.append(kind)
                    if kind == "kill":
                        server.kill()
                        time.sleep(2.0)
                        server.start()
                    elif kind == "freeze":
                        server.freeze()
                        time.sleep(SETTINGS.stall_timeout_s + 2.0)
                        server.thaw()
                    next_fault = time.monotonic() + args.fault_every
                    print(f"{now - start:6.0f} s: fault {kind}", flush=True)
                time.sleep(2.0)
            time.sleep(10.0)  # the last fault recovers
            health = runtime.health()
        finally:
            runtime.stop()
            runtime.join(timeout_s=60)
            server.stop()
        time.sleep(1.0)
        leftover = sample(me)
    after_first_minute = [s for s in samples if s[0] >= 60] or samples
    first, last = after_first_minute[0], samples[-1]
    hours = max((last[0] - first[0]) / 3600, 1e-9)
    print(f"\n{args.cameras} cameras, {args.minutes:g} min, faults: {', '.join(faults)}")
    print("| | this process RSS MB | capture processes RSS MB | capture processes |")
    print("|---|---|---|---|")
    print(f"| after the first minute | {first[1]:.0f} | {first[2]:.0f} | {first[3]} |")
    print(f"| at the end | {last[1]:.0f} | {last[2]:.0f} | {last[3]} |")
    print(
        f"| growth | {last[1] - first[1]:+.0f} ({(last[1] - first[1]) / hours:+.0f}/h) | {last[2] - first[2]:+.0f} | |"
    )
    print(f"most capture processes alive at once: {max(s[3] for s in samples)} (expected {args.cameras})")
    lingering = {pid for before, after in itertools.pairwise(zombie_sets) for pid in before & after}
    print(
        f"zombie children: {sum(len(z) for z in zombie_sets)} seen in {len(samples)} samples (a capture process "
        f"that has just exited, before its supervisor reaps it); still a zombie 2 s later: {len(lingering)}"
    )
    print(f"median capture process RSS: {statistics.median(s[2] / max(s[3], 1) for s in samples):.0f} MB")
    for camera_id, state in health.items():
        channel = state.channel
        assert channel is not None
        print(f"{camera_id}: {channel.state.value}, {channel.reconnects} reconnects, {state.violations} violation(s)")
    print(f"after stop: {leftover[2]} capture processes, {leftover[3]} zombies")


if __name__ == "__main__":
    main()
