"""Time analysed per enforcement window: credits, stalls, window boundaries, overnight windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from pipeline.config import ScheduleWindow
from pipeline.coverage import AnalysedTime
from pipeline.schedule import window_at

SHANGHAI_0700 = datetime(2026, 11, 23, 23, 0, tzinfo=UTC)  # Tuesday 07:00 in Shanghai
MORNING = ScheduleWindow(start="07:00", end="09:00")
NIGHT = ScheduleWindow(days=["mon"], start="22:00", end="06:00")


def frames(start: datetime, seconds: float, period_s: float) -> list[datetime]:
    return [start + timedelta(seconds=i * period_s) for i in range(int(seconds / period_s) + 1)]


def test_a_steady_camera_is_credited_all_of_the_window_so_far() -> None:
    watched = AnalysedTime({"trucks": [MORNING]}, "Asia/Shanghai", credit_cap_s=3.0)
    for at in frames(SHANGHAI_0700, 600, 1.0):  # 07:00:00 … 07:10:00 at 1 fps
        watched.add(at)
    (window,) = watched.windows(SHANGHAI_0700 + timedelta(seconds=600))
    assert window.rule == "trucks" and window.start.hour == 7 and window.end.hour == 9
    assert window.analysed_s == pytest.approx(600.0)
    assert window.elapsed_s == pytest.approx(600.0)


def test_a_stall_longer_than_the_cap_earns_nothing() -> None:
    watched = AnalysedTime({"trucks": [MORNING]}, "Asia/Shanghai", credit_cap_s=3.0)
    for at in frames(SHANGHAI_0700, 100, 1.0) + frames(SHANGHAI_0700 + timedelta(seconds=400), 100, 1.0):
        watched.add(at)  # 07:00–07:01:40, nothing for 300 s, then 07:06:40–07:08:20
    now = SHANGHAI_0700 + timedelta(seconds=500)
    (window,) = watched.windows(now)
    assert window.analysed_s == pytest.approx(200.0)
    assert window.elapsed_s == pytest.approx(500.0)


def test_frames_outside_every_window_are_not_counted_and_a_new_window_starts_fresh() -> None:
    watched = AnalysedTime({"trucks": [MORNING]}, "Asia/Shanghai", credit_cap_s=3.0)
    before = SHANGHAI_0700 - timedelta(seconds=30)
    for at in frames(before, 60, 1.0):  # 06:59:30 … 07:00:30
        watched.add(at)
    (window,) = watched.windows(SHANGHAI_0700 + timedelta(seconds=30))
    assert window.analysed_s == pytest.approx(30.0)  # only the part inside 07:00–09:00
    next_day = SHANGHAI_0700 + timedelta(days=1)
    watched.add(next_day)
    watched.add(next_day + timedelta(seconds=2))
    windows = watched.windows(next_day + timedelta(seconds=2))
    assert [w.start.day for w in windows] == [24, 25]
    assert windows[-1].analysed_s == pytest.approx(2.0)
    assert windows[0].elapsed_s == pytest.approx(7200.0)  # a finished window: all of it


def test_a_camera_down_for_the_whole_window_shows_zero_not_nothing() -> None:
    watched = AnalysedTime({"trucks": [MORNING], "always": [ScheduleWindow()]}, "Asia/Shanghai", credit_cap_s=3.0)
    now = SHANGHAI_0700 + timedelta(minutes=30)
    windows = {w.rule: w for w in watched.windows(now)}
    assert windows["trucks"].analysed_s == 0 and windows["trucks"].last_analysed_at is None
    assert windows["trucks"].elapsed_s == pytest.approx(1800.0)
    assert windows["always"].start.hour == 0  # the default schedule is the local day
    assert watched.windows(SHANGHAI_0700 + timedelta(hours=3))[0].rule == "always"  # 10:00: no truck window


def test_an_overnight_window_belongs_to_the_day_it_started() -> None:
    monday_2330 = datetime(2026, 11, 23, 15, 30, tzinfo=UTC)
    tuesday_0500 = datetime(2026, 11, 23, 21, 0, tzinfo=UTC)
    zone = ZoneInfo("Asia/Shanghai")
    first = window_at([NIGHT], monday_2330.astimezone(zone))
    second = window_at([NIGHT], tuesday_0500.astimezone(zone))
    assert first is not None and second is not None and first == second
    assert first[0].isoformat() == "2026-11-23T22:00:00+08:00" and first[1].isoformat() == "2026-11-24T06:00:00+08:00"
    assert window_at([NIGHT], datetime(2026, 11, 24, 15, 30, tzinfo=UTC).astimezone(zone)) is None  # Tue night


def test_the_credit_cap_must_be_positive() -> None:
    with pytest.raises(ValueError, match="credit_cap_s"):
        AnalysedTime({}, "Asia/Shanghai", credit_cap_s=0)
