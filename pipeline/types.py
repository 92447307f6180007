"""Values passed between pipeline stages."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from evidence.types import TimeSource


@dataclass(frozen=True)
class Frame:
    """One analysed frame. ``pts_s`` is stream time; logic never reads the wall clock."""

    camera_id: str
    seq: int
    pts_s: float
    captured_at: datetime  # UTC wall time of this frame
    image: npt.NDArray[np.uint8]  # H x W x 3 BGR
    from_file: bool
    time_source: TimeSource = TimeSource.WALL_CLOCK

    def __post_init__(self) -> None:
        if self.image.ndim != 3 or self.image.shape[2] != 3:
            raise ValueError(f"image must be (H, W, 3), got {self.image.shape}")
        if self.captured_at.tzinfo is None:
            raise ValueError("captured_at must be timezone-aware (UTC)")

    @property
    def resolution_wh(self) -> tuple[int, int]:
        return int(self.image.shape[1]), int(self.image.shape[0])


@dataclass
class Track:
    """A tracked object. Mutable: the tracker updates it each frame it is seen."""

    track_id: int
    label: str
    box: tuple[float, float, float, float]
    confidence: float
    first_seen_s: float
    last_seen_s: float
    label_votes: dict[str, int] = field(default_factory=dict)
    attributes: dict[str, Any] = field(default_factory=dict)

    @property
    def anchor(self) -> tuple[float, float]:
        """Bottom-centre of the box: where the object touches the ground."""
        x1, _, x2, y2 = self.box
        return ((x1 + x2) / 2.0, y2)

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]
