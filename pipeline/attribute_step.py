"""Classifies attributes (truck cover, bike brand, fallen) on tracks and votes per track; each frame's tracks come
back as new values carrying the voted attributes, which the rules read."""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from detectors.attributes.annotate import AttributeAnnotator
from detectors.attributes.bike import Brand
from detectors.attributes.truck_cover import CoverState
from detectors.base import Image
from pipeline.types import Track


@dataclass
class _Votes:
    """One track's reads: cover and brand by majority over the reads, fallen over the latest frames."""

    reads: int = 0
    cover: Counter[CoverState] = field(default_factory=Counter)
    brand: Counter[Brand] = field(default_factory=Counter)
    cover_confidence: float = 0.0
    brand_score: float = 0.0
    fallen: deque[bool] = field(default_factory=deque)
    fallen_state: bool | None = None  # what is published: it changes only when every recent frame disagrees


@dataclass
class AttributeStep:
    annotator: AttributeAnnotator
    min_votes: int = 2  # until a track has this many reads, its cover stays "unknown"
    max_reads: int = 8  # a track is classified at most this often (a parked bike's colour does not change)
    recent: int = 5  # a bike's fallen state changes only when this many frames in a row say so
    min_confidence: float = 0.0  # tracks below every rule's min_confidence cannot fire: not worth classifying
    _votes: dict[int, _Votes] = field(default_factory=dict)

    def update(self, image: Image, tracks: Iterable[Track]) -> list[Track]:
        """The same tracks, those this step handles with their voted attributes."""
        return [self._judge(image, track) for track in tracks]

    def _judge(self, image: Image, track: Track) -> Track:
        if not self.annotator.handles(track.label) or track.confidence < self.min_confidence:
            return track
        votes = self._votes.setdefault(track.track_id, _Votes(fallen=deque(maxlen=self.recent)))
        fallen = self.annotator.changing_attributes(track.label, track.box).get("fallen")
        if fallen is not None:
            votes.fallen.append(bool(fallen))
        if votes.reads < self.max_reads:
            votes.reads += 1
            found = self.annotator.attributes_for(image, track.label, track.box)
            if "cover" in found:
                votes.cover[CoverState(found["cover"])] += 1
                votes.cover_confidence = float(found["cover_confidence"])
            if "brand" in found:
                votes.brand[Brand(found["brand"])] += 1
                votes.brand_score = float(found["brand_score"])
        return self._publish(track, votes)

    def _publish(self, track: Track, votes: _Votes) -> Track:
        changes: dict[str, object] = {}
        if votes.cover:
            cover, count = votes.cover.most_common(1)[0]
            if votes.reads < self.min_votes:
                cover = CoverState.UNKNOWN
            changes |= {"cover": cover, "cover_votes": count, "cover_reads": votes.reads}
            changes["cover_confidence"] = votes.cover_confidence
        if votes.brand:
            brand, count = votes.brand.most_common(1)[0]
            changes |= {"brand": brand, "brand_votes": count, "brand_reads": votes.reads}
            changes["brand_score"] = votes.brand_score
        fallen = self._fallen(votes)
        if fallen is not None:
            changes["fallen"] = fallen
        return track.with_attributes(**changes) if changes else track

    def _fallen(self, votes: _Votes) -> bool | None:
        """Hysteresis: no state until ``recent`` frames are in, then their majority; after that the state changes
        only when all of the latest ``recent`` frames disagree with it, so a box whose aspect hovers at the
        threshold does not flip it (and send an update) back and forth, and one misjudged frame decides nothing."""
        if len(votes.fallen) < self.recent:
            return votes.fallen_state
        if votes.fallen_state is None:
            votes.fallen_state = Counter(votes.fallen).most_common(1)[0][0]
        elif set(votes.fallen) == {not votes.fallen_state}:
            votes.fallen_state = not votes.fallen_state
        return votes.fallen_state

    def forget(self, track_ids: Iterable[int]) -> None:
        for track_id in track_ids:
            self._votes.pop(track_id, None)
