"""Train the truck cover head (detectors/attributes/truck_cover.json) from labelled truck boxes.

Usage: ``python models/train_truck_cover.py [--data ../shared/data] [--data EXPORT …] [--out HEAD.json]``
(default output: ``detectors/attributes/truck_cover.json``)

``--data`` may be given several times: the development data, and folders written by ``nonsite training export``
(officers' decisions: confirmed muck-truck tickets are uncovered loads; rejected ones are trucks an officer saw
no violation on, so the head is scored on how many of them it would call "uncovered" — the costly error).

Method (see the model card in models/README.md): colour and texture statistics of the bed region
(``detectors.attributes.truck_cover.cover_features``) → standardise → multinomial logistic regression with
strong L2 regularisation and balanced class weights. Each labelled box gives several training samples:
the box jittered by ±5 %, mirrored, re-lit (gamma 0.45-1.6) and, for half the copies, turned into a night
frame (gamma 2.2, colour shift, sensor noise), so that day versus night does not separate the classes.
Leave-one-image-out accuracy and a day/night consistency check are printed and stored in the output.

Needs scikit-learn (``pip install -e '.[train]'``); the result is applied with numpy only.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import astuple
from pathlib import Path

import cv2
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from detectors.attributes.truck_cover import (  # noqa: E402 - after the path set-up above
    DEFAULT_HEAD_PATH,
    FEATURE_NAMES,
    FEATURE_VERSION,
    CoverClassifier,
    CoverHead,
    bed_region,
    cover_features,
)
from detectors.images import read_bgr  # noqa: E402
from pipeline.evaluation import REVIEW_REJECTED_TRUCK, TRUCK_COVER_CLASSES, load_labels  # noqa: E402

SAMPLES_PER_BOX = 12
MIN_CONFIDENCE = 0.5  # below this the classifier answers "unknown"
MIN_CONFIDENCE_UNCOVERED = 0.7  # "uncovered" raises an alarm: it needs more certainty
RANGE_MARGIN = 0.5  # features beyond the training range by this share of it → "unknown"
C_REGULARISATION = 0.05
SEED = 20261123

Box = tuple[float, float, float, float]


def gamma(image: np.ndarray, value: float) -> np.ndarray:
    table = (255.0 * (np.arange(256) / 255.0) ** value).clip(0, 255).astype(np.uint8)
    return cv2.LUT(image, table)


def night_version(image: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
    """A day frame made to look like night: much darker, colour-shifted and with sensor noise."""
    rng = rng or np.random.default_rng(SEED)
    dark = gamma(image, 2.2).astype(np.float32) * np.array([1.1, 0.9, 0.8], np.float32)
    return (dark + rng.normal(0.0, 4.0, dark.shape)).clip(0, 255).astype(np.uint8)


def samples(
    image: np.ndarray, box: Box, rng: np.random.Generator, features: Callable[[np.ndarray], np.ndarray] = cover_features
) -> list[np.ndarray]:
    """Feature vectors (``features`` of the bed crop): the box as labelled, then jittered, mirrored and re-lit
    copies."""
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    out = []
    for k in range(SAMPLES_PER_BOX):
        jitter = rng.uniform(-0.05, 0.05, 4) * np.array([w, h, w, h]) if k else np.zeros(4)
        jx1, jy1, jx2, jy2 = (float(v) for v in np.array(box) + jitter)
        bed = bed_region(image, (jx1, jy1, jx2, jy2))
        if bed is None:
            continue
        if k:  # half the copies re-lit, half turned into night frames (every class gets both)
            bed = gamma(bed, float(rng.uniform(0.45, 1.6))) if k % 2 else night_version(bed, rng)
            if rng.random() < 0.5:
                bed = np.ascontiguousarray(bed[:, ::-1])
        out.append(features(bed))
    return out


def fit(features: np.ndarray, states: list[str]) -> Pipeline:
    model = make_pipeline(
        StandardScaler(), LogisticRegression(C=C_REGULARISATION, max_iter=5000, class_weight="balanced")
    )
    model.fit(features, states)
    return model


def to_head(model: Pipeline, features: np.ndarray) -> CoverHead:
    """The fitted pipeline as the numpy-only head the classifier uses."""
    scaler, logistic = model.named_steps["standardscaler"], model.named_steps["logisticregression"]
    return CoverHead(
        classes=tuple(str(c) for c in logistic.classes_),
        mean=scaler.mean_.round(8),
        scale=scaler.scale_.round(8),
        coef=logistic.coef_.round(8),
        intercept=logistic.intercept_.round(8),
        min_confidence=MIN_CONFIDENCE,
        min_confidence_uncovered=MIN_CONFIDENCE_UNCOVERED,
        feature_min=features.min(axis=0).round(8),
        feature_max=features.max(axis=0).round(8),
        range_margin=RANGE_MARGIN,
    )


def load_examples(roots: list[Path], classes: dict[str, str]) -> list[tuple[str, np.ndarray, Box, str]]:
    """(file, image, box, state) for every label of ``classes`` (dataset class → cover state) under ``roots``."""
    return [
        (label.file, read_bgr(root / label.file), label.box, classes[label.cls])
        for root in roots
        for label in load_labels(root)
        if label.cls in classes and label.box is not None
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data", type=Path, action="append", help="labelled data root; repeatable (default ../shared/data)"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_HEAD_PATH, help="where to write the head (JSON)")
    args = parser.parse_args(argv)
    roots: list[Path] = args.data or [REPO_ROOT.parent / "shared" / "data"]
    examples = load_examples(roots, TRUCK_COVER_CLASSES)
    if not examples:
        raise SystemExit(f"no labelled trucks ({', '.join(TRUCK_COVER_CLASSES)}) under {', '.join(map(str, roots))}")
    rejected = load_examples(roots, {REVIEW_REJECTED_TRUCK: "not uncovered"})
    rng = np.random.default_rng(SEED)
    per_image = [np.array(samples(image, box, rng)) for _, image, box, _ in examples]
    states = [state for *_, state in examples]

    print(f"{len(examples)} labelled trucks: {dict(Counter(states))}")
    print("leave-one-image-out (the head never saw the image it is asked about):")
    loo: list[dict[str, object]] = []
    for i, (file, image, box, truth) in enumerate(examples):
        train_x = np.vstack([x for j, x in enumerate(per_image) if j != i])
        train_y = [s for j, x in enumerate(per_image) if j != i for s in [states[j]] * len(x)]
        classifier = CoverClassifier(to_head(fit(train_x, train_y), train_x))
        state, confidence = astuple(classifier.classify(image, box))
        bed = bed_region(image, box)
        assert bed is not None
        night = image.copy()
        x1, y1 = max(0, int(box[0])), max(0, int(box[1]))
        night[y1 : y1 + bed.shape[0], x1 : x1 + bed.shape[1]] = night_version(bed)
        night_state = classifier.classify(night, box).state
        loo.append({"file": file, "truth": truth, "predicted": state, "confidence": round(confidence, 3),
                    "predicted_if_night": night_state})  # fmt: skip
        print(f"  {Path(file).name}: truth {truth:9s} → {state:9s} ({confidence:.2f}); as night → {night_state}")
    correct = sum(r["truth"] == r["predicted"] for r in loo)
    wrong_alarms = sum(r["predicted"] == "uncovered" and r["truth"] != "uncovered" for r in loo)
    night_same = sum(r["predicted"] == r["predicted_if_night"] for r in loo)
    print(
        f"accuracy {correct}/{len(loo)}; false 'uncovered' {wrong_alarms}; same answer at night {night_same}/{len(loo)}"
    )

    all_x = np.vstack(per_image)
    head = to_head(fit(all_x, [s for x, st in zip(per_image, states, strict=True) for s in [st] * len(x)]), all_x)
    final = CoverClassifier(head)
    false_alarms = sum(final.classify(image, box).state == "uncovered" for _, image, box, _ in rejected)
    if rejected:
        print(f"trucks officers rejected: {len(rejected)}; this head would call {false_alarms} of them 'uncovered'")
    record = {
        "comment": "Truck cover head. Produced by models/train_truck_cover.py; model card in models/README.md.",
        "feature_version": FEATURE_VERSION,
        "features": list(FEATURE_NAMES),
        "classes": list(head.classes),
        **{k: getattr(head, k).tolist() for k in ("mean", "scale", "coef", "intercept", "feature_min", "feature_max")},
        "min_confidence": head.min_confidence,
        "min_confidence_uncovered": head.min_confidence_uncovered,
        "range_margin": head.range_margin,
        "training": {
            "images": sorted({file for file, *_ in examples}),
            "samples_per_box": SAMPLES_PER_BOX,
            "seed": SEED,
            "review_rejected": {"total": len(rejected), "called_uncovered": false_alarms},
            "leave_one_image_out": {
                "correct": correct,
                "total": len(loo),
                "false_uncovered": wrong_alarms,
                "same_answer_as_night": night_same,
                "cases": loo,
            },
        },
    }
    args.out.write_text(json.dumps(record, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
