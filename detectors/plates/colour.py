"""Plate background colour from HSV statistics of the rectified plate."""

from __future__ import annotations

from enum import StrEnum

import cv2
import numpy as np

from detectors.base import Image


class PlateColour(StrEnum):
    BLUE = "blue"  # small cars
    GREEN = "green"  # new-energy cars (gradient) and agricultural vehicles (dark green)
    YELLOW = "yellow"  # large vehicles: muck trucks, buses, coaches
    YELLOW_GREEN = "yellow_green"  # large new-energy vehicles
    WHITE = "white"  # police, military
    BLACK = "black"  # foreign-owned, Hong Kong/Macau


COLOURS = tuple(PlateColour)


def plate_colour(plate: Image) -> PlateColour:
    """The dominant background colour; new-energy plates (green gradient) and yellow-green ones included."""
    hsv = cv2.cvtColor(plate, cv2.COLOR_BGR2HSV)
    h, w = hsv.shape[:2]
    inner = hsv[int(h * 0.1) : int(h * 0.9), int(w * 0.05) : int(w * 0.95)].reshape(-1, 3).astype(np.float32)
    hue, sat, val = inner[:, 0], inner[:, 1], inner[:, 2]
    # Dark green agricultural plates have V around 55: keep V low, saturation separates them from black plates.
    coloured = (sat > 70) & (val > 35)
    if coloured.mean() < 0.25:
        return PlateColour.BLACK if np.median(val) < 90 else PlateColour.WHITE
    hues = hue[coloured]
    share = {
        "yellow": float(np.mean((hues >= 15) & (hues < 35))),
        "green": float(np.mean((hues >= 35) & (hues < 90))),
        "blue": float(np.mean((hues >= 95) & (hues < 130))),
    }
    if share["yellow"] > 0.2 and share["green"] > 0.2:
        return PlateColour.YELLOW_GREEN
    return PlateColour(max(share, key=lambda k: share[k]))
