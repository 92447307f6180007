"""The detector interface every backend implements, and its errors."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from detectors.types import Detections

Image = npt.NDArray[np.uint8]


class DetectorError(RuntimeError):
    """A detector cannot be created or run; the message says what to do."""


class ModelUnavailable(DetectorError):
    """The model a config names is not here (its file is gone, or it was never registered): the one failure a
    ``fallback`` may stand in for. A model that is there but broken is another DetectorError."""


class ModelFileMissing(ModelUnavailable):
    def __init__(self, path: Path, hint: str) -> None:
        super().__init__(f"model file not found: {path} ({hint})")
        self.path = path


@dataclass(frozen=True)
class ModelInfo:
    """Identifies the exact model behind every detection, recorded on each violation."""

    model_id: str
    sha256: str
    labels: tuple[str, ...]


class Detector(Protocol):
    info: ModelInfo

    def detect(self, image: Image) -> Detections:
        """Detections for one BGR image (H x W x 3, uint8), boxes in that image's pixels."""
        ...

    def detect_batch(self, images: Sequence[Image]) -> list[Detections]:
        """Detections for each image (zone crops, several cameras' frames) in one call, in order."""
        ...


class OneImageAtATime:
    """``detect_batch`` for backends whose model takes one image per run (a fixed batch dimension of 1)."""

    def detect(self, image: Image) -> Detections:
        raise NotImplementedError

    def detect_batch(self, images: Sequence[Image]) -> list[Detections]:
        return [self.detect(image) for image in images]


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_image(image: Image) -> None:
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be (H, W, 3) uint8 BGR, got {image.shape} {image.dtype}")
