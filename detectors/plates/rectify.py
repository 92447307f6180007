"""Perspective rectification of a plate from its four corners, and double-row splitting."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from detectors.base import Image

SINGLE_WH = (168, 48)  # 440 x 140 mm plate
DOUBLE_WH = (132, 84)  # 440 x 220 mm double-row plate
DOUBLE_ROW_MAX_ASPECT = 2.3  # a single-row plate is ~3.1 wide per unit height, a double-row one ~2.0
# GA 36 double-row plate (440 x 220 mm): the province + letter row takes the top ~80 mm, the five-character row
# the bottom ~140 mm; a detector trained on single-row plates often boxes only the bottom row, and the top row
# then lies 80 / 140 ≈ 0.6 of that box's height above it.
TOP_ROW_ABOVE_BOTTOM = 0.6


def order_corners(points: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Sort four points into top-left, top-right, bottom-right, bottom-left."""
    pts = np.asarray(points, np.float32).reshape(4, 2)
    s, d = pts.sum(axis=1), np.diff(pts, axis=1).ravel()
    return np.array([pts[s.argmin()], pts[d.argmin()], pts[s.argmax()], pts[d.argmax()]], np.float32)


def aspect(corners: npt.NDArray[np.float32]) -> float:
    tl, tr, br, bl = order_corners(corners)
    width = float(np.linalg.norm(tr - tl) + np.linalg.norm(br - bl)) / 2
    height = float(np.linalg.norm(bl - tl) + np.linalg.norm(br - tr)) / 2
    return width / max(height, 1e-6)


def extend_upwards(corners: npt.NDArray[np.float32], share: float = TOP_ROW_ABOVE_BOTTOM) -> npt.NDArray[np.float32]:
    """The quadrilateral grown upwards along its own sides by ``share`` of its height (perspective kept)."""
    tl, tr, br, bl = order_corners(corners)
    return np.array([tl + (tl - bl) * share, tr + (tr - br) * share, br, bl], np.float32)


def full_extent(
    box: tuple[float, float, float, float], corners: npt.NDArray[np.float32], image_wh: tuple[int, int]
) -> tuple[float, float, float, float]:
    """The plate's whole extent: the detector's box joined with its corners (the box alone hugs the corners),
    within the image."""
    xs, ys = corners[:, 0], corners[:, 1]
    x1, y1, x2, y2 = box
    w, h = image_wh
    return (
        max(0.0, min(x1, float(xs.min()))),
        max(0.0, min(y1, float(ys.min()))),
        min(float(w), max(x2, float(xs.max()))),
        min(float(h), max(y2, float(ys.max()))),
    )


def rectify(image: Image, corners: npt.NDArray[np.float32], size_wh: tuple[int, int]) -> Image:
    """The plate warped to a fronto-parallel ``size_wh`` image."""
    w, h = size_wh
    target = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], np.float32)
    matrix = cv2.getPerspectiveTransform(order_corners(corners), target)
    warped = cv2.warpPerspective(image, matrix, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    return np.asarray(warped, dtype=np.uint8)


def split_double_row(plate: Image) -> tuple[Image, Image]:
    """Top row (province + letter, the narrower third) and bottom row of a rectified double-row plate."""
    h = plate.shape[0]
    cut = round(h * 0.36)
    top = plate[: cut + 2]
    # The top row's two characters sit in the middle half of the plate's width.
    w = plate.shape[1]
    return top[:, int(w * 0.2) : int(w * 0.8)], plate[cut - 2 :]
