"""Ultralytics YOLO adapter: turns its results into our Detections and does nothing else."""

from __future__ import annotations

from typing import Any

import numpy as np

from detectors.base import (
    DetectorError,
    Image,
    ModelFileMissing,
    ModelInfo,
    OneImageAtATime,
    check_image,
    file_sha256,
)
from detectors.config import UltralyticsConfig
from detectors.postprocess import finish
from detectors.types import Detections

WEIGHT_SUFFIXES = (".pt", ".onnx", ".engine", ".torchscript", ".tflite")
HINT = "ultralytics weights are never downloaded here: put your .pt / .onnx / OpenVINO export at this path"


class UltralyticsDetector(OneImageAtATime):
    def __init__(self, config: UltralyticsConfig) -> None:
        self.config = config
        weights = config.weights
        if not weights.exists():  # checked first: ultralytics would otherwise try to download a known name
            raise ModelFileMissing(weights, HINT)
        if weights.is_dir() and not any(weights.glob("*.xml")):
            raise DetectorError(f"{weights} is a folder without an OpenVINO export (*.xml + *.bin): {HINT}")
        if weights.is_file() and weights.suffix.lower() not in WEIGHT_SUFFIXES:
            raise DetectorError(f"{weights} is not YOLO weights ({', '.join(WEIGHT_SUFFIXES)} expected): {HINT}")
        try:
            from ultralytics.models import YOLO
        except ImportError as exc:
            raise DetectorError("the ultralytics backend needs the extra: pip install 'nonsite[ultralytics]'") from exc
        try:
            self._model: Any = YOLO(str(weights), task="detect")
        except Exception as exc:  # ultralytics raises many unrelated types for unreadable weights
            raise DetectorError(
                f"cannot load {weights} as ultralytics YOLO weights ({type(exc).__name__}: {exc}); is it a YOLO "
                "detection model saved by ultralytics?"
            ) from exc
        names = self._model.names
        labels = tuple(names[i] for i in sorted(names)) if isinstance(names, dict) else tuple(names)
        digest = file_sha256(weights) if weights.is_file() else file_sha256(next(weights.glob("*.bin")))
        self.info = ModelInfo(model_id=f"ultralytics-{weights.stem}", sha256=digest, labels=labels)

    def detect(self, image: Image) -> Detections:
        check_image(image)
        h, w = image.shape[:2]
        result = self._model.predict(
            image,
            conf=self.config.confidence,
            iou=self.config.nms_iou,
            imgsz=self.config.imgsz,
            device=self.config.device,
            verbose=False,
        )[0]
        boxes = result.boxes
        xyxy = boxes.xyxy.cpu().numpy().astype(np.float32)
        scores = boxes.conf.cpu().numpy().astype(np.float32)
        classes = boxes.cls.cpu().numpy().astype(np.int64)
        return finish(xyxy, scores, classes, self.info.labels, self.config, (w, h), run_nms=False)


def create(config: UltralyticsConfig) -> UltralyticsDetector:
    return UltralyticsDetector(config)
