"""Rules: turn tracks inside zones into violation events (start once, end once) with dwell and cooldown."""

from __future__ import annotations

import dataclasses
import logging
import math
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from detectors.attributes.truck_cover import CoverState
from evidence.types import EventState, Provenance, TimeSource, ViolationEvent, ViolationKind
from pipeline.config import MuckTruckRuleConfig, RuleConfig, SharedBikeRuleConfig, ZoneConfig
from pipeline.schedule import in_schedule
from pipeline.types import Track
from pipeline.zones import Zone

logger = logging.getLogger(__name__)

_EVENT_NAMESPACE = uuid.UUID("6f1c8f3e-5b7a-4c8e-9a59-0d8a3c1e2b47")

# Moving traffic is never a stall, whatever the detector calls the goods around it.
STALL_EXCLUDED = frozenset(
    {
        "car",
        "bus",
        "truck",
        "train",
        "motorcycle",
        "bicycle",
        "airplane",
        "boat",
        "traffic light",
        "stop sign",
        "fire hydrant",
        "parking meter",
    }
)
STATIONARY_KINDS = frozenset({ViolationKind.STREET_STALL, ViolationKind.SHARED_BIKE_MISPARKED})


@dataclass(frozen=True)
class EventContext:
    """What every event records about where it came from.

    ``origin_id`` names the footage: ``file:<sha256 of its bytes>`` for a file, the capture session for a live
    camera. Violation ids derive from it and from stream time, never from the wall clock, so a replay of the
    same file files nothing new whatever start time it is given.
    """

    camera_id: str
    origin_id: str
    provenance: Provenance = field(default_factory=Provenance)
    timezone: str = "Asia/Shanghai"


@dataclass
class _Candidate:
    entered_s: float
    entry_anchor: tuple[float, float]
    last_inside_s: float
    track: Track
    event: ViolationEvent | None = None
    last_wall: datetime | None = None  # wall time of the frame the track was last seen inside


@dataclass
class _Cooldown:
    box: tuple[float, float, float, float]
    until_s: float


def overlap_of_smaller(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """Intersection area over the smaller box's area: 1.0 when one box lies inside the other."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return w * h / smaller if smaller > 0 else 0.0


# Boxes overlapping this much (of the smaller one) are taken as the same object or place.
SAME_PLACE_OVERLAP = 0.5


@dataclass
class Rule:
    """One configured rule bound to one zone of one camera."""

    config: RuleConfig
    zone: Zone
    context: EventContext
    parking: list[Zone] = field(default_factory=list)  # bike rules: where bikes may stand (never counted)
    _candidates: dict[int, _Candidate] = field(default_factory=dict)
    _cooldowns: list[_Cooldown] = field(default_factory=list)
    _zone_quiet_until_s: float = float("-inf")

    @classmethod
    def build(
        cls, config: RuleConfig, zone: ZoneConfig, context: EventContext, parking: list[ZoneConfig] | None = None
    ) -> Rule:
        """``parking``: the camera's bike_parking zones; a bike rule leaves bikes standing in them alone."""
        watches_parking = isinstance(config, SharedBikeRuleConfig)
        spaces = [Zone.from_config(z) for z in parking or []] if watches_parking else []
        return cls(config=config, zone=Zone.from_config(zone), context=context, parking=spaces)

    def _watches(self, track: Track) -> bool:
        config = self.config
        labels = config.watched_labels()
        if labels is None:
            return track.label not in STALL_EXCLUDED
        if isinstance(config, SharedBikeRuleConfig) and config.require_shared:
            return track.label in labels and track.attributes.shared is True
        return track.label in labels

    def _outside_parking(self, tracks: list[Track]) -> list[Track]:
        """Tracks whose ground point is in no designated parking area."""
        if not self.parking or not tracks:
            return tracks
        parked = [any(flags) for flags in zip(*(zone.contains(tracks) for zone in self.parking), strict=True)]
        return [track for track, is_parked in zip(tracks, parked, strict=True) if not is_parked]

    def _parameters(self) -> dict[str, object]:
        return self.config.model_dump(mode="json", exclude={"name", "camera", "zone"})

    def update(
        self, tracks: list[Track], pts_s: float, captured_at: datetime, time_source: TimeSource
    ) -> list[ViolationEvent]:
        """Feed one analysed frame's tracks; return the events that started, changed or ended on it.

        A starting event's key frame is this frame (``pts_s``). An open violation whose plate read or
        attributes changed gives an update.
        """
        watched = [t for t in tracks if self._watches(t) and t.confidence >= self.config.min_confidence]
        inside = self.zone.update(self._outside_parking(watched))
        events: list[ViolationEvent] = []
        inside_tracks = [t for t in watched if t.track_id in inside]
        seen_ids = {t.track_id for t in inside_tracks}
        for track in inside_tracks:
            candidate = self._candidates.get(track.track_id) or self._adopt(track, seen_ids)
            if candidate is None or (self.config.kind in STATIONARY_KINDS and self._moved(candidate, track)):
                if candidate is not None and candidate.event is not None:
                    events.append(self._end(candidate))
                candidate = _Candidate(entered_s=pts_s, entry_anchor=track.anchor, last_inside_s=pts_s, track=track)
                self._candidates[track.track_id] = candidate
            candidate.last_inside_s, candidate.track, candidate.last_wall = pts_s, track, captured_at
            if candidate.event is None and self._should_fire(candidate, inside_tracks, pts_s, captured_at):
                candidate.event = self._event(candidate, pts_s, captured_at, time_source)
                events.append(candidate.event)
                if self.per_zone:
                    self._zone_quiet_until_s = pts_s + self.config.cooldown_s
            elif candidate.event is not None and _observed(candidate.event) != _observed_on(track):
                candidate.event = self._revised(candidate, EventState.UPDATE)
                events.append(candidate.event)
        for track_id, candidate in list(self._candidates.items()):
            if track_id not in inside and pts_s - candidate.last_inside_s > self.config.lost_grace_s:
                if candidate.event is not None:
                    events.append(self._end(candidate))
                del self._candidates[track_id]
                self.zone.forget(track_id)
        return events

    def _adopt(self, track: Track, seen_ids: set[int]) -> _Candidate | None:
        """A stationary object whose track id changed (the tracker lost and re-found it) keeps its open
        violation: a new track where an open violation's object stood, while that object is not seen."""
        if self.config.kind not in STATIONARY_KINDS:
            return None
        for old_id, candidate in self._candidates.items():
            if (
                candidate.event is not None
                and old_id not in seen_ids
                and overlap_of_smaller(candidate.track.box, track.box) >= SAME_PLACE_OVERLAP
            ):
                del self._candidates[old_id]
                self.zone.forget(old_id)
                self._candidates[track.track_id] = candidate
                return candidate
        return None

    def forget(self, track_ids: list[int]) -> None:
        """Drop what the zone remembers of tracks the tracker has forgotten (memory stays bounded)."""
        for track_id in track_ids:
            if track_id not in self._candidates:
                self.zone.forget(track_id)

    def finish(self) -> list[ViolationEvent]:
        """End every open violation (end of file or camera shutdown)."""
        events = [self._end(c) for c in self._candidates.values() if c.event is not None]
        self._candidates.clear()
        return events

    def _moved(self, candidate: _Candidate, track: Track) -> bool:
        dx = track.anchor[0] - candidate.entry_anchor[0]
        dy = track.anchor[1] - candidate.entry_anchor[1]
        return math.hypot(dx, dy) > self.config.stationary_tolerance * max(track.height, 1.0)

    @property
    def per_zone(self) -> bool:
        per = self.config.per or ("object" if self.config.kind is ViolationKind.MUCK_TRUCK else "zone")
        return per == "zone"

    def _should_fire(self, candidate: _Candidate, inside: list[Track], pts_s: float, captured_at: datetime) -> bool:
        if pts_s - candidate.entered_s < self.config.min_dwell_s:
            return False
        if self.per_zone and pts_s < self._zone_quiet_until_s:
            return False  # this zone already has a violation within the cooldown
        if not in_schedule(self.config.schedule, captured_at.astimezone(ZoneInfo(self.context.timezone))):
            return False
        box, anchor = candidate.track.box, candidate.track.anchor
        if any(c.until_s > pts_s and overlap_of_smaller(box, c.box) >= SAME_PLACE_OVERLAP for c in self._cooldowns):
            return False  # the same object or place fired recently (e.g. its track id changed)
        if any(
            o.event is not None and overlap_of_smaller(box, o.track.box) >= SAME_PLACE_OVERLAP
            for o in self._candidates.values()
        ):
            return False  # an open violation already covers this place (a duplicate track of the same object)
        config = self.config
        if isinstance(config, MuckTruckRuleConfig):
            return (candidate.track.attributes.cover or CoverState.UNKNOWN) in config.cover_states
        if isinstance(config, SharedBikeRuleConfig):
            if config.fallen_fires and candidate.track.attributes.fallen is True:
                return True
            pile = sum(math.dist(anchor, t.anchor) <= config.pile_radius_px for t in inside)
            return pile >= config.min_pile
        return True

    def _event(
        self, candidate: _Candidate, pts_s: float, captured_at: datetime, time_source: TimeSource
    ) -> ViolationEvent:
        track = candidate.track
        event_id = violation_id(self.context.origin_id, self.context.camera_id, self.config.name, track, candidate)
        return ViolationEvent(
            id=str(event_id),
            kind=self.config.kind,
            state=EventState.START,
            camera=self.context.camera_id,
            zone=self.zone.name,
            rule=self.config.name,
            track_id=track.track_id,
            label=track.label,
            start_s=round(candidate.entered_s, 3),
            end_s=round(pts_s, 3),
            box=track.box,
            captured_at=captured_at.isoformat(),
            time_source=time_source,
            key_frame_pts_s=pts_s,
            attributes=track.attributes.to_dict(),
            plate=track.attributes.plate,
            provenance=self.context.provenance,
            rule_parameters=self._parameters(),
        )

    def _revised(self, candidate: _Candidate, state: EventState) -> ViolationEvent:
        """The open violation's next event: what is known of the object now, one revision on."""
        assert candidate.event is not None
        track = candidate.track
        ended_at = candidate.last_wall.isoformat() if state is EventState.END and candidate.last_wall else None
        return dataclasses.replace(
            candidate.event,
            state=state,
            revision=candidate.event.revision + 1,
            end_s=round(max(candidate.last_inside_s, candidate.event.start_s), 3),
            ended_at=ended_at,
            box=track.box,
            attributes=track.attributes.to_dict(),
            plate=track.attributes.plate,
        )

    def _end(self, candidate: _Candidate) -> ViolationEvent:
        track = candidate.track
        self._cooldowns = [c for c in self._cooldowns if c.until_s > candidate.last_inside_s]
        self._cooldowns.append(_Cooldown(box=track.box, until_s=candidate.last_inside_s + self.config.cooldown_s))
        ended = self._revised(candidate, EventState.END)
        candidate.event = None
        return ended


def violation_id(origin_id: str, camera_id: str, rule: str, track: Track, candidate: _Candidate) -> str:
    """Stable across replays: the footage, the rule, the track and the stream time it entered the zone."""
    parts = [origin_id, camera_id, rule, str(track.track_id), f"{candidate.entered_s:.3f}"]
    return str(uuid.uuid5(_EVENT_NAMESPACE, "|".join(parts)))


def _observed(event: ViolationEvent) -> tuple[object, ...]:
    return (event.plate, *(event.attributes.get(k) for k in _REPORTED))


def _observed_on(track: Track) -> tuple[object, ...]:
    attributes = track.attributes.to_dict()
    return (track.attributes.plate, *(attributes.get(k) for k in _REPORTED))


# Attributes whose change on an open violation is worth an update (scores and vote counts are not).
_REPORTED = ("cover", "brand", "shared", "fallen", "plate_color")
