"""Request and response bodies, split per use (Create / Public).

The violation record itself is defined once, in ``evidence.wire``: the create body *is* that model, and the
public ticket reuses its field types.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from api.models import DecisionAction, TicketStatus, ViolationState
from evidence.types import ViolationKind
from evidence.wire import ViolationWire

ViolationCreate = ViolationWire
# Officers type these; a reason or name made only of spaces is no reason or name.
Text = Annotated[str, StringConstraints(strip_whitespace=True)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ArtifactPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    kind: str
    sha256: str
    bytes: int
    media_type: str
    parent_sha256: str | None
    url: str = ""


class DecisionCreate(_Strict):
    reason: Text = Field(..., min_length=2, max_length=2000, description="Why: recorded with the decision.")
    actor: Text = Field(..., min_length=1, max_length=128, description="Who decides (officer id or name).")


class DecisionPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    action: DecisionAction
    reason: str
    actor: str
    decided_at: AwareDatetime


class EventPublic(BaseModel):
    """One start, update or end applied to the ticket."""

    model_config = ConfigDict(from_attributes=True)

    key: str
    state: str
    revision: int
    applied: bool
    received_at: AwareDatetime


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
    state: ViolationState = Field(..., description="open until the pipeline reports the violation's end")
    ended_at: str | None
    revision: int
    status: TicketStatus
    created_at: datetime
    artifacts: list[ArtifactPublic]
    decisions: list[DecisionPublic]
    events: list[EventPublic]
    violation: dict[str, Any] = Field(..., description="The newest record (evidence.wire.ViolationWire)")


class IntegrityReport(BaseModel):
    ok: bool
    checked: int = Field(..., description="Artifacts re-hashed")
    problems: list[str] = Field(..., description="Missing or altered artifacts")


class TicketList(BaseModel):
    total: int
    items: list[TicketPublic]
