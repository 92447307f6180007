"""Polygon zones: which tracks have their ground anchor inside, with entry/exit inertia."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import supervision as sv

from pipeline.config import ZoneConfig, ZoneKind
from pipeline.types import Track


@dataclass
class _Presence:
    inside: bool = False
    streak: int = 0  # consecutive frames disagreeing with `inside`


@dataclass
class Zone:
    """Answers "which of these tracks are inside", counting a change only after ``inertia`` frames."""

    name: str
    kind: ZoneKind
    polygon: list[tuple[float, float]]
    inertia: int
    _zone: sv.PolygonZone = field(init=False, repr=False)
    _presence: dict[int, _Presence] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self._zone = sv.PolygonZone(
            polygon=np.array(self.polygon, dtype=np.int64), triggering_anchors=(sv.Position.BOTTOM_CENTER,)
        )

    @classmethod
    def from_config(cls, config: ZoneConfig) -> Zone:
        return cls(name=config.name, kind=config.kind, polygon=list(config.polygon), inertia=config.inertia)

    @property
    def bounding_xyxy(self) -> tuple[int, int, int, int]:
        xs, ys = zip(*self.polygon, strict=True)
        return int(min(xs)), int(min(ys)), int(np.ceil(max(xs))), int(np.ceil(max(ys)))

    def contains(self, tracks: list[Track]) -> list[bool]:
        """Raw geometric test of each track's bottom-centre anchor (no inertia)."""
        if not tracks:
            return []
        detections = sv.Detections(xyxy=np.array([t.box for t in tracks], dtype=np.float32))
        return [bool(v) for v in self._zone.trigger(detections)]

    def update(self, tracks: list[Track]) -> set[int]:
        """Ids of tracks counted as inside after applying inertia."""
        inside_ids = set()
        for track, raw in zip(tracks, self.contains(tracks), strict=True):
            state = self._presence.setdefault(track.track_id, _Presence())
            if raw != state.inside:
                state.streak += 1
                if state.streak >= self.inertia:
                    state.inside, state.streak = raw, 0
            else:
                state.streak = 0
            if state.inside:
                inside_ids.add(track.track_id)
        return inside_ids

    def forget(self, track_id: int) -> None:
        self._presence.pop(track_id, None)
