"""Fills ``Detections.attributes`` for the labels that have attribute classifiers (truck, bicycle)."""

from __future__ import annotations

import dataclasses
from typing import Any

from detectors.attributes.bike import BikeConfig, bike_attributes, is_fallen
from detectors.attributes.truck_cover import CoverClassifier
from detectors.base import Image
from detectors.coco import LARGE_VEHICLES, TWO_WHEELERS
from detectors.types import Detections


class AttributeAnnotator:
    """One call per box: ``attributes_for(image, label, box)``; ``annotate`` does a whole Detections.

    Args:
        truck_labels: labels that get the cover classifier (the muck-truck rules' class group).
        bike_labels: labels that get bike attributes (the bike rules' group). At CCTV resolution parked bikes
            are often called "motorcycle", and shared e-bikes are motorcycles.
    """

    def __init__(
        self,
        cover: CoverClassifier | None = None,
        bike: BikeConfig | None = None,
        truck_labels: frozenset[str] = LARGE_VEHICLES,
        bike_labels: frozenset[str] = TWO_WHEELERS,
    ) -> None:
        self.cover = cover or CoverClassifier()
        self.bike = bike or BikeConfig()
        self.truck_labels = truck_labels
        self.bike_labels = bike_labels - truck_labels

    def handles(self, label: str) -> bool:
        return label in self.truck_labels or label in self.bike_labels

    def attributes_for(self, image: Image, label: str, box: tuple[float, float, float, float]) -> dict[str, Any]:
        if label in self.truck_labels:
            result = self.cover.classify(image, box)
            return {"cover": result.state, "cover_confidence": result.confidence}
        if label in self.bike_labels:
            return bike_attributes(image, box, self.bike).as_dict()
        return {}

    def changing_attributes(self, label: str, box: tuple[float, float, float, float]) -> dict[str, Any]:
        """The attributes that can change while an object is watched (a bike falls over); cheap: box only."""
        return {"fallen": is_fallen(box, self.bike.fallen_aspect)} if label in self.bike_labels else {}

    def annotate(self, image: Image, detections: Detections) -> Detections:
        attributes = tuple(
            {**attrs, **self.attributes_for(image, str(label), _box(xyxy))}
            for xyxy, label, attrs in zip(detections.xyxy, detections.label, detections.attributes, strict=True)
        )
        return dataclasses.replace(detections, attributes=attributes)


def _box(xyxy: Any) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = (float(v) for v in xyxy)
    return (x1, y1, x2, y2)
