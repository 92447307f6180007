"""The frame size of a camera's detect input, read without decoding the whole input (for config checks)."""

from __future__ import annotations

from pathlib import Path

import av
import av.error
import cv2

from detectors.images import IMAGE_SUFFIXES
from pipeline.config import CameraConfig, InputRole


def probe_resolution(camera: CameraConfig) -> tuple[int, int] | None:
    """(width, height) of the camera's detect input; None when it cannot be read now (the run will say why)."""
    path = camera.input_for(InputRole.DETECT).path
    if path is None or not path.exists():
        return None
    if path.is_dir():
        first = next((p for p in sorted(path.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES), None)
        return _image_size(first) if first else None
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                return None
            context = container.streams.video[0].codec_context
            return (int(context.width), int(context.height)) if context.width and context.height else None
    except (av.error.FFmpegError, OSError):
        return None


def _image_size(path: Path) -> tuple[int, int] | None:
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    return (int(image.shape[1]), int(image.shape[0])) if image is not None else None


def zone_problems(camera: CameraConfig, resolution_wh: tuple[int, int]) -> tuple[list[str], list[str]]:
    """(errors, warnings) for zones that lie wholly / partly outside a frame of ``resolution_wh``."""
    width, height = resolution_wh
    errors, warnings = [], []
    for index, zone in enumerate(camera.zones):
        where = f"cameras[{camera.id}].zones[{index}] ({zone.name})"
        xs = [x for x, _ in zone.polygon]
        ys = [y for _, y in zone.polygon]
        if min(xs) >= width or min(ys) >= height:
            errors.append(f"{where}: the polygon lies wholly outside the {width}x{height} frame of its input")
        elif max(xs) > width or max(ys) > height:
            warnings.append(f"{where}: part of the polygon lies outside the {width}x{height} frame (clipped)")
    return errors, warnings
