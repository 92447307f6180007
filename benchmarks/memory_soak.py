"""Memory over a long run: the sample cameras on their clips looped to ``--minutes`` of stream time.

Usage: ``python benchmarks/memory_soak.py [--minutes 10] [--fps 2] [--config samples/config.yaml]``

Each camera's clip is remuxed (stream copy, no re-encode) back to back into one long file, then the real runtime
runs every camera on its long file at once. The process's resident memory is sampled every few seconds; a
runtime whose memory per camera is bounded shows a flat line after the first minute. Reported: RSS after the
first minute of stream time and at the end, the growth between them, per camera.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

import av

from detectors.registry import create_detector
from evidence.outbox import Outbox
from pipeline.assemble import build_parts
from pipeline.config import InputRole, load_config
from pipeline.runtime import Runtime
from pipeline.shared_models import SharedModels

REPO = Path(__file__).resolve().parents[1]


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def loop_clip(source: Path, target: Path, minutes: float) -> Path:
    """``source`` repeated until ``minutes`` of stream time, by stream copy, timestamps from 0."""
    with av.open(str(source)) as probe:
        duration = float(probe.duration or 0) / 1_000_000
    repeats = max(1, int(minutes * 60 / duration) + 1)
    with av.open(str(target), mode="w") as output:
        stream = None
        offset = 0
        for _ in range(repeats):
            with av.open(str(source)) as container:
                video = container.streams.video[0]
                if stream is None:
                    stream = output.add_stream_from_template(video)
                first: int | None = None
                last = 0
                for packet in container.demux(video):
                    if packet.dts is None or packet.pts is None or not packet.size:
                        continue
                    first = min(packet.dts, packet.pts) if first is None else first
                    length = int(packet.duration or 0)
                    last = max(last, packet.pts + length, packet.dts + length)
                    packet.pts += offset - first  # each copy from 0 (a camera's own clock may start anywhere)
                    packet.dts += offset - first
                    packet.stream = stream
                    output.mux(packet)
                offset += last - (first or 0)  # the next copy starts where this one ended
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=REPO / "samples" / "config.yaml")
    parser.add_argument("--minutes", type=float, default=10.0, help="stream time per camera")
    parser.add_argument("--fps", type=float, default=2.0, help="analysed frames per second")
    args = parser.parse_args()
    config = load_config(args.config)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        config.storage.evidence_dir = root / "evidence"
        models = SharedModels(create_detector(config.detector), threads=config.detector.threads)
        outbox = Outbox(root / "outbox.sqlite")
        cameras = []
        for camera in config.cameras:
            camera.fps = args.fps
            clip = camera.input_for(InputRole.DETECT).path
            assert clip is not None
            looped = loop_clip(clip, root / f"{camera.id}.mp4", args.minutes)
            cameras.append(build_parts(config, camera.id, models, "0" * 64, outbox, looped))
        runtime = Runtime(cameras, models.detector)
        samples: list[tuple[float, float]] = []  # (stream seconds reached by the slowest camera, RSS MB)
        done = threading.Event()

        def sample() -> None:
            while not done.wait(5.0):
                reached = min((h.last_frame_pts_s or 0.0) for h in runtime.health().values())
                samples.append((reached, rss_mb()))

        sampler = threading.Thread(target=sample, daemon=True)
        start = time.perf_counter()
        sampler.start()
        health = runtime.run()
        done.set()
        elapsed = time.perf_counter() - start
    after_minute = next((mb for reached, mb in samples if reached >= 60.0), samples[0][1] if samples else rss_mb())
    final = max(mb for _, mb in samples) if samples else rss_mb()
    print(f"{len(cameras)} camera(s), {args.minutes:g} min of stream each at {args.fps:g} fps, {elapsed:.0f} s wall")
    for camera_id, state in health.items():
        print(f"  {camera_id}: {state.analysed} analysed, {state.violations} violation(s), state {state.state.value}")
    print(f"RSS after 1 min of stream: {after_minute:.0f} MB; peak to the end: {final:.0f} MB")
    growth = final - after_minute
    print(f"growth after the first minute: {growth:+.0f} MB ({growth / len(cameras):+.1f} MB per camera)")


if __name__ == "__main__":
    main()
