"""Rules on literal tracks: dwell, stationarity, short track loss, schedules, cooldown, per-zone, kinds."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from detectors.attributes.bike import Brand
from detectors.attributes.truck_cover import CoverState
from evidence.types import EventState, ModelRef, Provenance, TimeSource, ViolationKind
from pipeline.config import ScheduleWindow, ZoneConfig, ZoneKind, parse_rule
from pipeline.rules import EventContext, Rule
from tests.conftest import make_track

ZONE = ZoneConfig(name="z", kind=ZoneKind.NO_VENDING, polygon=[(0, 0), (1000, 0), (1000, 1000), (0, 1000)], inertia=1)
PROVENANCE = Provenance(config_sha256="1" * 64, models=(ModelRef("detector", "m", "0" * 64),))
CONTEXT = EventContext(camera_id="cam", origin_id="file:" + "2" * 64, provenance=PROVENANCE)
# 2026-11-23 is a Monday; 10:00 in Shanghai.
T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


@dataclass
class Case:
    name: str
    rule: dict[str, Any]
    # One entry per analysed frame: (pts_s, [(track_id, label, box, extra attributes), ...])
    frames: list[tuple[float, list[tuple[int, str, tuple[float, float, float, float], dict[str, Any]]]]]
    expected: list[tuple[str, int]]  # (state, track_id) in order
    zone: ZoneConfig = field(default_factory=lambda: ZONE)


BOX = (100.0, 100.0, 150.0, 200.0)
FAR = (700.0, 700.0, 750.0, 800.0)
NEAR = (160.0, 100.0, 210.0, 200.0)
SHARED = {"brand": Brand.MEITUAN}
PRIVATE = {"brand": Brand.OTHER}


def still(
    track_id: int, label: str, seconds: list[float], box: tuple[float, float, float, float] = BOX, **attrs: Any
) -> list[tuple[float, list[tuple[int, str, tuple[float, float, float, float], dict[str, Any]]]]]:
    return [(t, [(track_id, label, box, attrs)]) for t in seconds]


STALL = {"kind": "street_stall", "min_dwell_s": 3.0, "lost_grace_s": 2.0, "cooldown_s": 60.0}

CASES = [
    Case(
        "fires once after the dwell, ends after the grace period",
        STALL,
        [*still(1, "chair", [0, 1, 2, 3, 4]), (5, []), (6, []), (7, [])],
        [("start", 1), ("end", 1)],
    ),
    Case("does not fire before the dwell", STALL, still(1, "chair", [0, 1, 2, 2.9]), []),
    Case(
        "a moving object restarts its dwell and never fires",
        STALL,
        [(t, [(1, "person", (100 + 80 * t, 100, 150 + 80 * t, 200), {})]) for t in range(6)],
        [],
    ),
    Case(
        "a short track loss keeps the dwell timer",
        STALL,
        [*still(1, "chair", [0, 1]), (2, []), *still(1, "chair", [3, 4])],
        [("start", 1), ("end", 1)],
    ),
    Case(
        "a stationary object whose track id changes keeps its violation (one start, one end, at the real end)",
        STALL,
        [*still(1, "chair", [0, 1, 2, 3, 4]), *still(2, "chair", [5, 6, 7, 8]), (9, []), (10, []), (11, [])],
        [("start", 1), ("end", 1)],
    ),
    Case("traffic is never a stall", STALL, still(1, "car", [0, 1, 2, 3, 4]), []),
    Case(
        "outside the schedule nothing fires",
        {**STALL, "schedule": [ScheduleWindow(start="20:00", end="23:00")]},
        still(1, "chair", [0, 1, 2, 3, 4]),
        [],
    ),
    Case(
        "per zone: a second object in the same zone within the cooldown does not fire",
        STALL,
        [(t, [(1, "chair", BOX, {}), (2, "table", FAR, {})]) for t in range(5)],
        [("start", 1), ("end", 1)],
    ),
    Case(
        "per object: each object fires",
        {**STALL, "per": "object"},
        [(t, [(1, "chair", BOX, {}), (2, "table", FAR, {})]) for t in range(5)],
        [("start", 1), ("start", 2), ("end", 1), ("end", 2)],
    ),
    Case(
        "per object: a new track id at the same place is the same object (cooldown)",
        {**STALL, "per": "object"},
        [*still(1, "chair", [0, 1, 2, 3]), (4, []), (5, []), (6, []), (7, []), *still(2, "chair", [8, 9, 10, 11, 12])],
        [("start", 1), ("end", 1)],
    ),
    Case(
        "bike pile below the threshold does not fire",
        {"kind": "shared_bike_misparked", "min_dwell_s": 2.0, "min_pile": 2},
        still(1, "bicycle", [0, 1, 2, 3], brand=Brand.QINGJU),
        [],
    ),
    Case(
        "bike pile at the threshold fires",
        {"kind": "shared_bike_misparked", "min_dwell_s": 2.0, "min_pile": 2, "lost_grace_s": 1.0},
        [(t, [(1, "bicycle", BOX, SHARED), (2, "bicycle", NEAR, SHARED)]) for t in range(4)],
        [("start", 1), ("end", 1)],
    ),
    Case(
        "a private bike is not counted in the pile",
        {"kind": "shared_bike_misparked", "min_dwell_s": 2.0, "min_pile": 2},
        [(t, [(1, "bicycle", BOX, SHARED), (2, "bicycle", NEAR, PRIVATE)]) for t in range(4)],
        [],
    ),
    Case(
        "require_shared false counts every bike",
        {"kind": "shared_bike_misparked", "min_dwell_s": 2.0, "min_pile": 2, "require_shared": False},
        [(t, [(1, "bicycle", BOX, {}), (2, "bicycle", NEAR, PRIVATE)]) for t in range(4)],
        [("start", 1), ("end", 1)],
    ),
    Case(
        "bikes further apart than the pile radius are not a pile",
        {"kind": "shared_bike_misparked", "min_dwell_s": 2.0, "min_pile": 2, "pile_radius_px": 100},
        [(t, [(1, "bicycle", BOX, SHARED), (2, "bicycle", FAR, SHARED)]) for t in range(4)],
        [],
    ),
    Case(
        "a fallen shared bike fires alone, after the dwell",
        {"kind": "shared_bike_misparked", "min_dwell_s": 2.0, "min_pile": 3},
        still(1, "bicycle", [0, 1, 2, 3], brand=Brand.QINGJU, fallen=True),
        [("start", 1), ("end", 1)],
    ),
    Case(
        "a fallen bike below the pile size does not fire when fallen_fires is off",
        {"kind": "shared_bike_misparked", "min_dwell_s": 2.0, "min_pile": 3, "fallen_fires": False},
        still(1, "bicycle", [0, 1, 2, 3], brand=Brand.QINGJU, fallen=True),
        [],
    ),
    Case(
        "static foreground (goods, carts) is a stall",
        STALL,
        still(1, "static_object", [0, 1, 2, 3, 4]),
        [("start", 1), ("end", 1)],
    ),
    Case(
        "muck truck: uncovered fires without dwell",
        {"kind": "muck_truck", "min_dwell_s": 0.0, "lost_grace_s": 1.0},
        [
            (0, [(1, "truck", BOX, {"cover": CoverState.UNCOVERED})]),
            (1, [(1, "truck", (300, 100, 350, 200), {"cover": CoverState.UNCOVERED})]),
        ],
        [("start", 1), ("end", 1)],
    ),
    Case(
        "muck truck: covered does not fire",
        {"kind": "muck_truck", "min_dwell_s": 0.0},
        still(1, "truck", [0, 1, 2], cover=CoverState.COVERED),
        [],
    ),
    Case(
        "muck truck: unknown cover fires only when configured",
        {"kind": "muck_truck", "min_dwell_s": 0.0, "cover_states": ["uncovered", "unknown"], "lost_grace_s": 0.5},
        still(1, "truck", [0, 1]),
        [("start", 1), ("end", 1)],
    ),
    Case(
        "low confidence updates are ignored", {**STALL, "min_confidence": 0.9}, still(1, "chair", [0, 1, 2, 3, 4]), []
    ),
]


def run_case(case: Case) -> list[tuple[str, int]]:
    config = parse_rule({"name": "r", "camera": "cam", "zone": "z", **case.rule})
    rule = Rule.build(config, case.zone, CONTEXT)
    events = []
    for pts_s, rows in case.frames:
        tracks = [
            make_track(tid, label, box, confidence=0.8 if config.min_confidence < 0.8 else 0.5, **attrs)
            for tid, label, box, attrs in rows
        ]
        events += rule.update(tracks, pts_s, T0 + timedelta(seconds=pts_s), TimeSource.CONFIG)
    events += rule.finish()
    return [(e.state.value, e.track_id) for e in events]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_rule_table(case: Case) -> None:
    assert run_case(case) == case.expected


def test_event_carries_times_model_and_parameters() -> None:
    rule = Rule.build(parse_rule({"name": "r", "camera": "cam", "zone": "z", **STALL}), ZONE, CONTEXT)
    events = []
    for t in [0.5, 1.5, 2.5, 3.5]:
        events += rule.update(
            [make_track(4, "chair", BOX, confidence=0.8)], t, T0 + timedelta(seconds=t), TimeSource.CONFIG
        )
    (start,) = events
    assert start.kind is ViolationKind.STREET_STALL and start.state is EventState.START
    assert (start.start_s, start.end_s, start.key_frame_pts_s) == (0.5, 3.5, 3.5)
    assert start.provenance == PROVENANCE and start.revision == 0
    assert start.rule_parameters["min_dwell_s"] == 3.0
    assert start.time_source == "config"
    (end,) = rule.finish()
    assert end.id == start.id and end.state is EventState.END and end.revision == 1
    assert end.key != start.key
    assert end.ended_at == (T0 + timedelta(seconds=3.5)).isoformat()


def _first_start_id(context: EventContext, offset_s: float = 0.0, wall: datetime = T0, config_sha: str = "1" * 64):
    rule = Rule.build(parse_rule({"name": "r", "camera": "cam", "zone": "z", **STALL}), ZONE, context)
    for t in [0.0, 1.0, 2.0, 3.0, 4.0]:
        events = rule.update(
            [make_track(4, "chair", BOX, 0.8)], t + offset_s, wall + timedelta(seconds=t), TimeSource.CONFIG
        )
        if events:
            return events[0].id
    raise AssertionError("the rule did not fire")


def test_violation_id_depends_on_footage_rule_track_and_stream_time_only() -> None:
    base = _first_start_id(CONTEXT)
    assert base == _first_start_id(CONTEXT), "the same input gives the same id"
    # Neither the wall clock (a replay without a configured start time) nor the config's bytes change it.
    assert base == _first_start_id(CONTEXT, wall=T0 + timedelta(days=400))
    other_config = EventContext("cam", CONTEXT.origin_id, Provenance(config_sha256="9" * 64))
    assert base == _first_start_id(other_config)
    # Other footage, another camera, or another entry time in the stream is another violation.
    assert base != _first_start_id(EventContext("cam", "file:" + "3" * 64))
    assert base != _first_start_id(EventContext("cam-2", CONTEXT.origin_id))
    assert base != _first_start_id(CONTEXT, offset_s=7.0)


def test_a_plate_read_on_an_open_violation_is_an_update() -> None:
    rule = Rule.build(parse_rule({"name": "r", "camera": "cam", "zone": "z", **STALL}), ZONE, CONTEXT)
    events = []
    for t, plate in [(0, None), (1, None), (2, None), (3, None), (4, None), (5, "粤B12345"), (6, "粤B12345")]:
        attributes = {"plate": plate} if plate else {}
        events += rule.update(
            [make_track(4, "chair", BOX, 0.8, **attributes)], t, T0 + timedelta(seconds=t), TimeSource.CONFIG
        )
    events += rule.finish()
    assert [(e.state, e.revision, e.plate) for e in events] == [
        (EventState.START, 0, None),
        (EventState.UPDATE, 1, "粤B12345"),
        (EventState.END, 2, "粤B12345"),
    ]
    assert len({e.key for e in events}) == 3 and len({e.id for e in events}) == 1


def test_a_bike_in_a_designated_parking_area_is_left_alone() -> None:
    """The bike rule watches the no_parking area; bike_parking zones inside it are where bikes belong."""
    watched = ZoneConfig(name="pavement", kind=ZoneKind.NO_PARKING, polygon=[(0, 0), (1000, 0), (1000, 900), (0, 900)])
    parking = ZoneConfig(name="rack", kind=ZoneKind.BIKE_PARKING, polygon=[(0, 0), (400, 0), (400, 400), (0, 400)])
    config = parse_rule({"name": "r", "camera": "cam", "zone": "pavement", "kind": "shared_bike_misparked"})
    config = config.model_copy(update={"min_dwell_s": 2.0})
    rule = Rule.build(config, watched, CONTEXT, parking=[parking])
    in_rack, on_pavement = (100.0, 100.0, 150.0, 200.0), (700.0, 100.0, 750.0, 200.0)
    fired = []
    for t in range(5):
        tracks = [
            make_track(1, "bicycle", in_rack, 0.8, **SHARED),
            make_track(2, "bicycle", on_pavement, 0.8, **SHARED),
        ]
        fired += [
            (e.state.value, e.track_id) for e in rule.update(tracks, t, T0 + timedelta(seconds=t), TimeSource.CONFIG)
        ]
    assert fired == [("start", 2)]
    # Without the parking zone the racked bike is a misparked bike like any other.
    rule = Rule.build(config.model_copy(update={"per": "object"}), watched, CONTEXT)
    alone = []
    for t in range(5):
        tracks = [make_track(1, "bicycle", in_rack, 0.8, **SHARED)]
        alone += [e.track_id for e in rule.update(tracks, t, T0 + timedelta(seconds=t), TimeSource.CONFIG)]
    assert alone == [1]


def test_the_end_of_a_violation_is_when_the_object_left_even_if_its_track_id_changed() -> None:
    rule = Rule.build(parse_rule({"name": "r", "camera": "cam", "zone": "z", **STALL}), ZONE, CONTEXT)
    frames = [*still(1, "chair", [0, 1, 2, 3, 4]), *still(2, "chair", [5, 6, 7, 8]), (9, []), (10, []), (11, [])]
    events = []
    for pts_s, rows in frames:
        tracks = [make_track(tid, label, box, 0.8) for tid, label, box, _ in rows]
        events += rule.update(tracks, pts_s, T0 + timedelta(seconds=pts_s), TimeSource.CONFIG)
    start, end = events
    assert (start.state, end.state, end.id) == (EventState.START, EventState.END, start.id)
    assert end.end_s == 8.0, "the chair stood there until 8 s, under two track ids"
