"""Still images for a violation: original key frame, annotated copy, object crop (JPEG)."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]
JPEG_QUALITY = 92


def encode_jpeg(image: Image) -> bytes:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise ValueError(f"cannot JPEG-encode image of shape {image.shape}")
    return buf.tobytes()


def annotate(
    image: Image, box: tuple[float, float, float, float], caption: str, polygon: list[tuple[float, float]] | None = None
) -> Image:
    """A copy with the zone outline, the object's box and an ASCII caption drawn on it."""
    out = image.copy()
    thickness = max(2, image.shape[0] // 360)
    if polygon:
        pts = np.array(polygon, np.int32).reshape(-1, 1, 2)
        cv2.polylines(out, [pts], isClosed=True, color=(0, 200, 255), thickness=thickness)
    x1, y1, x2, y2 = (round(v) for v in box)
    cv2.rectangle(out, (x1, y1), (x2, y2), (0, 0, 255), thickness)
    scale = image.shape[0] / 1080
    cv2.putText(
        out,
        caption,
        (x1, max(20, y1 - 8)),
        cv2.FONT_HERSHEY_SIMPLEX,
        0.8 * max(scale, 0.5),
        (0, 0, 255),
        max(1, thickness // 2),
        cv2.LINE_AA,
    )
    return out


def crop(image: Image, box: tuple[float, float, float, float], margin: float = 0.15) -> Image:
    """The object with a margin around it, clipped to the image."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = box
    mx, my = (x2 - x1) * margin, (y2 - y1) * margin
    left, top = max(0, int(x1 - mx)), max(0, int(y1 - my))
    right, bottom = min(w, int(x2 + mx) + 1), min(h, int(y2 + my) + 1)
    if right <= left or bottom <= top:
        raise ValueError(f"box {box} lies outside the {w}x{h} image")
    return image[top:bottom, left:right].copy()
