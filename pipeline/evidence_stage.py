"""One camera's evidence stage, off the frame path: stills when a violation starts, the clip once the
post-roll has been captured, then the sealed start; updates and ends follow their start."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable

from evidence.clips import RecordStreamParams
from evidence.locker import EvidenceLocker, PendingCase, PlateStill
from evidence.types import EventState, EvidenceRecord, ViolationEvent
from pipeline.ring_buffer import PacketRingBuffer
from pipeline.types import Frame

logger = logging.getLogger(__name__)

EventSink = Callable[[ViolationEvent], None]


class EvidenceStage:
    """Holds only open violations: a start until it is sealed, a sealed start until its end."""

    def __init__(
        self,
        locker: EvidenceLocker,
        ring: PacketRingBuffer,
        record: Callable[[], RecordStreamParams | None],
        zones: dict[str, list[tuple[float, float]]],
        sinks: list[EventSink],
    ) -> None:
        """``record`` gives the record stream's parameters when there is one: a file knows them at once, a live
        camera once its first keyframe has arrived (and anew after a reconnect)."""
        self.locker, self.ring, self._record, self.zones, self.sinks = locker, ring, record, zones, sinks
        self._pending: list[PendingCase] = []
        self._sealed: dict[str, ViolationEvent] = {}
        self._held: list[ViolationEvent] = []
        self._plates: dict[str, list[EvidenceRecord]] = {}  # plate crops sealed after the start, by violation
        self._plate_pts: dict[str, float] = {}  # the frame of each violation's newest plate crop
        self.started = 0

    @property
    def open_violations(self) -> int:
        return len(self._pending) + len(self._sealed)

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
                self._pending.append(self.locker.open_case(event, frame.image, self.zones.get(event.zone), plate))
            else:
                self._held.append(event)
            if plate is not None and self._plate_pts.get(event.id) != plate.pts_s:
                if event.state is not EventState.START:
                    self._seal_later_plate(event, plate)
                self._plate_pts[event.id] = plate.pts_s

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
            self._sealed[case.event.id] = self._seal(case)
            self.started += 1
        held = []
        for later in self._held:  # updates and ends follow their start, carrying its sealed evidence
            start = self._sealed.get(later.id)
            if start is None:
                held.append(later)
                continue
            evidence = (*start.evidence, *self._plates.get(later.id, ()))
            self._emit(self._queue(dataclasses.replace(later, evidence=evidence)))
            if later.state is EventState.END:
                del self._sealed[later.id]
                self._plates.pop(later.id, None)
                self._plate_pts.pop(later.id, None)
        self._held = held

    def _seal_later_plate(self, event: ViolationEvent, plate: PlateStill) -> None:
        try:
            self._plates.setdefault(event.id, []).append(self.locker.seal_plate(plate))
        except OSError as exc:  # the update still goes, with the evidence sealed so far
            logger.error("violation %s: plate crop not sealed: %s", event.id, exc)

    def _seal(self, case: PendingCase) -> ViolationEvent:
        try:
            sealed = self.locker.seal(case, self.ring.snapshot(), self._record())
        except Exception as exc:  # the locker handles a full disk; anything else must not lose the violation
            logger.exception("violation %s: sealing failed", case.event.id)
            notes = {**case.event.notes, "evidence": f"not sealed: {exc!r}"}
            sealed = self._queue(dataclasses.replace(case.event, evidence=case.stills, notes=notes))
        finally:
            self.ring.unpin(case.event.id)
        self._emit(sealed)
        return sealed

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
