"""Detection on zone crops at native resolution, merged with the whole-frame pass.

Small objects in a 1080p frame shrink to a few pixels at the detector's input size; a zone's bounding
rectangle at native resolution keeps them large enough to be found. A frame's detection is planned as a list
of images (the whole frame, then each crop) so that the images of several frames and cameras go to the
detector in one batch.
"""

from __future__ import annotations

import numpy as np

from detectors.base import Detector, Image
from detectors.postprocess import batched_nms
from detectors.types import Detections

MIN_REGION_PX = 16
Offset = tuple[int, int]


def plan_images(image: Image, regions: list[tuple[int, int, int, int]]) -> tuple[list[Image], list[Offset]]:
    """The images to detect for one frame, and where each sits in it (x, y of its top-left corner)."""
    images, offsets = [image], [(0, 0)]
    h, w = image.shape[:2]
    for x1, y1, x2, y2 in regions:
        x1, y1, x2, y2 = max(0, x1), max(0, y1), min(w, x2), min(h, y2)
        if x2 - x1 < MIN_REGION_PX or y2 - y1 < MIN_REGION_PX:
            continue
        images.append(np.ascontiguousarray(image[y1:y2, x1:x2]))
        offsets.append((x1, y1))
    return images, offsets


def merge_images(results: list[Detections], offsets: list[Offset], iou: float) -> Detections:
    """One frame's detections: each image's boxes shifted back into the frame, duplicates merged by NMS."""
    if len(results) != len(offsets):
        raise ValueError(f"{len(results)} results for {len(offsets)} planned images")
    if len(results) == 1:
        return results[0]
    merged = Detections.empty()
    for found, (x, y) in zip(results, offsets, strict=True):
        shifted = found.xyxy + np.array([x, y, x, y], np.float32)
        merged = merged.concat(
            Detections(
                xyxy=shifted,
                confidence=found.confidence,
                class_id=found.class_id,
                label=found.label,
                attributes=found.attributes,
            )
        )
    return merged.select(batched_nms(merged.xyxy, merged.confidence, merged.class_id, iou))


def detect_regions(
    detector: Detector, image: Image, regions: list[tuple[int, int, int, int]], iou: float
) -> Detections:
    """Whole frame plus each region (x1, y1, x2, y2), in one batch, merged."""
    images, offsets = plan_images(image, regions)
    return merge_images(detector.detect_batch(images), offsets, iou)
