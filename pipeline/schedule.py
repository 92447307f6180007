"""Rule schedules: is a local time inside any configured window?"""

from __future__ import annotations

from datetime import datetime, timedelta

from pipeline.config import WEEKDAYS, ScheduleWindow


def in_schedule(windows: list[ScheduleWindow], local: datetime) -> bool:
    """True when ``local`` falls in a window; a window whose end is before its start runs overnight."""
    return window_at(windows, local) is not None


def window_at(windows: list[ScheduleWindow], local: datetime) -> tuple[datetime, datetime] | None:
    """The start and end (local, aware) of the window instance ``local`` falls in; None outside every window.

    A window ends at its ``end`` time inclusive: the default 00:00–23:59:59 is one local day.
    """
    day = WEEKDAYS[local.weekday()]
    previous_day = WEEKDAYS[(local.weekday() - 1) % 7]
    today, now = local.date(), local.time()
    for window in windows:
        start = datetime.combine(today, window.start, local.tzinfo)
        end = datetime.combine(today, window.end, local.tzinfo)
        if window.start <= window.end:
            if day in window.days and window.start <= now <= window.end:
                return start, end
        elif day in window.days and now >= window.start:
            return start, end + timedelta(days=1)
        elif previous_day in window.days and now <= window.end:
            return start - timedelta(days=1), end
    return None
