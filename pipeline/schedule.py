"""Rule schedules: is a local time inside any configured window?"""

from __future__ import annotations

from datetime import datetime

from pipeline.config import WEEKDAYS, ScheduleWindow


def in_schedule(windows: list[ScheduleWindow], local: datetime) -> bool:
    """True when ``local`` falls in a window; a window whose end is before its start runs overnight."""
    day = WEEKDAYS[local.weekday()]
    previous_day = WEEKDAYS[(local.weekday() - 1) % 7]
    now = local.time()
    for window in windows:
        if window.start <= window.end:
            if day in window.days and window.start <= now <= window.end:
                return True
        elif (day in window.days and now >= window.start) or (previous_day in window.days and now <= window.end):
            return True
    return False
