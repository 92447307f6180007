"""Request and response bodies, split per use (Create / Public).

The violation record itself is defined once, in ``evidence.wire``: the create body *is* that model, and the
public ticket reuses its field types.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StringConstraints,
)

from api.accounts import CAMERA_PATTERN, MIN_PASSWORD, USERNAME, Role
from api.models import DecisionAction, TicketStatus, ViolationState
from evidence.types import ViolationKind
from evidence.wire import MAX_SAFE_INT, ViolationWire

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
    """The decider is the signed-in officer: an ``actor`` (or any other field the server owns) is refused."""

    reason: Text = Field(..., min_length=2, max_length=2000, description="Why: recorded with the decision.")


class DecisionPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    action: DecisionAction
    reason: str
    actor: str
    actor_role: str | None = None
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
    integrity_failed_at: datetime | None = Field(
        None, description="When the scheduled fixity check first found one of its objects missing or altered"
    )
    artifacts: list[ArtifactPublic]
    tombstones: list[TombstonePublic] = Field([], description="Evidence a legal reviewer deleted, and why")
    decisions: list[DecisionPublic]
    events: list[EventPublic]
    violation: dict[str, Any] = Field(..., description="The newest record (evidence.wire.ViolationWire)")


class EvidenceDeletion(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(
        ..., min_length=10, max_length=2000, description="Why (a court order, an expunged case…): kept forever"
    )


class TombstonePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    ticket_id: int
    sha256: str
    kind: str
    bytes: int
    deleted_by: str
    role: str
    reason: str
    deleted_at: datetime


class IntegrityAlert(BaseModel):
    """The fixity check found one of a ticket's objects missing or altered (sent once, when first found)."""

    ticket_id: int
    camera: str
    kind: str = Field(..., description="The artifact's kind (clip, snapshot, manifest…)")
    sha256: str
    problem: str
    detected_at: datetime


class IntegrityReport(BaseModel):
    ok: bool
    checked: int = Field(..., description="Artifacts re-hashed")
    problems: list[str] = Field(..., description="Missing or altered artifacts")


class TicketList(BaseModel):
    total: int
    items: list[TicketPublic]


def _iso_text(value: object) -> object:
    if not isinstance(value, str | datetime):
        raise ValueError("give the time as ISO-8601 text with its UTC offset")
    return value


IsoTime = Annotated[AwareDatetime, BeforeValidator(_iso_text)]  # 0 is not a time (pydantic would take seconds)
CameraId = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[\w.-]+$")]
ChannelStatus = Literal["online", "stalled", "reconnecting", "offline"]


class WindowReport(_Strict):
    """One enforcement window of one rule and how much of it the camera was analysed."""

    rule: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    start: IsoTime
    end: IsoTime
    analysed_s: StrictFloat = Field(..., ge=0, allow_inf_nan=False)
    elapsed_s: StrictFloat = Field(..., ge=0, allow_inf_nan=False)


class ChannelReport(_Strict):
    """One camera's health as the pipeline measured it (``pipeline.channel_report`` writes it). Numbers are
    strict: ``true`` is not a frame count."""

    camera_id: CameraId
    status: ChannelStatus
    runtime_state: Literal["starting", "running", "finished", "stopped", "failed"]
    input_fps: StrictFloat = Field(..., ge=0, allow_inf_nan=False)
    analysed_fps: StrictFloat = Field(..., ge=0, allow_inf_nan=False)
    frames_in: StrictInt = Field(..., ge=0, le=MAX_SAFE_INT)
    analysed: StrictInt = Field(..., ge=0, le=MAX_SAFE_INT)
    dropped: StrictInt = Field(..., ge=0, le=MAX_SAFE_INT)
    reconnects: StrictInt = Field(..., ge=0, le=MAX_SAFE_INT)
    last_frame_at: IsoTime | None
    last_error: Annotated[str, StringConstraints(max_length=2000)] | None
    frame_size: Annotated[list[Annotated[StrictInt, Field(ge=1, le=100_000)]], Field(min_length=2, max_length=2)] | None
    record_status: ChannelStatus | None = Field(None, description="The main (evidence) stream, when separate")
    record_error: Annotated[str, StringConstraints(max_length=2000)] | None = None
    open_violations: StrictInt = Field(..., ge=0, le=MAX_SAFE_INT)
    violations: StrictInt = Field(..., ge=0, le=MAX_SAFE_INT)
    windows: list[WindowReport] = Field(default_factory=list, max_length=64)


class ChannelsReport(_Strict):
    reported_at: IsoTime
    channels: list[ChannelReport] = Field(..., max_length=500)


class ChannelPublic(ChannelReport):
    """A channel as the operations centre sees it: ``status`` is ``offline`` once reports have stopped."""

    reported_status: ChannelStatus = Field(..., description="The status in the newest report")
    reported_at: AwareDatetime
    stale: bool = Field(..., description="No report for longer than the API's channel_stale_s")
    snapshot_url: str | None


class ChannelList(BaseModel):
    items: list[ChannelPublic]
    counts: dict[str, int] = Field(..., description="Channels per status")


class Alert(BaseModel):
    """A ticket as the live alert stream pushes it."""

    ticket_id: int
    kind: ViolationKind
    camera: str
    zone: str
    label: str
    plate: str | None
    captured_at: str
    created_at: datetime
    snapshot_url: str | None


class TodayStats(BaseModel):
    date: str = Field(..., description="Local date (the API's timezone)")
    timezone: str
    total: int
    by_kind: dict[str, int]


class UserPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    username: str
    role: str
    cameras: list[str]
    disabled: bool
    created_at: AwareDatetime


class UserCreate(_Strict):
    username: str = Field(..., pattern=USERNAME.pattern)
    password: str = Field(..., min_length=MIN_PASSWORD, max_length=256)
    role: Role
    cameras: list[Annotated[str, Field(pattern=CAMERA_PATTERN.pattern)]] = Field(
        default_factory=lambda: ["*"], min_length=1, max_length=256, description="Camera-id patterns ('*': all)."
    )


class TokenPublic(BaseModel):
    access_token: str
    token_type: str
    expires_in: int = Field(..., description="Seconds the token is valid.")
    user: UserPublic


class AuditEntryPublic(BaseModel):
    """One audit entry, exactly the fields its leaf hash is taken over (evidence.audit_log.ENTRY_FIELDS)."""

    seq: int = Field(..., description="Position in the log (1-based); leaf seq - 1 of the Merkle tree")
    at: str = Field(..., description="When, ISO 8601 UTC")
    actor: str
    role: str
    action: str = Field(..., description="ticket.viewed, evidence.downloaded, ticket.confirmed, user.added …")
    object: str
    ticket_id: int | None
    outcome: str = Field(..., description="ok | refused | failed")
    detail: dict[str, Any]


class AuditEntryList(BaseModel):
    total: int
    items: list[AuditEntryPublic]


class AuditFinding(BaseModel):
    position: int | None = Field(..., description="The entry's seq, when one entry is to blame")
    problem: str


class AuditVerification(BaseModel):
    ok: bool
    entries: int = Field(..., description="Entries in the database")
    checkpointed: int = Field(..., description="Entries the newest signed checkpoint covers")
    checkpoint_at: str | None
    key_id: str | None = Field(..., description="The key the checkpoints are signed with")
    findings: list[AuditFinding]


class ProvenEntry(BaseModel):
    entry: AuditEntryPublic
    proof: list[str] = Field(..., description="RFC 9162 inclusion proof (hex) against the checkpoint's root")


class CaseAudit(BaseModel):
    """A case's audit entries, each with its inclusion proof in the tree the checkpoint signs."""

    checkpoint: dict[str, Any] = Field(..., description="The signed checkpoint (evidence.checkpoints)")
    entries: list[ProvenEntry]


class BundleCheck(BaseModel):
    name: str = Field(..., description="index-signature, files, manifest-signature, audit-inclusion …")
    ok: bool
    problems: list[str]
    detail: str


class BundleVerification(BaseModel):
    """The checks ``nonsite verify`` runs on the case's export bundle, run here on a fresh one."""

    ok: bool
    bundle_sha256: str
    checks: list[BundleCheck]
