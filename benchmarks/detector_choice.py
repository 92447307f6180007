"""Compare the two bundled offline COCO detectors on ../shared/data (recall at IoU 0.5, latency).

Usage: ``python benchmarks/detector_choice.py [--data ../shared/data]``. Prints a table; the README quotes it.
Ground truth: truck_cover/labels.csv rows map to COCO ``truck``; shared_bike/labels.csv bike rows to
``bicycle``. Recall counts a label as found when a detection of the mapped class overlaps it at IoU >= 0.5.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from detectors.config import CenterNetConfig, NanoDetConfig
from detectors.images import read_bgr
from detectors.registry import create_detector
from pipeline.evaluation import iou

MAPPING = {
    "truck_": "truck",
    "shared_bike_parked": "bicycle",
    "shared_bike_ridden": "bicycle",
    "bicycle_private": "bicycle",
}


def _mapped(label: str) -> str | None:
    return next((coco for prefix, coco in MAPPING.items() if label.startswith(prefix)), None)


def _box(values: np.ndarray) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = (float(v) for v in values)
    return (x1, y1, x2, y2)


def load_truth(data: Path) -> dict[str, list[tuple[str, np.ndarray]]]:
    truth: dict[str, list[tuple[str, np.ndarray]]] = defaultdict(list)
    for csv_path in (data / "truck_cover/labels.csv", data / "shared_bike/labels.csv"):
        for row in csv.DictReader(csv_path.open()):
            coco = _mapped(row["class"])
            if coco and row["x1"]:
                truth[row["file"]].append((coco, np.array([float(row[k]) for k in ("x1", "y1", "x2", "y2")])))
    return truth


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1] / "../shared/data")
    args = parser.parse_args()
    truth = load_truth(args.data)
    print(f"{len(truth)} images, {sum(len(v) for v in truth.values())} labelled objects")
    print("model      class    recall@0.5  best-score-median  ms/img(median)")
    for config in (NanoDetConfig(confidence=0.05), CenterNetConfig(confidence=0.05)):
        detector = create_detector(config)
        found: dict[str, list[float]] = defaultdict(list)
        latencies = []
        for file, objects in truth.items():
            image = read_bgr(args.data / file)
            start = time.perf_counter()
            detections = detector.detect(image)
            latencies.append((time.perf_counter() - start) * 1000)
            for coco, box in objects:
                scores = [
                    float(detections.confidence[i])
                    for i in range(len(detections))
                    if detections.label[i] == coco and iou(_box(detections.xyxy[i]), _box(box)) >= 0.5
                ]
                found[coco].append(max(scores, default=0.0))
        for coco, best in sorted(found.items()):
            recall_at = {t: sum(s >= t for s in best) for t in (0.1, 0.3)}
            print(
                f"{config.type:10} {coco:8} {recall_at[0.1]}/{len(best)}@0.1 {recall_at[0.3]}/{len(best)}@0.3"
                f"  {statistics.median(best):.2f}  {statistics.median(latencies):.0f}"
            )


if __name__ == "__main__":
    main()
