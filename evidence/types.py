"""The violation record and its evidence: defined once here, shared by pipeline and API."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class ViolationKind(StrEnum):
    MUCK_TRUCK = "muck_truck"
    STREET_STALL = "street_stall"
    SHARED_BIKE_MISPARKED = "shared_bike_misparked"


class EventState(StrEnum):
    START = "start"
    UPDATE = "update"
    END = "end"


class ArtifactKind(StrEnum):
    ORIGINAL_CLIP = "original_clip"
    SNAPSHOT = "snapshot"
    ANNOTATED_SNAPSHOT = "annotated_snapshot"
    CROP = "crop"
    PLATE_CROP = "plate_crop"
    MANIFEST = "manifest"


@dataclass(frozen=True)
class EvidenceRecord:
    """One sealed artifact; ``storage_key`` is its SHA-256 in the content-addressed store."""

    kind: ArtifactKind
    storage_key: str
    sha256: str
    bytes: int
    media_type: str
    frame_range: tuple[float, float] | None = None  # stream seconds covered (clips)
    parent_sha256: str | None = None  # for derivatives (annotated snapshot, crop)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["kind"] = self.kind.value
        data["frame_range"] = list(self.frame_range) if self.frame_range else None
        return data


@dataclass(frozen=True)
class ViolationEvent:
    """A rule's finding about one track, in stream time; ``id`` is stable for start/update/end."""

    id: str
    kind: ViolationKind
    state: EventState
    camera: str
    zone: str
    rule: str
    track_id: int
    label: str
    start_s: float
    end_s: float
    box: tuple[float, float, float, float]
    captured_at: str  # ISO-8601 UTC wall time of the key frame
    time_source: str  # where captured_at comes from: config, container, wall_clock
    key_frame_pts_s: float
    attributes: dict[str, Any] = field(default_factory=dict)
    plate: str | None = None
    model_id: str = ""
    model_sha256: str = ""
    config_sha256: str = ""
    rule_parameters: dict[str, Any] = field(default_factory=dict)
    evidence: tuple[EvidenceRecord, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["kind"] = self.kind.value
        data["state"] = self.state.value
        data["box"] = [round(v, 1) for v in self.box]
        data["evidence"] = [record.to_dict() for record in self.evidence]
        return data
