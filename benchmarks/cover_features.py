"""Truck cover features compared leave-one-image-out: the shipped colour/texture statistics, YOLO backbone
features, and both.

Usage: ``python benchmarks/cover_features.py [--data ../shared/data] [--yolo ../shared/models/yolo11n_640.onnx]``

Backbone features: the YOLO export's own backbone (COCO-pretrained, cut at the stride-16 and stride-32 blocks
``/model.6`` and ``/model.9``, with ``onnx.utils.Extractor``) run on the bed crop at 160×160, each map averaged
over space (128 + 256 values). Every feature set gets the same augmented samples (``train_truck_cover.samples``),
the same standardise + logistic regression, and is scored the same way: for each labelled truck a head trained
on the other trucks predicts its state (the most probable class; no "unknown" thresholds), so the columns
compare features, not thresholds.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort
from onnx.utils import Extractor

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "models"))

import train_truck_cover as trainer  # noqa: E402 - after the path set-up above

from detectors.attributes.truck_cover import cover_features  # noqa: E402
from pipeline.evaluation import TRUCK_COVER_CLASSES  # noqa: E402

BACKBONE_OUTPUTS = ["/model.6/cv2/act/Mul_output_0", "/model.9/cv2/act/Mul_output_0"]
CROP = 160


def backbone(yolo: Path) -> ort.InferenceSession:
    """The export's backbone alone, with a free input size (it is convolutions up to /model.9)."""
    try:
        model = Extractor(onnx.load(str(yolo))).extract_model(["images"], BACKBONE_OUTPUTS)
    except Exception as exc:  # onnx raises plain errors for a missing file or tensor names it does not have
        raise SystemExit(f"{yolo}: not a YOLO11-style export with {BACKBONE_OUTPUTS} ({exc})") from exc
    for axis in (2, 3):
        model.graph.input[0].type.tensor_type.shape.dim[axis].dim_param = "side"
    for output in model.graph.output:
        output.type.tensor_type.ClearField("shape")
    del model.graph.value_info[:]
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--yolo", type=Path, default=REPO.parent / "shared" / "models" / "yolo11n_640.onnx")
    args = parser.parse_args()
    session = backbone(args.yolo)

    def yolo_features(bed: np.ndarray) -> np.ndarray:
        blob = cv2.resize(bed, (CROP, CROP), interpolation=cv2.INTER_AREA)[:, :, ::-1].transpose(2, 0, 1)
        maps = session.run(None, {"images": np.ascontiguousarray(blob[None], np.float32) / 255.0})
        return np.concatenate([m.mean(axis=(2, 3))[0] for m in maps])

    def both(bed: np.ndarray) -> np.ndarray:
        return np.concatenate([cover_features(bed), yolo_features(bed)])

    examples = trainer.load_examples([args.data], TRUCK_COVER_CLASSES)
    states = [state for *_, state in examples]
    print(f"{len(examples)} labelled trucks; leave-one-image-out, most probable state:")
    results = {}
    for name, features in (("colour/texture", cover_features), ("YOLO backbone", yolo_features), ("both", both)):
        rng = np.random.default_rng(trainer.SEED)
        per_image = [np.array(trainer.samples(image, box, rng, features)) for _, image, box, _ in examples]
        predicted = []
        for i in range(len(examples)):
            train_x = np.vstack([x for j, x in enumerate(per_image) if j != i])
            train_y = [states[j] for j, x in enumerate(per_image) if j != i for _ in range(len(x))]
            model = trainer.fit(train_x, train_y)
            predicted.append(str(model.predict(per_image[i][:1])[0]))
        results[name] = predicted
    print(f"  {'truck':28s} {'truth':10s} " + " ".join(f"{name:15s}" for name in results))
    for i, (file, *_rest) in enumerate(examples):
        print(f"  {Path(file).name:28s} {states[i]:10s} " + " ".join(f"{p[i]:15s}" for p in results.values()))
    for name, predicted in results.items():
        right = sum(p == t for p, t in zip(predicted, states, strict=True))
        alarms = sum(p == "uncovered" and t != "uncovered" for p, t in zip(predicted, states, strict=True))
        print(f"{name:15s} {right}/{len(states)} right, {alarms} wrong 'uncovered'")


if __name__ == "__main__":
    main()
