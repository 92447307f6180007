"""New static foreground inside no-vending zones: goods, carts and tarpaulins that COCO has no class for.

Two running-average backgrounds (``cv2.accumulateWeighted``) watch a downscaled, blurred copy of each frame: a
long-term one with time constant ``background_s`` and a short-term one with ``settle_s``. Where the short-term
background has absorbed something that the long-term one has not, and the frame matches the short-term
background (nothing is moving there), something arrived and then stopped moving (the dual-background method;
Frigate's stationary-object handling follows the same idea with tracks).
A blob of such pixels that stays static for ``min_static_s`` becomes a detection labelled ``static_object``,
which the tracker and the stall rule then treat like any other object.

Objects already present when the camera starts are part of the background: only new ones are found. Blobs that
lie mostly inside a detected vehicle (a parked car is static too) are dropped.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import numpy.typing as npt

from detectors.base import Image
from detectors.types import Detections
from pipeline.config import StaticForegroundConfig

STATIC_LABEL = "static_object"
STATIC_CLASS_ID = -1
VEHICLES = frozenset({"car", "bus", "truck", "motorcycle", "bicycle", "train"})


class StaticForeground:
    """``update(image, pts_s, detections)`` → the static-foreground blobs of this frame, as Detections."""

    def __init__(self, config: StaticForegroundConfig, zones: list[list[tuple[float, float]]]) -> None:
        if not zones:
            raise ValueError("static foreground needs at least one zone polygon")
        self.config = config
        self.zones = zones
        self._warmup: list[npt.NDArray[np.uint8]] = []
        self._warmup_until: float | None = None
        self._long: npt.NDArray[np.float32] | None = None
        self._short: npt.NDArray[np.float32] | None = None
        self._last_pts = 0.0
        self.window = (0, 0, 0, 0)

    def _set_up(self, frame_wh: tuple[int, int]) -> None:
        """Only the zones' bounding rectangle is watched: cheaper, and changes elsewhere do not matter."""
        corners = np.concatenate([np.array(p, np.float64) for p in self.zones])
        width, height = frame_wh
        x1, y1 = (max(0, int(v)) for v in corners.min(axis=0))
        x2, y2 = int(min(width, math.ceil(corners[:, 0].max()))), int(min(height, math.ceil(corners[:, 1].max())))
        if x2 - x1 < 2 or y2 - y1 < 2:
            raise ValueError(f"the no_vending zones lie outside the {width}x{height} frame")
        self.window = (x1, y1, x2, y2)
        self.scale = min(1.0, self.config.work_width_px / (x2 - x1))
        self.size = (max(1, round((x2 - x1) * self.scale)), max(1, round((y2 - y1) * self.scale)))
        self.mask = np.zeros((self.size[1], self.size[0]), np.uint8)
        for polygon in self.zones:
            points = (np.array(polygon, np.float64) - np.array([x1, y1])) * self.scale
            cv2.fillPoly(self.mask, [np.round(points).astype(np.int32)], 255)
        self._static_since = np.full((self.size[1], self.size[0]), np.inf, np.float64)

    def update(self, image: Image, pts_s: float, detections: Detections | None = None) -> Detections:
        if self.window == (0, 0, 0, 0):
            self._set_up((image.shape[1], image.shape[0]))
        x1, y1, x2, y2 = self.window
        resized = cv2.resize(image[y1:y2, x1:x2], self.size, interpolation=cv2.INTER_AREA)
        small = np.asarray(cv2.GaussianBlur(resized, (5, 5), 0), dtype=np.uint8)
        if self._long is None or self._short is None:
            self._learn_background(small, pts_s)
            return Detections.empty()
        dt = max(pts_s - self._last_pts, 1e-3)
        self._last_pts = pts_s
        frame = small.astype(np.float32)
        cv2.accumulateWeighted(frame, self._short, 1.0 - math.exp(-dt / self.config.settle_s))
        cv2.accumulateWeighted(frame, self._long, 1.0 - math.exp(-dt / self.config.background_s))
        threshold = self.config.difference_threshold
        moving = _changed(frame, self._short, threshold)
        new = _changed(self._short, self._long, threshold)
        candidates = (new & ~moving & (self.mask > 0)).astype(np.uint8)
        static = cv2.morphologyEx(candidates, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)) > 0
        self._static_since = np.where(static, np.minimum(self._static_since, pts_s), np.inf)
        settled = (pts_s - self._static_since >= self.config.min_static_s).astype(np.uint8)
        settled = np.asarray(cv2.morphologyEx(settled, cv2.MORPH_CLOSE, np.ones((7, 7), np.uint8)), dtype=np.uint8)
        return self._blobs(settled, detections)

    def _learn_background(self, small: npt.NDArray[np.uint8], pts_s: float) -> None:
        """Warm-up: the background is the per-pixel median of the first ``warmup_s``, so people walking
        through the first frame do not leave ghosts in it."""
        if self._warmup_until is None:
            self._warmup_until = pts_s + self.config.warmup_s
        self._warmup.append(small)
        if pts_s >= self._warmup_until:
            median = np.median(np.stack(self._warmup), axis=0).astype(np.float32)
            self._long, self._short = median, median.copy()
            self._warmup.clear()
            self._last_pts = pts_s

    def _blobs(self, settled: npt.NDArray[np.uint8], detections: Detections | None) -> Detections:
        count, _, stats, _ = cv2.connectedComponentsWithStats(settled, connectivity=8)
        min_area = self.config.min_area_px * self.scale * self.scale
        ox, oy = self.window[:2]
        boxes = [
            np.array([x, y, x + w, y + h], np.float32) / self.scale + np.array([ox, oy, ox, oy], np.float32)
            for x, y, w, h, area in stats[1:count]
            if area >= min_area
        ]
        if detections is not None and len(detections):
            vehicles = detections.xyxy[np.isin(detections.label, list(VEHICLES))]
            boxes = [b for b in boxes if not any(_share_inside(b, v) >= 0.5 for v in vehicles)]
        if not boxes:
            return Detections.empty()
        return Detections(
            xyxy=np.stack(boxes).astype(np.float32),
            confidence=np.full(len(boxes), self.config.confidence, np.float32),
            class_id=np.full(len(boxes), STATIC_CLASS_ID, np.int64),
            label=np.array([STATIC_LABEL] * len(boxes), dtype=object),
            attributes=tuple({"source": "static_foreground"} for _ in boxes),
        )


ONES_3 = np.ones((1, 3), np.float32)


def _changed(a: npt.NDArray[np.float32], b: npt.NDArray[np.float32], threshold: float) -> npt.NDArray[np.bool_]:
    """Pixels where any colour channel differs by more than ``threshold`` (the same as
    ``np.abs(a - b).max(axis=2) > threshold``, in OpenCV: a fifth of the time, which mattered at many cameras)."""
    over = cv2.threshold(cv2.absdiff(a, b), threshold, 1.0, cv2.THRESH_BINARY)[1]
    return np.asarray(cv2.transform(over, ONES_3) > 0)


def _share_inside(box: npt.NDArray[np.float32], other: npt.NDArray[np.float32]) -> float:
    """Share of ``box``'s area that lies inside ``other``."""
    w = max(0.0, float(min(box[2], other[2]) - max(box[0], other[0])))
    h = max(0.0, float(min(box[3], other[3]) - max(box[1], other[1])))
    area = float((box[2] - box[0]) * (box[3] - box[1]))
    return w * h / area if area > 0 else 0.0
