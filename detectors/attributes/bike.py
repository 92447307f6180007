"""Shared-bike attributes from colour: ``shared``, ``brand`` (meituan | hellobike | qingju | other | unknown)
and ``fallen``.

Chinese dockless bikes are painted in their operator's colour: Meituan (ex-Mobike) orange or yellow, Hellobike
blue, DiDi Qingju green. Only vivid pixels count (saturation ≥ 120): bike paint is vivid, while pavement
bricks, tree bark and dull poles are not. What the surroundings already have is subtracted: the vivid share of
each colour family in a ring around the box is taken off the share inside it, so an orange-brick pavement or a
green hedge does not make every bike a Meituan or a Qingju.

A bike lying on the ground is much wider than tall in the image, while an upright bike, even side on, is at most
about 1.8 times as wide as tall; ``fallen`` compares the box's aspect with ``fallen_aspect``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import cv2
import numpy as np
import numpy.typing as npt

from detectors.base import Image


class Brand(StrEnum):
    MEITUAN = "meituan"
    HELLOBIKE = "hellobike"
    QINGJU = "qingju"
    OTHER = "other"  # no operator colour stands out: a private bike
    UNKNOWN = "unknown"  # too small or too dark to tell


BRANDS = tuple(Brand)
# OpenCV hue (0-179) ranges of each operator's paint.
BRAND_HUES: dict[Brand, tuple[int, int]] = {
    Brand.MEITUAN: (5, 33),  # Mobike orange to Meituan yellow
    Brand.QINGJU: (35, 92),  # green to teal
    Brand.HELLOBIKE: (92, 130),  # blue
}
SHARED_BRANDS = frozenset(BRAND_HUES)
VIVID_SATURATION = 120
MIN_VALUE = 60
RING_SHARE = 0.5  # ring width as a share of the box's longer side


@dataclass(frozen=True)
class BikeConfig:
    min_excess: float = 0.005  # brand colour must cover this much more of the box than of its surroundings
    min_side_px: int = 24  # smaller boxes: brand unknown
    min_brightness: float = 35.0  # mean V below this (unlit night): brand unknown
    fallen_aspect: float = 2.0


@dataclass(frozen=True)
class BikeAttributes:
    shared: bool
    brand: Brand
    brand_score: float  # excess vivid share of the brand colour (0-1)
    fallen: bool

    def as_dict(self) -> dict[str, object]:
        return {"shared": self.shared, "brand": self.brand, "brand_score": self.brand_score, "fallen": self.fallen}


def _vivid_shares(hsv: npt.NDArray[np.uint8], mask: npt.NDArray[np.bool_]) -> dict[Brand, float]:
    hue, sat, val = hsv[:, :, 0], hsv[:, :, 1], hsv[:, :, 2]
    vivid = mask & (sat >= VIVID_SATURATION) & (val >= MIN_VALUE)
    area = max(int(mask.sum()), 1)
    return {brand: float((vivid & (hue >= lo) & (hue < hi)).sum()) / area for brand, (lo, hi) in BRAND_HUES.items()}


def colour_excess(image: Image, box: tuple[float, float, float, float]) -> dict[Brand, float]:
    """Per brand colour: vivid share inside the box minus the vivid share in the ring around it."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = max(0, int(box[0])), max(0, int(box[1])), min(w, int(box[2])), min(h, int(box[3]))
    pad = int(RING_SHARE * max(x2 - x1, y2 - y1))
    rx1, ry1, rx2, ry2 = max(0, x1 - pad), max(0, y1 - pad), min(w, x2 + pad), min(h, y2 + pad)
    hsv = np.asarray(cv2.cvtColor(image[ry1:ry2, rx1:rx2], cv2.COLOR_BGR2HSV), dtype=np.uint8)
    inside = np.zeros(hsv.shape[:2], bool)
    inside[y1 - ry1 : y2 - ry1, x1 - rx1 : x2 - rx1] = True
    within, around = _vivid_shares(hsv, inside), _vivid_shares(hsv, ~inside)
    if not (~inside).any():
        around = dict.fromkeys(within, 0.0)
    return {brand: within[brand] - around[brand] for brand in BRAND_HUES}


def is_fallen(box: tuple[float, float, float, float], fallen_aspect: float) -> bool:
    width, height = box[2] - box[0], box[3] - box[1]
    return height > 0 and width / height >= fallen_aspect


def bike_attributes(
    image: Image, box: tuple[float, float, float, float], config: BikeConfig | None = None
) -> BikeAttributes:
    """Brand, shared and fallen for one bicycle box."""
    config = config or BikeConfig()
    fallen = is_fallen(box, config.fallen_aspect)
    x1, y1, x2, y2 = (int(v) for v in box)
    crop = image[max(0, y1) : max(0, y2), max(0, x1) : max(0, x2)]
    if min(crop.shape[:2]) < config.min_side_px or float(crop.max(axis=2).mean()) < config.min_brightness:
        return BikeAttributes(shared=False, brand=Brand.UNKNOWN, brand_score=0.0, fallen=fallen)
    excess = colour_excess(image, box)
    brand = max(excess, key=lambda b: excess[b])
    score = round(max(excess[brand], 0.0), 4)
    if excess[brand] < config.min_excess:
        return BikeAttributes(shared=False, brand=Brand.OTHER, brand_score=score, fallen=fallen)
    return BikeAttributes(shared=brand in SHARED_BRANDS, brand=brand, brand_score=score, fallen=fallen)
