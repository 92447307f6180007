"""Classifies attributes (truck cover, bike brand, fallen) on tracks and votes per track; the majority lands in
the track's attributes, where the rules read it."""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from detectors.attributes.annotate import AttributeAnnotator
from detectors.base import Image
from pipeline.types import Track

# Values that may change while a track lives (a bike falls over): voted over the latest reads only.
RECENT_KEYS = frozenset({"fallen"})
SCORE_KEYS = frozenset({"cover_confidence", "brand_score"})


@dataclass
class AttributeStep:
    annotator: AttributeAnnotator
    min_votes: int = 2  # until a track has this many reads, its cover stays "unknown"
    max_reads: int = 8  # a track is classified at most this often (a parked bike's colour does not change)
    recent: int = 5
    min_confidence: float = 0.0  # tracks below every rule's min_confidence cannot fire: not worth classifying
    _reads: dict[int, int] = field(default_factory=dict)
    _votes: dict[int, dict[str, Counter[object]]] = field(default_factory=dict)
    _recent: dict[int, deque[dict[str, object]]] = field(default_factory=dict)

    def update(self, image: Image, tracks: Iterable[Track]) -> None:
        for track in tracks:
            if not self.annotator.handles(track.label) or track.confidence < self.min_confidence:
                continue
            reads = self._reads.get(track.track_id, 0)
            if reads >= self.max_reads:
                self._refresh_recent(image, track)
                continue
            self._reads[track.track_id] = reads + 1
            found = self.annotator.attributes_for(image, track.label, track.box)
            votes = self._votes.setdefault(track.track_id, {})
            for key, value in found.items():
                if key not in RECENT_KEYS and key not in SCORE_KEYS:
                    votes.setdefault(key, Counter())[value] += 1
            self._remember_recent(track, found)
            self._publish(track, found)

    def _refresh_recent(self, image: Image, track: Track) -> None:
        if track.label not in self.annotator.bike_labels:
            return
        found = self.annotator.attributes_for(image, track.label, track.box)
        self._remember_recent(track, found)
        self._publish(track, {})

    def _remember_recent(self, track: Track, found: dict[str, object]) -> None:
        window = self._recent.setdefault(track.track_id, deque(maxlen=self.recent))
        window.append({k: v for k, v in found.items() if k in RECENT_KEYS})

    def _publish(self, track: Track, found: dict[str, object]) -> None:
        votes = self._votes.get(track.track_id, {})
        total = self._reads.get(track.track_id, 0)
        for key, counter in votes.items():
            value, count = counter.most_common(1)[0]
            if key == "cover" and total < self.min_votes:
                value = "unknown"
            track.attributes[key] = value
            track.attributes[f"{key}_votes"] = f"{count}/{total}"
        for key in SCORE_KEYS & found.keys():
            track.attributes[key] = found[key]
        for key in RECENT_KEYS:
            recent = [r[key] for r in self._recent.get(track.track_id, ()) if key in r]
            if recent:
                track.attributes[key] = Counter(recent).most_common(1)[0][0]
        if "brand" in votes:
            track.attributes["shared"] = track.attributes["brand"] in ("meituan", "hellobike", "qingju")

    def forget(self, track_ids: Iterable[int]) -> None:
        for track_id in track_ids:
            self._reads.pop(track_id, None)
            self._votes.pop(track_id, None)
            self._recent.pop(track_id, None)
