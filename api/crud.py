"""Database operations, keyword-only, one verb each. Routes stay thin."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api import audit
from api.accounts import camera_clause
from api.db import one_writer
from api.models import (
    Artifact,
    Decision,
    DecisionAction,
    Ticket,
    TicketCount,
    TicketStatus,
    User,
    ViolationEventRow,
    ViolationState,
)
from evidence.types import EventState
from evidence.wire import ArtifactWire, ViolationWire


class DuplicateViolation(Exception):
    """The violation id is already filed under another idempotency key."""


class ConflictingEvent(Exception):
    """An update or end that does not belong to the ticket of its violation id (other camera, rule or kind)."""


class NotFiled(Exception):
    """An update or end arrived before its violation's start: the sender should retry later."""


class AlreadyDecided(Exception):
    def __init__(self, ticket: Ticket) -> None:
        super().__init__(f"ticket {ticket.id} is already {ticket.status}")
        self.ticket = ticket


class Outcome(StrEnum):
    CREATED = "created"  # a start filed a new ticket
    APPLIED = "applied"  # an update or end changed the ticket
    STALE = "stale"  # an older revision than the ticket's: recorded, not applied
    AFTER_DECISION = "after_decision"  # the ticket is decided: recorded, not applied
    REPLAYED = "replayed"  # this key was seen before: nothing changed


def get_ticket(session: Session, *, ticket_id: int) -> Ticket | None:
    return session.get(Ticket, ticket_id)


def get_by_violation_id(session: Session, *, violation_id: str) -> Ticket | None:
    return session.scalar(select(Ticket).where(Ticket.violation_id == violation_id))


def _event_ticket(session: Session, *, key: str) -> Ticket | None:
    row = session.scalar(select(ViolationEventRow).where(ViolationEventRow.key == key))
    return row.ticket if row is not None else None


def _artifacts(evidence: list[ArtifactWire]) -> list[Artifact]:
    return [
        Artifact(
            kind=a.kind.value, sha256=a.sha256, bytes=a.bytes, media_type=a.media_type, parent_sha256=a.parent_sha256
        )
        for a in evidence
    ]


def apply_event(
    session: Session, *, key: str, record: ViolationWire, sender: audit.Actor | User
) -> tuple[Ticket, Outcome]:
    """File a start as a new ticket, or apply an update or end to its ticket, with its audit entry. Replays of a
    key change nothing (and are not audited: nothing happened)."""
    seen = _event_ticket(session, key=key)
    if seen is not None:
        return seen, Outcome.REPLAYED
    session.rollback()  # the read above is not part of the write that follows
    with one_writer(session):
        try:
            return _apply_event(session, key=key, record=record, sender=sender)
        except BaseException:
            session.rollback()  # the next writer's turn starts with no transaction of ours open
            raise


def _apply_event(
    session: Session, *, key: str, record: ViolationWire, sender: audit.Actor | User
) -> tuple[Ticket, Outcome]:
    seen = _event_ticket(session, key=key)  # again: a replay may have been filed while this one waited its turn
    if seen is not None:
        return seen, Outcome.REPLAYED
    try:  # a concurrent push with the same key may win the race at any write: then return its ticket
        before = 0
        if record.state is EventState.START:
            filed = get_by_violation_id(session, violation_id=record.id)
            if filed is not None and filed.idempotency_key == key:  # the same push, committed a moment ago
                return filed, Outcome.REPLAYED
            if filed is not None:
                raise DuplicateViolation(f"violation {record.id} already has a ticket under another idempotency key")
            ticket, outcome = _file(session, key=key, record=record), Outcome.CREATED
        else:
            ticket = get_by_violation_id(session, violation_id=record.id) or _not_filed(record)
            before = len(ticket.artifacts)
            ticket, outcome = _amend(session, ticket, key=key, record=record)
        session.flush()
        session.refresh(ticket, ["artifacts"])
        audit.record(
            session,
            sender,
            audit.Action.TICKET_CREATED if outcome is Outcome.CREATED else audit.Action.TICKET_EVENT,
            f"ticket/{ticket.id}",
            ticket_id=ticket.id,
            detail={
                "violation_id": record.id,
                "key": key,
                "state": record.state.value,
                "revision": record.revision,
                "applied": outcome in (Outcome.CREATED, Outcome.APPLIED),
                "evidence": sorted(f"{a.kind}:{a.sha256}" for a in ticket.artifacts[before:]),
            },
        )
        session.commit()
    except IntegrityError:
        session.rollback()
        winner = _event_ticket(session, key=key)
        if winner is not None:
            return winner, Outcome.REPLAYED
        if get_by_violation_id(session, violation_id=record.id) is not None:  # filed under another key meanwhile
            raise DuplicateViolation(
                f"violation {record.id} already has a ticket under another idempotency key"
            ) from None
        raise
    session.refresh(ticket)
    return ticket, outcome


def _file(session: Session, *, key: str, record: ViolationWire) -> Ticket:
    ticket = Ticket(
        violation_id=record.id,
        idempotency_key=key,
        kind=record.kind.value,
        camera=record.camera,
        zone=record.zone,
        rule=record.rule,
        track_id=record.track_id,
        label=record.label,
        start_s=record.start_s,
        end_s=record.end_s,
        captured_at=record.captured_at.isoformat(),
        status=TicketStatus.PENDING_REVIEW.value,
        state=ViolationState.OPEN.value,
        revision=record.revision,
        violation=record.model_dump(mode="json"),
        artifacts=_artifacts(record.evidence),
    )
    ticket.events.append(ViolationEventRow(key=key, state=record.state.value, revision=record.revision))
    session.add(ticket)
    return ticket


def _not_filed(record: ViolationWire) -> Ticket:
    raise NotFiled(f"violation {record.id} has no ticket yet (its start has not arrived)")


def _amend(session: Session, ticket: Ticket, *, key: str, record: ViolationWire) -> tuple[Ticket, Outcome]:
    if (ticket.kind, ticket.camera, ticket.rule) != (record.kind.value, record.camera, record.rule):
        raise ConflictingEvent(
            f"{record.state.value} for violation {record.id} names {record.kind.value}/{record.camera}/{record.rule}, "
            f"but its ticket is {ticket.kind}/{ticket.camera}/{ticket.rule}"
        )
    # Conditional update: of two concurrent pushes only the newer revision lands, and once an officer has decided,
    # the record they decided on no longer changes (later events are kept, not applied).
    ended = record.state is EventState.END
    changes: dict[str, object] = {"revision": record.revision, "end_s": record.end_s}
    changes["violation"] = record.model_dump(mode="json")
    if ended:
        changes |= {"state": ViolationState.ENDED.value, "ended_at": _iso(record.ended_at)}
    result = session.execute(
        update(Ticket)
        .where(
            Ticket.id == ticket.id,
            Ticket.revision < record.revision,
            Ticket.status == TicketStatus.PENDING_REVIEW.value,
        )
        .values(**changes)
        .execution_options(synchronize_session=False)
    )
    applied = result.rowcount == 1  # type: ignore[attr-defined]
    session.add(
        ViolationEventRow(
            ticket_id=ticket.id, key=key, state=record.state.value, revision=record.revision, applied=applied
        )
    )
    # Evidence only grows, whatever happens to the record: a live camera's clip arrives in an update seconds
    # after its ticket was filed, possibly after an officer decided on the stills; the auditor still gets it.
    known = {(a.sha256, a.kind) for a in ticket.artifacts}
    if new := [a for a in _artifacts(record.evidence) if (a.sha256, a.kind) not in known]:
        _attach(session, ticket, new)
    if not applied:
        return ticket, Outcome.AFTER_DECISION if ticket.status != TicketStatus.PENDING_REVIEW.value else Outcome.STALE
    return ticket, Outcome.APPLIED


def _attach(session: Session, ticket: Ticket, artifacts: list[Artifact]) -> None:
    """Add artifacts to the ticket; one a concurrent event attached a moment ago is skipped, not an error (the
    clip's update and the end carry the same new clip, and may arrive together)."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    rows = [
        {c: getattr(a, c) for c in ("kind", "sha256", "bytes", "media_type", "parent_sha256")}
        | {"ticket_id": ticket.id}
        for a in artifacts
    ]
    session.execute(
        insert(Artifact).values(rows).on_conflict_do_nothing(index_elements=["ticket_id", "sha256", "kind"])
    )
    session.expire(ticket, ["artifacts"])


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def list_ticket_ids(
    session: Session,
    *,
    status: TicketStatus | None = None,
    kind: str | None = None,
    camera: str | None = None,
    cameras: Sequence[str] = ("*",),
    limit: int = 50,
    offset: int = 0,
) -> tuple[int, list[int]]:
    """The total and one page of ticket ids, newest first. ``cameras``: the reader's camera patterns; tickets
    of other cameras are not there for them. The total is summed from the per-camera counts (``TicketCount``),
    so it costs the same at 100 tickets or 10 million."""

    def where(table: type[Ticket] | type[TicketCount]) -> list[ColumnElement[bool]]:
        clauses = [camera_clause(table.camera, cameras)]
        if status is not None:
            clauses.append(table.status == status.value)
        if kind is not None:
            clauses.append(table.kind == kind)
        if camera is not None:
            clauses.append(table.camera == camera)
        return clauses

    total = session.scalar(select(func.coalesce(func.sum(TicketCount.n), 0)).where(*where(TicketCount))) or 0
    ids = session.scalars(
        select(Ticket.id).where(*where(Ticket)).order_by(Ticket.id.desc()).limit(limit).offset(offset)
    )
    return int(total), list(ids.all())


def decide(session: Session, *, ticket: Ticket, action: DecisionAction, reason: str, officer: User) -> Ticket:
    """Record an officer's confirm or reject (``officer``: the signed-in user) with its audit entry. A ticket is
    decided once; a second decision is refused."""
    with one_writer(session):
        try:
            return _decide(session, ticket=ticket, action=action, reason=reason, officer=officer)
        except BaseException:
            session.rollback()  # the next writer's turn starts with no transaction of ours open
            raise


def _decide(session: Session, *, ticket: Ticket, action: DecisionAction, reason: str, officer: User) -> Ticket:
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
    session.add(
        Decision(
            ticket_id=ticket.id,
            action=action.value,
            reason=reason.strip(),
            actor=officer.username,
            actor_role=officer.role,
        )
    )
    audit.record(
        session,
        officer,
        audit.Action.TICKET_CONFIRMED if action is DecisionAction.CONFIRM else audit.Action.TICKET_REJECTED,
        f"ticket/{ticket.id}",
        ticket_id=ticket.id,
        detail={"violation_id": ticket.violation_id, "reason": reason.strip()},
    )
    session.commit()
    session.refresh(ticket)
    return ticket
