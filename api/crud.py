"""Database operations, keyword-only, one verb each. Routes stay thin."""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.models import Artifact, Decision, DecisionAction, Ticket, TicketStatus
from api.schemas import ViolationCreate


class DuplicateViolation(Exception):
    """The violation id is already filed under another idempotency key."""


class AlreadyDecided(Exception):
    def __init__(self, ticket: Ticket) -> None:
        super().__init__(f"ticket {ticket.id} is already {ticket.status}")
        self.ticket = ticket


def get_ticket(session: Session, *, ticket_id: int) -> Ticket | None:
    return session.get(Ticket, ticket_id)


def get_by_idempotency_key(session: Session, *, key: str) -> Ticket | None:
    return session.scalar(select(Ticket).where(Ticket.idempotency_key == key))


def create_ticket(session: Session, *, key: str, violation: ViolationCreate) -> tuple[Ticket, bool]:
    """The ticket for this key, creating it on first sight. Returns (ticket, created)."""
    existing = get_by_idempotency_key(session, key=key)
    if existing is not None:
        return existing, False
    if session.scalar(select(Ticket.id).where(Ticket.violation_id == violation.id)) is not None:
        raise DuplicateViolation(f"violation {violation.id} already has a ticket under another idempotency key")
    ticket = Ticket(
        violation_id=violation.id,
        idempotency_key=key,
        kind=violation.kind.value,
        camera=violation.camera,
        zone=violation.zone,
        rule=violation.rule,
        track_id=violation.track_id,
        label=violation.label,
        start_s=violation.start_s,
        end_s=violation.end_s,
        captured_at=violation.captured_at,
        status=TicketStatus.PENDING_REVIEW.value,
        violation=violation.model_dump(mode="json"),
        artifacts=[
            Artifact(
                kind=a.kind.value,
                sha256=a.sha256,
                bytes=a.bytes,
                media_type=a.media_type,
                parent_sha256=a.parent_sha256,
            )
            for a in violation.evidence
        ],
    )
    session.add(ticket)
    try:
        session.commit()
    except IntegrityError:  # a concurrent push with the same key won the race: return its ticket
        session.rollback()
        winner = get_by_idempotency_key(session, key=key)
        if winner is None:
            raise
        return winner, False
    return ticket, True


def list_tickets(
    session: Session,
    *,
    status: TicketStatus | None = None,
    kind: str | None = None,
    camera: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[int, list[Ticket]]:
    query = select(Ticket)
    if status is not None:
        query = query.where(Ticket.status == status.value)
    if kind is not None:
        query = query.where(Ticket.kind == kind)
    if camera is not None:
        query = query.where(Ticket.camera == camera)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(Ticket.id.desc()).limit(limit).offset(offset)).all()
    return total, list(rows)


def decide(session: Session, *, ticket: Ticket, action: DecisionAction, reason: str, actor: str) -> Ticket:
    """Record an officer's confirm or reject. A ticket is decided once; a second decision is refused."""
    new_status = TicketStatus.CONFIRMED if action is DecisionAction.CONFIRM else TicketStatus.REJECTED
    # Conditional update: of two concurrent decisions exactly one matches the pending status.
    result = session.execute(
        update(Ticket)
        .where(Ticket.id == ticket.id, Ticket.status == TicketStatus.PENDING_REVIEW.value)
        .values(status=new_status.value)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        session.rollback()
        session.refresh(ticket)
        raise AlreadyDecided(ticket)
    session.add(Decision(ticket_id=ticket.id, action=action.value, reason=reason.strip(), actor=actor.strip()))
    session.commit()
    session.refresh(ticket)
    return ticket
