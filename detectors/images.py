"""Reading images from disk into the BGR uint8 arrays every detector takes, with bounded memory."""

from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import numpy as np
from PIL import Image as PILImage
from PIL import UnidentifiedImageError

from detectors.base import Image

# 50 megapixels (e.g. 8660 x 5770) decode to 150 MB of BGR; anything larger is refused from its header alone.
MAX_PIXELS = 50_000_000
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp"})


class ImageReadError(ValueError):
    """The file is missing, not an image, or too large to decode; the message says which."""


def read_bgr(path: Path) -> Image:
    """The image as H x W x 3 BGR uint8; raises :class:`ImageReadError` with the reason otherwise."""
    if not path.is_file():
        raise ImageReadError(f"{path}: file not found")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PILImage.DecompressionBombWarning)
            with PILImage.open(path) as probe:  # reads the header only
                width, height = probe.size
    except PILImage.DecompressionBombError as exc:
        raise ImageReadError(f"{path}: {exc}; over the {MAX_PIXELS // 1_000_000} MP limit, downscale it first") from exc
    except (UnidentifiedImageError, OSError, ImportError) as exc:
        # ImportError: once imported, ultralytics patches PIL's opener to try an optional HEIF plugin.
        raise ImageReadError(f"{path}: not a readable image") from exc
    if width * height > MAX_PIXELS:
        raise ImageReadError(
            f"{path}: {width}x{height} is over the {MAX_PIXELS // 1_000_000} MP limit; downscale it first"
        )
    # imdecode, not imread: ultralytics replaces cv2.imread process-wide when it is imported, and bytes read
    # by numpy also handle non-ASCII (Chinese) paths.
    image = cv2.imdecode(np.fromfile(path, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None or image.dtype != np.uint8:
        raise ImageReadError(f"{path}: not a readable image (corrupt data)")
    return np.asarray(image, dtype=np.uint8)


def expand_image_args(paths: list[Path]) -> list[Path]:
    """Files as given; folders replaced by the images they hold (sorted). An empty folder is an error."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            images = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not images:
                raise ImageReadError(f"{path}: folder holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
            out += images
        else:
            out.append(path)
    return out
