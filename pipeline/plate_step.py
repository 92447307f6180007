"""Reads plates on vehicle tracks each analysed frame and votes per track; the result lands in the track's
attributes (``plate``, ``plate_color``) where rules and events pick it up."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from detectors.base import Image
from detectors.plates.reader import UNREADABLE, PlateReader
from detectors.plates.voting import PlateVote
from pipeline.types import Track


@dataclass
class PlateStep:
    reader: PlateReader
    labels: frozenset[str] = frozenset({"truck"})
    min_votes: int = 2
    margin: float = 0.05  # plates sit on the box edge: widen the crop a little
    min_confidence: float = 0.3  # low-scoring "trucks" are mostly clutter: not worth a plate read
    settled_votes: int = 3  # once this many reads agree, stop reading this track (plate reads cost ~50 ms)
    max_attempts: int = 8  # a track whose plate is not visible is not read forever
    _attempts: dict[int, int] = field(default_factory=dict)
    _votes: dict[int, PlateVote] = field(default_factory=dict)

    def update(self, image: Image, tracks: Iterable[Track]) -> None:
        h, w = image.shape[:2]
        for track in tracks:
            vote = self._votes.setdefault(track.track_id, PlateVote(min_votes=self.min_votes))
            if track.label not in self.labels or track.confidence < self.min_confidence:
                continue
            attempts = self._attempts.get(track.track_id, 0)
            if vote.leading_votes() >= self.settled_votes or attempts >= self.max_attempts:
                continue
            self._attempts[track.track_id] = attempts + 1
            x1, y1, x2, y2 = track.box
            mx, my = (x2 - x1) * self.margin, (y2 - y1) * self.margin
            left, top = max(0, int(x1 - mx)), max(0, int(y1 - my))
            right, bottom = min(w, int(x2 + mx)), min(h, int(y2 + my))
            if right - left < 32 or bottom - top < 32:
                continue
            reads = self.reader.read(image[top:bottom, left:right].copy())
            if not reads:
                continue
            vote.add(max(reads, key=lambda r: r.confidence))
            text, colour, share = vote.result()
            if text != UNREADABLE:
                track.attributes.update(plate=text, plate_color=colour, plate_vote_share=round(share, 3))

    def forget(self, track_ids: Iterable[int]) -> None:
        for track_id in track_ids:
            self._votes.pop(track_id, None)
            self._attempts.pop(track_id, None)
