"""A live RTSP camera: a supervised capture process, a watchdog, reconnection forever, and channel health.

Each camera's capture runs in its own process (``pipeline/sources/rtsp_capture.py``). A supervisor thread here
reads its messages and watches the wall-clock gap between *new* frames (stream time advancing): past
``stall_timeout_s`` the channel is ``stalled`` and the process is killed and restarted, because a read that
returns nothing, or an old frame, proves nothing. Reconnection uses capped exponential backoff with jitter
(tenacity) and never gives up, including for a camera that is down at start-up; a session that went online
resets the backoff. Only the latest frame is kept for analysis (``live = True``): a frame the analysis has not
taken when the next arrives is dropped and counted.

Frame times delivered to analysis increase strictly across reconnects: each session's stream times are shifted
to follow the last frame delivered (the camera's clock restarts with every session). Credentials never appear
in messages, health or logs (``stream_url.scrub``).
"""

from __future__ import annotations

import functools
import logging
import os
import pickle
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from fractions import Fraction
from multiprocessing.connection import Connection
from typing import Any

import numpy as np
from tenacity import Retrying, retry_if_exception_type, wait_exponential_jitter

from evidence.clips import RecordStreamParams
from evidence.types import TimeSource
from pipeline.config import StreamConfig
from pipeline.sources import rtsp_capture
from pipeline.sources.base import EncodedPacket, PacketSink
from pipeline.sources.rtsp_capture import CaptureSettings
from pipeline.sources.stream_url import StreamUrl
from pipeline.types import Frame

logger = logging.getLogger(__name__)


class ChannelState(StrEnum):
    ONLINE = "online"  # new frames arrive
    STALLED = "stalled"  # connected, but no new frame for stall_timeout_s: the capture is being restarted
    RECONNECTING = "reconnecting"  # between a lost session and the next (or connecting for the first time)
    OFFLINE = "offline"  # the last attempt failed (refused, not found, unauthorised, no video …); retrying


@dataclass(frozen=True)
class ChannelHealth:
    """One camera's state for the operations centre; every text is free of credentials."""

    camera_id: str
    url: str  # redacted
    state: ChannelState
    since: datetime  # when the state began (UTC)
    input_fps: float  # new frames per wall second over the last few seconds
    analysed_fps: float  # frames taken by analysis per wall second over the last few seconds
    dropped: int  # frames replaced before analysis took them
    last_frame_at: datetime | None
    reconnects: int  # sessions started after the first
    last_error: str | None
    frame_size: tuple[int, int] | None  # (width, height) of the current session
    record: ChannelHealth | None = None  # the main stream evidence clips are cut from, when it is a separate one


@dataclass
class _Session:
    """One capture session's bookkeeping."""

    last_new: float  # monotonic time of the last new frame (or of the start)
    online: bool = False
    online_since: float = 0.0
    stalled: bool = False  # ended by the watchdog
    error: str | None = None
    offset: float | None = None  # stream time → this source's timeline

    def shift(self, stream_s: float, source: RtspSource) -> float:
        """The offset for this session, fixed by its first timed message: its times follow the last frame the
        source delivered, and the wall time since the source started."""
        if self.offset is None:
            self.offset = max(source._last_pts + 1.0 / source.fps, time.monotonic() - source._t0) - stream_s
        return self.offset


STALL_KINDS = (rtsp_capture.TIMEOUT, rtsp_capture.NO_PICTURE)  # an online channel's errors shown as "stalled"
MIN_STEADY_S = 10.0  # a session must stay online this long to reset the reconnect backoff


class CaptureLost(RuntimeError):
    """A capture session ended before it had been online for MIN_STEADY_S (retried with backoff)."""


class RtspSource:
    """``frames()`` yields the newest frame at up to ``fps`` per second of stream time, until ``close()``."""

    live = True
    total_frames: int | None = None
    DECODE = True  # False: a record-only stream (RecordStream)

    def __init__(
        self,
        camera_id: str,
        url: StreamUrl,
        fps: float,
        settings: StreamConfig,
        record: bool = True,
        record_url: StreamUrl | None = None,
        t0: float | None = None,
    ) -> None:
        self.camera_id, self.url, self.fps, self.settings = camera_id, url, fps, settings
        self.origin_id = f"live:{camera_id}:{datetime.now(UTC).strftime('%Y%m%dT%H%M%S.%f')}"
        self.problems: list[str] = []
        self._record_params: RecordStreamParams | None = None
        self._record = record and record_url is None
        self._closed = threading.Event()
        self._lock = threading.Condition()
        self._latest: Frame | None = None
        self._seq = 0
        self._last_pts = -1.0  # the last delivered frame's time on this source's timeline
        self._t0 = (
            time.monotonic() if t0 is None else t0
        )  # this source's timeline starts here (shared with a main stream)
        self._on_packet: PacketSink | None = None
        self._process: Any = None
        self._state, self._since = ChannelState.RECONNECTING, datetime.now(UTC)
        self._ticks: deque[float] = deque(maxlen=256)
        self._taken: deque[float] = deque(maxlen=256)
        self._dropped = 0
        self._sessions = 0
        self._last_error: str | None = None
        self._last_frame_at: datetime | None = None
        self._frame_size: tuple[int, int] | None = None
        # The camera's main stream for evidence clips when the analysed one is its sub-stream: a second supervised
        # capture, never decoded, on the same timeline (seconds since this source started).
        self._recorder = RecordStream(camera_id, record_url, settings, t0=self._t0) if record_url is not None else None
        self._supervisor = threading.Thread(target=self._supervise, name=f"rtsp-{camera_id}", daemon=True)
        self._supervisor.start()

    @property
    def record_stream(self) -> RecordStreamParams | None:
        """The codec parameters of the stream clips are cut from (the main stream's, when there is one)."""
        return self._recorder.record_stream if self._recorder is not None else self._record_params

    # ---------------------------------------------------------------- the consumer side
    def frames(self, on_packet: PacketSink | None = None) -> Iterator[Frame]:
        if self._recorder is not None:
            self._recorder._on_packet = on_packet
        else:
            self._on_packet = on_packet
        while True:
            with self._lock:
                while self._latest is None and not self._closed.is_set():
                    self._lock.wait(timeout=0.5)
                if self._closed.is_set():
                    return
                frame: Frame | None = self._latest
                self._latest = None
                self._taken.append(time.monotonic())
            if frame is not None:
                yield frame

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            self._lock.notify_all()
        self._stop_process()
        self._supervisor.join(timeout=10)
        if self._recorder is not None:
            self._recorder.close()

    def health(self) -> ChannelHealth:
        now = time.monotonic()
        with self._lock:
            return ChannelHealth(
                camera_id=self.camera_id,
                url=self.url.redacted,
                state=self._state,
                since=self._since,
                input_fps=_rate(self._ticks, now),
                analysed_fps=_rate(self._taken, now),
                dropped=self._dropped,
                last_frame_at=self._last_frame_at,
                reconnects=max(0, self._sessions - 1),
                last_error=self._last_error,
                frame_size=self._frame_size,
                record=self._recorder.health() if self._recorder is not None else None,
            )

    # ---------------------------------------------------------------- supervision
    def _supervise(self) -> None:
        wait = wait_exponential_jitter(
            multiplier=self.settings.backoff_initial_s, max=self.settings.backoff_max_s, jitter=1.0
        )
        while not self._closed.is_set():
            retrying = Retrying(wait=wait, retry=retry_if_exception_type(CaptureLost), sleep=self._pause, reraise=True)
            try:
                for attempt in retrying:
                    with attempt:
                        self._session()
            except Exception:  # never: CaptureLost is retried forever; anything else is a bug, logged
                logger.exception("camera %s: capture supervisor failed; restarting it", self.camera_id)
                self._closed.wait(self.settings.backoff_max_s)

    def _pause(self, seconds: float) -> None:
        """The backoff's sleep: cut short by close()."""
        self._closed.wait(seconds)

    def _session(self) -> None:
        """One capture process from start to end; returns when it had been online steadily (the next session
        starts at once), raises CaptureLost if not (the next one waits out the backoff)."""
        if self._closed.is_set():
            return
        capture = CaptureSettings(
            url=self.url,
            fps=self.fps,
            transport=self.settings.transport,
            open_timeout_s=self.settings.open_timeout_s,
            read_timeout_s=self.settings.read_timeout_s,
            send_packets=self._record,
            decode=self.DECODE,
            stall_timeout_s=self.settings.stall_timeout_s,
        )
        self._sessions += 1
        process, receive = _start_capture(capture)
        self._process = process
        session = _Session(last_new=time.monotonic())
        try:
            while not self._closed.is_set() and session.error is None:
                self._step(process, receive, session)
        finally:
            self._stop_process()
            receive.close()
        if self._closed.is_set():
            return
        reason = session.error or "capture ended"
        logger.warning("camera %s (%s): %s", self.camera_id, self.url.redacted, reason)
        if not session.online:
            self._set_state(ChannelState.OFFLINE, reason)
        elif not session.stalled:  # a stalled channel stays "stalled" until the next session is online or fails
            self._set_state(ChannelState.RECONNECTING, reason)
        if not session.online or time.monotonic() - session.online_since < MIN_STEADY_S:
            raise CaptureLost(reason)  # a camera that flaps (online for a moment, then lost) keeps backing off

    def _step(self, process: Any, receive: Any, session: _Session) -> None:
        """Wait a little for the next message; the watchdog's checks when none comes."""
        # Checked on every step: a stream that keeps sending packets but no new frame is stalled too.
        quiet_s = time.monotonic() - session.last_new
        limit = self.settings.stall_timeout_s + (0.0 if session.online else self.settings.open_timeout_s)
        if quiet_s > limit:
            self._end(session, f"stalled: no new frame for {quiet_s:.1f} s", stalled=session.online)
            return
        if not receive.poll(0.2):
            if process.poll() is not None and not receive.poll(0):
                session.error = f"failed: the capture process exited with code {process.returncode}"
            return
        try:
            message = receive.recv()
        except (EOFError, OSError):
            session.error = f"failed: the capture process exited with code {process.poll()}"
            return
        try:
            self._handle(message, receive, session)
        except Exception as exc:  # a message this side cannot use, or the packet sink failing: end the session
            logger.exception("camera %s: handling a %r message failed", self.camera_id, message[0])
            session.error = f"failed: {type(exc).__name__}: {exc}"

    def _handle(self, message: tuple[Any, ...], receive: Any, session: _Session) -> None:
        kind = message[0]
        if kind == "frame":
            _, pts_s, height, width = message
            image = np.empty((height, width, 3), np.uint8)
            receive.recv_bytes_into(image.reshape(-1))  # straight into the frame: one copy, writable
            self._deliver(pts_s + session.shift(pts_s, self), image)
            if not session.online:
                session.online, session.online_since = True, time.monotonic()
                self._set_state(ChannelState.ONLINE, None)
        elif kind == "tick":
            _, pts_s, frames, packets = message
            for fields in packets:  # first: the first timed message fixes the session's shift
                self._forward_packet(fields, session)
            if not frames:  # packets only, no newer time: no sign of life for the watchdog
                return
            session.last_new = time.monotonic()
            session.shift(pts_s, self)
            with self._lock:
                self._ticks.extend([session.last_new] * frames)
            if not self.DECODE and not session.online:  # a record-only stream is online once packets flow
                session.online, session.online_since = True, time.monotonic()
                self._set_state(ChannelState.ONLINE, None)
        elif kind == "record":
            self._record_params = message[1]
        elif kind == "open":
            width, height = message[1], message[2]
            self._frame_size = (width, height) if width and height else None
        elif kind == "error":  # a read that timed out on an online channel: nothing new came, so it stalled
            stalled = session.online and message[1] in STALL_KINDS
            self._end(session, f"{'stalled: ' if stalled else ''}{message[1]}: {message[2]}", stalled=stalled)

    def _end(self, session: _Session, error: str, stalled: bool) -> None:
        session.error = error
        if stalled:
            session.stalled = True
            self._set_state(ChannelState.STALLED, error)

    def _deliver(self, pts_s: float, image: np.ndarray) -> None:
        if pts_s <= self._last_pts:
            return
        now = datetime.now(UTC)
        frame = Frame(
            camera_id=self.camera_id,
            seq=self._seq,
            pts_s=pts_s,
            captured_at=now,
            image=image,
            from_file=False,
            time_source=TimeSource.WALL_CLOCK,
        )
        with self._lock:
            if self._latest is not None:
                self._dropped += 1  # analysis was behind: the older frame makes room
            self._latest = frame
            self._seq += 1
            self._last_pts = pts_s
            self._last_frame_at = now
            self._lock.notify_all()

    def _forward_packet(self, fields: tuple[Any, ...], session: _Session) -> None:
        data, pts, dts, duration, num, den, keyframe = fields
        time_base = _time_base(num, den)
        t_s = float(pts * time_base)
        # pts/dts move onto this source's timeline too: the camera's restart at 0 after a reconnect, and a clip
        # that spans two sessions must not go backwards.
        ticks = round(session.shift(t_s, self) / time_base)
        packet = EncodedPacket(
            data,
            pts + ticks,
            None if dts is None else dts + ticks,
            duration,
            time_base,
            keyframe,
            t_s + ticks * time_base,
        )
        if self._on_packet is not None:
            self._on_packet(packet)

    def _set_state(self, state: ChannelState, error: str | None) -> None:
        with self._lock:
            if state is not self._state:
                self._state, self._since = state, datetime.now(UTC)
            if error is not None:
                self._last_error = error

    def _stop_process(self) -> None:
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.kill()
        process.wait()  # reaped: no zombie (a killed process always exits)
        self._process = None


class RecordStream(RtspSource):
    """A camera's main stream, supervised like any live stream (watchdog, backoff, health) but demuxed only:
    its packets go to the evidence ring, it yields no frames. Its times are on its camera's timeline."""

    DECODE = False

    def __init__(self, camera_id: str, url: StreamUrl, settings: StreamConfig, t0: float) -> None:
        super().__init__(camera_id, url, 1.0, settings, record=True, t0=t0)

    def frames(self, on_packet: PacketSink | None = None) -> Iterator[Frame]:
        raise TypeError("a record stream yields no frames; its camera's RtspSource does")


def _start_capture(settings: CaptureSettings) -> tuple[subprocess.Popen[bytes], Connection]:
    """A fresh interpreter running only ``rtsp_capture`` (never a fork of this process with its inference
    threads, nor a re-run of the main script): its settings on stdin, its messages on a pipe of its own."""
    read_fd, write_fd = os.pipe()
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "pipeline.sources.rtsp_capture", str(write_fd)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,  # FFmpeg may print the URL; every error comes back scrubbed on the pipe
            pass_fds=(write_fd,),
        )
    except OSError:
        os.close(read_fd)
        raise
    finally:
        os.close(write_fd)
    assert process.stdin is not None
    with process.stdin:
        process.stdin.write(pickle.dumps(settings))
    return process, Connection(read_fd, writable=False)


@functools.lru_cache(maxsize=16)
def _time_base(numerator: int, denominator: int) -> Fraction:
    """A stream's time base, made once (not once per packet)."""
    return Fraction(numerator, denominator)


def _rate(times: deque[float], now: float, window_s: float = 5.0) -> float:
    recent = [t for t in times if now - t <= window_s]
    return round(len(recent) / window_s, 2)
