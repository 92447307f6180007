"""One camera's evidence stage, off the frame path: stills when a violation starts, the clip once the
post-roll has been captured, then the sealed start; updates and ends follow their start."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable

from evidence.clips import RecordStreamParams
from evidence.locker import EvidenceLocker, PendingCase
from evidence.types import EventState, ViolationEvent
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
        record: RecordStreamParams | None,
        zones: dict[str, list[tuple[float, float]]],
        sinks: list[EventSink],
    ) -> None:
        self.locker, self.ring, self.record, self.zones, self.sinks = locker, ring, record, zones, sinks
        self._pending: list[PendingCase] = []
        self._sealed: dict[str, ViolationEvent] = {}
        self._held: list[ViolationEvent] = []
        self.started = 0

    @property
    def open_violations(self) -> int:
        return len(self._pending) + len(self._sealed)

    def accept(self, events: list[ViolationEvent], frame: Frame | None) -> None:
        """Take one frame's events; a start's stills are sealed now, while its frame is in hand."""
        for event in events:
            if event.state is EventState.START:
                if frame is None:
                    raise ValueError(f"violation {event.id} starts without a frame")
                self._pending.append(self.locker.open_case(event, frame.image, self.zones.get(event.zone)))
            else:
                self._held.append(event)

    def seal_ready(self, final: bool = False) -> None:
        """Seal every case whose post-roll has arrived (all of them when ``final``); release what follows."""
        latest = self.ring.latest_s
        waiting = []
        for case in self._pending:
            # Without a record stream (stills) there is no clip to wait for.
            if final or self.record is None or (latest is not None and latest >= case.clip_end_s):
                sealed = self.locker.seal(case, self.ring.snapshot(), self.record)
                self._sealed[sealed.id] = sealed
                self.started += 1
                self._emit(sealed)
            else:
                waiting.append(case)
        self._pending = waiting
        held = []
        for later in self._held:  # updates and ends follow their start, carrying its sealed evidence
            start = self._sealed.get(later.id)
            if start is None:
                held.append(later)
                continue
            self._emit(self.locker.publish(dataclasses.replace(later, evidence=start.evidence)))
            if later.state is EventState.END:
                del self._sealed[later.id]
        self._held = held

    def _emit(self, event: ViolationEvent) -> None:
        for sink in self.sinks:
            sink(event)
