"""CTC text recognition (PP-OCRv4 from PyPI ``rapidocr_onnxruntime``), decoding only plate characters."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from detectors.base import Image
from detectors.onnx_session import open_session
from detectors.plates.formats import FORMATS, PLATE_CHARS

HEIGHT = 48


@dataclass(frozen=True)
class TextRead:
    """One line as read: the greedy text, each character's probability, and each character's full row of
    probabilities over ``alphabet`` (for re-reading it under a plate format)."""

    text: str
    char_probs: tuple[float, ...]
    rows: npt.NDArray[np.float32] = field(compare=False, repr=False)  # (characters, alphabet)

    @property
    def confidence(self) -> float:
        """The weakest character's probability: a plate is only as sure as its least sure character."""
        return min(self.char_probs, default=0.0)

    def __add__(self, other: TextRead) -> TextRead:
        """Two rows of a double-row plate read as one text."""
        return TextRead(self.text + other.text, self.char_probs + other.char_probs, np.vstack([self.rows, other.rows]))


class PlateDecoder:
    """Re-reads a line under the plate formats of ``formats.FORMATS`` (``alphabet``: the recogniser's)."""

    def __init__(self, alphabet: list[str]) -> None:
        self.alphabet = alphabet
        index = {char: i for i, char in enumerate(alphabet) if char}
        # Per plate format, per position: the alphabet indices of the characters allowed there.
        self._formats = [
            [np.array([index[c] for c in chars if c in index], np.int64) for chars in layout] for layout in FORMATS
        ]

    def as_plate(self, read: TextRead) -> TextRead:
        """The most probable text of ``read``'s length that follows a plate format (each character chosen among
        those its position allows), with its characters' probabilities; ``read`` itself when no format has its
        length. A "0" where a letter must be becomes the likeliest letter, at that letter's own probability."""
        best: TextRead | None = None
        best_score = -np.inf
        for layout in self._formats:
            if len(layout) != len(read.char_probs):
                continue
            if any(allowed.size == 0 for allowed in layout):
                continue
            chosen = [int(allowed[read.rows[i, allowed].argmax()]) for i, allowed in enumerate(layout)]
            probs = tuple(float(read.rows[i, c]) for i, c in enumerate(chosen))
            score = float(np.log(np.maximum(probs, 1e-12)).sum())
            if score > best_score:
                best_score = score
                best = TextRead("".join(self.alphabet[c] for c in chosen), probs, read.rows)
        return best or read


class CtcRecognizer:
    """Greedy CTC over the model's alphabet restricted to characters that can appear on a plate."""

    def __init__(self, model_path: Path, threads: int = 2) -> None:
        self._session, self.sha256 = open_session(model_path, threads)
        self._input = self._session.get_inputs()[0].name
        raw = self._session.get_modelmeta().custom_metadata_map.get("character", "")
        # Index 0 is the CTC blank; the model's dictionary follows, then a space.
        self.alphabet = ["", *raw.splitlines(), " "]
        allowed = np.array([c in PLATE_CHARS for c in self.alphabet])
        allowed[0] = True
        self._allowed = allowed
        self.plates = PlateDecoder(self.alphabet)

    def read(self, line: Image) -> TextRead:
        """Recognise one rectified text line (BGR)."""
        h, w = line.shape[:2]
        width = max(HEIGHT, round(w * HEIGHT / max(h, 1)))
        x = cv2.resize(line, (width, HEIGHT)).astype(np.float32) / 127.5 - 1.0
        probs = self._session.run(None, {self._input: x.transpose(2, 0, 1)[None]})[0][0]
        probs = np.where(self._allowed[None, : probs.shape[1]], probs, 0.0)
        best = probs.argmax(axis=1)
        peaks: list[int] = []  # per character, the frame where it is most probable
        previous = 0
        for t, index in enumerate(best):
            if index != 0 and index != previous:
                peaks.append(t)
            elif index != 0 and probs[t, index] > probs[peaks[-1], index]:
                peaks[-1] = t
            previous = index
        rows = np.asarray(probs[peaks], np.float32).reshape(len(peaks), probs.shape[1])
        text = "".join(self.alphabet[best[t]] for t in peaks)
        return TextRead(text, tuple(float(probs[t, best[t]]) for t in peaks), rows)
