"""Builds the source for a camera from its config inputs: a video file, an image folder or a live RTSP camera."""

from __future__ import annotations

from pathlib import Path

from pipeline.config import CameraConfig, InputRole
from pipeline.sources.base import FrameSource, SourceError
from pipeline.sources.image_folder import ImageFolderSource
from pipeline.sources.rtsp import RtspSource
from pipeline.sources.video_file import VideoFileSource


def open_source(camera: CameraConfig, override: Path | None = None) -> FrameSource:
    """The camera's configured source, or ``override`` (a file or folder) used for both roles."""
    detect = camera.input_for(InputRole.DETECT)
    record = camera.input_for(InputRole.RECORD)
    url = detect.stream_url()
    if url is not None and override is None:  # a separate record input is the camera's main stream, for clips
        record_url = None if record is detect else record.stream_url()
        return RtspSource(camera.id, url, camera.fps, camera.stream, record_url=record_url)
    detect_path = override or detect.path
    record_path = override or record.path
    if detect_path is None:
        raise SourceError(f"camera {camera.id}: the detect input has no path")
    if detect_path.is_dir():
        return ImageFolderSource(camera.id, detect_path, camera.fps, detect.start_time)
    return VideoFileSource(camera.id, detect_path, camera.fps, record_path, detect.start_time)
