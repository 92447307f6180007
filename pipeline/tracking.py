"""Multi-object tracking with ByteTrack (roboflow ``trackers``), producing our Track objects."""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import supervision as sv
from trackers import ByteTrackTracker

from detectors.coco import LARGE_VEHICLES, TWO_WHEELERS
from detectors.types import Detections
from pipeline.config import TrackerConfig
from pipeline.types import Track, TrackAttributes

BYTETRACK_REFERENCE_FPS = 30.0
# ByteTrack matches boxes whatever their class, so a pedestrian walking past goods on the pavement would take over
# the goods' track (and reset its dwell). Each group here is tracked on its own; labels a detector confuses with
# each other (a heavy truck is "truck" one frame and "bus" the next) share a group. Other labels share one more.
TRACK_GROUPS: tuple[frozenset[str], ...] = (
    frozenset({"person"}),
    LARGE_VEHICLES | {"car", "train"},
    TWO_WHEELERS,
)


def track_group(label: str) -> int:
    return next((i for i, group in enumerate(TRACK_GROUPS) if label in group), len(TRACK_GROUPS))


class Tracker:
    """Assigns stable ids across frames; time comes from the frame's ``pts_s`` (variable-rate safe)."""

    def __init__(self, config: TrackerConfig, fps: float) -> None:
        self._config, self._fps = config, fps
        self._bytetracks: dict[int, ByteTrackTracker] = {}
        self._ids: dict[tuple[int, int], int] = {}  # (group, ByteTrack's id) → our id, unique across groups
        self._next_id = itertools.count(1)
        self._history: dict[int, _History] = {}

    def _bytetrack(self, group: int) -> ByteTrackTracker:
        if group not in self._bytetracks:
            config = self._config
            self._bytetracks[group] = ByteTrackTracker(
                # The library counts this buffer in frames *of a 30 fps video* whatever `frame_rate` is (its time
                # budget is buffer / 30 s), so seconds convert at 30, not at the analysed rate.
                lost_track_buffer=max(1, round(config.lost_track_buffer_s * BYTETRACK_REFERENCE_FPS)),
                frame_rate=self._fps,
                track_activation_threshold=config.track_activation_threshold,
                minimum_consecutive_frames=config.minimum_consecutive_frames,
                minimum_iou_threshold=config.minimum_iou_threshold,
                high_conf_det_threshold=config.high_conf_det_threshold,
            )
        return self._bytetracks[group]

    def update(self, detections: Detections, pts_s: float) -> tuple[list[Track], Detections]:
        """Tracks seen in this frame, and the detections with their ``tracker_id`` (-1 when unmatched)."""
        groups = np.array([track_group(str(label)) for label in detections.label], dtype=np.int64)
        tracker_ids = np.full(len(detections), -1, dtype=np.int64)
        seen: list[Track] = []
        # Every group's tracker sees every frame (an empty one too), so its lost tracks age in step.
        for group in sorted(set(groups.tolist()) | set(self._bytetracks)):
            for index, raw_id in self._track_group(detections, np.flatnonzero(groups == group), group, pts_s):
                key = (group, raw_id)
                if key not in self._ids:
                    self._ids[key] = next(self._next_id)
                track_id = self._ids[key]
                tracker_ids[index] = track_id
                seen.append(self._observe(track_id, detections, index, pts_s))
        labelled = Detections(
            xyxy=detections.xyxy,
            confidence=detections.confidence,
            class_id=detections.class_id,
            label=detections.label,
            tracker_id=tracker_ids,
            attributes=detections.attributes,
        )
        return seen, labelled

    def _track_group(self, detections: Detections, rows: np.ndarray, group: int, pts_s: float) -> list[tuple[int, int]]:
        """(index into ``detections``, ByteTrack id) for the group's detections that belong to a track."""
        sv_detections = sv.Detections(
            xyxy=detections.xyxy[rows].astype(np.float32).reshape(-1, 4),
            confidence=detections.confidence[rows],
            class_id=detections.class_id[rows],
            data={"index": rows},
        )
        tracked = self._bytetrack(group).update(sv_detections, timestamp=pts_s)
        assigned = tracked.tracker_id if tracked.tracker_id is not None else np.full(len(tracked), -1)
        return [
            (int(tracked.data["index"][row]), int(assigned[row])) for row in range(len(tracked)) if assigned[row] >= 0
        ]

    def _observe(self, track_id: int, detections: Detections, index: int, pts_s: float) -> Track:
        x1, y1, x2, y2 = (float(v) for v in detections.xyxy[index])
        label = str(detections.label[index])
        history = self._history.setdefault(track_id, _History(first_seen_s=pts_s))
        history.last_seen_s = pts_s
        history.label_votes[label] += 1
        source = detections.attributes[index].get("source")
        return Track(
            track_id=track_id,
            # The label is the majority vote: low-confidence objects flicker between classes frame to frame.
            label=history.label_votes.most_common(1)[0][0],
            box=(x1, y1, x2, y2),
            confidence=float(detections.confidence[index]),
            first_seen_s=history.first_seen_s,
            last_seen_s=pts_s,
            attributes=TrackAttributes(source=str(source)) if source else TrackAttributes(),
        )

    def forget_older_than(self, pts_s: float) -> list[int]:
        """Drop bookkeeping for tracks not seen since ``pts_s`` (ByteTrack has dropped them too); return their ids."""
        stale = [t for t, history in self._history.items() if history.last_seen_s < pts_s]
        for track_id in stale:
            del self._history[track_id]
        if stale:
            gone = set(stale)
            self._ids = {key: track_id for key, track_id in self._ids.items() if track_id not in gone}
        return stale


@dataclass
class _History:
    """What the tracker remembers of one track between frames (its own state, never shared)."""

    first_seen_s: float
    last_seen_s: float = 0.0
    label_votes: Counter[str] = field(default_factory=Counter)
