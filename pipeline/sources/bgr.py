"""Decoded pictures to BGR arrays, with one scaler per stream.

PyAV's ``frame.to_ndarray(format="bgr24")`` sets up a new FFmpeg scaler for every frame (about 5 ms for a
640x360 picture on this box, against 0.2 ms for the conversion itself); one :class:`BgrConverter` per stream
keeps its scaler (rebuilt only when the picture size changes).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from av.video.reformatter import VideoReformatter


class BgrConverter:
    def __init__(self) -> None:
        self._reformatter = VideoReformatter()

    def __call__(self, frame: Any) -> npt.NDArray[np.uint8]:
        """A contiguous (H, W, 3) uint8 BGR copy of a decoded PyAV video frame."""
        image = self._reformatter.reformat(frame, format="bgr24").to_ndarray()
        return np.ascontiguousarray(image, dtype=np.uint8)
