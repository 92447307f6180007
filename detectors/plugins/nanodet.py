"""NanoDet COCO-80 (416x416) on ONNX Runtime: the default offline detector."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from detectors.base import Image, ModelInfo, OneImageAtATime, check_image
from detectors.coco import COCO80
from detectors.config import NanoDetConfig
from detectors.onnx_session import open_session
from detectors.postprocess import finish
from detectors.types import Detections

INPUT_SIZE = 416
STRIDES = (8, 16, 32)
REG_MAX = 10
# NanoDet was trained on BGR input normalised with these statistics (raw 0-255 input gives garbage).
MEAN_BGR = np.array([103.53, 116.28, 123.675], np.float32)
STD_BGR = np.array([57.375, 57.12, 58.395], np.float32)


def _grid_centres(stride: int) -> npt.NDArray[np.float32]:
    cells = INPUT_SIZE // stride
    ys, xs = np.mgrid[0:cells, 0:cells]
    return np.stack([(xs.ravel() + 0.5) * stride, (ys.ravel() + 0.5) * stride], axis=1).astype(np.float32)


class NanoDetDetector(OneImageAtATime):
    """Decodes NanoDet's per-stride score and distance-bin outputs into boxes."""

    def __init__(self, config: NanoDetConfig) -> None:
        self.config = config
        self._session, sha256 = open_session(config.model_path, config.threads)
        self._input = self._session.get_inputs()[0].name
        self.info = ModelInfo(model_id=f"nanodet-coco80-{INPUT_SIZE}", sha256=sha256, labels=COCO80)
        self._centres = {
            cells * cells: (stride, _grid_centres(stride)) for stride in STRIDES for cells in [INPUT_SIZE // stride]
        }
        self._bins = np.arange(REG_MAX + 1, dtype=np.float32)

    def _preprocess(self, image: Image) -> npt.NDArray[np.float32]:
        resized = cv2.resize(image, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_LINEAR).astype(np.float32)
        return ((resized - MEAN_BGR) / STD_BGR).transpose(2, 0, 1)[None]

    def _decode(
        self, outputs: list[npt.NDArray[np.float32]]
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], npt.NDArray[np.int64]]:
        scores: dict[int, npt.NDArray[np.float32]] = {}
        dists: dict[int, npt.NDArray[np.float32]] = {}
        for out in outputs:  # identify outputs by shape, not by name
            points, width = out.shape[1], out.shape[2]
            (scores if width == len(COCO80) else dists)[points] = out[0]
        boxes, best_scores, best_classes = [], [], []
        for points, (stride, centres) in self._centres.items():
            cls_scores = scores[points]
            best = cls_scores.argmax(axis=1)
            top = cls_scores[np.arange(points), best]
            keep = top >= self.config.confidence
            if not keep.any():
                continue
            logits = dists[points][keep].reshape(-1, 4, REG_MAX + 1)
            probs = np.exp(logits - logits.max(axis=2, keepdims=True))
            probs /= probs.sum(axis=2, keepdims=True)
            distance = (probs @ self._bins) * stride  # (k, 4): left, top, right, bottom
            c = centres[keep]
            boxes.append(np.concatenate([c - distance[:, :2], c + distance[:, 2:]], axis=1))
            best_scores.append(top[keep])
            best_classes.append(best[keep])
        if not boxes:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64)
        return np.concatenate(boxes), np.concatenate(best_scores), np.concatenate(best_classes).astype(np.int64)

    def detect(self, image: Image) -> Detections:
        check_image(image)
        h, w = image.shape[:2]
        outputs = self._session.run(None, {self._input: self._preprocess(image)})
        xyxy, scores, classes = self._decode(outputs)
        xyxy = (xyxy * np.array([w, h, w, h], np.float32) / INPUT_SIZE).astype(np.float32)
        return finish(xyxy, scores, classes, COCO80, self.config, (w, h))


def create(config: NanoDetConfig) -> NanoDetDetector:
    return NanoDetDetector(config)
