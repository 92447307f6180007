"""Plate reading on ../shared/data/license_plate: accuracy and per-plate latency (median, p95) on this machine.

Usage: ``python benchmarks/plates.py [--data ../shared/data] [--repeat 5]``
Labels: ``license_plate/labels_detail.csv`` and ``truck_cover/plate_labels_detail.csv``.
Exact = the plate overlapping the labelled box (IoU > 0.5) reads exactly the label (spaces ignored); a label
of "unreadable" or "illegible" counts as correct when nothing valid is claimed. Latency is measured per
image (detect + read every plate found).
"""

from __future__ import annotations

import argparse
import csv
import statistics
import time
from pathlib import Path

import numpy as np

from detectors.images import read_bgr
from detectors.plates.reader import UNREADABLE, PlateReader
from pipeline.evaluation import iou


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1] / "../shared/data")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    reader = PlateReader()
    rows = [
        row
        for name in ("license_plate/labels_detail.csv", "truck_cover/plate_labels_detail.csv")
        for row in csv.DictReader((args.data / name).open(encoding="utf-8"))
    ]
    exact, unreadable_claims, wrong_valid = 0, 0, 0
    latencies: list[float] = []
    for row in rows:
        image = read_bgr(args.data / row["file"])
        reads = reader.read(image)
        for _ in range(args.repeat):
            start = time.perf_counter()
            reader.read(image)
            latencies.append((time.perf_counter() - start) * 1000)
        expected = row["plate_text"].replace(" ", "")
        if expected.startswith(("illegible", "unreadable")):
            expected = UNREADABLE
        truth_box = (float(row["x1"]), float(row["y1"]), float(row["x2"]), float(row["y2"]))
        matched = [r for r in reads if iou(r.box, truth_box) > 0.5]
        reads = matched or reads
        got = reads[0].text if reads else UNREADABLE
        if expected.startswith(UNREADABLE):
            exact += got == UNREADABLE
        elif got == expected:
            exact += 1
        elif got == UNREADABLE:
            unreadable_claims += 1
        else:
            wrong_valid += 1
        print(
            f"{Path(row['file']).name:55} expected {expected:12} got {got:12} "
            f"{reads[0].color if reads else '-':12} rows={reads[0].rows if reads else '-'}"
        )
    print(
        f"\nexact {exact}/{len(rows)}, reported unreadable {unreadable_claims}, wrong but valid-looking {wrong_valid}"
    )
    print(f"latency per image: median {statistics.median(latencies):.0f} ms, p95 {np.percentile(latencies, 95):.0f} ms")


if __name__ == "__main__":
    main()
