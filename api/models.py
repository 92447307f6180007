"""Database tables (SQLAlchemy 2, typed). Schema changes go through Alembic migrations."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """Stored in UTC and always read back with its offset (SQLite keeps none, so it would come back naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given for a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class TicketStatus(StrEnum):
    PENDING_REVIEW = "pending_review"  # AI candidate: nothing may follow before a recorded human review
    CONFIRMED = "confirmed"
    REJECTED = "rejected"


class ViolationState(StrEnum):
    """Whether the object is still there (the pipeline has not sent the violation's end yet)."""

    OPEN = "open"
    ENDED = "ended"


class DecisionAction(StrEnum):
    CONFIRM = "confirm"
    REJECT = "reject"


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[str]: JSON, datetime: UtcDateTime()}


class Ticket(Base):
    __tablename__ = "tickets"
    # The list's filters (status, kind, camera, in any combination), newest first (migration 0007).
    __table_args__ = (
        Index("ix_tickets_status_id", "status", "id"),
        Index("ix_tickets_camera_status_id", "camera", "status", "id"),
        Index("ix_tickets_kind_status_id", "kind", "status", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    violation_id: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    camera: Mapped[str] = mapped_column(String(128))
    zone: Mapped[str] = mapped_column(String(128))
    rule: Mapped[str] = mapped_column(String(128))
    track_id: Mapped[int] = mapped_column(Integer)
    label: Mapped[str] = mapped_column(String(64))
    start_s: Mapped[float] = mapped_column(Float)
    end_s: Mapped[float] = mapped_column(Float)
    captured_at: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(32), default=TicketStatus.PENDING_REVIEW.value)
    violation: Mapped[dict[str, Any]] = mapped_column(JSON)  # the newest record the pipeline sent
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    state: Mapped[str] = mapped_column(String(16), default=ViolationState.OPEN.value)
    revision: Mapped[int] = mapped_column(Integer, default=0)  # of the newest event applied
    ended_at: Mapped[str | None] = mapped_column(String(40), nullable=True)

    artifacts: Mapped[list[Artifact]] = relationship(
        back_populates="ticket", cascade="all, delete-orphan", order_by="Artifact.id", lazy="selectin"
    )
    decisions: Mapped[list[Decision]] = relationship(back_populates="ticket", order_by="Decision.id", lazy="selectin")
    events: Mapped[list[ViolationEventRow]] = relationship(
        back_populates="ticket", order_by="ViolationEventRow.id", lazy="selectin"
    )
    tombstones: Mapped[list[EvidenceTombstone]] = relationship(order_by="EvidenceTombstone.id", lazy="selectin")
    integrity_failures: Mapped[list[IntegrityFailure]] = relationship(order_by="IntegrityFailure.id", lazy="selectin")

    @property
    def integrity_failed_at(self) -> datetime | None:
        """When the fixity check first found one of its objects missing or altered (api.fixity)."""
        return min((f.detected_at for f in self.integrity_failures), default=None)


class ViolationEventRow(Base):
    """Each start, update and end applied to a ticket, under its idempotency key. Never updated or deleted."""

    __tablename__ = "violation_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    key: Mapped[str] = mapped_column(String(128), unique=True)
    state: Mapped[str] = mapped_column(String(16))
    revision: Mapped[int] = mapped_column(Integer)
    applied: Mapped[bool] = mapped_column(default=True)  # False: arrived after a newer revision (kept, not applied)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)

    ticket: Mapped[Ticket] = relationship(back_populates="events")


class Artifact(Base):
    __tablename__ = "artifacts"
    __table_args__ = (UniqueConstraint("ticket_id", "sha256", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    bytes: Mapped[int] = mapped_column(Integer)
    media_type: Mapped[str] = mapped_column(String(64))
    parent_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)

    ticket: Mapped[Ticket] = relationship(back_populates="artifacts")


class IntegrityFailure(Base):
    """What the fixity check found wrong with one of a ticket's objects, the first time. Append-only."""

    __tablename__ = "integrity_failures"
    __table_args__ = (UniqueConstraint("ticket_id", "sha256", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    sha256: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    problem: Mapped[str] = mapped_column(Text)
    detected_at: Mapped[datetime] = mapped_column(default=utcnow)


class EvidenceTombstone(Base):
    """Evidence a legal reviewer deleted: what it was, who deleted it, when and why. Append-only."""

    __tablename__ = "evidence_tombstones"
    __table_args__ = (UniqueConstraint("ticket_id", "sha256", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    sha256: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    bytes: Mapped[int] = mapped_column(Integer)
    deleted_by: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text)
    deleted_at: Mapped[datetime] = mapped_column(default=utcnow)

    def describe(self) -> str:
        return f"deleted on {self.deleted_at:%Y-%m-%d %H:%M} UTC by {self.deleted_by} ({self.role}): {self.reason}"


class User(Base):
    """A person (or the pipeline's service account) who signs in. Disabled, never deleted: decisions name them."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(32))
    cameras: Mapped[list[str]] = mapped_column(JSON)  # glob patterns of camera ids this user may see ("*": all)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Decision(Base):
    """An officer's review of a ticket: who, when, what and why. Never updated or deleted."""

    __tablename__ = "decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    action: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(128))  # the signed-in user's name
    actor_role: Mapped[str | None] = mapped_column(String(32), nullable=True)  # None: before accounts existed
    decided_at: Mapped[datetime] = mapped_column(default=utcnow)

    ticket: Mapped[Ticket] = relationship(back_populates="decisions")


class Channel(Base):
    """A camera's newest health report from the pipeline; the API marks it stale when reports stop."""

    __tablename__ = "channels"

    camera_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))  # as reported: online | stalled | reconnecting | offline
    report: Mapped[dict[str, Any]] = mapped_column(JSON)  # schemas.ChannelReport, without the snapshot
    reported_at: Mapped[datetime] = mapped_column()  # the pipeline's clock
    received_at: Mapped[datetime] = mapped_column(default=utcnow)  # this server's clock (staleness)
    snapshot: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)  # small JPEG of the last frame
    snapshot_at: Mapped[datetime | None] = mapped_column(nullable=True)


class TicketCount(Base):
    """How many tickets each camera has of each kind in each status, kept by triggers on ``tickets`` (migration
    0007): the list's total is a sum over these few rows, not a count over the table."""

    __tablename__ = "ticket_counts"

    camera: Mapped[str] = mapped_column(String(128), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    status: Mapped[str] = mapped_column(String(32), primary_key=True)
    n: Mapped[int] = mapped_column(Integer)


class AuditEntry(Base):
    """One action: who (actor and role), what (action, object, outcome), when. Append-only: the database refuses
    UPDATE and DELETE (migration 0005). ``seq`` numbers entries without gaps; entry ``seq`` is leaf ``seq - 1``
    of the audit Merkle tree (evidence.audit_log)."""

    __tablename__ = "audit_entries"
    __table_args__ = (Index("ix_audit_entries_action_object_at", "action", "object", "at"),)  # sign-in limit

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, unique=True)
    at: Mapped[str] = mapped_column(String(40))  # ISO 8601 UTC with microseconds, exactly as hashed
    actor: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(48), index=True)
    object: Mapped[str] = mapped_column(String(200))  # "ticket/12", "ticket/12/evidence/<sha256>", "user/name"
    ticket_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    outcome: Mapped[str] = mapped_column(String(16))  # ok | refused | failed
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)

    def as_entry(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": self.at,
            "actor": self.actor,
            "role": self.role,
            "action": self.action,
            "object": self.object,
            "ticket_id": self.ticket_id,
            "outcome": self.outcome,
            "detail": self.detail,
        }
