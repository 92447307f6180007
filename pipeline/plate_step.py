"""Reads plates on vehicle tracks each analysed frame and votes per track; each frame's tracks come back as new
values carrying the voted plate (``plate``, ``plate_color``, ``plate_confidence``: the weakest character's
probability averaged over the reads), where rules and events pick it up."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from detectors.base import Image
from detectors.coco import LARGE_VEHICLES
from detectors.plates.reader import UNREADABLE, PlateReader
from detectors.plates.voting import PlateVote
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
    _attempts: dict[int, int] = field(default_factory=dict)
    _votes: dict[int, PlateVote] = field(default_factory=dict)

    def update(self, image: Image, tracks: Iterable[Track]) -> list[Track]:
        """The same tracks, vehicles with their voted plate once a read has enough votes."""
        return [self._judge(image, track) for track in tracks]

    def _judge(self, image: Image, track: Track) -> Track:
        vote = self._votes.get(track.track_id)
        if vote is None:
            vote = PlateVote(self.reader.recognizer.plates, self.min_votes, self.reader.min_confidence)
            self._votes[track.track_id] = vote
        if track.label in self.labels and track.confidence >= self.min_confidence:
            self._read(image, track, vote)
        verdict = vote.result()
        if verdict.text == UNREADABLE:
            return track
        return track.with_attributes(
            plate=verdict.text,
            plate_color=verdict.colour,
            plate_votes=verdict.reads,
            plate_confidence=verdict.confidence,
        )

    def _read(self, image: Image, track: Track, vote: PlateVote) -> None:
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
        if reads:
            vote.add(max(reads, key=lambda r: r.confidence))

    def forget(self, track_ids: Iterable[int]) -> None:
        for track_id in track_ids:
            self._votes.pop(track_id, None)
            self._attempts.pop(track_id, None)
