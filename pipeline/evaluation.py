"""Scoring against labelled folders in the ../shared/data CSV format (``file,class,x1,y1,x2,y2``).

Object labels are mapped to detector labels (``truck_*`` → ``truck``, bikes → ``bicycle``, ``plate_*`` →
plates); ``image:*`` rows are image-level facts. A labelled truck is found by a box of the class group the
muck-truck rule watches (truck or bus), a bike by a two-wheeler box (bicycle or motorcycle), as the rules count
them. Detections match labels greedily by IoU, best score first.
"""

from __future__ import annotations

import csv
import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from detectors.coco import LARGE_VEHICLES, TWO_WHEELERS
from detectors.plates.reader import UNREADABLE
from detectors.types import Detections

Box = tuple[float, float, float, float]

# Dataset class prefix → detector label. Labels with no mapping are reported as "not scored".
CLASS_MAP: dict[str, str] = {
    "truck_": "truck",
    "shared_bike_parked": "bicycle",
    "shared_bike_ridden": "bicycle",
    "bicycle_": "bicycle",
    "plate_": "plate",
}


# Detector labels that find a label of each scored class: the class groups the rules watch.
DETECTION_GROUPS: dict[str, frozenset[str]] = {"truck": LARGE_VEHICLES, "bicycle": TWO_WHEELERS}


@dataclass(frozen=True)
class Label:
    file: str
    cls: str
    box: Box | None  # None for image-level labels
    text: str | None = None  # plate text from the *_detail.csv files
    notes: str = ""  # the *_detail.csv "attributes" column (brand, state …)


@dataclass
class ClassScore:
    true_positives: int = 0
    false_positives: int = 0
    false_negatives: int = 0

    @property
    def precision(self) -> float | None:
        found = self.true_positives + self.false_positives
        return self.true_positives / found if found else None

    @property
    def recall(self) -> float | None:
        wanted = self.true_positives + self.false_negatives
        return self.true_positives / wanted if wanted else None


@dataclass
class Report:
    classes: dict[str, ClassScore] = field(default_factory=lambda: defaultdict(ClassScore))
    not_scored: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    image_level: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    latency_ms: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    # attribute → (expected, predicted) pairs, classified on the labelled boxes (the detector left out)
    attributes: dict[str, list[tuple[str, str]]] = field(default_factory=lambda: defaultdict(list))


def iou(a: Box, b: Box) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
    return w * h / union if union > 0 else 0.0


def mapped_class(cls: str) -> str | None:
    return next((target for prefix, target in CLASS_MAP.items() if cls.startswith(prefix)), None)


def match(truths: list[Box], found: list[tuple[Box, float]], min_iou: float) -> tuple[int, int, int]:
    """(true positives, false positives, false negatives), matching best-scored detections first."""
    unmatched = list(range(len(truths)))
    tp = 0
    for box, _score in sorted(found, key=lambda f: -f[1]):
        best = max(unmatched, key=lambda i: iou(box, truths[i]), default=None)
        if best is not None and iou(box, truths[best]) >= min_iou:
            unmatched.remove(best)
            tp += 1
    return tp, len(found) - tp, len(unmatched)


LABEL_COLUMNS = ("file", "class", "x1", "y1", "x2", "y2")


class LabelError(ValueError):
    """A label file is malformed; the message names the file and line."""


def _label_box(row: dict[str, str], where: str) -> Box | None:
    """The row's box, or None for an image-level label (a class starting ``image:``, no coordinates)."""
    values = [row.get(c) or "" for c in ("x1", "y1", "x2", "y2")]
    if not any(values):
        if not row["class"].startswith("image:"):
            raise LabelError(f"{where}: class {row['class']!r} has no box (only image: labels may omit it)")
        return None
    try:
        x1, y1, x2, y2 = (float(v) for v in values)
    except ValueError as exc:
        raise LabelError(f"{where}: coordinates must be numbers, got {values}") from exc
    if not all(math.isfinite(v) for v in (x1, y1, x2, y2)) or x2 <= x1 or y2 <= y1:
        raise LabelError(f"{where}: box {values} must be finite with x2 > x1 and y2 > y1")
    return (x1, y1, x2, y2)


def load_labels(root: Path) -> list[Label]:
    """Every ``labels.csv`` (and ``plate_labels.csv``) under ``root``, with plate text from ``*_detail.csv``."""
    labels: list[Label] = []
    for path in sorted([*root.rglob("labels.csv"), *root.rglob("plate_labels.csv")]):
        detail = path.with_name(path.stem + "_detail.csv")
        details: dict[tuple[str, str, str], dict[str, str]] = {}
        if detail.is_file():
            for row in csv.DictReader(detail.open(encoding="utf-8")):
                details[(row["file"], row["class"], row["x1"])] = row
        reader = csv.DictReader(path.open(encoding="utf-8"))
        missing = [c for c in LABEL_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise LabelError(f"{path}: missing column(s) {', '.join(missing)} (expected {','.join(LABEL_COLUMNS)})")
        for line, row in enumerate(reader, start=2):
            box = _label_box(row, f"{path}:{line}")
            if not row["file"] or Path(row["file"]).is_absolute() or ".." in Path(row["file"]).parts:
                raise LabelError(f"{path}:{line}: file {row['file']!r} must be a path inside {root}")
            extra = details.get((row["file"], row["class"], row["x1"]), {})
            labels.append(
                Label(
                    file=row["file"],
                    cls=row["class"],
                    box=box,
                    text=(extra.get("plate_text") or "").replace(" ", "") if extra else None,
                    notes=extra.get("attributes") or "",
                )
            )
    return labels


# Dataset truck classes → the cover state a classifier should give.
TRUCK_COVER_CLASSES: dict[str, str] = {
    "truck_empty_open_bed": "empty",
    "truck_covered_net": "covered",
    "truck_covered_tarp": "covered",
    "truck_loaded_uncovered": "uncovered",
    "truck_cargo_not_visible": "unknown",
}
# A truck an officer rejected a muck-truck ticket on (``nonsite training export``): not an uncovered load.
REVIEW_REJECTED_TRUCK = "review_rejected_muck_truck"
BRAND_WORDS = {"qingju": "qingju", "mobike": "meituan", "meituan": "meituan", "hellobike": "hellobike"}


def expected_attributes(label: Label) -> dict[str, str]:
    """What an attribute classifier should say about a labelled box (empty when the label does not say)."""
    if label.cls in TRUCK_COVER_CLASSES:
        return {"cover": TRUCK_COVER_CLASSES[label.cls]}
    if label.cls == "bicycle_private":
        return {"shared": "False"}
    if label.cls in ("shared_bike_parked", "shared_bike_ridden_probable"):
        notes = label.notes.lower()
        brand = next((b for word, b in BRAND_WORDS.items() if word in notes), None)
        return {"shared": "True", **({"brand": brand} if brand else {})}
    return {}


def by_file(labels: Iterable[Label]) -> dict[str, list[Label]]:
    grouped: dict[str, list[Label]] = defaultdict(list)
    for label in labels:
        grouped[label.file].append(label)
    return dict(grouped)


PLATE_CLASS = "plate (IoU>0.7, exact text)"
UNREADABLE_LABELS = ("unreadable", "illegible")


def is_plate(label: Label) -> bool:
    return label.box is not None and mapped_class(label.cls) == "plate"


def _box(values: Iterable[float]) -> Box:
    x1, y1, x2, y2 = (float(v) for v in values)
    return (x1, y1, x2, y2)


def score_detections(report: Report, rows: list[Label], detections: Detections) -> None:
    """Per-class matching at IoU 0.5 for the classes labelled in this image; image-level facts counted."""
    wanted: dict[str, list[Box]] = defaultdict(list)
    for row in rows:
        if row.box is None:
            kind = row.cls.removeprefix("image:")
            report.image_level[f"{kind}: images"] += 1
            if kind == "no_shared_bike_identified" and "bicycle" in set(detections.label):
                report.image_level[f"{kind}: images with a bicycle detection"] += 1
            continue
        target = mapped_class(row.cls)
        if target is None:
            report.not_scored[row.cls] += 1
        elif target != "plate":
            wanted[target].append(row.box)
    for target, boxes in wanted.items():
        group = sorted(DETECTION_GROUPS.get(target, {target}))
        chosen = detections.select(np.isin(detections.label.astype(str), group))
        found = [(_box(chosen.xyxy[i]), float(chosen.confidence[i])) for i in range(len(chosen))]
        tp, fp, fn = match(boxes, found, 0.5)
        score = report.classes[target]
        score.true_positives += tp
        score.false_positives += fp
        score.false_negatives += fn


def score_plates(report: Report, rows: list[Label], reads: list[tuple[Box, str]]) -> None:
    """The CCPD rule: a plate counts when a read overlaps it at IoU > 0.7 with exactly the right text.

    A label marked unreadable/illegible must not receive a valid-looking read (that would be a guess)."""
    score = report.classes[PLATE_CLASS]
    for row in rows:
        if not is_plate(row) or row.box is None:
            continue
        expected = (row.text or "").replace(" ", "")
        hits = [text for box, text in reads if iou(box, row.box) > 0.7]
        if not expected or expected.startswith(UNREADABLE_LABELS):
            score.false_positives += any(text != UNREADABLE for text in hits)
        elif expected in hits:
            score.true_positives += 1
        else:
            score.false_negatives += 1
            score.false_positives += any(text not in (UNREADABLE, expected) for text in hits)


def score_attributes(report: Report, rows: list[Label], found: Callable[[Label], dict[str, Any]]) -> None:
    """Compare ``found(label)`` (the classifiers on the labelled box) with what the label says."""
    for row in rows:
        expected = expected_attributes(row)
        if not expected:
            continue
        predicted = found(row)
        for key, value in expected.items():
            report.attributes[key].append((value, str(predicted.get(key))))


def summarise(report: Report) -> dict[str, Any]:
    return {
        "classes": {
            name: {
                "precision": s.precision,
                "recall": s.recall,
                "tp": s.true_positives,
                "fp": s.false_positives,
                "fn": s.false_negatives,
            }
            for name, s in report.classes.items()
        },
        "image_level": dict(report.image_level),
        "attributes": {
            key: {
                "correct": sum(e == p for e, p in pairs),
                "total": len(pairs),
                "cases": dict(Counter(f"{e} → {p}" for e, p in pairs)),
            }
            for key, pairs in report.attributes.items()
        },
        "not_scored": dict(report.not_scored),
        "latency_ms": {
            stage: {"median": round(statistics.median(v), 1), "p95": round(float(np.percentile(v, 95)), 1)}
            for stage, v in report.latency_ms.items()
        },
    }


def format_summary(summary: dict[str, Any]) -> str:
    lines = [f"{'class':32} {'precision':>9} {'recall':>7}   tp  fp  fn"]
    for name, row in summary["classes"].items():
        p_text = "-" if row["precision"] is None else f"{row['precision']:.2f}"
        r_text = "-" if row["recall"] is None else f"{row['recall']:.2f}"
        lines.append(f"{name:32} {p_text:>9} {r_text:>7}  {row['tp']:3} {row['fp']:3} {row['fn']:3}")
    lines += [f"image-level  {name}: {count}" for name, count in summary["image_level"].items()]
    lines += [
        f"attribute {key} (on labelled boxes): {row['correct']}/{row['total']} correct; "
        + ", ".join(f"{case} x{n}" for case, n in sorted(row["cases"].items()))
        for key, row in summary["attributes"].items()
    ]
    lines += [f"not scored yet (no detector for it): {name} x{count}" for name, count in summary["not_scored"].items()]
    lines += [
        f"latency {stage}: median {v['median']} ms, p95 {v['p95']} ms" for stage, v in summary["latency_ms"].items()
    ]
    return "\n".join(lines)
