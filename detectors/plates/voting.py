"""Voting over a track's plate reads: the plate is the text most often read validly, weighted by confidence."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from detectors.plates.colour import PlateColour
from detectors.plates.reader import UNREADABLE, PlateRead


@dataclass
class PlateVote:
    """Accumulates reads of one vehicle across frames; unreadable reads never vote."""

    min_votes: int = 2
    _score: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    _count: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    _colour: dict[str, dict[PlateColour, int]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(int)))

    def add(self, read: PlateRead) -> None:
        if read.text == UNREADABLE:
            return
        self._score[read.text] += read.confidence
        self._count[read.text] += 1
        self._colour[read.text][read.color] += 1

    def leading_votes(self) -> int:
        """How many reads agree with the current leader."""
        if not self._score:
            return 0
        best = max(self._score, key=lambda text: (self._score[text], self._count[text]))
        return self._count[best]

    def result(self) -> tuple[str, PlateColour | None, float]:
        """(text, colour, share of the confidence mass) — text is "unreadable" until a read has enough votes."""
        if not self._score:
            return UNREADABLE, None, 0.0
        best = max(self._score, key=lambda text: (self._score[text], self._count[text]))
        if self._count[best] < self.min_votes:
            return UNREADABLE, None, 0.0
        colours = self._colour[best]
        share = self._score[best] / sum(self._score.values())
        return best, max(colours, key=lambda c: colours[c]), share
