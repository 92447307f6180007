"""The capture process of one camera: opens the stream, decodes it, and sends what the parent needs.

Runs in its own interpreter (``python -m pipeline.sources.rtsp_capture FD``, settings pickled on stdin), so a
capture that hangs inside FFmpeg, or crashes, is killed and restarted by :class:`pipeline.sources.rtsp.RtspSource`
without touching any other camera. It imports PyAV, the evidence record types and two small source helpers
(``stream_url``; ``bgr``, with numpy, only in a capture that decodes), nothing else of nonsite: a record-only
capture, one per camera whose main stream is recorded, stays about 11 MB smaller without numpy. It ignores
SIGINT: Ctrl-C stops the parent, which stops its captures. Messages to the parent, over the pipe FD:

- ``("open", width, height, codec)`` once the stream is open;
- ``("tick", pts_s, frames, packets)`` at most four times a second while packets arrive (the watchdog's
  heartbeat: the camera sends new pictures, decoded or not; ``frames`` of them since the last tick, 0 when only
  packets with no newer time came), with the record stream's packets since the last tick (below);
- ``("frame", pts_s, height, width)`` followed by the BGR bytes, at most ``fps`` times per second of stream time;
- only the packets a due frame needs are decoded (:class:`DecodePlan`): when the next keyframe will arrive by the
  time the next frame is due, the rest of the group of pictures is skipped, so a camera sending a keyframe a
  second analysed at 1 fps decodes its keyframes and nothing else;
- ``("record", RecordStreamParams)`` at the first keyframe, then every packet's fields (``_packet_fields``) in the
  ticks, when the stream is also the record stream (evidence clips are cut from these): a quarter second's
  packets in one message, so the parent's thread wakes four times a second instead of once a packet (25 times
  for a 25 fps main stream); a timer thread sends what waits when packets stop, and the rest goes before the
  capture ends;
- a record-only stream (the camera's main stream, when the sub-stream is analysed) is never decoded: a 1080p
  stream costs what demuxing costs;
- ``("error", kind, message)`` before it exits (the message already scrubbed of credentials).
"""

from __future__ import annotations

import pickle
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from statistics import median_high
from typing import TYPE_CHECKING, Any

import av
import av.error

from evidence.clips import RecordStreamParams
from pipeline.sources.stream_url import PROTOCOL_WHITELIST, StreamUrl, scrub

if TYPE_CHECKING:
    from pipeline.sources.bgr import BgrConverter


@dataclass(frozen=True)
class CaptureSettings:
    """What the capture process needs; plain values, picklable."""

    url: StreamUrl
    fps: float
    transport: str  # tcp or udp
    open_timeout_s: float
    read_timeout_s: float
    send_packets: bool  # the stream is also the record stream: forward its encoded packets
    decode: bool = True  # False: a record-only (main) stream, demuxed but never decoded; ticks follow its packets
    stall_timeout_s: float = 10.0  # an analysed stream that sends packets but no picture for this long (plus what
    # _Analysed adds: an analysis interval, the longest keyframe interval the plan may skip, ...) ends as stalled


# Error kinds the parent turns into a channel status message.
UNAUTHORIZED, NOT_FOUND, REFUSED, TIMEOUT, NO_VIDEO, NO_PICTURE, ENDED, FAILED = (
    "unauthorized",
    "not_found",
    "refused",
    "timeout",
    "no_video",
    "no_picture",
    "ended",
    "failed",
)


class NothingDecodes(RuntimeError):
    """Packets keep arriving but none of them gives a picture (a damaged or unsupported stream)."""


def classify(exc: BaseException) -> str:
    if isinstance(exc, NothingDecodes):
        return NO_PICTURE
    if isinstance(exc, av.error.HTTPUnauthorizedError | av.error.HTTPForbiddenError):
        return UNAUTHORIZED
    if isinstance(exc, av.error.HTTPNotFoundError):
        return NOT_FOUND
    if isinstance(exc, ConnectionRefusedError):
        return REFUSED
    if isinstance(exc, TimeoutError | av.error.ExitError):  # ExitError: the interrupt callback's read timeout
        return TIMEOUT
    return FAILED


class Pipe:
    """The connection to the parent, shared by the demux loop and the heartbeat's timer thread: one message at a
    time (a frame's header and its bytes together)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._lock = threading.Lock()

    def send(self, message: tuple[Any, ...], data: bytes | None = None) -> None:
        with self._lock:
            self.conn.send(message)
            if data is not None:
                self.conn.send_bytes(data)


def run(settings: CaptureSettings, conn: Connection) -> None:
    """The process body: never raises; every failure ends as one ``error`` message."""
    try:
        _capture(settings, Pipe(conn))
        conn.send(("error", ENDED, f"{settings.url.redacted}: the stream ended"))
    except (BrokenPipeError, EOFError):
        return  # the parent has gone
    except Exception as exc:  # FFmpeg and socket errors of every kind: reported, classified, scrubbed
        message = scrub(f"{type(exc).__name__}: {exc}", settings.url)
        try:
            conn.send(("error", classify(exc), message))
        except (BrokenPipeError, EOFError, OSError):
            return
    finally:
        conn.close()


DUE_SLACK_S = 0.005  # a frame this much before its due time counts as due (under half a frame even at 60 fps)
GOP_HISTORY = 4  # keyframe intervals remembered; the longest of them is the one planned with


class DecodePlan:
    """Which packets of an analysed stream to decode: those a due frame needs, nothing more.

    A packet is skipped when the next keyframe is expected no later than the next due frame (expected from the
    longest of the last few keyframe intervals, so a camera whose groups of pictures vary is planned for the
    long ones). Once a packet is skipped the decoder waits for the next keyframe, whatever the plan said, so a
    frame is never decoded against a reference it has not seen. Packet times only (decode order is presentation
    order for cameras without B-frames; with B-frames the plan is still safe, only less exact).
    """

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self.next_due: float | None = None  # stream time the next analysed frame is due
        self._last_key: float | None = None
        self._gaps: deque[float] = deque(maxlen=GOP_HISTORY)
        self._synced = False  # the decoder has every reference since the last keyframe
        self.decoded = self.skipped = 0

    @property
    def longest_gap_s(self) -> float:
        """The longest recent keyframe interval (0 before two keyframes): how long a plan may skip decoding."""
        return max(self._gaps, default=0.0)

    def lost(self) -> None:
        """A packet that cannot be planned (no time stamp) was not decoded: wait for the next keyframe."""
        self._synced = False

    def wants(self, pts_s: float, keyframe: bool) -> bool:
        """Decode this packet? Call once per packet, in decode order."""
        if keyframe:
            if self._last_key is not None and pts_s > self._last_key:
                self._gaps.append(pts_s - self._last_key)
            self._last_key, self._synced = pts_s, True
        need = self._synced and not self._next_key_in_time()
        if not need:
            self._synced = False
        self.decoded += need
        self.skipped += not need
        return need

    def _next_key_in_time(self) -> bool:
        if self.next_due is None or self._last_key is None or not self._gaps:
            return False
        return self._last_key + self.longest_gap_s <= self.next_due + self._early(keyframe=True)

    def _early(self, keyframe: bool) -> float:
        """How early a frame may be and still count as due. A keyframe may be up to half an interval early when
        keyframes come no more often than the analysis (the median of the recent intervals, so one shift does
        not count): the analysed times then move onto the keyframes (after a camera's groups of pictures
        shift), and only keyframes need decoding. Sooner keyframes are not moved onto, or every one of them
        would count and the rate would exceed ``fps``."""
        if keyframe and self._gaps and median_high(self._gaps) >= self.interval_s - DUE_SLACK_S:
            return self.interval_s / 2
        return DUE_SLACK_S

    def due(self, pts_s: float, keyframe: bool = False) -> bool:
        """Is this decoded frame the next one to analyse? Due times keep a fixed grid, an interval apart, so
        frames a little early never add up to a higher rate; a frame late by a whole interval (after a skip or
        a gap in the stream) starts the grid again, and so does an early keyframe (see ``_early``)."""
        if self.next_due is None or pts_s >= self.next_due + self.interval_s:
            self.next_due = pts_s + self.interval_s
            return True
        if pts_s + self._early(keyframe) < self.next_due:
            return False
        on_grid = pts_s >= self.next_due - DUE_SLACK_S
        self.next_due = self.next_due + self.interval_s if on_grid else pts_s + self.interval_s
        return True


TICK_EVERY_S = 0.25  # at most four heartbeats a second: the watchdog counts seconds, not frames
# The parent's watchdog hears of a new frame up to a tick and a poll (0.2 s) after this process saw it; when
# packets stop, it must end the session before this process takes the next packet for "no picture".
WATCHDOG_FIRST_S = 1.0

PacketFields = tuple[bytes, int, int | None, int, int, int, bool]  # data, pts, dts, duration, time base, keyframe


class Heartbeat:
    """``("tick", pts_s, frames, packets)``: the newest stream time, how many new frames came since the last
    tick, and the record stream's packets since then, sent at most every TICK_EVERY_S of wall time (and by
    ``flush``). Nothing is sent before the first timed packet.

    Between packets a timer thread (``start``) sends what waits once it is due: when the stream stops, the
    packets of its last quarter second reach the parent before the watchdog kills this process (PyAV's read
    waits without the interpreter lock)."""

    def __init__(self, pipe: Pipe, clock: Callable[[], float] = time.monotonic) -> None:
        self.pipe, self.clock = pipe, clock
        self._frames, self._sent_at = 0, -TICK_EVERY_S
        self._pts_s: float | None = None
        self._packets: list[PacketFields] = []
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._timer: threading.Thread | None = None

    def new_frame(self, pts_s: float) -> None:
        with self._lock:
            self._frames += 1
            self._pts_s = pts_s
            self._send_when_due()

    def packet(self, fields: PacketFields) -> None:
        with self._lock:
            self._packets.append(fields)
            self._send_when_due()

    def flush(self) -> None:
        """Send what has not been sent (the capture is ending)."""
        with self._lock:
            self._send()

    def start(self) -> None:
        self._timer = threading.Thread(target=self._tick_between_packets, name="heartbeat", daemon=True)
        self._timer.start()

    def stop(self) -> None:
        """Stop the timer, then send what waits."""
        self._stopped.set()
        if self._timer is not None:
            self._timer.join()
        self.flush()

    def _tick_between_packets(self) -> None:
        while not self._stopped.wait(self._until_due_s()):
            with self._lock:
                try:
                    self._send_when_due()
                except OSError:  # the parent has gone: the demux loop finds out on its next send
                    return

    def _until_due_s(self) -> float:
        """Until the next tick may go; a full interval once it is overdue (nothing waited: a packet that comes
        now is sent by the demux loop at once)."""
        due_in_s = self._sent_at + TICK_EVERY_S - self.clock()
        return due_in_s if due_in_s > 0.01 else TICK_EVERY_S

    def _send_when_due(self) -> None:
        if self.clock() - self._sent_at >= TICK_EVERY_S:
            self._send()

    def _send(self) -> None:
        if self._pts_s is not None and (self._frames or self._packets):
            self.pipe.send(("tick", self._pts_s, self._frames, self._packets))
            self._frames, self._packets, self._sent_at = 0, [], self.clock()


def _capture(settings: CaptureSettings, pipe: Pipe) -> None:
    options = {
        "rtsp_transport": settings.transport,
        "protocol_whitelist": PROTOCOL_WHITELIST,
        "fflags": "nobuffer",
    }
    with av.open(
        settings.url.for_demuxer, options=options, timeout=(settings.open_timeout_s, settings.read_timeout_s)
    ) as container:
        if not container.streams.video:
            kinds = ", ".join(sorted({s.type for s in container.streams})) or "nothing"
            pipe.send(("error", NO_VIDEO, f"{settings.url.redacted}: no video stream (it sends {kinds})"))
            return
        stream = container.streams.video[0]
        # Slice threads only: frame threads hold each picture back a few packets, so the plan would not know a
        # keyframe it asked for had been decoded and would decode on into the group (and a live frame arrives late).
        stream.thread_type = "SLICE"
        context = stream.codec_context
        pipe.send(("open", int(context.width or 0), int(context.height or 0), str(context.name)))
        analysed = _Analysed(settings, stream, pipe) if settings.decode else None
        heartbeat = Heartbeat(pipe)
        heartbeat.start()
        try:
            _demux(settings, container, stream, analysed, heartbeat)
        finally:
            heartbeat.stop()  # the last packets of a stream that ended or failed reach the parent too


def _demux(
    settings: CaptureSettings, container: Any, stream: Any, analysed: _Analysed | None, heartbeat: Heartbeat
) -> None:
    last_tick: float | None = None  # the heartbeat: the newest packet time seen
    record_sent = False
    for packet in container.demux(stream):
        if packet.size == 0:
            continue
        if settings.send_packets and packet.pts is not None:
            if not record_sent and packet.is_keyframe:
                heartbeat.pipe.send(("record", RecordStreamParams.of(stream, packet)))
                record_sent = True
            if record_sent:
                heartbeat.packet(_packet_fields(packet))
        if packet.pts is None or packet.time_base is None:
            if analysed is not None:
                analysed.plan.lost()
            continue
        packet_s = float(packet.pts * packet.time_base)
        if last_tick is None or packet_s > last_tick:  # a repeated or backwards time is no new frame
            last_tick = packet_s
            heartbeat.new_frame(packet_s)
        if analysed is not None:
            analysed.packet(packet, packet_s)


class _Analysed:
    """The analysed stream of one session: the packets the plan wants decoded, the due frames sent; raises
    ``NothingDecodes`` when packets keep coming but no picture has been sent for the stall timeout (plus the
    analysis interval, between two pictures sent; plus the longest keyframe interval the plan may skip; plus the
    open timeout before the first picture; plus
    WATCHDOG_FIRST_S: a stream whose packets stop is the parent's watchdog's to call stalled, and the first packet
    after such a pause must not be taken for an undecodable stream)."""

    def __init__(self, settings: CaptureSettings, stream: Any, pipe: Pipe) -> None:
        self.settings, self.stream, self.pipe = settings, stream, pipe
        from pipeline.sources.bgr import BgrConverter  # numpy: only a capture that decodes loads it

        self.plan = DecodePlan(1.0 / settings.fps)
        self.to_bgr = BgrConverter()  # one per session (see pipeline.sources.bgr)
        self.last_sent: float | None = None  # the newest frame time sent for analysis
        self.last_picture = time.monotonic()  # when the last frame was sent (or the stream opened)

    def packet(self, packet: Any, packet_s: float) -> None:
        if self.plan.wants(packet_s, bool(packet.is_keyframe)):
            sent = self.last_sent
            self.last_sent = _send_due(packet, self.stream, self.plan, sent, self.to_bgr, self.pipe)
            if self.last_sent != sent:
                self.last_picture = time.monotonic()
        first = self.settings.open_timeout_s if self.last_sent is None else 0.0
        limit = (
            self.settings.stall_timeout_s + self.plan.interval_s + self.plan.longest_gap_s + first + WATCHDOG_FIRST_S
        )
        if (quiet := time.monotonic() - self.last_picture) > limit:
            raise NothingDecodes(f"packets arrive but no picture was decoded for {quiet:.1f} s")


def _send_due(
    packet: Any, stream: Any, plan: DecodePlan, last_sent: float | None, to_bgr: BgrConverter, pipe: Pipe
) -> float | None:
    """Decode the packet; send the frame it gives when that is due. Returns the newest frame time sent."""
    for frame in _decode(packet):
        if frame.pts is None or stream.time_base is None:
            continue
        pts_s = float(frame.pts * stream.time_base)
        if (last_sent is not None and pts_s <= last_sent) or not plan.due(pts_s, bool(frame.key_frame)):
            continue
        last_sent = pts_s
        image = to_bgr(frame)
        pipe.send(("frame", pts_s, image.shape[0], image.shape[1]), image.tobytes())
    return last_sent


def _decode(packet: Any) -> list[Any]:
    try:
        return list(packet.decode())
    except av.error.InvalidDataError:
        return []  # a damaged packet: the next keyframe repairs the picture


def _packet_fields(packet: Any) -> PacketFields:
    time_base = packet.time_base
    return (
        bytes(packet),
        int(packet.pts),
        packet.dts,
        int(packet.duration or 0),
        int(time_base.numerator),
        int(time_base.denominator),
        bool(packet.is_keyframe),
    )


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    conn = Connection(int(sys.argv[1]), readable=False)
    settings = pickle.loads(sys.stdin.buffer.read())  # from the parent that started this process, never a file
    if not isinstance(settings, CaptureSettings):
        raise SystemExit("rtsp_capture: expected CaptureSettings on stdin")
    run(settings, conn)


if __name__ == "__main__":
    # Run as the module itself, not as __main__, so the pickled settings' classes are this module's classes.
    from pipeline.sources.rtsp_capture import main as capture_main

    capture_main()
