"""Plate reading on ../shared/data/license_plate: accuracy and per-plate latency (median, p95) on this machine.

Usage: ``python benchmarks/plates.py [--data ../shared/data] [--repeat 5]``
Labels: ``license_plate/labels_detail.csv`` and ``truck_cover/plate_labels_detail.csv``.
Exact = the plate overlapping the labelled box (IoU > 0.5) reads exactly the label (spaces ignored); a label
of "unreadable" or "illegible" counts as correct when nothing valid is claimed. Latency is measured per
image (detect + read every plate found). A second table shows, for thresholds on the weakest character's
probability (the reader's ``min_confidence``), how many reads are exact, withheld although right, and wrong
but valid-looking: the choice of threshold, measured rather than assumed.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import time
from pathlib import Path

import numpy as np

from detectors.images import read_bgr
from detectors.plates.reader import UNREADABLE, PlateRead, PlateReader
from pipeline.evaluation import iou

THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def expected_text(row: dict[str, str]) -> str:
    expected = row["plate_text"].replace(" ", "")
    return UNREADABLE if expected.startswith(("illegible", "unreadable")) else expected


def best_read(reads: list[PlateRead], row: dict[str, str]) -> PlateRead | None:
    """The read overlapping the labelled box (IoU > 0.5), else the first one found."""
    truth_box = (float(row["x1"]), float(row["y1"]), float(row["x2"]), float(row["y2"]))
    matched = [r for r in reads if iou(r.box, truth_box) > 0.5]
    found = matched or reads
    return found[0] if found else None


def outcome(expected: str, read: PlateRead | None) -> str:
    """exact; withheld (right, but below the threshold); unreadable; or wrong (a valid-looking misread)."""
    got = read.text if read else UNREADABLE
    if got == expected:
        return "exact"
    if got == UNREADABLE:
        return "withheld" if read is not None and read.candidate == expected else "unreadable"
    return "wrong"


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
    images = [read_bgr(args.data / row["file"]) for row in rows]
    outcomes: list[str] = []
    latencies: list[float] = []
    for row, image in zip(rows, images, strict=True):
        read = best_read(reader.read(image), row)
        for _ in range(args.repeat):
            start = time.perf_counter()
            reader.read(image)
            latencies.append((time.perf_counter() - start) * 1000)
        outcomes.append(outcome(expected_text(row), read))
        got = read.text if read else UNREADABLE
        print(
            f"{Path(row['file']).name:55} expected {expected_text(row):12} got {got:12} "
            f"{read.color if read else '-':12} rows={read.rows if read else '-'} "
            f"weakest={read.confidence if read else 0:.2f}"
        )
    print(
        f"\nexact {outcomes.count('exact')}/{len(rows)} at min_confidence {reader.min_confidence}, withheld but right "
        f"{outcomes.count('withheld')}, unreadable {outcomes.count('unreadable')}, "
        f"wrong but valid-looking {outcomes.count('wrong')}"
    )
    print(f"latency per image: median {statistics.median(latencies):.0f} ms, p95 {np.percentile(latencies, 95):.0f} ms")
    print("\nby threshold on the weakest character's probability (the reader's min_confidence):")
    print("  threshold  exact  withheld-but-right  wrong-but-valid")
    for threshold in THRESHOLDS:
        reader.min_confidence = threshold
        pairs = zip(rows, images, strict=True)
        found = [outcome(expected_text(row), best_read(reader.read(image), row)) for row, image in pairs]
        print(
            f"  {threshold:9.1f}  {found.count('exact'):5d}  {found.count('withheld'):18d}  {found.count('wrong'):15d}"
        )


if __name__ == "__main__":
    main()
