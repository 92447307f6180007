"""Time actually analysed per enforcement window: was this camera watched while its rule applied?

Each analysed frame credits the wall-clock gap since the previous analysed frame to the windows of every
rule whose schedule holds at that moment, but never more than ``credit_cap_s``: a camera that stalled for a
minute gets no credit for that minute, however its frames resume. The operations centre compares
``analysed_s`` with ``elapsed_s``: a window analysed 40 % of the time is a window whose violations may have
been missed.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, replace
from datetime import datetime
from zoneinfo import ZoneInfo

from pipeline.config import ScheduleWindow
from pipeline.schedule import window_at

KEPT_WINDOWS = 4  # per rule: the current window and the three before it


@dataclass(frozen=True)
class WindowCoverage:
    """One window instance of one rule: how much of it the camera was analysed."""

    rule: str
    start: datetime  # local time, aware
    end: datetime
    analysed_s: float
    last_analysed_at: datetime | None  # UTC; None: no frame of this window was analysed
    elapsed_s: float = 0.0  # of the window gone by when the health was taken (all of it once it is over)


class AnalysedTime:
    """Per camera: each rule's recent windows and the seconds analysed in each."""

    def __init__(self, schedules: dict[str, list[ScheduleWindow]], timezone: str, credit_cap_s: float) -> None:
        if credit_cap_s <= 0:
            raise ValueError(f"credit_cap_s must be > 0, got {credit_cap_s}")
        self.schedules = schedules
        self.zone = ZoneInfo(timezone)
        self.credit_cap_s = credit_cap_s
        self._previous: datetime | None = None
        self._lock = threading.Lock()  # analysis adds, the health reporter reads
        self._windows: dict[str, deque[WindowCoverage]] = {rule: deque(maxlen=KEPT_WINDOWS) for rule in schedules}

    def add(self, captured_at: datetime) -> None:
        """One analysed frame captured at ``captured_at`` (aware)."""
        with self._lock:
            self._add(captured_at)

    def _add(self, captured_at: datetime) -> None:
        gap = 0.0 if self._previous is None else (captured_at - self._previous).total_seconds()
        credit = gap if 0 < gap <= self.credit_cap_s else 0.0
        self._previous = captured_at if self._previous is None else max(self._previous, captured_at)
        local = captured_at.astimezone(self.zone)
        for rule, windows in self.schedules.items():
            found = window_at(windows, local)
            if found is None:
                continue
            start, end = found
            kept = self._windows[rule]
            if kept and kept[-1].start == start:
                current = kept[-1]
                kept[-1] = replace(current, analysed_s=current.analysed_s + credit, last_analysed_at=captured_at)
            else:  # the first frame of a window: only the part of the gap inside the window counts
                inside = min(credit, max(0.0, (local - start).total_seconds()))
                kept.append(WindowCoverage(rule, start, end, inside, captured_at))

    def windows(self, now: datetime) -> tuple[WindowCoverage, ...]:
        """Every kept window, oldest first per rule, and the window ``now`` is in even if nothing of it was
        analysed (a camera down for a whole window shows as 0 s analysed, not as no window)."""
        local = now.astimezone(self.zone)
        out: list[WindowCoverage] = []
        for rule, windows in self.schedules.items():
            with self._lock:
                kept = list(self._windows[rule])
            found = window_at(windows, local)
            if found is not None and not (kept and kept[-1].start == found[0]):
                kept.append(WindowCoverage(rule, found[0], found[1], 0.0, None))
            out.extend(replace(w, elapsed_s=max(0.0, (min(now, w.end) - w.start).total_seconds())) for w in kept)
        return tuple(out)
