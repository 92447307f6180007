"""Attribute classifiers on the labelled boxes of ../shared/data: per-box latency (median, p95) as a ratio of
the detector's per-image latency measured in the same run, and the answers next to the labels.

Usage: ``python benchmarks/attributes.py [--data ../shared/data] [--repeat 20]``
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np

from detectors.attributes.bike import bike_attributes
from detectors.attributes.truck_cover import CoverClassifier
from detectors.config import NanoDetConfig
from detectors.images import read_bgr
from detectors.registry import create_detector
from pipeline.evaluation import expected_attributes, load_labels


def timed(call: Callable[[], object], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        out.append((time.perf_counter() - start) * 1000)
    return out


def summary(values: list[float]) -> str:
    return f"median {statistics.median(values):.2f} ms, p95 {float(np.percentile(values, 95)):.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1] / "../shared/data")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    detector = create_detector(NanoDetConfig())
    cover = CoverClassifier()
    cover_ms: list[float] = []
    bike_ms: list[float] = []
    detect_ms: list[float] = []
    for label in load_labels(args.data):
        expected = expected_attributes(label)
        if not expected or label.box is None:
            continue
        image = read_bgr(args.data / label.file)
        box = label.box
        detect_ms += timed(partial(detector.detect, image), max(1, args.repeat // 4))
        if "cover" in expected:
            cover_ms += timed(partial(cover.classify, image, box), args.repeat)
            found: dict[str, object] = {"cover": cover.classify(image, box).state}
        else:
            bike_ms += timed(partial(bike_attributes, image, box), args.repeat)
            found = bike_attributes(image, box).as_dict()
        shown = {k: found.get(k) for k in expected}
        print(f"{Path(label.file).name:34} {label.cls:30} expected {expected} got {shown}")
    baseline = statistics.median(detect_ms)
    print(f"detector (baseline, per image): {summary(detect_ms)}")
    print(f"truck cover per box: {summary(cover_ms)} (ratio to detector {statistics.median(cover_ms) / baseline:.3f})")
    print(
        f"bike attributes per box: {summary(bike_ms)} (ratio to detector {statistics.median(bike_ms) / baseline:.3f})"
    )


if __name__ == "__main__":
    main()
