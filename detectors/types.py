"""The one detection type that flows out of every detector backend."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Detections:
    """Columnar detections for one image, boxes in source-image pixels.

    Attributes:
        xyxy: (n, 4) float32 boxes ``x1, y1, x2, y2``.
        confidence: (n,) float32 scores in [0, 1].
        class_id: (n,) int64 class indices of the backend's label space.
        label: (n,) object array of label strings used by the rules (``truck``, ``bicycle`` …).
        tracker_id: (n,) int64 track ids, or None before tracking.
        attributes: one dict per detection (cover state, brand, colour …), filled by attribute classifiers.
    """

    xyxy: FloatArray
    confidence: FloatArray
    class_id: IntArray
    label: npt.NDArray[np.object_]
    tracker_id: IntArray | None = None
    attributes: tuple[dict[str, Any], ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        n = len(self.xyxy)
        if self.xyxy.ndim != 2 or self.xyxy.shape[1] != 4:
            raise ValueError(f"xyxy must be (n, 4), got {self.xyxy.shape}")
        for name in ("confidence", "class_id", "label"):
            shape = getattr(self, name).shape
            if shape != (n,):
                raise ValueError(f"{name} must be ({n},), got {shape}")
        if self.tracker_id is not None and self.tracker_id.shape != (n,):
            raise ValueError(f"tracker_id must be ({n},), got {self.tracker_id.shape}")
        if not self.attributes:
            object.__setattr__(self, "attributes", tuple({} for _ in range(n)))
        elif len(self.attributes) != n:
            raise ValueError(f"attributes must hold {n} dicts, got {len(self.attributes)}")

    def __len__(self) -> int:
        return len(self.xyxy)

    @classmethod
    def empty(cls) -> Detections:
        return cls(
            xyxy=np.zeros((0, 4), np.float32),
            confidence=np.zeros(0, np.float32),
            class_id=np.zeros(0, np.int64),
            label=np.zeros(0, dtype=object),
        )

    @classmethod
    def from_arrays(
        cls,
        xyxy: npt.ArrayLike,
        confidence: npt.ArrayLike,
        class_id: npt.ArrayLike,
        labels: list[str] | tuple[str, ...],
    ) -> Detections:
        """Build from raw arrays, looking each class id up in ``labels``."""
        ids = np.asarray(class_id, dtype=np.int64).reshape(-1)
        names = np.array([labels[i] for i in ids], dtype=object) if len(ids) else np.zeros(0, dtype=object)
        return cls(
            xyxy=np.asarray(xyxy, dtype=np.float32).reshape(-1, 4),
            confidence=np.asarray(confidence, dtype=np.float32).reshape(-1),
            class_id=ids,
            label=names,
        )

    def select(self, mask: npt.NDArray[np.bool_] | npt.NDArray[np.int64]) -> Detections:
        """The subset picked by a boolean mask or an index array."""
        index = np.flatnonzero(mask) if np.asarray(mask).dtype == bool else np.asarray(mask, dtype=np.int64)
        return Detections(
            xyxy=self.xyxy[index],
            confidence=self.confidence[index],
            class_id=self.class_id[index],
            label=self.label[index],
            tracker_id=None if self.tracker_id is None else self.tracker_id[index],
            attributes=tuple(self.attributes[i] for i in index),
        )

    def concat(self, other: Detections) -> Detections:
        """These detections followed by ``other``'s (track ids are dropped: concatenate before tracking)."""
        if not len(other):
            return self
        return Detections(
            xyxy=np.concatenate([self.xyxy, other.xyxy]),
            confidence=np.concatenate([self.confidence, other.confidence]),
            class_id=np.concatenate([self.class_id, other.class_id]),
            label=np.concatenate([self.label, other.label]),
            attributes=self.attributes + other.attributes,
        )

    def to_records(self) -> list[dict[str, Any]]:
        """JSON-ready rows: label, confidence, box, attributes (and track id when tracked)."""
        rows = []
        for i in range(len(self)):
            row: dict[str, Any] = {
                "label": str(self.label[i]),
                "confidence": round(float(self.confidence[i]), 4),
                "box": [round(float(v), 1) for v in self.xyxy[i]],
                "attributes": dict(self.attributes[i]),
            }
            if self.tracker_id is not None:
                row["track_id"] = int(self.tracker_id[i])
            rows.append(row)
        return rows
