"""Perspective rectification of a plate from its four corners, and double-row splitting."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from detectors.base import Image

SINGLE_WH = (168, 48)  # 440 x 140 mm plate
DOUBLE_WH = (132, 84)  # 440 x 220 mm double-row plate
DOUBLE_ROW_MAX_ASPECT = 2.3  # a single-row plate is ~3.1 wide per unit height, a double-row one ~2.0


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
