"""Evidence clips: the camera's own packets remuxed (stream copy) into MP4, then validated."""

from __future__ import annotations

import io
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.error


class ClipError(RuntimeError):
    """A clip could not be cut or failed validation."""


@dataclass(frozen=True)
class EncodedPacket:
    """One compressed packet of the record stream, as the camera sent it."""

    data: bytes
    pts: int
    dts: int | None
    duration: int
    time_base: Fraction
    is_keyframe: bool
    t_s: float  # presentation time in seconds since the stream's first frame (the clock of Frame.pts_s)


@dataclass(frozen=True)
class RecordStreamParams:
    """What muxing the record stream's packets into a file needs, as plain bytes: picklable, so capture and
    evidence can live in different processes.

    ``header`` is a tiny NUT file (FFmpeg's own container, which keeps codec data verbatim) with the stream's
    codec parameters and its first keyframe: FFmpeg rebuilds exact parameters (SPS/PPS, reorder delay, colour
    tags) only from a stream it reads, and cannot read back a container that holds no packet.
    """

    codec: str  # ffmpeg codec name, e.g. "h264", "hevc"
    width: int
    height: int
    header: bytes

    @classmethod
    def of(cls, stream: Any, first_keyframe: Any) -> RecordStreamParams:
        """From a PyAV video stream and one keyframe packet of it (the one place library objects are read)."""
        buffer = io.BytesIO()
        with av.open(buffer, mode="w", format="nut") as output:
            copy = output.add_stream_from_template(stream)
            packet = av.Packet(bytes(first_keyframe))
            packet.pts, packet.dts, packet.time_base = 0, 0, first_keyframe.time_base
            packet.is_keyframe = True
            packet.stream = copy
            output.mux(packet)
        context = stream.codec_context
        return cls(
            codec=str(context.name), width=int(context.width), height=int(context.height), header=buffer.getvalue()
        )

    @classmethod
    def of_file(cls, path: Path) -> RecordStreamParams:
        """The parameters of a file's first video stream."""
        try:
            with av.open(str(path)) as container:
                stream = container.streams.video[0]
                first = next((p for p in container.demux(stream) if p.size and p.is_keyframe), None)
                if first is None:
                    raise ClipError(f"{path}: no keyframe in the video stream")
                return cls.of(stream, first)
        except av.error.FFmpegError as exc:
            raise ClipError(f"{path}: cannot read the record stream's parameters ({exc})") from exc


@dataclass(frozen=True)
class Clip:
    data: bytes
    start_s: float
    end_s: float
    packets: int


def select_packets(packets: Sequence[EncodedPacket], start_s: float, end_s: float) -> list[EncodedPacket]:
    """Packets from the last keyframe at or before ``start_s`` up to ``end_s``, in decode order.

    A packet is kept when its decode time is within the window, which keeps every frame shown up to
    ``end_s`` together with the reference frames it needs.
    """
    keyframes = [i for i, p in enumerate(packets) if p.is_keyframe]
    if not keyframes:
        return []
    before = [i for i in keyframes if packets[i].t_s <= start_s + 1e-6]
    first = before[-1] if before else keyframes[0]
    return [p for p in packets[first:] if _decode_s(p) <= end_s + 1e-6]


def _decode_s(packet: EncodedPacket) -> float:
    if packet.dts is None:
        return packet.t_s
    return packet.t_s - float((packet.pts - packet.dts) * packet.time_base)


def cut_clip(packets: Sequence[EncodedPacket], params: RecordStreamParams, start_s: float, end_s: float) -> Clip:
    """Remux the packets covering [start_s, end_s] into an MP4 without re-encoding."""
    chosen = select_packets(packets, start_s, end_s)
    if not chosen:
        raise ClipError(f"no keyframe in the buffer for {start_s:.2f}-{end_s:.2f} s")
    # faststart (index first, so browsers play while downloading) needs a real, re-openable file.
    with tempfile.TemporaryDirectory(prefix="nonsite-clip-") as tmp:
        path = Path(tmp) / "clip.mp4"
        _mux(chosen, params, path)
        data = path.read_bytes()
    times = [p.t_s for p in chosen]
    return Clip(data=data, start_s=min(times), end_s=max(times), packets=len(chosen))


def _mux(chosen: list[EncodedPacket], params: RecordStreamParams, path: Path) -> None:
    try:
        with av.open(str(path), mode="w", format="mp4", options={"movflags": "+faststart"}) as output:
            template = av.open(io.BytesIO(params.header), format="nut").streams.video[0]
            stream = output.add_stream_from_template(template)
            base_pts = chosen[0].pts
            base_dts = chosen[0].dts if chosen[0].dts is not None else base_pts
            offset = min(base_pts, base_dts)
            for source in chosen:
                packet = av.Packet(source.data)
                packet.pts = source.pts - offset
                packet.dts = (source.dts - offset) if source.dts is not None else None
                packet.duration = source.duration
                packet.time_base = source.time_base
                packet.is_keyframe = source.is_keyframe
                packet.stream = stream
                output.mux(packet)
    except (av.error.FFmpegError, ValueError) as exc:
        raise ClipError(f"cannot mux clip: {exc}") from exc


@dataclass(frozen=True)
class ClipCheck:
    """What decoding a whole clip found: clean frames, and the packets that did not give one."""

    packets: int
    clean_frames: int
    corrupt_frames: int  # decoded, but the decoder flagged them (concealed errors)
    undecodable_packets: int  # gave an error and no frame

    @property
    def problem(self) -> str | None:
        """A note for the manifest when the clip is not entirely clean, else None."""
        if self.clean_frames == self.packets:
            return None
        return (
            f"{self.packets - self.clean_frames} of {self.packets} frames do not decode cleanly "
            f"({self.corrupt_frames} corrupt, {self.undecodable_packets} undecodable): the camera's bitstream "
            "is kept as recorded"
        )


def validate_clip(clip: Clip) -> ClipCheck:
    """Decode the clip packet by packet; raise when nothing decodes, report frames that are not clean.

    The deblocking filter is skipped: it only smooths pictures, and a damaged slice or a missing reference is
    found (and flagged) before it runs, so the check finds the same frames for 10–30 % less CPU (measured on
    the two 1080p development clips)."""
    clean = corrupt = undecodable = 0
    try:
        with av.open(io.BytesIO(clip.data), mode="r") as container:
            stream = container.streams.video[0]
            stream.codec_context.options = {"skip_loop_filter": "all"}
            for packet in container.demux(stream):
                try:
                    frames = packet.decode()
                except av.error.InvalidDataError:
                    undecodable += 1
                    continue
                for frame in frames:
                    corrupt += bool(frame.is_corrupt)
                    clean += not frame.is_corrupt
    except (av.error.FFmpegError, IndexError) as exc:
        raise ClipError(f"clip does not decode: {exc}") from exc
    if clean == 0:
        raise ClipError(f"clip decodes to no clean frame ({clip.packets} packets)")
    return ClipCheck(clip.packets, clean, corrupt, undecodable)
