"""Truck cover state (covered / uncovered / empty / unknown) from colour and texture statistics of the bed.

The bed is taken as the top band of the truck box: road and checkpoint cameras that watch for muck trucks look
down on them, so the load shows above the cab (front view) or fills the upper part of the box (rear view).
Features are computed after CLAHE on the lightness channel, and the head was trained with strong gamma
changes, so that day versus night is not what separates the classes (see models/README.md).

The head is a logistic regression trained by ``models/train_truck_cover.py``; it is stored as plain numbers in
``detectors/attributes/truck_cover.json`` (package data, so installed copies have it) and applied with numpy.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from detectors.base import DetectorError, Image
from detectors.paths import models_dir


class CoverState(StrEnum):
    COVERED = "covered"  # net or tarp over the load
    UNCOVERED = "uncovered"  # loaded, nothing over it: the violation
    EMPTY = "empty"
    UNKNOWN = "unknown"  # too small, unlike the training data, or the head is unsure


COVER_STATES = tuple(CoverState)
FEATURE_VERSION = 1
FEATURE_NAMES = (
    "green_share",  # dust nets are green
    "earth_share",  # soil, sand, coal dust: low-saturation warm hues
    "saturation_mean",
    "edge_density",
    "local_contrast",  # fine texture (granular loads) relative to overall contrast
    "laplacian_energy",
    "gradient_0",  # gradient orientation histogram (bed boards and rails give strong straight edges)
    "gradient_45",
    "gradient_90",
    "gradient_135",
)
DEFAULT_HEAD_PATH = Path(__file__).resolve().with_name("truck_cover.json")
HEAD_MODEL_ID = f"truck-cover-logreg-v{FEATURE_VERSION}"
BED_TOP_SHARE = 0.35
MIN_BED_PX = 24
FEATURE_SIZE = 128
FloatVector = npt.NDArray[np.float64]


def bed_region(image: Image, box: tuple[float, float, float, float], top_share: float = BED_TOP_SHARE) -> Image | None:
    """The top ``top_share`` of the truck box, or None when it is too small to judge."""
    h, w = image.shape[:2]
    x1, y1 = max(0, int(box[0])), max(0, int(box[1]))
    x2, y2 = min(w, int(box[2])), min(h, int(box[3]))
    bottom = y1 + int((y2 - y1) * top_share)
    if x2 - x1 < MIN_BED_PX or bottom - y1 < MIN_BED_PX:
        return None
    return image[y1:bottom, x1:x2]


def normalise_light(crop: Image) -> Image:
    """Equalise lightness locally (CLAHE on L of Lab) so dark night frames look like day frames to the features."""
    lab = cv2.cvtColor(cv2.resize(crop, (FEATURE_SIZE, FEATURE_SIZE), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2LAB)
    lab[:, :, 0] = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(4, 4)).apply(lab[:, :, 0])
    return np.asarray(cv2.cvtColor(lab, cv2.COLOR_LAB2BGR), dtype=np.uint8)


def cover_features(bed: Image) -> FloatVector:
    """The ``FEATURE_NAMES`` vector for one bed crop."""
    bgr = normalise_light(bed)
    hsv = cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV)
    hue, sat = hsv[:, :, 0], hsv[:, :, 1].astype(np.float32)
    green = float(((hue >= 35) & (hue <= 90) & (sat > 70)).mean())
    earth = float(((hue < 25) & (sat > 40) & (sat < 160)).mean())
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    spread = float(gray.std()) + 1.0
    edges = float(cv2.Canny(gray, 60, 160).mean() / 255.0)
    grayf = gray.astype(np.float32)
    local = float(np.abs(grayf - cv2.GaussianBlur(grayf, (0, 0), 3)).mean()) / spread
    laplacian = float(np.abs(cv2.Laplacian(grayf, cv2.CV_32F)).mean()) / spread
    gx, gy = cv2.Sobel(grayf, cv2.CV_32F, 1, 0), cv2.Sobel(grayf, cv2.CV_32F, 0, 1)
    hist, _ = np.histogram(np.mod(np.arctan2(gy, gx), np.pi), bins=4, range=(0, np.pi), weights=np.hypot(gx, gy))
    hist = hist / (hist.sum() + 1e-6)
    return np.array([green, earth, float(sat.mean()) / 255.0, edges, local, laplacian, *hist], np.float64)


@dataclass(frozen=True)
class CoverResult:
    state: CoverState
    confidence: float


@dataclass(frozen=True)
class CoverHead:
    """Standardise, then multinomial logistic regression; ``classes`` in the order of ``coef`` rows."""

    classes: tuple[str, ...]
    mean: FloatVector
    scale: FloatVector
    coef: FloatVector
    intercept: FloatVector
    min_confidence: float
    min_confidence_uncovered: float  # an "uncovered" answer raises an alarm: it needs more certainty
    feature_min: FloatVector
    feature_max: FloatVector
    range_margin: float  # features this far (share of the training range) outside it: not a truck bed we know
    sha256: str = ""  # of the JSON file it was loaded from (recorded on every violation)

    @classmethod
    def load(cls, path: Path | None = None) -> CoverHead:
        """``path``, else ``truck_cover.json`` in the models directory (``$NONSITE_MODELS_DIR``) when a
        deployment put one there, else the head shipped in this repository."""
        if path is None:
            deployed = models_dir() / DEFAULT_HEAD_PATH.name
            path = deployed if deployed.is_file() else DEFAULT_HEAD_PATH
        try:
            raw = path.read_bytes()
            data = json.loads(raw)
        except FileNotFoundError as exc:
            raise DetectorError(
                f"truck cover head not found: {path} (run: python models/train_truck_cover.py)"
            ) from exc
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DetectorError(f"truck cover head {path} is not valid JSON: {exc}") from exc
        if data.get("feature_version") != FEATURE_VERSION or tuple(data.get("features", ())) != FEATURE_NAMES:
            raise DetectorError(
                f"truck cover head {path} was trained on other features; retrain: python models/train_truck_cover.py"
            )
        try:
            head = cls(
                classes=tuple(data["classes"]),
                mean=np.array(data["mean"], np.float64),
                scale=np.array(data["scale"], np.float64),
                coef=np.array(data["coef"], np.float64),
                intercept=np.array(data["intercept"], np.float64),
                min_confidence=float(data["min_confidence"]),
                min_confidence_uncovered=float(data["min_confidence_uncovered"]),
                feature_min=np.array(data["feature_min"], np.float64),
                feature_max=np.array(data["feature_max"], np.float64),
                range_margin=float(data["range_margin"]),
                sha256=hashlib.sha256(raw).hexdigest(),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise DetectorError(f"truck cover head {path} is incomplete ({exc}); retrain it") from exc
        if set(head.classes) - set(COVER_STATES) or head.coef.shape != (len(head.classes), len(FEATURE_NAMES)):
            raise DetectorError(f"truck cover head {path} has unexpected classes or shapes")
        return head

    def outside_training_range(self, features: FloatVector) -> bool:
        """True when some feature lies well outside what training saw (a road sign, a bus roof …)."""
        width = np.maximum(self.feature_max - self.feature_min, 1e-6)
        beyond = np.maximum(self.feature_min - features, features - self.feature_max) / width
        return bool(beyond.max() > self.range_margin)

    def probabilities(self, features: FloatVector) -> dict[str, float]:
        logits = self.coef @ ((features - self.mean) / self.scale) + self.intercept
        exp = np.exp(logits - logits.max())
        return dict(zip(self.classes, (exp / exp.sum()).tolist(), strict=True))


class CoverClassifier:
    """``classify(image, box)`` → cover state.

    "unknown" when the bed is too small, when its features lie outside the training range, or when the head is
    unsure (below ``min_confidence``, or ``min_confidence_uncovered`` for an "uncovered" answer).
    """

    def __init__(self, head: CoverHead | None = None) -> None:
        self.head = head or CoverHead.load()

    def classify(self, image: Image, box: tuple[float, float, float, float]) -> CoverResult:
        bed = bed_region(image, box)
        if bed is None:
            return CoverResult(CoverState.UNKNOWN, 0.0)
        features = cover_features(bed)
        if self.head.outside_training_range(features):
            return CoverResult(CoverState.UNKNOWN, 0.0)
        probs = self.head.probabilities(features)
        state = max(probs, key=lambda k: probs[k])
        needed = self.head.min_confidence_uncovered if state == "uncovered" else self.head.min_confidence
        if probs[state] < needed:
            return CoverResult(CoverState.UNKNOWN, round(probs[state], 3))
        return CoverResult(CoverState(state), round(probs[state], 3))
