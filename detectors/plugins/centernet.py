"""MobileNetV3-CenterNet COCO-80 (512x512) on ONNX Runtime; decoding (top-100 peaks) happens in the graph."""

from __future__ import annotations

import cv2
import numpy as np

from detectors.base import Image, ModelInfo, OneImageAtATime, check_image
from detectors.coco import COCO80
from detectors.config import CenterNetConfig
from detectors.onnx_session import open_session
from detectors.postprocess import finish
from detectors.types import Detections

INPUT_SIZE = 512
OUTPUT = "tower_0/detections"  # [1, 100, 6]: x1, y1, x2, y2, score, class in input pixels


class CenterNetDetector(OneImageAtATime):
    def __init__(self, config: CenterNetConfig) -> None:
        self.config = config
        self._session, sha256 = open_session(config.model_path, config.threads)
        self._input = self._session.get_inputs()[0].name
        self.info = ModelInfo(model_id=f"centernet-mbv3-coco80-{INPUT_SIZE}", sha256=sha256, labels=COCO80)

    def detect(self, image: Image) -> Detections:
        check_image(image)
        h, w = image.shape[:2]
        rgb = cv2.cvtColor(cv2.resize(image, (INPUT_SIZE, INPUT_SIZE)), cv2.COLOR_BGR2RGB).astype(np.float32)
        rows = self._session.run([OUTPUT], {self._input: rgb[None]})[0][0]
        xyxy = rows[:, :4] * np.array([w, h, w, h], np.float32) / INPUT_SIZE
        # Peaks are already max-pooled in the graph; NMS still merges the odd double peak on large objects.
        return finish(xyxy, rows[:, 4].astype(np.float32), rows[:, 5].astype(np.int64), COCO80, self.config, (w, h))


def create(config: CenterNetConfig) -> CenterNetDetector:
    return CenterNetDetector(config)
