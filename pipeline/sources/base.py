"""The frame-source interface and the encoded-packet type kept for evidence clips."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Protocol

from evidence.clips import EncodedPacket, RecordStreamParams
from pipeline.types import Frame

__all__ = ["EncodedPacket", "FrameSource", "PacketSink", "RecordStreamParams", "SourceError"]


class SourceError(RuntimeError):
    """A source cannot be opened or read; the message names the input and the reason."""


PacketSink = Callable[[EncodedPacket], None]


class FrameSource(Protocol):
    """Yields the frames to analyse, in stream order, and reports record-stream packets to a sink.

    A live source (RTSP) implements the same protocol and never ends on its own; ``close`` stops it.
    """

    camera_id: str
    origin_id: str  # names the footage (file content hash, or the live capture session): violation ids use it
    total_frames: int | None  # frames that will be analysed, when known (for progress bars)

    @property
    def record_stream(self) -> RecordStreamParams | None:
        """The record stream's codec parameters, used to mux clips (None until known)."""
        ...

    live: bool  # a camera (keep the latest frames, drop old ones) rather than a file (every frame analysed)
    problems: list[str]  # inputs skipped while reading (corrupt packets, unreadable images), for the run summary

    def frames(self, on_packet: PacketSink | None = None) -> Iterator[Frame]: ...

    def close(self) -> None: ...
