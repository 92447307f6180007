"""A folder of still images as a source: sorted by name, one image per 1/fps seconds, no clips."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from detectors.base import file_sha256
from detectors.images import IMAGE_SUFFIXES, ImageReadError, read_bgr
from evidence.types import TimeSource
from pipeline.sources.base import PacketSink, RecordStreamParams, SourceError
from pipeline.types import Frame

logger = logging.getLogger(__name__)


class ImageFolderSource:
    record_stream: RecordStreamParams | None = None  # stills: no clip
    live = False

    def __init__(self, camera_id: str, folder: Path, fps: float, start_time: datetime | None = None) -> None:
        if not folder.is_dir():
            raise SourceError(f"image folder not found: {folder}")
        self.camera_id = camera_id
        self.fps = fps
        self.files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.files:
            raise SourceError(f"{folder} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
        self.total_frames: int | None = len(self.files)
        listing = hashlib.sha256()
        for path in self.files:
            listing.update(f"{path.name}\0{file_sha256(path)}\n".encode())
        self.origin_id = f"images:{listing.hexdigest()}"
        self.time_source = TimeSource.CONFIG if start_time else TimeSource.WALL_CLOCK
        self._origin = (start_time or datetime.now(UTC)).astimezone(UTC)
        self.problems: list[str] = []

    def frames(self, on_packet: PacketSink | None = None) -> Iterator[Frame]:
        for seq, path in enumerate(self.files):
            try:
                image = read_bgr(path)
            except ImageReadError as exc:
                self.problems.append(f"skipped {exc}")
                logger.warning("%s", self.problems[-1])
                continue
            pts_s = seq / self.fps
            yield Frame(
                camera_id=self.camera_id,
                seq=seq,
                pts_s=pts_s,
                captured_at=self._origin + timedelta(seconds=pts_s),
                image=image,
                from_file=True,
                time_source=self.time_source,
            )

    def close(self) -> None:
        pass
