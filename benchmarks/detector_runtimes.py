"""YOLO exports on each runtime against the bundled NanoDet, in one run: latency and what they find.

Usage: ``python -m benchmarks.detector_runtimes [--data ../shared/data] [--models ../shared/models] [--extra
EXPORT.onnx ...]``

For every labelled image in ``--data`` each detector runs once (after a warm-up); reported per detector: median
and p95 latency per image (letterbox included), the same as a ratio to NanoDet's, and precision / recall at IoU
0.5 for trucks (a ``truck`` or ``bus`` box counts: COCO models call about half of these heavy trucks "bus") and
bicycles. Each YOLO export runs on ONNX Runtime (fp32), OpenVINO fp32, OpenVINO bf16 (where the CPU has it) and
OpenVINO fp32 with batches of 4 images (latency is then the batch's time divided by 4). Detectors that cannot run
here are skipped with a line saying why.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from pathlib import Path

import numpy as np

from detectors.base import Detector, DetectorError
from detectors.config import NanoDetConfig, YoloConfig
from detectors.images import read_bgr
from detectors.registry import create_detector
from pipeline.evaluation import Label, Report, by_file, load_labels, score_detections

REPO = Path(__file__).resolve().parents[1]


def candidates(models: Path, extra: list[Path]) -> list[tuple[str, object]]:
    found: list[tuple[str, object]] = [("nanodet-416 onnxruntime", NanoDetConfig(confidence=0.25))]
    for path in extra:  # other exports (e.g. `nonsite models add yolo26n.pt --input 320x320`), OpenVINO fp32
        found.append((f"{path.stem} openvino fp32", YoloConfig(model_path=path, runtime="openvino", confidence=0.25)))
    variants = [("onnxruntime", "fp32", 1), ("openvino", "fp32", 1), ("openvino", "bf16", 1), ("openvino", "fp32", 4)]
    for name in ("yolo11n_640.onnx", "yolo26n_480.onnx"):
        for runtime, precision, batch in variants:
            label = f"{name.removesuffix('.onnx')} {runtime} {precision}" + (f" batch {batch}" if batch > 1 else "")
            config = YoloConfig(
                model_path=models / name, runtime=runtime, precision=precision, max_batch=batch, confidence=0.25
            )
            found.append((label, config))
    return found


def measure(
    detector: Detector, images: dict[str, np.ndarray], rows: dict[str, list[Label]]
) -> tuple[list[float], Report]:
    report = Report()
    files = list(images)
    batch = getattr(getattr(detector, "config", None), "max_batch", 1)
    detector.detect_batch([images[f] for f in files[:batch]])  # warm-up
    times = []
    for start_at in range(0, len(files), batch):
        chunk = files[start_at : start_at + batch]
        start = time.perf_counter()
        found = detector.detect_batch([images[f] for f in chunk])
        times.extend([(time.perf_counter() - start) * 1000 / len(chunk)] * len(chunk))
        for file, detections in zip(chunk, found, strict=True):
            large = np.isin(detections.label, ["truck", "bus"])
            labels = np.where(large, "truck", detections.label).astype(object)
            # COCO models call about half of these heavy trucks "bus": both count as a truck here.
            score_detections(report, rows[file], dataclasses.replace(detections, label=labels))
    return times, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--models", type=Path, default=REPO.parent / "shared" / "models")
    parser.add_argument(
        "--extra", type=Path, nargs="*", default=[], help="more YOLO ONNX exports to compare (smaller inputs, say)"
    )
    args = parser.parse_args()
    rows = by_file(label for label in load_labels(args.data) if label.box is not None)
    images = {file: read_bgr(args.data / file) for file in sorted(rows)}
    baseline: float | None = None
    print(f"{len(images)} labelled images")
    print(f"{'detector':42s} {'median':>8s} {'p95':>8s} {'× nanodet':>9s}  trucks P/R     bicycles P/R")
    for name, config in candidates(args.models, args.extra):
        try:
            detector = create_detector(config)  # type: ignore[arg-type]
        except DetectorError as exc:
            print(f"{name:42s} skipped: {exc}")
            continue
        times, report = measure(detector, images, rows)
        median, p95 = statistics.median(times), float(np.percentile(times, 95))
        baseline = baseline or median
        cells = []
        for cls in ("truck", "bicycle"):
            score = report.classes[cls]
            p, r = score.precision, score.recall
            cells.append(f"{p if p is not None else float('nan'):.2f}/{r if r is not None else float('nan'):.2f}")
        print(f"{name:42s} {median:7.1f}ms {p95:7.1f}ms {median / baseline:8.2f}×  {cells[0]:13s}  {cells[1]}")


if __name__ == "__main__":
    main()
