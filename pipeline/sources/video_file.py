"""Video files through PyAV: every packet demuxed once, only analysed frames converted to BGR."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.error

from detectors.base import file_sha256
from evidence.clips import ClipError
from evidence.types import TimeSource
from pipeline.sources.base import EncodedPacket, PacketSink, RecordStreamParams, SourceError
from pipeline.sources.bgr import BgrConverter
from pipeline.types import Frame

logger = logging.getLogger(__name__)


def _open(path: Path) -> Any:
    if not path.exists():
        raise SourceError(f"video file not found: {path}")
    if not path.is_file():
        raise SourceError(f"not a file: {path}")
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as exc:
        raise SourceError(f"cannot open {path}: not a readable video ({exc})") from exc
    if not container.streams.video:
        container.close()
        raise SourceError(f"{path} has no video stream")
    return container


def _start_time(container: Any, configured: datetime | None) -> tuple[datetime, TimeSource]:
    if configured is not None:
        return configured.astimezone(UTC), TimeSource.CONFIG
    created = container.metadata.get("creation_time")
    if created:
        try:
            return datetime.fromisoformat(created.replace("Z", "+00:00")).astimezone(UTC), TimeSource.CONTAINER
        except ValueError:
            logger.warning("ignoring unparsable creation_time %r", created)
    return datetime.now(UTC), TimeSource.WALL_CLOCK


class VideoFileSource:
    """Reads a file to its end, analysing ``fps`` frames per second of stream time.

    When the record input is another file (a main stream beside a sub-stream), its packets are read in
    step with the detect stream so the ring buffer always covers the analysed time.
    """

    def __init__(
        self,
        camera_id: str,
        detect_path: Path,
        fps: float,
        record_path: Path | None = None,
        start_time: datetime | None = None,
    ) -> None:
        self.camera_id = camera_id
        self.fps = fps
        self.path = detect_path
        self._container = _open(detect_path)
        self.origin_id = f"file:{file_sha256(detect_path)}"
        self._stream = self._container.streams.video[0]
        self._stream.thread_type = "AUTO"
        self.keyframes_only = 1.0 / fps >= _max_keyframe_gap_s(detect_path) - 1e-3
        # Decode only what is analysed where the codec allows: when the analysis interval is at least the
        # keyframe interval, keyframes alone serve every sample; otherwise non-reference frames are skipped.
        self._stream.codec_context.skip_frame = "NONKEY" if self.keyframes_only else "NONREF"
        self._record_container = _open(record_path) if record_path and record_path != detect_path else None
        record_stream = (self._record_container or self._container).streams.video[0]
        try:
            self.record_stream: RecordStreamParams | None = RecordStreamParams.of_file(record_path or detect_path)
        except ClipError as exc:
            self.close()
            raise SourceError(f"{record_path or detect_path}: not a readable video ({exc})") from exc
        self.live = False
        self._origin, self.time_source = _start_time(self._container, start_time)
        duration_s = float(self._stream.duration * self._stream.time_base) if self._stream.duration else None
        if duration_s is None and self._container.duration:
            duration_s = self._container.duration / 1_000_000
        self.total_frames = int(duration_s * fps) + 1 if duration_s else None
        self._origin_s = _stream_origin_s(self._stream)
        self._record_origin_s = _stream_origin_s(record_stream)
        self.problems: list[str] = []

    def _record_packets(self) -> Iterator[EncodedPacket]:
        assert self._record_container is not None
        stream = self._record_container.streams.video[0]
        for packet in self._record_container.demux(stream):
            if packet.size:
                yield _encoded(packet, self._record_origin_s)

    def _decoded(self, on_packet: PacketSink | None) -> Iterator[tuple[float, Any]]:
        """Every decoded frame with its stream time; record packets go to ``on_packet`` as they are read."""
        record_iter = self._record_packets() if self._record_container is not None else None
        pending_record: EncodedPacket | None = None
        for packet in self._container.demux(self._stream):
            if not packet.size:
                continue  # flush packet at end of stream
            if on_packet is not None and record_iter is None:
                on_packet(_encoded(packet, self._origin_s))
            try:
                decoded = packet.decode()
            except av.error.InvalidDataError as exc:
                self.problems.append(f"{self.path}: corrupt packet at pts {packet.pts} skipped ({exc})")
                logger.warning("%s", self.problems[-1])
                continue
            for frame in decoded:
                if frame.pts is None:
                    continue
                pts_s = float(frame.pts * self._stream.time_base) - self._origin_s
                if record_iter is not None and on_packet is not None:
                    pending_record = _feed_until(record_iter, pending_record, pts_s, on_packet)
                yield pts_s, frame
        if record_iter is not None and on_packet is not None:
            _feed_until(record_iter, pending_record, float("inf"), on_packet)

    def frames(self, on_packet: PacketSink | None = None) -> Iterator[Frame]:
        interval = 1.0 / self.fps
        next_due: float | None = None
        seq = 0
        to_bgr = BgrConverter()  # one for the file (see pipeline.sources.bgr)
        try:
            for pts_s, frame in self._decoded(on_packet):
                if next_due is None:
                    next_due = pts_s
                if pts_s + 1e-6 < next_due:
                    continue  # decoded (later frames reference it) but not converted or analysed
                next_due += interval * max(1, int((pts_s - next_due) / interval) + 1)
                yield Frame(
                    camera_id=self.camera_id,
                    seq=seq,
                    pts_s=pts_s,
                    captured_at=self._origin + timedelta(seconds=pts_s),
                    image=to_bgr(frame),
                    from_file=True,
                    time_source=self.time_source,
                )
                seq += 1
        except av.error.FFmpegError as exc:
            raise SourceError(f"{self.path}: video is corrupt or truncated ({exc})") from exc
        if seq == 0:
            raise SourceError(f"{self.path}: no decodable frames (corrupt or empty video)")

    def close(self) -> None:
        self._container.close()
        if self._record_container is not None:
            self._record_container.close()


def _feed_until(
    packets: Iterator[EncodedPacket], pending: EncodedPacket | None, until_s: float, sink: PacketSink
) -> EncodedPacket | None:
    """Push record packets up to ``until_s``; return the first packet past it (held for next time)."""
    packet = pending or next(packets, None)
    while packet is not None and packet.t_s <= until_s:
        sink(packet)
        packet = next(packets, None)
    return packet


def _max_keyframe_gap_s(path: Path) -> float:
    """Largest distance between keyframes, from a demux-only pass (no decoding); inf when unknown."""
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            if stream.time_base is None:
                return float("inf")
            times = [
                float(p.pts * stream.time_base) for p in container.demux(stream) if p.is_keyframe and p.pts is not None
            ]
    except av.error.FFmpegError:
        return float("inf")
    if len(times) < 2:
        return float("inf")
    return max(b - a for a, b in itertools.pairwise(times))


def _stream_origin_s(stream: Any) -> float:
    return float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0


def _encoded(packet: Any, origin_s: float) -> EncodedPacket:
    pts = int(packet.pts if packet.pts is not None else packet.dts)
    return EncodedPacket(
        data=bytes(packet),
        pts=pts,
        t_s=float(pts * packet.time_base) - origin_s,
        dts=packet.dts,
        duration=int(packet.duration or 0),
        time_base=Fraction(packet.time_base),
        is_keyframe=bool(packet.is_keyframe),
    )
