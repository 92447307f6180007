"""The same violations fire at every rate live cameras are analysed at (0.5-4 fps) on the real clips."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from detectors.types import Detections
from pipeline.cli import main
from pipeline.config import TrackerConfig
from pipeline.rules import overlap_of_smaller
from pipeline.tracking import Tracker
from tests.conftest import labelled_boxes, needs_data, write_sample_config

# Labels were drawn on frame 0 and objects are found on later frames, by a detector whose boxes differ from a
# person's: a violation is "on" a labelled object when at least a quarter of its box lies on it.
ON_OBJECT = 0.25


@needs_data
@pytest.mark.parametrize("fps", [0.5, 1, 2, 4])
def test_violations_fire_at_every_analysis_rate(tmp_path: Path, fps: float) -> None:
    config = write_sample_config(tmp_path, fps=fps)
    events_path = tmp_path / "events.jsonl"
    assert main(["run", "--config", str(config), "--no-push", "--events-out", str(events_path)]) == 0
    starts = [e for e in map(json.loads, events_path.read_text().splitlines()) if e["state"] == "start"]
    by_camera = {camera: [e for e in starts if e["camera"] == camera] for camera in {e["camera"] for e in starts}}
    goods = labelled_boxes("mcmot_test_25_frame0000.jpg", "goods_outside_shop")
    bikes = labelled_boxes("mcmot_test_27_frame0000.jpg", "shared_bike_parked")
    assert goods and bikes, "label files changed: the clips' ground truth is gone"
    (stall,) = by_camera["hunan-street-25"]
    (bike,) = by_camera["hunan-street-27"]
    assert stall["kind"] == "street_stall" and bike["kind"] == "shared_bike_misparked"
    for event, truths in ((stall, goods), (bike, bikes)):
        assert max(overlap_of_smaller(tuple(event["box"]), truth) for truth in truths) >= ON_OBJECT, (fps, event)


def test_a_stationary_track_keeps_its_id_across_a_missed_frame_at_one_fps() -> None:
    """At 1 analysed fps a track missed for one frame comes back with its id (the budget is seconds, not frames)."""
    tracker = Tracker(TrackerConfig(lost_track_buffer_s=3.0), fps=1.0)
    seen = []
    for t in range(7):
        boxes = [] if t == 3 else [[100.0, 100.0, 200.0, 300.0]]
        detections = Detections.from_arrays(boxes, [0.9] * len(boxes), [0] * len(boxes), ("chair",))
        seen.append([track.track_id for track in tracker.update(detections, float(t))[0]])
    assert seen[3] == []
    ids = {track_id for frame in seen[1:] for track_id in frame}
    assert len(ids) == 1 and all(seen[t] for t in (1, 2, 4, 5, 6)), seen
