"""Voting over a track's plate reads, character by character.

Each read of a vehicle's plate gives, per character, the recogniser's probabilities over its alphabet. Reads
with the same number of characters are averaged position by position and the average is read again under the
plate formats: a province that is unsure in one frame and clear in two others comes out right, and the plate's
confidence is the weakest of the averaged per-character probabilities — one threshold on a quantity that means the same
for a 7- or 8-character plate, one row or two.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

import numpy as np

from detectors.plates.colour import PlateColour
from detectors.plates.formats import is_valid_plate
from detectors.plates.reader import UNREADABLE, PlateRead
from detectors.plates.recognizer import PlateDecoder, TextRead


@dataclass(frozen=True)
class PlateVerdict:
    """What a track's reads say about its plate so far."""

    text: str  # "unreadable" until enough reads agree on a confident plate
    colour: PlateColour | None
    confidence: float  # the weakest of the per-character probabilities averaged over the reads
    reads: int  # reads that were averaged (same length)
    agreeing: int  # of those, reads that alone gave the same text


UNDECIDED = PlateVerdict(UNREADABLE, None, 0.0, 0, 0)


@dataclass
class PlateVote:
    """Accumulates reads of one vehicle across frames; reads with no characters never vote."""

    decoder: PlateDecoder
    min_votes: int = 2
    min_confidence: float = 0.6
    _lines: dict[int, list[TextRead]] = field(default_factory=lambda: defaultdict(list))
    _texts: dict[int, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    _colours: dict[int, Counter[PlateColour]] = field(default_factory=lambda: defaultdict(Counter))

    def add(self, read: PlateRead) -> None:
        if read.line is None or not read.line.char_probs:
            return
        length = len(read.line.char_probs)
        self._lines[length].append(read.line)
        self._texts[length][read.text] += 1
        self._colours[length][read.color] += 1

    def result(self) -> PlateVerdict:
        if not self._lines:
            return UNDECIDED
        length = max(self._lines, key=lambda n: len(self._lines[n]))
        lines = self._lines[length]
        if len(lines) < self.min_votes:
            return UNDECIDED
        mean = np.mean([line.rows for line in lines], axis=0)
        averaged = TextRead("", tuple(float(v) for v in mean.max(axis=1)), mean)
        plate = self.decoder.as_plate(averaged)
        if not is_valid_plate(plate.text) or plate.confidence < self.min_confidence:
            return UNDECIDED
        colour = self._colours[length].most_common(1)[0][0]
        return PlateVerdict(plate.text, colour, plate.confidence, len(lines), self._texts[length][plate.text])
