"""Request and response bodies, split per use (Create / Public)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.models import DecisionAction, TicketStatus
from evidence.types import ArtifactKind, ViolationKind


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ArtifactIn(_Strict):
    kind: ArtifactKind
    storage_key: str = Field(..., pattern=r"^[0-9a-f]{64}$")
    sha256: str = Field(..., pattern=r"^[0-9a-f]{64}$")
    bytes: int = Field(..., ge=0)
    media_type: str
    frame_range: tuple[float, float] | None = None
    parent_sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")


class ViolationCreate(BaseModel):
    """A violation as the pipeline's outbox pushes it (``evidence.types.ViolationEvent.to_dict``)."""

    model_config = ConfigDict(extra="allow")  # newer pipelines may add fields; they are kept in `violation`

    id: str = Field(..., min_length=8, max_length=64)
    kind: ViolationKind
    state: Literal["start", "update", "end"]
    camera: str = Field(..., min_length=1, max_length=128)
    zone: str = Field(..., max_length=128)
    rule: str = Field(..., max_length=128)
    track_id: int
    label: str = Field(..., max_length=64)
    start_s: float
    end_s: float
    box: tuple[float, float, float, float]
    captured_at: str
    evidence: list[ArtifactIn] = Field(default_factory=list)


class ArtifactPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    kind: str
    sha256: str
    bytes: int
    media_type: str
    parent_sha256: str | None
    url: str = ""


class DecisionCreate(_Strict):
    reason: str = Field(..., min_length=2, max_length=2000, description="Why: recorded with the decision.")
    actor: str = Field(..., min_length=1, max_length=128, description="Who decides (officer id or name).")


class DecisionPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    action: DecisionAction
    reason: str
    actor: str
    decided_at: datetime


class TicketPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    violation_id: str
    kind: ViolationKind
    camera: str
    zone: str
    rule: str
    track_id: int
    label: str
    start_s: float
    end_s: float
    captured_at: str
    status: TicketStatus
    created_at: datetime
    artifacts: list[ArtifactPublic]
    decisions: list[DecisionPublic]
    violation: dict[str, Any]


class TicketList(BaseModel):
    total: int
    items: list[TicketPublic]
