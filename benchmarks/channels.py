"""Many live channels on one box: nonsite against a naive ultralytics loop, in one run, on the same inputs.

Usage (from the repository root)::

    .venv/bin/python -m benchmarks.channels [--channels 8,16,32,64] [--models yolo11n_640,yolo26n_480]
        [--naive-channels 1,2,4] [--processes 1,2] [--seconds 40] [--warmup 25] [--fps 1]

The real clips in ``../shared/data/videos`` become, with FFmpeg's libraries (PyAV), a 640x360 sub-stream
(re-encoded once, a keyframe a second) and the original 1080p main stream (stream copy), both looped to the
run's length. Debian's gst-rtsp-server (``tests/rtsp_server.py``, as the test suite runs it) serves them on
127.0.0.1 in real time. Half the simulated cameras watch clip 25, half clip 27 (in pairs, so each analysis
process gets both), with the sample config's zones and rules scaled to the sub-stream.

- **nonsite**: ``nonsite run`` on N cameras (sub-stream analysed at ``--fps``, main stream recorded for clips),
  pushing to a ``nonsite serve`` API, with ``/metrics`` scraped at the start and the end of the measured window.
- **naive**: one process per channel running ``YOLO(weights).track(url, stream=True, vid_stride=…)`` on the
  ``.pt`` weights the ONNX export was made from (the way a quick script would do it), each counting results.

Reported per configuration and N: whether every channel sustained at least 95 % of ``--fps`` ("sustained"),
the slowest channel's analysed fps, CPU-seconds per channel-second (the whole process tree, capture children
included), resident memory per channel, nonsite's share of each stage, and p50/p95 from the frame that met a
rule's dwell to the ticket accepted by the API. Ratios: the most channels nonsite sustained over the most the
naive loop sustained, and the naive loop's CPU per channel-second over nonsite's at the same N.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np
import psutil

from benchmarks.memory_soak import loop_clip
from tests.prometheus import scrape
from tests.rtsp_fixtures import consecutive_free_ports, free_port

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CLIPS = {
    "c25": SHARED / "data/videos/captaineven_mcmot_test_25.mp4",
    "c27": SHARED / "data/videos/captaineven_mcmot_test_27.mp4",
}
SUB_SIZE = (640, 360)
SCALE = SUB_SIZE[0] / 1920  # the sample config's zones are drawn on the 1080p stream
SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's, which has gi for gst-rtsp-server
NONSITE = [str(Path(sys.executable).parent / "nonsite")]


# ---------------------------------------------------------------- inputs and server
def sub_stream(source: Path, target: Path) -> Path:
    """The clip re-encoded at 640x360, same rate, a keyframe every second (what a camera's sub-stream is)."""
    if target.exists():
        return target
    partial = target.with_suffix(".partial.mp4")
    with av.open(str(source)) as container, av.open(str(partial), mode="w") as output:
        video = container.streams.video[0]
        rate = video.average_rate or Fraction(12)
        stream = output.add_stream(
            "libx264", rate=rate, options={"g": str(round(rate)), "bf": "0", "preset": "veryfast"}
        )
        stream.width, stream.height, stream.pix_fmt = *SUB_SIZE, "yuv420p"
        for index, frame in enumerate(container.decode(video)):
            small = frame.reformat(width=SUB_SIZE[0], height=SUB_SIZE[1], format="yuv420p")
            small.pts, small.time_base = index, Fraction(1) / rate
            for packet in stream.encode(small):
                output.mux(packet)
        for packet in stream.encode():
            output.mux(packet)
    partial.rename(target)
    return target


def make_inputs(work: Path, minutes: float) -> dict[str, Path]:
    """Mount name → looped file: sub_c25, main_c25, sub_c27, main_c27."""
    files = {}
    for name, clip in CLIPS.items():
        if not clip.is_file():
            raise SystemExit(f"missing footage: {clip}")
        sub = sub_stream(clip, work / f"{name}_sub_once.mp4")
        for role, source in (("sub", sub), ("main", clip)):
            target = work / f"{name}_{role}_{math.ceil(minutes)}min.mp4"
            if not target.exists():  # written under a temporary name: a run cut short leaves no half file
                partial = target.with_suffix(".partial.mp4")
                loop_clip(source, partial, minutes).rename(target)
            files[f"{role}_{name}"] = target
    return files


class RtspServer:
    def __init__(self, files: dict[str, Path]) -> None:
        self.port = free_port()
        args = [SYSTEM_PYTHON, str(REPO / "tests" / "rtsp_server.py"), "--port", str(self.port)]
        for mount, path in files.items():
            args += ["--file", f"{mount}={path}"]
        self.log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - lives as long as the server
        self.process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.log, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("READY"):
            raise SystemExit(f"the RTSP server did not start: {line!r}")

    def url(self, mount: str) -> str:
        return f"rtsp://127.0.0.1:{self.port}/{mount}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# ---------------------------------------------------------------- measurements
@dataclass
class Result:
    system: str  # nonsite or naive
    model: str
    channels: int
    sustained: bool = False
    min_fps: float = 0.0
    mean_fps: float = 0.0
    cpu_per_channel_s: float = math.nan  # CPU-seconds per channel-second
    rss_mb_per_channel: float = math.nan
    pss_mb_per_channel: float = math.nan
    stage_share: dict[str, float] = field(default_factory=dict)
    box_busy: float = math.nan  # share of all the box's cores busy (the RTSP server and the API included)
    main_cores: float = math.nan  # cores the measured system's main process used (nonsite: one interpreter)
    latency_p50_s: float | None = None
    latency_p95_s: float | None = None
    tickets: int = 0
    note: str = ""


def tree_cpu_s(root: psutil.Process) -> float:
    total = 0.0
    for process in [root, *root.children(recursive=True)]:
        try:
            times = process.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            continue
    return total


def box_busy(before: Any, after: Any) -> float:
    """The share of the box's CPU time that was not idle between two ``psutil.cpu_times()`` samples."""
    total = sum(after) - sum(before)
    idle = (after.idle + getattr(after, "iowait", 0.0)) - (before.idle + getattr(before, "iowait", 0.0))
    return 1.0 - idle / total if total > 0 else math.nan


def own_cpu_s(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def tree_rss_mb(root: psutil.Process) -> float:
    """Resident memory of the tree; shared pages of forked children counted once per process (an upper bound)."""
    total = 0
    for process in [root, *root.children(recursive=True)]:
        try:
            total += process.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total / 2**20


def tree_pss_mb(root: psutil.Process) -> float:
    """Proportional set size of the tree: each shared page (the Python, NumPy and FFmpeg libraries every
    capture process maps) split between the processes that map it, so the sum is what the tree really holds."""
    total = 0
    for process in [root, *root.children(recursive=True)]:
        try:
            total += process.memory_full_info().pss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return total / 2**20


def histogram_quantile(samples: dict[Any, float], name: str, q: float) -> float | None:
    """Prometheus-style quantile from cumulative buckets (linear inside the bucket)."""
    buckets = sorted(
        (float(dict(labels)["le"]), value) for (metric, labels), value in samples.items() if metric == f"{name}_bucket"
    )
    total = buckets[-1][1] if buckets else 0
    if not total:
        return None
    rank, lower, below = q * total, 0.0, 0.0
    for upper, count in buckets:
        if count >= rank:
            if math.isinf(upper):
                return lower
            return lower + (upper - lower) * (rank - below) / max(count - below, 1e-9)
        lower, below = upper, count
    return lower


# ---------------------------------------------------------------- nonsite
def scaled(points: list[list[float]]) -> list[list[int]]:
    return [[round(x * SCALE), round(y * SCALE)] for x, y in points]


# The sample rules watch small things (goods, bikes) that a 640x360 frame barely shows, so they seldom fire in
# a short run. This rule fires on the parked cars of both clips, once per camera every 30 s, so the run files
# tickets and the capture-to-ticket latency is measured with sealing and 1080p clips included.
LATENCY_ZONE = {"name": "whole-frame", "kind": "no_vending", "polygon": [[0, 0], [640, 0], [640, 360], [0, 360]]}
LATENCY_RULE = {
    "kind": "street_stall",
    "zone": "whole-frame",
    "labels": ["car"],
    "min_dwell_s": 5,
    "cooldown_s": 30,  # about two tickets a minute per camera: far more than a street has, enough to measure
    "per": "zone",
}


def clip_of(index: int) -> str:
    """Cameras go c25, c25, c27, c27, …: ``run --processes`` deals cameras out in config order, so alternating
    one by one would give one process every clip-25 camera and the other every clip-27 camera (whose scene
    is busier), and the busier process would set the result."""
    return "c25" if (index // 2) % 2 == 0 else "c27"


def nonsite_config(
    work: Path, server: RtspServer, channels: int, model: Path, fps: float, api: str, metrics: int, threads: int = 2
) -> Path:
    """N cameras on the two clips, with the sample config's zones (scaled) and rules, one per camera."""
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe")
    sample = yaml.load((REPO / "samples" / "config.yaml").read_text(encoding="utf-8"))
    by_clip = {"c25": sample["cameras"][0], "c27": sample["cameras"][1]}
    cameras, rules = [], []
    for index in range(channels):
        clip = clip_of(index)
        template = by_clip[clip]
        camera_id = f"ch{index:03d}"
        cameras.append(
            {
                "id": camera_id,
                "fps": fps,
                "inputs": [
                    {"url": server.url(f"sub_{clip}"), "roles": ["detect"]},
                    {"url": server.url(f"main_{clip}"), "roles": ["record"]},
                ],
                "detect_on_zone_crops": False,  # a 640x360 frame: the whole frame is the detector's input
                "zones": [{**z, "polygon": scaled(z["polygon"])} for z in template["zones"]] + [LATENCY_ZONE],
                "stream": {"stall_timeout_s": 10, "backoff_max_s": 10},
            }
        )
        for rule in sample["rules"]:
            if rule["camera"] == template["id"]:
                rules.append({**rule, "camera": camera_id, "name": f"{rule['name']}-{camera_id}"})
        rules.append({**LATENCY_RULE, "camera": camera_id, "name": f"parked-cars-{camera_id}"})
    config = {
        "cameras": cameras,
        "rules": rules,
        "detector": {"type": "yolo", "model_path": str(model), "max_batch": 4, "threads": threads},
        "tracker": sample.get("tracker", {}),
        "storage": {"evidence_dir": str(work / "evidence"), "outbox_path": str(work / "outbox.sqlite")},
        "api": {"url": api, "health_interval_s": 5},
        "metrics": {"enabled": True, "host": "127.0.0.1", "port": metrics},
        "database": {"url": f"sqlite:///{work / 'api.db'}"},
    }
    path = work / "config.yaml"
    with path.open("w", encoding="utf-8") as stream:
        yaml.dump(config, stream)
    return path


def wait_until(probe: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if probe():
                return
        except (httpx.HTTPError, OSError):
            pass
        time.sleep(0.5)
    raise SystemExit(f"timed out waiting for {what}")


def scrape_all(first: int, count: int) -> dict[Any, float]:
    """Every analysis process's metrics, summed by name and labels (each camera is in exactly one)."""
    total: dict[Any, float] = {}
    for port in range(first, first + count):
        for key, value in scrape(port).items():
            total[key] = total.get(key, 0.0) + value
    return total


def analysis_processes(root: psutil.Process, processes: int) -> list[psutil.Process]:
    """The processes that run the cameras' analysis: ``nonsite run`` itself, or its ``--processes`` children."""
    if processes == 1:
        return [root]
    return [p for p in root.children() if "spawn_main" in " ".join(p.cmdline())]


def run_nonsite(server: RtspServer, channels: int, model: Path, args: argparse.Namespace, processes: int = 1) -> Result:
    result = Result("nonsite" if processes == 1 else f"nonsite ×{processes}", model.stem, channels)
    with tempfile.TemporaryDirectory(prefix="nonsite-channels-") as tmp:
        work = Path(tmp)
        api_port, metrics_port = free_port(), consecutive_free_ports(processes)
        api_url = f"http://127.0.0.1:{api_port}"
        config = nonsite_config(work, server, channels, model, args.fps, api_url, metrics_port, args.threads)
        env = {
            **os.environ,
            "NONSITE_DATABASE_URL": f"sqlite:///{work / 'api.db'}",
            "NONSITE_EVIDENCE_DIR": str(work / "evidence"),
            "NONSITE_JWT_SECRET": secrets.token_urlsafe(32),
            "NONSITE_API_PASSWORD": secrets.token_urlsafe(16),  # the pipeline's account, made here
        }
        subprocess.run([*NONSITE, "db", "upgrade"], env=env, check=True, stdout=subprocess.DEVNULL)
        subprocess.run(
            [*NONSITE, "users", "add", "pipeline", "--role", "pipeline", "--password-env", "NONSITE_API_PASSWORD"],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        api = subprocess.Popen(
            [*NONSITE, "serve", "--port", str(api_port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        run = subprocess.Popen(
            [*NONSITE, "run", "--config", str(config), "--processes", str(processes)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=(work / "run.log").open("w"),
        )
        try:
            wait_until(lambda: httpx.get(f"{api_url}/healthz").status_code == 200, 60, "the API")
            wait_until(
                lambda: run.poll() is not None or scrape_all(metrics_port, processes), 120, "the pipeline's metrics"
            )
            if run.poll() is not None:
                raise SystemExit(f"nonsite run exited with {run.returncode}: {(work / 'run.log').read_text()[-2000:]}")
            time.sleep(args.warmup + channels * 0.5)  # every camera's two capture processes start and connect
            root = psutil.Process(run.pid)
            analysing = analysis_processes(root, processes)
            box0 = psutil.cpu_times()
            before, cpu0, t0 = scrape_all(metrics_port, processes), tree_cpu_s(root), time.monotonic()
            main0 = sum(own_cpu_s(p) for p in analysing)
            time.sleep(args.seconds)
            after, cpu1, t1 = scrape_all(metrics_port, processes), tree_cpu_s(root), time.monotonic()
            main1 = sum(own_cpu_s(p) for p in analysing)
            result.box_busy = box_busy(box0, psutil.cpu_times())
            rss, pss = tree_rss_mb(root), tree_pss_mb(root)
            span = t1 - t0
            rates = [
                (
                    after.get(("nonsite_frames_analysed_total", (("camera", f"ch{i:03d}"),)), 0)
                    - before.get(("nonsite_frames_analysed_total", (("camera", f"ch{i:03d}"),)), 0)
                )
                / span
                for i in range(channels)
            ]
            # CPU by stage: the capture processes' own CPU; each Python stage's thread CPU; the rest of the main
            # process (the detector's ONNX Runtime threads, the push and health loops) is "detect and the rest".
            stages: dict[str, float] = {}
            for (name, labels), value in after.items():
                stage = dict(labels).get("stage", "")
                if name == "nonsite_camera_stage_cpu_seconds_total" and stage != "wait":  # waiting is idle
                    stages[stage] = stages.get(stage, 0.0) + value - before.get((name, labels), 0.0)
            total_cpu = max(cpu1 - cpu0, 1e-9)
            stages["detect and the rest"] = max(0.0, (main1 - main0) - sum(stages.values()))
            result.min_fps, result.mean_fps = min(rates), float(np.mean(rates))
            result.sustained = result.min_fps >= 0.95 * args.fps
            result.cpu_per_channel_s = (cpu1 - cpu0) / (span * channels)
            result.main_cores = (main1 - main0) / span
            result.rss_mb_per_channel, result.pss_mb_per_channel = rss / channels, pss / channels
            shares = {"capture": 1 - (main1 - main0) / total_cpu} | {k: v / total_cpu for k, v in stages.items()}
            result.stage_share = {k: round(v, 3) for k, v in sorted(shares.items(), key=lambda kv: -kv[1])}
            result.latency_p50_s = histogram_quantile(after, "nonsite_capture_to_ticket_seconds", 0.5)
            result.latency_p95_s = histogram_quantile(after, "nonsite_capture_to_ticket_seconds", 0.95)
            result.tickets = int(after.get(("nonsite_capture_to_ticket_seconds_count", ()), 0))
        finally:
            run.send_signal(signal.SIGTERM)
            try:
                run.wait(120)
            except subprocess.TimeoutExpired:
                run.kill()
                run.wait()
            api.terminate()
            api.wait(30)
    return result


# ---------------------------------------------------------------- naive loop
NAIVE = r"""
import os, sys, time
os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", "rtsp_transport;tcp")
from ultralytics import YOLO
model = YOLO(sys.argv[1])
source, stride, size = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
for attempt in range(5):  # many loops opening at once on a busy box: OpenCV's open may fail; start it again
    try:
        for result in model.track(source=source, stream=True, vid_stride=stride, imgsz=size, verbose=False):
            print(time.monotonic(), flush=True)
        break
    except ConnectionError as exc:
        print(f"attempt {attempt + 1}: {exc}", file=sys.stderr, flush=True)
        time.sleep(2)
"""


def run_naive(
    server: RtspServer, channels: int, weights: Path, imgsz: int, stride: int, args: argparse.Namespace
) -> Result:
    result = Result("naive", f"{weights.stem} {imgsz}", channels)
    processes = []
    logs, errors = [], []
    for index in range(channels):
        clip = clip_of(index)
        log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115
        error = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115
        logs.append(log)
        errors.append(error)
        processes.append(
            subprocess.Popen(
                [sys.executable, "-c", NAIVE, str(weights), server.url(f"sub_{clip}"), str(stride), str(imgsz)],
                stdout=log,
                stderr=error,
            )
        )
    try:
        time.sleep(args.warmup + 15)  # torch and ultralytics import for a while
        roots = [psutil.Process(p.pid) for p in processes]
        box0, cpu0, t0 = psutil.cpu_times(), sum(tree_cpu_s(r) for r in roots), time.monotonic()
        time.sleep(args.seconds)
        cpu1, t1 = sum(tree_cpu_s(r) for r in roots), time.monotonic()
        result.box_busy = box_busy(box0, psutil.cpu_times())
        rss, pss = sum(tree_rss_mb(r) for r in roots), sum(tree_pss_mb(r) for r in roots)
    finally:
        for process in processes:
            process.kill()
            process.wait()
    rates = []
    for index, (log, error) in enumerate(zip(logs, errors, strict=True)):
        log.seek(0)
        stamps = [float(line) for line in log.read().splitlines() if re.fullmatch(r"\d+\.\d+", line)]
        rates.append(sum(1 for s in stamps if t0 <= s <= t1) / (t1 - t0))
        if not rates[-1] and rates.count(0.0) == 1:  # say why, once
            error.seek(0)
            print(f"naive channel {index} analysed nothing; its stderr ends:\n{error.read()[-1500:]}", file=sys.stderr)
    result.min_fps, result.mean_fps = min(rates), float(np.mean(rates))
    result.sustained = result.min_fps >= 0.95 * args.fps
    working = channels - rates.count(0.0)
    if working < channels:  # a loop that analysed nothing is a broken trial, not a slow one: no CPU ratio from it
        result.note = f"{channels - working} of {channels} loops analysed nothing"
    result.cpu_per_channel_s = (cpu1 - cpu0) / ((t1 - t0) * working) if working else math.nan
    result.rss_mb_per_channel, result.pss_mb_per_channel = rss / channels, pss / channels
    return result


# ---------------------------------------------------------------- report
def table(results: list[Result]) -> str:
    lines = [
        "| system | model | channels | sustained | slowest fps | mean fps | CPU-s / channel-s | RSS (PSS) MB / channel "
        "| box busy (main process cores) | p50 / p95 to ticket (s) | top stages |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        latency = "—" if r.latency_p50_s is None else f"{r.latency_p50_s:.1f} / {r.latency_p95_s:.1f} ({r.tickets})"
        stages = ", ".join(f"{k} {v:.0%}" for k, v in list(r.stage_share.items())[:4]) or r.note or "—"
        busy = f"{r.box_busy:.0%}" + ("" if math.isnan(r.main_cores) else f" ({r.main_cores:.2f})")
        lines.append(
            f"| {r.system} | {r.model} | {r.channels} | {'yes' if r.sustained else 'no'} | {r.min_fps:.2f} | "
            f"{r.mean_fps:.2f} | {r.cpu_per_channel_s:.3f} | {r.rss_mb_per_channel:.0f} ({r.pss_mb_per_channel:.0f}) "
            f"| {busy} | {latency} | {stages} |"
        )
    return "\n".join(lines)


def naive_weights(name: str, args: argparse.Namespace) -> Path:
    """The .pt weights an export came from (yolo11n_384x640 → yolo11n.pt), in --weights-dir, else --model-dir.
    A missing file stops the run here: ultralytics would try to download it."""
    file = f"{name.split('_')[0]}.pt"
    for folder in (args.weights_dir, args.model_dir):
        if (folder / file).is_file():
            return Path(folder / file)
    raise SystemExit(f"{file} (the weights {name} came from) is in neither {args.weights_dir} nor {args.model_dir}")


def counts(text: str, option: str) -> list[int]:
    """``"8,16"`` → ``[8, 16]``; an empty text is no trial. Anything else than whole numbers ≥ 1 is refused."""
    values = [v.strip() for v in text.split(",") if v.strip()]
    if not all(v.isdigit() and int(v) >= 1 for v in values):
        raise SystemExit(f"{option} takes whole numbers of at least 1, separated by commas (got {text!r})")
    return [int(v) for v in values]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", default="8,16,32,64", help="numbers of nonsite channels to try")
    parser.add_argument("--naive-channels", default="1,2,4", help='numbers of naive-loop channels to try ("" for none)')
    parser.add_argument(
        "--processes", default="1,2", help="nonsite's analysis processes to try (nonsite run --processes)"
    )
    parser.add_argument("--models", default="yolo11n_640,yolo26n_480", help="ONNX exports in --model-dir")
    parser.add_argument("--model-dir", type=Path, default=SHARED / "models")
    parser.add_argument(
        "--weights-dir", type=Path, default=SHARED / "models", help="the naive loop's .pt weights (else --model-dir)"
    )
    parser.add_argument("--threads", type=int, default=2, help="nonsite's detector.threads (per process)")
    parser.add_argument("--seconds", type=float, default=40.0, help="measured window per trial")
    parser.add_argument("--warmup", type=float, default=25.0, help="seconds before measuring")
    parser.add_argument("--fps", type=float, default=1.0, help="analysed frames per second per channel")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "nonsite-bench", help="input files")
    parser.add_argument("--out", type=Path, help="also write the results as JSON")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    args.model_dir = args.model_dir.resolve()  # the generated config lives elsewhere
    args.weights_dir = args.weights_dir.resolve()
    for name in args.models.split(","):
        naive_weights(name, args)  # before minutes of input preparation
    channel_counts = counts(args.channels, "--channels")
    naive_counts = counts(args.naive_channels, "--naive-channels")
    process_counts = counts(args.processes, "--processes")
    trials = (len(channel_counts) * len(process_counts) + len(naive_counts)) * len(args.models.split(","))
    minutes = (trials * (args.seconds + args.warmup + 60)) / 60 + 2
    print(f"preparing inputs in {args.work} ({minutes:.0f} minutes of stream) …", file=sys.stderr)
    files = make_inputs(args.work, minutes)
    results: list[Result] = []
    server = RtspServer(files)
    try:
        for name in args.models.split(","):
            model = args.model_dir / f"{name}.onnx"
            imgsz = max(int(v) for v in name.rsplit("_", 1)[1].split("x"))  # yolo11n_640, yolo11n_384x640
            for processes in process_counts:
                for n in channel_counts:
                    print(f"nonsite {name}, {processes} process(es): {n} channels …", file=sys.stderr)
                    results.append(run_nonsite(server, n, model, args, processes))
                    print(table(results[-1:]).splitlines()[-1], file=sys.stderr)
                    if not results[-1].sustained:
                        break  # more channels will not be sustained either
            weights = naive_weights(name, args)
            stride = 12  # the clips run at 12 fps: one frame a second
            for n in naive_counts:
                print(f"naive {weights.name} {imgsz}: {n} channels …", file=sys.stderr)
                results.append(run_naive(server, n, weights, imgsz, round(stride / args.fps), args))
                print(table(results[-1:]).splitlines()[-1], file=sys.stderr)
                if not results[-1].sustained:
                    break
    finally:
        server.stop()
    print(table(results))
    for name in args.models.split(","):
        mine = [r for r in results if r.system.startswith("nonsite") and r.model == name]
        naive = [r for r in results if r.system == "naive" and r.model.startswith(name.split("_")[0])]
        best = max((r.channels for r in mine if r.sustained), default=0)
        best_naive = max((r.channels for r in naive if r.sustained), default=0)
        ratio = f"{best / best_naive:.1f}x" if best_naive else "n/a (the naive loop sustained no channel)"
        print(f"{name}: nonsite sustained {best} channels, the naive loop {best_naive}: {ratio}")
        for r in (n for n in naive if not n.note):
            same = next((m for m in mine if m.channels == r.channels), None) or (mine[0] if mine else None)
            if same is not None and same.cpu_per_channel_s > 0:
                print(
                    f"  CPU per channel-second at {r.channels} naive vs {same.channels} nonsite channels: "
                    f"{r.cpu_per_channel_s / same.cpu_per_channel_s:.1f}x"
                )
    if args.out:
        args.out.write_text(json.dumps([asdict(r) for r in results], indent=1))


if __name__ == "__main__":
    main()
