"""The violation record and its evidence: defined once here, shared by pipeline and API."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

# The version of the violation record on the wire (``evidence.wire``); bump it when a field changes meaning.
WIRE_VERSION = 1


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
    MANIFEST_SIGNATURE = "manifest_signature"  # Ed25519 over the manifest's bytes (evidence/signing.py)


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


class TimeSource(StrEnum):
    """Where a frame's wall time comes from."""

    CONFIG = "config"  # the operator gave the file's start time
    CONTAINER = "container"  # the file's own creation_time
    WALL_CLOCK = "wall_clock"  # this machine's clock when the frame was read (live cameras, or nothing better)


@dataclass(frozen=True)
class ModelRef:
    """One model that took part in a decision: its role, id and the SHA-256 of the file that was loaded."""

    role: str  # detector, plate_detector, plate_recognizer, cover_head
    model_id: str
    sha256: str


@dataclass(frozen=True)
class Provenance:
    """Everything that decided a violation, so two runs that decide differently can be told apart."""

    software_version: str = ""
    config_sha256: str = ""
    models: tuple[ModelRef, ...] = ()
    parameters: dict[str, Any] = field(default_factory=dict)  # attribute and plate parameters in force

    def to_dict(self) -> dict[str, Any]:
        return {
            "software_version": self.software_version,
            "config_sha256": self.config_sha256,
            "models": [asdict(m) for m in self.models],
            "parameters": self.parameters,
        }


@dataclass(frozen=True)
class ViolationEvent:
    """A rule's finding about one track, in stream time; ``id`` is stable for start/update/end.

    Each event of a violation has its own ``revision`` (0 for the start, one more for each update, the end
    last), and so its own idempotency key (:attr:`key`).
    """

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
    time_source: TimeSource
    key_frame_pts_s: float
    revision: int = 0
    ended_at: str | None = None  # ISO-8601 UTC wall time the object was last seen inside (end events)
    attributes: dict[str, Any] = field(default_factory=dict)
    plate: str | None = None
    provenance: Provenance = field(default_factory=Provenance)
    rule_parameters: dict[str, Any] = field(default_factory=dict)
    evidence: tuple[EvidenceRecord, ...] = ()
    notes: dict[str, str] = field(default_factory=dict)  # what a reviewer must know about the evidence

    @property
    def key(self) -> str:
        """The idempotency key of this event: one per violation and revision (``evidence.wire`` checks it)."""
        return f"{self.id}:{self.revision}:{self.state.value}"

    def to_dict(self) -> dict[str, Any]:
        """The wire form (``evidence.wire.ViolationWire``), JSON-ready."""
        data = asdict(self)
        data["schema_version"] = WIRE_VERSION
        data["key"] = self.key
        data["kind"] = self.kind.value
        data["state"] = self.state.value
        data["time_source"] = self.time_source.value
        data["box"] = [round(v, 1) for v in self.box]
        data["provenance"] = self.provenance.to_dict()
        data["evidence"] = [record.to_dict() for record in self.evidence]
        return data
