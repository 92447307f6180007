"""Plate background colour from HSV statistics of the rectified plate."""

from __future__ import annotations

import cv2
import numpy as np

from detectors.base import Image

COLOURS = ("blue", "green", "yellow", "yellow_green", "white", "black")


def plate_colour(plate: Image) -> str:
    """The dominant background colour; new-energy plates (green gradient) and yellow-green ones included."""
    hsv = cv2.cvtColor(plate, cv2.COLOR_BGR2HSV)
    h, w = hsv.shape[:2]
    inner = hsv[int(h * 0.1) : int(h * 0.9), int(w * 0.05) : int(w * 0.95)].reshape(-1, 3).astype(np.float32)
    hue, sat, val = inner[:, 0], inner[:, 1], inner[:, 2]
    # Dark green agricultural plates have V around 55: keep V low, saturation separates them from black plates.
    coloured = (sat > 70) & (val > 35)
    if coloured.mean() < 0.25:
        return "black" if np.median(val) < 90 else "white"
    hues = hue[coloured]
    share = {
        "yellow": float(np.mean((hues >= 15) & (hues < 35))),
        "green": float(np.mean((hues >= 35) & (hues < 90))),
        "blue": float(np.mean((hues >= 95) & (hues < 130))),
    }
    if share["yellow"] > 0.2 and share["green"] > 0.2:
        return "yellow_green"
    return max(share, key=lambda k: share[k])
