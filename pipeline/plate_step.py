"""Reads plates on vehicle tracks each analysed frame and votes per track; each frame's tracks come back as new
values carrying the voted plate (``plate``, ``plate_color``, ``plate_confidence``: the weakest
of the per-character probabilities averaged over the reads), where rules and events pick it up."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from detectors.base import Image
from detectors.coco import LARGE_VEHICLES
from detectors.plates.reader import UNREADABLE, PlateReader
from detectors.plates.voting import PlateVote
from evidence.locker import PlateStill
from evidence.snapshots import crop
from pipeline.types import Track


@dataclass
class PlateStep:
    reader: PlateReader
    labels: frozenset[str] = LARGE_VEHICLES  # the muck-truck rules' class group
    min_votes: int = 2
    margin: float = 0.05  # plates sit on the box edge: widen the crop a little
    min_confidence: float = 0.3  # low-scoring "trucks" are mostly clutter: not worth a plate read
    settled_votes: int = 3  # once this many reads agree, stop reading this track (plate reads cost ~50 ms)
    max_attempts: int = 8  # a track whose plate is not visible is not read forever
    still_margin: float = 0.25  # around the plate's full extent in its evidence crop, a share of its height
    _attempts: dict[int, int] = field(default_factory=dict)
    _votes: dict[int, PlateVote] = field(default_factory=dict)
    _best: dict[int, tuple[float, PlateStill]] = field(default_factory=dict)  # (read confidence, crop) per track

    def update(self, image: Image, tracks: Iterable[Track], pts_s: float) -> list[Track]:
        """The same tracks, vehicles with their voted plate once a read has enough votes; ``pts_s`` (the frame's
        stream time) dates the plate crops kept for evidence."""
        return [self._judge(image, track, pts_s) for track in tracks]

    def best_still(self, track_id: int) -> PlateStill | None:
        """The crop of the track's most confident plate read so far (readable or not: the officer looks too)."""
        best = self._best.get(track_id)
        return best[1] if best else None

    def _judge(self, image: Image, track: Track, pts_s: float) -> Track:
        vote = self._votes.get(track.track_id)
        if vote is None:
            vote = PlateVote(self.reader.recognizer.plates, self.min_votes, self.reader.min_confidence)
            self._votes[track.track_id] = vote
        if track.label in self.labels and track.confidence >= self.min_confidence:
            self._read(image, track, vote, pts_s)
        verdict = vote.result()
        if verdict.text == UNREADABLE:
            return track
        return track.with_attributes(
            plate=verdict.text,
            plate_color=verdict.colour,
            plate_reads=verdict.reads,
            plate_confidence=verdict.confidence,
        )

    def _read(self, image: Image, track: Track, vote: PlateVote, pts_s: float) -> None:
        attempts = self._attempts.get(track.track_id, 0)
        if vote.result().agreeing >= self.settled_votes or attempts >= self.max_attempts:
            return
        self._attempts[track.track_id] = attempts + 1
        h, w = image.shape[:2]
        x1, y1, x2, y2 = track.box
        mx, my = (x2 - x1) * self.margin, (y2 - y1) * self.margin
        left, top = max(0, int(x1 - mx)), max(0, int(y1 - my))
        right, bottom = min(w, int(x2 + mx)), min(h, int(y2 + my))
        if right - left < 32 or bottom - top < 32:
            return
        reads = self.reader.read(image[top:bottom, left:right].copy())
        if not reads:
            return
        best = max(reads, key=lambda r: (r.confidence, r.detector_score))
        vote.add(best)
        kept = self._best.get(track.track_id)
        if kept is None or best.confidence > kept[0]:
            x1, y1, x2, y2 = best.box
            pad = (y2 - y1) * self.still_margin
            box = (x1 + left - pad, y1 + top - pad, x2 + left + pad, y2 + top + pad)
            self._best[track.track_id] = (best.confidence, PlateStill(crop(image, box, margin=0.0), pts_s))

    def forget(self, track_ids: Iterable[int]) -> None:
        for track_id in track_ids:
            self._votes.pop(track_id, None)
            self._attempts.pop(track_id, None)
            self._best.pop(track_id, None)
