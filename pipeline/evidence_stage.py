"""One camera's evidence stage, off the frame path: stills when a violation starts, the clip once the
post-roll has been captured; updates and ends follow their start.

A file's start is sent once its clip is sealed (nobody waits for an import, and its ticket arrives whole). A live
camera's start is sent at once with its stills (``early_start``): the operations centre sees the alert within a
second or two of the dwell being met, and the clip follows in an update once its post-roll has been recorded; the
violation's end waits for that update. The stage numbers the revisions it sends (0, 1, 2, … in the order sent),
so the clip's update fits between the rule's own updates."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from evidence.clips import RecordStreamParams
from evidence.locker import CLIP_PENDING, EvidenceLocker, PendingCase, PlateStill
from evidence.types import ArtifactKind, EventState, EvidenceRecord, ViolationEvent
from pipeline.ring_buffer import PacketRingBuffer
from pipeline.types import Frame

logger = logging.getLogger(__name__)

EventSink = Callable[[ViolationEvent], None]
SEALS = (ArtifactKind.MANIFEST, ArtifactKind.MANIFEST_SIGNATURE)  # made anew for each set of artifacts


@dataclass
class _Open:
    """One violation from its start to its end: what has been sent, and the plate crops sealed since."""

    last: ViolationEvent | None = None  # the newest event sent, with its evidence (None: the start not yet sent)
    clip_pending: bool = True  # its case waits for the post-roll
    later: list[EvidenceRecord] = field(default_factory=list)  # plate crops sealed after ``last``'s evidence
    plate_pts: float | None = None  # the frame of the newest plate crop

    def next(self, event: ViolationEvent) -> ViolationEvent:
        """``event`` as the next one sent: one revision on, with the evidence sealed so far and the notes on it
        (the API keeps each event's record whole, so a clip's note must ride on the events after it)."""
        assert self.last is not None
        return dataclasses.replace(
            event,
            revision=self.last.revision + 1,
            evidence=(*self.last.evidence, *self.later),
            notes={**self.last.notes, **event.notes},
        )


class EvidenceStage:
    """Holds only open violations: a start until it is sealed, a sealed start until its end."""

    def __init__(
        self,
        locker: EvidenceLocker,
        ring: PacketRingBuffer,
        record: Callable[[], RecordStreamParams | None],
        zones: dict[str, list[tuple[float, float]]],
        sinks: list[EventSink],
        early_start: bool = False,
    ) -> None:
        """``record`` gives the record stream's parameters when there is one: a file knows them at once, a live
        camera once its first keyframe has arrived (and anew after a reconnect). ``early_start``: send each start
        with its stills at once, the clip in an update (live cameras)."""
        self.locker, self.ring, self._record, self.zones, self.sinks = locker, ring, record, zones, sinks
        self.early_start = early_start
        self._pending: list[PendingCase] = []
        self._open: dict[str, _Open] = {}
        self._held: list[ViolationEvent] = []  # updates and ends waiting for their start (or an end for its clip)
        self.started = 0

    @property
    def open_violations(self) -> int:
        return len(self._open)

    def accept(
        self, events: list[ViolationEvent], frame: Frame | None, plates: dict[str, PlateStill] | None = None
    ) -> None:
        """Take one frame's events; a start's stills (with its vehicle's plate crop, from ``plates`` by violation
        id) are sealed now, while they are in hand. A better plate crop that arrives with an update (the plate
        was first read after the start) is sealed then and travels with that update and the events after it."""
        for event in events:
            plate = (plates or {}).get(event.id)
            if event.state is EventState.START:
                if frame is None:
                    raise ValueError(f"violation {event.id} starts without a frame")
                case = self.locker.open_case(event, frame.image, self.zones.get(event.zone), plate)
                self._pending.append(case)
                self._open[event.id] = _Open(plate_pts=plate.pts_s if plate else None)
                if self.early_start and self._record() is not None:  # without a record stream: sealed whole now
                    self._send(self._open[event.id], self._seal_stills(case))
                continue
            opened = self._open.get(event.id)
            if opened is None:
                logger.error("violation %s: %s without its start; dropped", event.id, event.state.value)
                continue
            if plate is not None and opened.plate_pts != plate.pts_s:
                self._seal_later_plate(event, opened, plate)
                opened.plate_pts = plate.pts_s
            self._held.append(event)
        self._release()

    def seal_ready(self, final: bool = False) -> None:
        """Seal every case whose post-roll has arrived (all of them when ``final``); release what follows.

        A case leaves the pending list before it is sealed, so a failure never seals (and sends) it twice; a
        case that cannot be sealed is still sent, with a note, so nothing waits behind it for ever.
        """
        latest = self.ring.latest_s
        # Without a record stream (stills) there is no clip to wait for.
        ready = [
            c
            for c in self._pending
            if final or self._record() is None or (latest is not None and latest >= c.clip_end_s)
        ]
        self._pending = [c for c in self._pending if c not in ready]
        for case in ready:
            opened = self._open[case.event.id]
            self._send(opened, self._seal(case, opened))
            opened.clip_pending = False
        self._release()

    def _release(self) -> None:
        """Send the held updates and ends whose start has been sent (an end also after its clip), in order."""
        held = []
        for later in self._held:
            opened = self._open[later.id]
            if opened.last is None or (later.state is EventState.END and opened.clip_pending):
                held.append(later)
                continue
            self._send(opened, self._queue(opened.next(later)))
            if later.state is EventState.END:
                del self._open[later.id]
        self._held = held

    def _send(self, opened: _Open, event: ViolationEvent) -> None:
        if event.state is EventState.START:
            self.started += 1
        opened.last, opened.later = event, [r for r in opened.later if r not in event.evidence]
        self._emit(event)

    def _seal_later_plate(self, event: ViolationEvent, opened: _Open, plate: PlateStill) -> None:
        try:
            opened.later.append(self.locker.seal_plate(plate))
        except OSError as exc:  # the update still goes, with the evidence sealed so far
            logger.error("violation %s: plate crop not sealed: %s", event.id, exc)

    def _seal_stills(self, case: PendingCase) -> ViolationEvent:
        """The early start; the locker answers a full disk itself, anything else must not lose the violation
        (nor the frame's other events): the start is queued with its stills and a note, its clip still follows."""
        try:
            return self.locker.seal_stills(case)
        except Exception as exc:
            logger.exception("violation %s: sealing the stills failed", case.event.id)
            notes = {**case.event.notes, "clip": CLIP_PENDING, "evidence": f"not sealed: {exc!r}"}
            return self._queue(dataclasses.replace(case.event, evidence=case.stills, notes=notes))

    def _seal(self, case: PendingCase, opened: _Open) -> ViolationEvent:
        """The start with its clip, or (its start sent already) the update that brings the clip."""
        follows = opened.last
        # The update keeps every artifact sent so far (plate crops included) but the stills' own manifest.
        sent = () if follows is None else (*follows.evidence, *opened.later)
        later = [r for r in sent if r.kind not in SEALS and r not in case.stills]
        try:
            return self.locker.seal(case, self.ring.snapshot(), self._record(), follows, later)
        except Exception as exc:  # the locker handles a full disk; anything else must not lose the violation
            logger.exception("violation %s: sealing failed", case.event.id)
            if follows is not None:  # the start went out with its stills; the clip is reported missing
                return self._queue(opened.next(dataclasses.replace(
                    follows, state=EventState.UPDATE, notes={**follows.notes, "clip": f"not sealed: {exc!r}"}
                )))  # fmt: skip
            notes = {**case.event.notes, "evidence": f"not sealed: {exc!r}"}
            return self._queue(dataclasses.replace(case.event, evidence=case.stills, notes=notes))
        finally:
            self.ring.unpin(case.event.id)

    def _queue(self, event: ViolationEvent) -> ViolationEvent:
        """Queue the event for the API; if the outbox itself fails (its disk), the log keeps the last copy."""
        try:
            return self.locker.publish(event)
        except Exception:
            logger.critical("violation event %s could not be queued: %s", event.key, event.to_dict())
            return event

    def _emit(self, event: ViolationEvent) -> None:
        for sink in self.sinks:
            try:
                sink(event)
            except Exception:  # a sink (the events file) failing must not stop the evidence stage
                logger.exception("violation event %s: a sink failed", event.key)
