"""Values passed between pipeline stages."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt

from detectors.attributes.bike import SHARED_BRANDS, Brand
from detectors.attributes.truck_cover import CoverState
from detectors.plates.colour import PlateColour
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


@dataclass(frozen=True)
class TrackAttributes:
    """What the classifiers concluded about a track so far, with integer vote counts (votes for the value out of
    reads). ``None`` means never judged (a truck has no brand, a bike no cover)."""

    cover: CoverState | None = None
    cover_votes: int = 0
    cover_reads: int = 0
    cover_confidence: float = 0.0  # of the latest read
    brand: Brand | None = None
    brand_votes: int = 0
    brand_reads: int = 0
    brand_score: float = 0.0  # of the latest read
    fallen: bool | None = None  # voted over the latest frames (a bike can fall over while watched)
    plate: str | None = None
    plate_color: PlateColour | None = None
    plate_reads: int = 0  # reads averaged into the plate
    plate_confidence: float = 0.0  # the weakest of its characters' probabilities averaged over the reads
    source: str | None = None  # what made the detection when not the detector (static_foreground)

    def __post_init__(self) -> None:
        for name in ("cover", "brand"):
            votes, reads = getattr(self, f"{name}_votes"), getattr(self, f"{name}_reads", None)
            if votes < 0 or (reads is not None and votes > reads):
                raise ValueError(f"{name}_votes must be in 0..{name}_reads, got {votes} of {reads}")

    @property
    def shared(self) -> bool | None:
        """A bike in an operator's colours; None until its brand has been judged."""
        return None if self.brand is None else self.brand in SHARED_BRANDS

    def to_dict(self) -> dict[str, str | int | float | bool]:
        """The judged attributes, JSON-ready (the violation record's ``attributes``)."""
        data: dict[str, str | int | float | bool] = {}
        if self.cover is not None:
            data |= {"cover": self.cover.value, "cover_votes": self.cover_votes, "cover_reads": self.cover_reads}
            data["cover_confidence"] = round(self.cover_confidence, 3)
        if self.brand is not None:
            data |= {"brand": self.brand.value, "brand_votes": self.brand_votes, "brand_reads": self.brand_reads}
            data |= {"brand_score": round(self.brand_score, 4), "shared": bool(self.shared)}
        if self.fallen is not None:
            data["fallen"] = self.fallen
        if self.plate is not None:
            data |= {"plate": self.plate, "plate_reads": self.plate_reads}
            data["plate_confidence"] = round(self.plate_confidence, 3)
            if self.plate_color is not None:
                data["plate_color"] = self.plate_color.value
        if self.source is not None:
            data["source"] = self.source
        return data


@dataclass(frozen=True)
class Track:
    """A tracked object as seen on one analysed frame. Steps that learn more return a new value."""

    track_id: int
    label: str
    box: tuple[float, float, float, float]
    confidence: float
    first_seen_s: float
    last_seen_s: float
    attributes: TrackAttributes = TrackAttributes()

    @property
    def anchor(self) -> tuple[float, float]:
        """Bottom-centre of the box: where the object touches the ground."""
        x1, _, x2, y2 = self.box
        return ((x1 + x2) / 2.0, y2)

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]

    def with_attributes(self, **changes: object) -> Track:
        return dataclasses.replace(self, attributes=dataclasses.replace(self.attributes, **changes))  # type: ignore[arg-type]
