"""Per-frame cost of each pipeline stage on the sample clips (1920x1080), with a naive baseline in the same run.

Usage: ``python benchmarks/pipeline_stages.py [--config samples/config.yaml]``

Baseline: a naive loop that converts *every* decoded frame to BGR (what ``cv2.VideoCapture.read()`` does) and
runs the detector on the whole frame only. Ours: every packet decoded (H.264 needs its references) but only the
analysed frames converted, plus zone crops where the config asks for them. Reported as ratios.
"""

from __future__ import annotations

import argparse
import tempfile
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


def naive_decode_s(path: Path) -> tuple[float, int]:
    start = time.perf_counter()
    with av.open(str(path)) as container:
        frames = sum(1 for frame in container.decode(video=0) if frame.to_ndarray(format="bgr24") is not None)
    return time.perf_counter() - start, frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=REPO / "samples" / "config.yaml")
    args = parser.parse_args()
    config = load_config(args.config)
    with tempfile.TemporaryDirectory() as tmp:
        config.storage.evidence_dir = Path(tmp) / "evidence"
        models = SharedModels(create_detector(config.detector), threads=config.detector.threads)
        outbox = Outbox(Path(tmp) / "outbox.sqlite")
        for camera in config.cameras:
            parts = build_parts(config, camera.id, models, "0" * 64, outbox)
            runtime = Runtime([parts], models.detector)  # one camera at a time: per-camera costs, not contention
            analysed = runtime.run()[camera.id].analysed
            ms = runtime.stage_times()[camera.id].per_frame_ms()
            path = camera.input_for(InputRole.DETECT).path
            assert path is not None
            naive_s, all_frames = naive_decode_s(path)
            naive_per_analysed = 1000 * naive_s / analysed
            crops = len(parts.analysis.crop_regions)
            print(f"{camera.id}: {analysed} analysed of {all_frames} frames, crops: {crops}")
            print("  per analysed frame (ms): " + ", ".join(f"{k} {v:.1f}" for k, v in ms.items()))
            print(
                f"  decode: ours {ms['decode']:.1f} ms vs naive convert-every-frame {naive_per_analysed:.1f} ms "
                f"(ratio {ms['decode'] / naive_per_analysed:.2f})"
            )


if __name__ == "__main__":
    main()
