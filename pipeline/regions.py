"""Detection on zone crops at native resolution, merged with the whole-frame pass."""

from __future__ import annotations

import numpy as np

from detectors.base import Detector, Image
from detectors.postprocess import batched_nms
from detectors.types import Detections


def detect_regions(
    detector: Detector, image: Image, regions: list[tuple[int, int, int, int]], iou: float
) -> Detections:
    """Whole frame plus each region (x1, y1, x2, y2); region boxes are shifted back and merged by NMS.

    Small objects in a 1080p frame shrink to a few pixels at the detector's input size; a zone's bounding
    rectangle at native resolution keeps them large enough to be found.
    """
    parts = [detector.detect(image)]
    h, w = image.shape[:2]
    for x1, y1, x2, y2 in regions:
        x1, y1, x2, y2 = max(0, x1), max(0, y1), min(w, x2), min(h, y2)
        if x2 - x1 < 16 or y2 - y1 < 16:
            continue
        found = detector.detect(np.ascontiguousarray(image[y1:y2, x1:x2]))
        shifted = found.xyxy + np.array([x1, y1, x1, y1], np.float32)
        parts.append(
            Detections(
                xyxy=shifted,
                confidence=found.confidence,
                class_id=found.class_id,
                label=found.label,
                attributes=found.attributes,
            )
        )
    if len(parts) == 1:
        return parts[0]
    merged = parts[0]
    for part in parts[1:]:
        merged = merged.concat(part)
    return merged.select(batched_nms(merged.xyxy, merged.confidence, merged.class_id, iou))
