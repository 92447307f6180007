"""A camera's health as the API's ``PUT /api/v1/channels`` takes it (the API's ``ChannelReport`` validates it)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import cv2
import numpy as np

from pipeline.runtime import CameraHealth, CameraState

SNAPSHOT_WIDTH = 320  # px: the operations centre's grid tile
SNAPSHOT_QUALITY = 70


def channel_status(health: CameraHealth) -> str:
    """online | stalled | reconnecting | offline. A live camera says it itself; a file is online while read."""
    if health.channel is not None and health.state in (CameraState.STARTING, CameraState.RUNNING):
        return health.channel.state.value
    return "online" if health.state in (CameraState.STARTING, CameraState.RUNNING) else "offline"


def frames_dropped(health: CameraHealth) -> int:
    """Frames lost to a slow analysis: by the runtime's queue, and by a live source replacing its latest frame."""
    return health.dropped + (health.channel.dropped if health.channel else 0)


def last_frame_at(health: CameraHealth) -> datetime | None:
    """When the newest frame came: a live source knows it even while the runtime has not taken it yet."""
    return health.channel.last_frame_at if health.channel else health.last_frame_at


def channel_report(health: CameraHealth, *, analysed_fps: float, input_fps: float) -> dict[str, Any]:
    """JSON-ready; ``analysed_fps`` and ``input_fps`` are measured by the caller between two reports."""
    channel = health.channel
    return {
        "camera_id": health.camera_id,
        "status": channel_status(health),
        "runtime_state": health.state.value,
        "input_fps": round(channel.input_fps if channel else input_fps, 3),
        "analysed_fps": round(analysed_fps, 3),
        "frames_in": health.frames_in,
        "analysed": health.analysed,
        "dropped": frames_dropped(health),
        "reconnects": channel.reconnects if channel else 0,
        "last_frame_at": _iso(last_frame_at(health)),
        "last_error": _bounded(health.error or (channel.last_error if channel else None)),
        "frame_size": list(channel.frame_size) if channel and channel.frame_size else None,
        # The main stream evidence clips are cut from, when it is not the analysed one.
        "record_status": channel.record.state.value if channel and channel.record else None,
        "record_error": _bounded(channel.record.last_error) if channel and channel.record else None,
        "open_violations": health.open_violations,
        "violations": health.violations,
        "windows": [
            {
                "rule": w.rule,
                "start": w.start.isoformat(),
                "end": w.end.isoformat(),
                "analysed_s": round(w.analysed_s, 1),
                "elapsed_s": round(w.elapsed_s, 1),
            }
            for w in {w.rule: w for w in health.windows}.values()  # the newest window of each rule
        ],
    }


def snapshot_jpeg(image: np.ndarray) -> bytes:
    """A small JPEG of a BGR frame for the channel grid."""
    height, width = image.shape[:2]
    if width > SNAPSHOT_WIDTH:
        image = cv2.resize(
            image, (SNAPSHOT_WIDTH, max(1, round(height * SNAPSHOT_WIDTH / width))), interpolation=cv2.INTER_AREA
        )
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, SNAPSHOT_QUALITY])
    if not ok:
        raise ValueError("the frame could not be encoded as JPEG")
    return encoded.tobytes()


def _bounded(text: str | None, limit: int = 2000) -> str | None:
    return text if text is None or len(text) <= limit else text[: limit - 1] + "…"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
