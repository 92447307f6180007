"""Multi-object tracking with ByteTrack (roboflow ``trackers``), producing our Track objects."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import supervision as sv
from trackers import ByteTrackTracker

from detectors.types import Detections
from pipeline.config import TrackerConfig
from pipeline.types import Track, TrackAttributes

BYTETRACK_REFERENCE_FPS = 30.0


class Tracker:
    """Assigns stable ids across frames; time comes from the frame's ``pts_s`` (variable-rate safe)."""

    def __init__(self, config: TrackerConfig, fps: float) -> None:
        self._bytetrack = ByteTrackTracker(
            # The library counts this buffer in frames *of a 30 fps video* whatever `frame_rate` is (its time
            # budget is buffer / 30 s), so seconds convert at 30, not at the analysed rate.
            lost_track_buffer=max(1, round(config.lost_track_buffer_s * BYTETRACK_REFERENCE_FPS)),
            frame_rate=fps,
            track_activation_threshold=config.track_activation_threshold,
            minimum_consecutive_frames=config.minimum_consecutive_frames,
            minimum_iou_threshold=config.minimum_iou_threshold,
            high_conf_det_threshold=config.high_conf_det_threshold,
        )
        self._history: dict[int, _History] = {}

    def update(self, detections: Detections, pts_s: float) -> tuple[list[Track], Detections]:
        """Tracks seen in this frame, and the detections with their ``tracker_id`` (-1 when unmatched)."""
        sv_detections = sv.Detections(
            xyxy=detections.xyxy.astype(np.float32),
            confidence=detections.confidence,
            class_id=detections.class_id,
            data={"index": np.arange(len(detections))},
        )
        tracked = self._bytetrack.update(sv_detections, timestamp=pts_s)
        tracker_ids = np.full(len(detections), -1, dtype=np.int64)
        seen: list[Track] = []
        assigned = tracked.tracker_id if tracked.tracker_id is not None else np.full(len(tracked), -1)
        for row in range(len(tracked)):
            track_id = int(assigned[row])
            if track_id < 0:
                continue
            index = int(tracked.data["index"][row])
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
        return stale


@dataclass
class _History:
    """What the tracker remembers of one track between frames (its own state, never shared)."""

    first_seen_s: float
    last_seen_s: float = 0.0
    label_votes: Counter[str] = field(default_factory=Counter)
