"""The violation record on the wire (pipeline → outbox → API): versioned, bounded, defined once.

The pipeline validates every event against :class:`ViolationWire` before it enters the outbox, and the API
takes the same model as its request body, so a payload the API would refuse never waits in the outbox, and
every field has one type and one limit in the whole system.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from evidence.types import WIRE_VERSION, ArtifactKind, EventState, TimeSource, ViolationKind

# Integers a JavaScript client reads exactly, and a signed 64-bit database column stores.
MAX_SAFE_INT = 2**53 - 1
# Stream seconds and pixels: finite, and far inside what any camera produces.
MAX_MAGNITUDE = 1e9
MAX_ATTRIBUTES_BYTES = 16_384
MAX_PARAMETERS_BYTES = 16_384

Finite = Annotated[float, Field(allow_inf_nan=False, ge=-MAX_MAGNITUDE, le=MAX_MAGNITUDE)]
StreamSeconds = Annotated[float, Field(allow_inf_nan=False, ge=0, le=MAX_MAGNITUDE)]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
Name = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[\w.-]+$")]
Label = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Scalar = str | int | float | bool | None
NoteKey = Annotated[str, StringConstraints(min_length=1, max_length=32)]
NoteText = Annotated[str, StringConstraints(max_length=1000)]


def _bounded_json(value: dict[str, Any], limit: int, what: str) -> dict[str, Any]:
    size = len(json.dumps(value, ensure_ascii=False, default=str))
    if size > limit:
        raise ValueError(f"{what} is {size} bytes as JSON; at most {limit} are accepted")
    return value


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ArtifactWire(_Wire):
    kind: ArtifactKind
    storage_key: Sha256
    sha256: Sha256
    bytes: int = Field(..., ge=0, le=MAX_SAFE_INT)
    media_type: str = Field(..., min_length=3, max_length=64, pattern=r"^[\w.+-]+/[\w.+-]+$")
    frame_range: tuple[StreamSeconds, StreamSeconds] | None = None
    parent_sha256: Sha256 | None = None


class ModelRefWire(_Wire):
    role: Annotated[str, StringConstraints(min_length=1, max_length=32)]
    model_id: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    sha256: Sha256


class ProvenanceWire(_Wire):
    software_version: Annotated[str, StringConstraints(max_length=64)] = ""
    config_sha256: Sha256 | Literal[""] = ""
    models: list[ModelRefWire] = Field(default_factory=list, max_length=16)
    parameters: dict[str, Any] = Field(default_factory=dict)

    @field_validator("parameters")
    @classmethod
    def _small_parameters(cls, value: dict[str, Any]) -> dict[str, Any]:
        return _bounded_json(value, MAX_PARAMETERS_BYTES, "provenance.parameters")


class ViolationWire(_Wire):
    """One event of a violation's life: start (evidence sealed), update (better plate, …) or end."""

    schema_version: Literal[1] = Field(  # = evidence.types.WIRE_VERSION (a Literal needs the number itself)
        WIRE_VERSION,  # type: ignore[arg-type]
        description="Version of this record; a receiver refuses versions it does not know.",
    )
    key: Annotated[str, StringConstraints(min_length=8, max_length=128)] = Field(
        ..., description="Idempotency key of this event (violation id, revision, state)."
    )
    id: str = Field(..., pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
    revision: int = Field(0, ge=0, le=1_000_000, description="0 for the start; each later event is one more.")
    state: EventState
    kind: ViolationKind
    camera: Name
    zone: Name
    rule: Name
    track_id: int = Field(..., ge=0, le=MAX_SAFE_INT)
    label: Label
    start_s: StreamSeconds
    end_s: StreamSeconds
    box: tuple[Finite, Finite, Finite, Finite]
    captured_at: AwareDatetime = Field(..., description="Wall time of the key frame.")
    ended_at: AwareDatetime | None = Field(None, description="Wall time the object was last seen (end events).")
    time_source: TimeSource
    key_frame_pts_s: StreamSeconds
    attributes: dict[Annotated[str, StringConstraints(max_length=64)], Scalar] = Field(default_factory=dict)
    plate: Annotated[str, StringConstraints(min_length=1, max_length=16)] | None = None
    provenance: ProvenanceWire = Field(default_factory=ProvenanceWire)
    rule_parameters: dict[str, Any] = Field(default_factory=dict)
    evidence: list[ArtifactWire] = Field(default_factory=list, max_length=32)
    notes: dict[NoteKey, NoteText] = Field(
        default_factory=dict, max_length=16, description="What a reviewer must know (a clip with bad frames, …)"
    )

    @model_validator(mode="after")
    def _key_names_this_event(self) -> ViolationWire:
        if (self.state is EventState.START) != (self.revision == 0):
            raise ValueError(f"a {self.state.value} has revision {self.revision}: only a start is revision 0")
        expected = f"{self.id}:{self.revision}:{self.state.value}"
        if self.key != expected:
            raise ValueError(f"key {self.key!r} does not name this event (expected {expected!r})")
        return self

    @field_validator("attributes")
    @classmethod
    def _small_attributes(cls, value: dict[str, Scalar]) -> dict[str, Scalar]:
        return _bounded_json(value, MAX_ATTRIBUTES_BYTES, "attributes")

    @field_validator("rule_parameters")
    @classmethod
    def _small_parameters(cls, value: dict[str, Any]) -> dict[str, Any]:
        return _bounded_json(value, MAX_PARAMETERS_BYTES, "rule_parameters")

    @field_validator("end_s")
    @classmethod
    def _ends_after_start(cls, value: float, info: Any) -> float:
        start = info.data.get("start_s")
        if start is not None and value < start:
            raise ValueError(f"end_s ({value}) is before start_s ({start})")
        return value
