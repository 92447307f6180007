"""The staged runtime: every camera of a config at once, in four stages joined by bounded queues.

```
capture (thread per camera)    detection (one thread)           analysis (one thread)    evidence (thread per camera)
 source ─ ring ─ frames ─▶ detect_batch (all cameras) ─batch─▶ track ─▶ steps ─▶ rules ─events─▶ seal ─▶ outbox
```

- A file source is read as fast as analysis takes its frames (every analysed frame is kept: the capture
  queue blocks); a live source keeps only the latest frames (the oldest is dropped and counted).
- The detector runs once per batch of frames from every camera (and their zone crops), so one model serves
  however many cameras there are. Detection and the rest of the analysis are two threads with one batch
  between them: OpenVINO and ONNX Runtime work without the interpreter lock, so the next batch is detected
  while the last one is tracked and ruled on (each camera's frames still pass both in order).
- Only frozen, picklable values cross a stage: :class:`~pipeline.types.Frame`, detections, violation events,
  the record stream's :class:`~evidence.clips.RecordStreamParams`. The threads here are the ``local`` engine;
  a capture stage can become its own supervised process, and a camera's analysis and evidence a remote actor,
  without changing the stages' code (see the README, "Runtime").
- Memory per camera is bounded: the capture queue (``queue_frames``), the packet ring (pre-roll + post-roll +
  what the queue holds), the evidence queue, and per open violation only.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Final

from detectors.base import Detector, Image
from detectors.types import Detections
from evidence.locker import EvidenceLocker, PlateStill
from evidence.types import EventState, ViolationEvent
from pipeline.analysis import CameraAnalysis, StageTimes
from pipeline.coverage import AnalysedTime, WindowCoverage
from pipeline.evidence_stage import EventSink, EvidenceStage
from pipeline.regions import Offset
from pipeline.ring_buffer import PacketRingBuffer
from pipeline.sources.base import FrameSource, SourceError
from pipeline.sources.rtsp import ChannelHealth, RtspSource
from pipeline.types import Frame

logger = logging.getLogger(__name__)

RING_MARGIN_S = 2.0  # packets kept beyond pre-roll + post-roll, so a keyframe before the pre-roll is there


class _End:
    """Marks the end of a queue's stream (the source ended, failed or was stopped)."""


END: Final = _End()


class _RestFailed(Exception):
    """The detection loop stops because the rest of the analysis failed (``Runtime._rest_failure`` says how)."""


@dataclass(frozen=True)
class _Detected:
    """A detected batch on its way from detection to the rest of the analysis."""

    plans: list[tuple[_Camera, Frame, list[Image], list[Offset]]]
    results: list[Detections]
    per_image_s: float


@dataclass(frozen=True)
class _Ended:
    """A camera whose frames have all been handed over: its open violations end once they are analysed."""

    camera: _Camera


@dataclass(frozen=True)
class _EvidenceWork:
    events: tuple[ViolationEvent, ...]
    frame: Frame | None
    plates: dict[str, PlateStill] = field(default_factory=dict)  # plate crops of starting violations, by id


@dataclass
class CameraParts:
    """Everything one camera needs in the runtime; tests pass fakes, replays pass a file source."""

    source: FrameSource
    analysis: CameraAnalysis
    locker: EvidenceLocker
    fps: float
    zones: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    sinks: list[EventSink] = field(default_factory=list)
    pre_roll_s: float = 3.0
    post_roll_s: float = 3.0
    analysed_time: AnalysedTime | None = None  # seconds analysed per enforcement window of each rule


class CameraState(StrEnum):
    STARTING = "starting"
    RUNNING = "running"
    FINISHED = "finished"  # the source ended (a file) and everything was sealed
    STOPPED = "stopped"  # stop() was called
    FAILED = "failed"  # the source or a stage failed; what was sealed before is kept


@dataclass(frozen=True)
class CameraHealth:
    """One camera at one moment, for the operations centre and the run summary."""

    camera_id: str
    state: CameraState
    frames_in: int  # frames the source delivered
    analysed: int
    dropped: int  # live sources only: frames discarded because analysis was behind
    capture_queue: int
    evidence_queue: int
    open_violations: int
    violations: int  # starts sealed and sent
    last_frame_pts_s: float | None
    last_frame_at: datetime | None
    error: str | None
    problems: tuple[str, ...]  # inputs the source skipped (corrupt packets, unreadable images)
    channel: ChannelHealth | None = None  # live cameras: online/stalled/reconnecting/offline, rates, reconnects
    windows: tuple[WindowCoverage, ...] = ()  # each rule's recent enforcement windows, with the time analysed


class _Camera:
    """The runtime's bookkeeping for one camera: its queues, counters and threads."""

    def __init__(self, parts: CameraParts, queue_frames: int) -> None:
        self.parts = parts
        self.id = parts.source.camera_id
        ring_s = parts.pre_roll_s + parts.post_roll_s + RING_MARGIN_S + (queue_frames + 1) / parts.fps
        self.ring = PacketRingBuffer(ring_s)
        self.frames: queue.Queue[Frame | _End] = queue.Queue(maxsize=queue_frames)
        self.evidence_queue: queue.Queue[_EvidenceWork | _End] = queue.Queue(maxsize=16)
        source = parts.source
        self.evidence = EvidenceStage(
            parts.locker, self.ring, lambda: source.record_stream, parts.zones, parts.sinks, early_start=source.live
        )
        self.times: StageTimes = parts.analysis.times
        self.state = CameraState.STARTING
        self.frames_in = self.analysed = self.dropped = 0
        self.last_frame: Frame | None = None
        self.error: str | None = None
        self.threads: list[threading.Thread] = []
        self.removing = threading.Event()  # remove_camera(): this camera stops while the others go on

    def fail(self, message: str) -> None:
        if self.error is None:
            self.error = message
        self.state = CameraState.FAILED

    def health(self) -> CameraHealth:
        last = self.last_frame
        live = self.parts.source.live
        # A live camera's window runs on the wall clock; a file's on its own recorded time.
        now = datetime.now(UTC) if live or last is None else last.captured_at
        analysed_time = self.parts.analysed_time
        return CameraHealth(
            camera_id=self.id,
            state=self.state,
            frames_in=self.frames_in,
            analysed=self.analysed,
            dropped=self.dropped,
            capture_queue=self.frames.qsize(),
            evidence_queue=self.evidence_queue.qsize(),
            open_violations=self.evidence.open_violations,
            violations=self.evidence.started,
            last_frame_pts_s=last.pts_s if last else None,
            last_frame_at=last.captured_at if last else None,
            error=self.error,
            problems=tuple(self.parts.source.problems),
            channel=self.parts.source.health() if isinstance(self.parts.source, RtspSource) else None,
            windows=analysed_time.windows(now) if analysed_time else (),
        )


class Runtime:
    """Runs cameras concurrently until their sources end or :meth:`stop` is called.

    Args:
        cameras: one :class:`CameraParts` per camera.
        detector: the process's one detector, shared by every camera.
        queue_frames: frames waiting between capture and analysis, per camera.
        max_batch: frames (of any cameras) detected in one ``detect_batch`` call, crops included per frame.
        on_analysed: called from the analysis thread after each analysed frame, with the camera id.
    """

    def __init__(
        self,
        cameras: list[CameraParts],
        detector: Detector,
        *,
        queue_frames: int = 4,
        max_batch: int = 4,
        on_analysed: Callable[[str], None] | None = None,
    ) -> None:
        if queue_frames < 1 or max_batch < 1:
            raise ValueError(f"queue_frames and max_batch must be >= 1, got {queue_frames}, {max_batch}")
        self.detector = detector
        self.max_batch = max_batch
        self.on_analysed = on_analysed
        self.queue_frames = queue_frames
        self.stage_observer: Callable[[str, float], None] | None = None  # given to every camera's StageTimes
        self._cameras = [_Camera(parts, queue_frames) for parts in cameras]
        ids = [camera.id for camera in self._cameras]
        if len(set(ids)) != len(ids):
            raise ValueError(f"camera ids must be unique, got {ids}")
        self._stopping = threading.Event()
        self._analysis_failed = threading.Event()
        self._wake = threading.Condition()
        self._analysis: threading.Thread | None = None
        self._cameras_lock = threading.Lock()  # the camera list changes on add_camera / remove_camera
        self._joining: queue.SimpleQueue[_Camera] = queue.SimpleQueue()  # added cameras the analysis takes up
        self._analysing = False
        self._rest_failure: Exception | None = None  # a bug after detection: the detection stops too

    # ------------------------------------------------------------ control
    def start(self) -> None:
        if self._analysis is not None:
            raise RuntimeError("the runtime was already started")
        for camera in self._cameras:
            self._start_camera(camera)
        self._analysing = True
        self._analysis = threading.Thread(
            target=self._analyse, args=(list(self._cameras),), name="analysis", daemon=True
        )
        self._analysis.start()

    def _start_camera(self, camera: _Camera) -> None:
        camera.state = CameraState.RUNNING
        if self.stage_observer is not None:
            camera.times.observer = self.stage_observer
        camera.threads = [
            threading.Thread(target=self._capture, args=(camera,), name=f"capture-{camera.id}", daemon=True),
            threading.Thread(target=self._seal, args=(camera,), name=f"evidence-{camera.id}", daemon=True),
        ]
        for thread in camera.threads:
            thread.start()

    def add_camera(self, parts: CameraParts) -> None:
        """Start one more camera while the others run (a config reload); its id must be new."""
        if self._analysis is None or self._stopping.is_set():
            raise RuntimeError("add_camera needs a running runtime")
        camera = _Camera(parts, self.queue_frames)
        with self._cameras_lock:
            if any(c.id == camera.id for c in self._cameras):
                raise ValueError(f"camera {camera.id} is already running")
            self._cameras.append(camera)
            self._start_camera(camera)
            if self._analysing:
                self._joining.put(camera)
            else:  # every camera had ended: a new analysis stage for this one
                self._analysing = True
                self._analysis = threading.Thread(target=self._analyse, args=([camera],), name="analysis", daemon=True)
                self._analysis.start()
        with self._wake:
            self._wake.notify_all()

    def remove_camera(self, camera_id: str) -> None:
        """Stop one camera while the others run: its open violations end and are sealed, then it is gone from
        :meth:`health`. Returns at once; :meth:`join` waits for it like for the others."""
        with self._cameras_lock:
            camera = next((c for c in self._cameras if c.id == camera_id and not c.removing.is_set()), None)
        if camera is None:
            raise KeyError(f"no camera {camera_id!r} in this runtime")
        camera.removing.set()
        if not any(thread.is_alive() for thread in camera.threads):  # it had already ended (a file, a failure)
            with self._cameras_lock:
                if camera in self._cameras:
                    self._cameras.remove(camera)
            return
        if camera.parts.source.live:
            try:
                camera.parts.source.close()  # wakes its capture thread; a file stops at its next frame
            except Exception as exc:
                logger.warning("camera %s: closing the source: %s", camera.id, exc)

    def stop(self) -> None:
        """Stop every camera: sources close, open violations end, and everything pending is sealed."""
        self._stopping.set()
        for camera in self._snapshot():  # a removed camera leaves the list meanwhile: iterate a copy
            if not camera.parts.source.live:
                continue  # a file stops at its next frame; its capture thread closes it (not safe mid-read)
            try:
                camera.parts.source.close()  # wakes a live source blocked on the network
            except Exception as exc:  # closing twice or mid-read must not prevent the others from stopping
                logger.warning("camera %s: closing the source: %s", camera.id, exc)
        with self._wake:
            self._wake.notify_all()

    def join(self, timeout_s: float | None = None) -> bool:
        """Wait until every stage has finished; False when ``timeout_s`` passed first."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        with self._cameras_lock:
            threads = [t for c in self._cameras for t in c.threads] + ([self._analysis] if self._analysis else [])
        for thread in threads:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            thread.join(remaining)
            if thread.is_alive():
                return False
        return True

    def run(
        self, between: Callable[[], None] | None = None, keep_running: Callable[[], bool] | None = None
    ) -> dict[str, CameraHealth]:
        """Start, wait for every source to end (Ctrl-C stops cleanly), return each camera's final health.
        ``between`` is called on this thread about twice a second meanwhile (e.g. to apply a config reload);
        ``keep_running``: while it says so, the run goes on with no camera left (a reload took them all away,
        and the next one may bring some)."""
        self.start()
        try:
            while True:
                done = self.join(timeout_s=0.5)
                if done and not (keep_running is not None and keep_running()):
                    break
                if done:
                    time.sleep(0.5)  # nothing to wait for: join returned at once
                if between is not None:
                    between()
        except BaseException:  # Ctrl-C, SIGTERM, or a bug in ``between``: the cameras still stop and seal
            self.stop()
            self.join()
            raise
        return self.health()

    def health(self) -> dict[str, CameraHealth]:
        return {camera.id: camera.health() for camera in self._snapshot()}

    def _snapshot(self) -> list[_Camera]:
        with self._cameras_lock:
            return list(self._cameras)

    def last_frame(self, camera_id: str) -> Frame | None:
        """The newest frame the camera delivered (for the operations centre's snapshot), if any."""
        for camera in self._snapshot():
            if camera.id == camera_id:
                return camera.last_frame
        raise KeyError(f"no camera {camera_id!r} in this runtime")

    def stage_times(self) -> dict[str, StageTimes]:
        return {camera.id: camera.times for camera in self._snapshot()}

    # ------------------------------------------------------------ capture
    def _capture(self, camera: _Camera) -> None:
        source = camera.parts.source
        frames = source.frames(camera.ring.append)
        # A file is decoded here; a live camera decodes in its capture process, and this is waiting for a frame.
        stage = "wait" if source.live else "decode"
        try:
            while not self._stopping.is_set() and not camera.removing.is_set():
                with camera.times.timing(stage):
                    frame = next(frames, None)
                if frame is None:
                    break
                camera.frames_in += 1
                camera.last_frame = frame
                self._enqueue(camera, frame, drop_oldest=source.live)
        except SourceError as exc:
            camera.fail(str(exc))  # reported by whoever reads the health (the CLI prints it once)
            logger.info("camera %s: %s (violations sealed before this point are kept)", camera.id, exc)
        except Exception as exc:  # a bug or a library failure: this camera stops, the others go on
            camera.fail(f"capture failed: {exc!r}")
            logger.exception("camera %s: capture failed", camera.id)
        finally:
            self._enqueue(camera, END, drop_oldest=False)
            try:
                source.close()
            except Exception as exc:
                logger.warning("camera %s: closing the source: %s", camera.id, exc)

    def _enqueue(self, camera: _Camera, item: Frame | _End, drop_oldest: bool) -> None:
        """Queue for analysis. A live camera never waits: the oldest queued frame makes room (and is counted)."""
        while True:
            try:
                if drop_oldest:
                    camera.frames.put_nowait(item)
                else:
                    camera.frames.put(item, timeout=0.1)
                break
            except queue.Full:
                if drop_oldest:
                    try:
                        camera.frames.get_nowait()
                        camera.dropped += 1
                    except queue.Empty:
                        pass
                elif self._analysis_failed.is_set():
                    return  # nobody reads this queue any more
                elif (self._stopping.is_set() or camera.removing.is_set()) and isinstance(item, Frame):
                    return  # stopping: a frame nobody will analyse is not worth waiting for
        with self._wake:
            self._wake.notify()

    # ------------------------------------------------------------ analysis
    def _analyse(self, active: list[_Camera]) -> None:
        """Detection on this thread; the rest of the analysis on a second one, one batch behind."""
        handoff: queue.Queue[_Detected | _Ended | None] = queue.Queue(maxsize=1)
        rest = threading.Thread(target=self._analyse_rest, args=(handoff,), name="analysis-rest", daemon=True)
        rest.start()
        try:
            self._detection_loop(active, handoff)
        except Exception as exc:  # a bug here must not leave every other stage waiting for ever
            cause = self._rest_failure or exc  # a failure after detection was logged where it happened
            if cause is exc:
                logger.exception("the analysis stage failed")
            self._analysis_failed.set()
            self._stopping.set()
            handoff.put(None)
            rest.join()  # nothing else analyses these cameras now
            self._take_up_added(active)  # cameras added meanwhile wait for their END too
            for camera in active:
                camera.fail(f"analysis stage failed: {cause!r}")
                self._finish(camera)
        else:
            handoff.put(None)
            rest.join()

    def _detection_loop(self, active: list[_Camera], handoff: queue.Queue[_Detected | _Ended | None]) -> None:
        """Until every camera's capture has ended: batches of frames across cameras, round-robin, detected."""
        turn = 0
        while self._take_up_added(active):
            if self._rest_failure is not None:
                raise _RestFailed()
            batch: list[tuple[_Camera, Frame]] = []
            for step in range(len(active)):
                camera = active[(turn + step) % len(active)]
                try:
                    item = camera.frames.get_nowait()
                except queue.Empty:
                    continue
                if isinstance(item, _End):
                    if batch:
                        self._detect(batch, handoff)
                    handoff.put(_Ended(camera))
                    active.remove(camera)
                    batch = []
                    break  # the list changed: start a new round
                batch.append((camera, item))
                if len(batch) >= self.max_batch:
                    break
            turn += 1
            if batch:
                self._detect(batch, handoff)
            elif active:
                with self._wake:
                    self._wake.wait(timeout=0.05)

    def _detect(self, batch: list[tuple[_Camera, Frame]], handoff: queue.Queue[_Detected | _Ended | None]) -> None:
        plans = [(camera, frame, *camera.parts.analysis.plan(frame)) for camera, frame in batch]
        images = [image for _, _, planned, _ in plans for image in planned]
        start = time.perf_counter()
        try:
            results = self.detector.detect_batch(images)
        except Exception as exc:
            for camera, _ in batch:
                camera.fail(f"detector failed: {exc!r}")
            logger.exception("detector failed on a batch of %d images", len(images))
            return
        handoff.put(_Detected(plans, results, (time.perf_counter() - start) / max(len(images), 1)))

    def _analyse_rest(self, handoff: queue.Queue[_Detected | _Ended | None]) -> None:
        """Track, steps and rules for each detected batch, in order; a camera's end once its frames are done.
        After a bug here the detection stops; batches still coming are dropped and cameras still end."""
        while (item := handoff.get()) is not None:
            if isinstance(item, _Ended):
                if self._rest_failure is not None:
                    item.camera.fail(f"analysis stage failed: {self._rest_failure!r}")
                self._finish(item.camera)
            elif self._rest_failure is None:
                try:
                    self._analyse_batch(item)
                except Exception as exc:
                    logger.exception("the analysis stage failed")
                    self._rest_failure = exc
                    with self._wake:
                        self._wake.notify_all()

    def _analyse_batch(self, detected: _Detected) -> None:
        position = 0
        for camera, frame, planned, offsets in detected.plans:
            mine = detected.results[position : position + len(planned)]
            position += len(planned)
            camera.times.add("detect", detected.per_image_s * len(planned))
            try:
                events = camera.parts.analysis.analyse(frame, mine, offsets)
            except Exception as exc:
                camera.fail(f"analysis failed: {exc!r}")
                logger.exception("camera %s: analysis failed on frame %d", camera.id, frame.seq)
                continue
            camera.analysed += 1
            if camera.parts.analysed_time is not None:
                camera.parts.analysed_time.add(frame.captured_at)
            for event in events:  # keep the pre-roll in the ring until the evidence stage has sealed it
                if event.state is EventState.START:
                    camera.ring.pin(event.id, max(0.0, event.key_frame_pts_s - camera.parts.pre_roll_s))
            if events:
                plates = camera.parts.analysis.plate_stills(events)
                camera.evidence_queue.put(_EvidenceWork(tuple(events), frame, plates))
            if self.on_analysed is not None:
                self.on_analysed(camera.id)

    def _take_up_added(self, active: list[_Camera]) -> bool:
        """Cameras added since the last round join ``active``; False (and this stage ends) when none is left."""
        with self._cameras_lock:
            while True:
                try:
                    active.append(self._joining.get_nowait())
                except queue.Empty:
                    break
            if not active:
                self._analysing = False
            return bool(active)

    def _finish(self, camera: _Camera) -> None:
        try:
            events = camera.parts.analysis.finish()
        except Exception as exc:
            camera.fail(f"analysis failed at the end: {exc!r}")
            logger.exception("camera %s: ending open violations failed", camera.id)
            events = []
        camera.evidence_queue.put(_EvidenceWork(tuple(events), None))
        camera.evidence_queue.put(END)

    # ------------------------------------------------------------ evidence
    def _seal(self, camera: _Camera) -> None:
        stage = camera.evidence
        while True:
            try:
                item = camera.evidence_queue.get(timeout=0.2)
            except queue.Empty:
                item = None
            try:
                with camera.times.timing("evidence"):
                    if isinstance(item, _End):
                        stage.seal_ready(final=True)
                        break
                    if item is not None:
                        stage.accept(list(item.events), item.frame, item.plates)
                    stage.seal_ready()
            except Exception as exc:
                camera.fail(f"evidence failed: {exc!r}")
                logger.exception("camera %s: evidence stage failed", camera.id)
                if isinstance(item, _End):
                    break
        if camera.state is CameraState.RUNNING:
            stopped = self._stopping.is_set() or camera.removing.is_set()
            camera.state = CameraState.STOPPED if stopped else CameraState.FINISHED
        if camera.removing.is_set():
            camera.threads[0].join()  # its capture thread: END has come, the source is closing (bounded joins)
            with self._cameras_lock:
                self._cameras.remove(camera)
            logger.info("camera %s removed: %s", camera.id, camera.state.value)
