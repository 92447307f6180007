"""Reading images from disk into the BGR uint8 arrays every detector takes."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from detectors.base import Image


def read_bgr(path: Path) -> Image | None:
    """The image as H x W x 3 BGR uint8, or None when the file is not a readable image."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None or image.dtype != np.uint8:
        return None
    return np.asarray(image, dtype=np.uint8)
