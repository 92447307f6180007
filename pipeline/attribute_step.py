"""Classifies attributes (truck cover, bike brand, fallen) on tracks and votes per track; the majority lands in
the track's attributes, where the rules read it."""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from detectors.attributes.annotate import AttributeAnnotator
from detectors.attributes.bike import SHARED_BRANDS
from detectors.base import Image
from pipeline.types import Track

# Not voted: scores are copied from the latest read, "shared" follows the voted brand, and what can change
# (a bike falling over) is voted over the latest frames only.
NOT_VOTED = frozenset({"cover_confidence", "brand_score", "shared", "fallen"})


@dataclass
class AttributeStep:
    annotator: AttributeAnnotator
    min_votes: int = 2  # until a track has this many reads, its cover stays "unknown"
    max_reads: int = 8  # a track is classified at most this often (a parked bike's colour does not change)
    recent: int = 5  # frames over which changing attributes (fallen) are voted
    min_confidence: float = 0.0  # tracks below every rule's min_confidence cannot fire: not worth classifying
    _reads: dict[int, int] = field(default_factory=dict)
    _votes: dict[int, dict[str, Counter[object]]] = field(default_factory=dict)
    _recent: dict[int, deque[dict[str, object]]] = field(default_factory=dict)

    def update(self, image: Image, tracks: Iterable[Track]) -> None:
        for track in tracks:
            if not self.annotator.handles(track.label) or track.confidence < self.min_confidence:
                continue
            window = self._recent.setdefault(track.track_id, deque(maxlen=self.recent))
            window.append(self.annotator.changing_attributes(track.label, track.box))
            reads = self._reads.get(track.track_id, 0)
            if reads < self.max_reads:
                self._reads[track.track_id] = reads + 1
                found = self.annotator.attributes_for(image, track.label, track.box)
                votes = self._votes.setdefault(track.track_id, {})
                for key, value in found.items():
                    if key not in NOT_VOTED:
                        votes.setdefault(key, Counter())[value] += 1
                track.attributes.update({k: v for k, v in found.items() if k.endswith(("_confidence", "_score"))})
            self._publish(track)

    def _publish(self, track: Track) -> None:
        total = self._reads.get(track.track_id, 0)
        for key, counter in self._votes.get(track.track_id, {}).items():
            value, count = counter.most_common(1)[0]
            if key == "cover" and total < self.min_votes:
                value = "unknown"
            track.attributes[key] = value
            track.attributes[f"{key}_votes"] = f"{count}/{total}"
        if "brand" in track.attributes:
            track.attributes["shared"] = track.attributes["brand"] in SHARED_BRANDS
        window = self._recent.get(track.track_id, ())
        for key in {k for changed in window for k in changed}:
            track.attributes[key] = Counter(c[key] for c in window if key in c).most_common(1)[0][0]

    def forget(self, track_ids: Iterable[int]) -> None:
        for track_id in track_ids:
            self._reads.pop(track_id, None)
            self._votes.pop(track_id, None)
            self._recent.pop(track_id, None)
