"""Steps shared by backends after inference: score filter, per-class NMS, label mapping."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from detectors.config import DetectorConfigBase
from detectors.types import Detections


def batched_nms(
    xyxy: npt.NDArray[np.float32], scores: npt.NDArray[np.float32], class_ids: npt.NDArray[np.int64], iou: float
) -> npt.NDArray[np.int64]:
    """Indices kept by non-maximum suppression run separately per class."""
    if len(xyxy) == 0:
        return np.zeros(0, np.int64)
    xywh = np.concatenate([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]], axis=1)
    keep = cv2.dnn.NMSBoxesBatched(xywh.tolist(), scores.tolist(), class_ids.tolist(), 0.0, iou)
    return np.asarray(keep, dtype=np.int64).reshape(-1)


def finish(
    xyxy: npt.NDArray[np.float32],
    scores: npt.NDArray[np.float32],
    class_ids: npt.NDArray[np.int64],
    model_labels: tuple[str, ...],
    config: DetectorConfigBase,
    image_wh: tuple[int, int],
    run_nms: bool = True,
) -> Detections:
    """Filter, suppress, clip to the image, and map model labels to rule labels."""
    mask = scores >= config.confidence
    xyxy, scores, class_ids = xyxy[mask], scores[mask], class_ids[mask]
    if run_nms:
        keep = batched_nms(xyxy, scores, class_ids, config.nms_iou)
        xyxy, scores, class_ids = xyxy[keep], scores[keep], class_ids[keep]
    w, h = image_wh
    xyxy = np.clip(xyxy, 0, [w, h, w, h]).astype(np.float32)
    labels = tuple(config.class_map.get(name, name) for name in model_labels)
    detections = Detections.from_arrays(xyxy, scores, class_ids, labels)
    if config.keep_labels is not None:
        detections = detections.select(np.isin(detections.label, config.keep_labels))
    order = np.argsort(-detections.confidence, kind="stable")
    return detections.select(order)
