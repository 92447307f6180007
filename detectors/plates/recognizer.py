"""CTC text recognition (PP-OCRv4 from PyPI ``rapidocr_onnxruntime``), decoding only plate characters."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from detectors.base import Image
from detectors.onnx_session import open_session
from detectors.plates.formats import PLATE_CHARS

HEIGHT = 48


@dataclass(frozen=True)
class TextRead:
    text: str
    confidence: float  # product of the per-character probabilities


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

    def read(self, line: Image) -> TextRead:
        """Recognise one rectified text line (BGR)."""
        h, w = line.shape[:2]
        width = max(HEIGHT, round(w * HEIGHT / max(h, 1)))
        x = cv2.resize(line, (width, HEIGHT)).astype(np.float32) / 127.5 - 1.0
        probs = self._session.run(None, {self._input: x.transpose(2, 0, 1)[None]})[0][0]
        probs = np.where(self._allowed[None, : probs.shape[1]], probs, 0.0)
        best = probs.argmax(axis=1)
        chars, scores, previous = [], [], 0
        for t, index in enumerate(best):
            if index != 0 and index != previous:
                chars.append(self.alphabet[index])
                scores.append(float(probs[t, index]))
            previous = index
        return TextRead(text="".join(chars), confidence=float(np.prod(scores)) if scores else 0.0)
