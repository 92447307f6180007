"""Reads every plate in an image: detect → rectify → split rows → recognise → validate → colour."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from detectors.base import Image, check_image
from detectors.paths import default_model_path
from detectors.plates.colour import PlateColour, plate_colour
from detectors.plates.detector import PlateDetector
from detectors.plates.formats import is_bottom_row, is_valid_plate
from detectors.plates.recognizer import CtcRecognizer, TextRead
from detectors.plates.rectify import (
    DOUBLE_ROW_MAX_ASPECT,
    DOUBLE_WH,
    SINGLE_WH,
    aspect,
    extend_upwards,
    full_extent,
    order_corners,
    rectify,
    split_double_row,
)

UNREADABLE = "unreadable"


@dataclass(frozen=True)
class PlateRead:
    text: str  # the plate, or "unreadable" when no valid read is confident enough
    raw_text: str  # what the recogniser saw, kept for review
    color: PlateColour
    rows: int
    box: tuple[float, float, float, float]
    corners: list[list[float]]
    confidence: float  # the weakest character's probability (after reading it as a plate format)
    char_confidences: tuple[float, ...] = ()
    detector_score: float = 0.0
    candidate: str = ""  # the read under the plate formats, before the confidence threshold (for measuring)
    line: TextRead | None = field(default=None, repr=False, compare=False)  # for voting across frames

    def to_record(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "color": self.color,
            "rows": self.rows,
            "box": [round(v, 1) for v in self.box],
            "corners": self.corners,
            "confidence": round(self.confidence, 4),
            "char_confidences": list(self.char_confidences),
            "detector_score": round(self.detector_score, 4),
            "raw_text": self.raw_text,
        }


class PlateReader:
    def __init__(
        self,
        detector_path: Path | None = None,
        recognizer_path: Path | None = None,
        min_confidence: float = 0.6,
        threads: int = 2,
    ) -> None:
        detector_path = detector_path or default_model_path("plate-det.onnx")
        recognizer_path = recognizer_path or default_model_path("plate-rec-ppocrv4.onnx")
        self.detector = PlateDetector(detector_path, threads=threads)
        self.recognizer = CtcRecognizer(recognizer_path, threads)
        self.detector_id, self.recognizer_id = detector_path.stem, recognizer_path.stem
        self.min_confidence = min_confidence

    def read(self, image: Image) -> list[PlateRead]:
        check_image(image)
        return [self._read_one(image, found.xyxy, found.corners, found.score) for found in self.detector.detect(image)]

    def _read_one(
        self, image: Image, box: tuple[float, float, float, float], corners: np.ndarray, det_score: float
    ) -> PlateRead:
        corners = order_corners(corners)
        read = self._read_quad(image, box, corners, det_score, double=aspect(corners) < DOUBLE_ROW_MAX_ASPECT)
        if read.rows == 1 and read.text == UNREADABLE and is_bottom_row(read.raw_text):
            # Only the bottom row of a double-row plate was found: read it again with the row above it.
            again = self._read_quad(image, box, extend_upwards(corners), det_score, double=True)
            if again.text != UNREADABLE:
                return again
        return read

    def _read_quad(
        self, image: Image, box: tuple[float, float, float, float], corners: np.ndarray, det_score: float, double: bool
    ) -> PlateRead:
        plate = rectify(image, corners, DOUBLE_WH if double else SINGLE_WH)
        if double:
            top, bottom = split_double_row(plate)
            line = self.recognizer.read(top) + self.recognizer.read(bottom)
        else:
            line = self.recognizer.read(plate)
        formatted = self.recognizer.plates.as_plate(line)
        confidence = formatted.confidence
        valid = is_valid_plate(formatted.text) and confidence >= self.min_confidence
        return PlateRead(
            text=formatted.text if valid else UNREADABLE,
            raw_text=line.text,
            color=plate_colour(plate),
            rows=2 if double else 1,
            box=full_extent(box, corners, (image.shape[1], image.shape[0])),
            corners=[[round(float(x), 1), round(float(y), 1)] for x, y in corners],
            confidence=confidence,
            char_confidences=tuple(round(p, 4) for p in formatted.char_probs),
            detector_score=det_score,
            candidate=formatted.text,
            line=line,
        )
