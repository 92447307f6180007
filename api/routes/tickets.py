"""Tickets: created from pushed violations (idempotent), listed, shown, confirmed or rejected."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response, status

from api import audit, crud, views
from api.accounts import sees
from api.deps import (
    AUTH_RESPONSES,
    AuditWriterDep,
    CaseReader,
    Decider,
    ReadTurn,
    Reporter,
    SessionDep,
    SettingsDep,
    StoreDep,
    TicketDep,
    TicketId,
    TrustedKeysDep,
    ticket_not_found,
)
from api.integrity import evidence_problems
from api.models import DecisionAction, Ticket, TicketStatus, User
from api.schemas import DecisionCreate, IntegrityReport, TicketList, TicketPublic, ViolationCreate
from evidence.types import ViolationKind
from evidence.wire import MAX_SAFE_INT

router = APIRouter(prefix="/api/v1/tickets", tags=["tickets"], responses=AUTH_RESPONSES)


@router.post(
    "",
    response_model=TicketPublic,
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"description": "An update or end applied, an older revision recorded, or a replay of a known key"},
        401: {"description": "Not signed in, or the token is expired or invalid"},
        403: {"description": "Only the pipeline's account files tickets"},
        400: {"description": "The body is not JSON"},
        404: {"description": "An update or end whose start has not been filed yet (retry later)"},
        409: {"description": "Violation already filed under another key, or the event contradicts its ticket"},
        413: {"description": "The body is larger than the API accepts"},
        422: {"description": "Not a valid violation record"},
    },
)
def post_violation_event(
    record: ViolationCreate, session: SessionDep, response: Response, sender: Reporter
) -> TicketPublic:
    """Apply one violation event from the pipeline: a start files a ticket pending officer review; an update
    or end amends it. Each event carries its own idempotency key (``key``); replaying a key changes nothing."""
    try:
        ticket, outcome = crud.apply_event(session, key=record.key, record=record, sender=sender)
    except crud.NotFiled as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    except (crud.DuplicateViolation, crud.ConflictingEvent) as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    if outcome is not crud.Outcome.CREATED:
        response.status_code = status.HTTP_200_OK
    response.headers["X-Nonsite-Outcome"] = outcome.value
    return views.ticket_public(session, ticket.id)


@router.get("", response_model=TicketList)
def list_tickets(
    _turn: ReadTurn,
    session: SessionDep,
    settings: SettingsDep,
    user: CaseReader,
    status_filter: Annotated[TicketStatus | None, Query(alias="status")] = None,
    kind: ViolationKind | None = None,
    camera: Annotated[str | None, Query(max_length=128)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_SAFE_INT)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_SAFE_INT)] = 0,
) -> TicketList:
    limit = min(limit, settings.page_size_max)
    total, ids = crud.list_ticket_ids(
        session,
        status=status_filter,
        kind=kind.value if kind else None,
        camera=camera,
        cameras=user.cameras,
        limit=limit,
        offset=offset,
    )
    return TicketList(total=total, items=views.tickets_public(session, ids))


@router.get("/{ticket_id}", response_model=TicketPublic, responses={404: {"description": "No such ticket"}})
def get_ticket(
    _turn: ReadTurn, ticket_id: TicketId, session: SessionDep, writer: AuditWriterDep, user: CaseReader
) -> TicketPublic:
    """The case, with its evidence and decisions (the view is recorded in the audit log)."""
    found = views.tickets_public(session, [ticket_id])
    if not found or not sees(user, found[0].camera):
        raise ticket_not_found(ticket_id)
    writer.record(user, audit.Action.TICKET_VIEWED, f"ticket/{ticket_id}", ticket_id=ticket_id)
    return found[0]


@router.get(
    "/{ticket_id}/integrity", response_model=IntegrityReport, responses={404: {"description": "No such ticket"}}
)
def integrity(
    ticket: TicketDep, writer: AuditWriterDep, store: StoreDep, trusted: TrustedKeysDep, user: CaseReader
) -> IntegrityReport:
    """Re-hash every artifact of the ticket in the evidence store; check each manifest signature."""
    problems = evidence_problems(store, ticket, trusted)
    report = IntegrityReport(ok=not problems, checked=len(ticket.artifacts), problems=problems)
    writer.record(
        user,
        audit.Action.TICKET_INTEGRITY_CHECKED,
        f"ticket/{ticket.id}",
        ticket_id=ticket.id,
        outcome=audit.Outcome.OK if report.ok else audit.Outcome.FAILED,
        detail={"checked": report.checked, "problems": problems},
    )
    return report


def _decide(
    ticket: Ticket,
    body: DecisionCreate,
    action: DecisionAction,
    session: SessionDep,
    user: User,
    problems: list[str],
) -> TicketPublic:
    """``problems``: the evidence's integrity problems (a confirm is refused while there are any). A refused
    decision is recorded in the audit log too."""
    done = audit.Action.TICKET_CONFIRMED if action is DecisionAction.CONFIRM else audit.Action.TICKET_REJECTED
    refusal = None
    if problems:
        refusal = "evidence failed its integrity check, so it cannot support a penalty: " + "; ".join(problems)
    else:
        try:
            decided = crud.decide(session, ticket=ticket, action=action, reason=body.reason, officer=user)
            return views.ticket_public(session, decided.id)
        except crud.AlreadyDecided as exc:
            refusal = str(exc)
    audit.record_now(
        session,
        user,
        done,
        f"ticket/{ticket.id}",
        ticket_id=ticket.id,
        outcome=audit.Outcome.REFUSED,
        detail={"violation_id": ticket.violation_id, "reason": body.reason.strip(), "refused": refusal},
    )
    raise HTTPException(status.HTTP_409_CONFLICT, refusal)


DECISION_RESPONSES: dict[int | str, dict[str, str]] = {
    400: {"description": "The body is not JSON"},
    401: {"description": "Not signed in, or the token is expired or invalid"},
    403: {"description": "Only officers decide"},
    404: {"description": "No such ticket (or not on a camera this officer may see)"},
    413: {"description": "The body is larger than the API accepts"},
    409: {"description": "Already decided, or (confirm) the evidence fails its integrity check"},
    422: {"description": "Reason missing, or a field the server owns (actor, status …) sent"},
}


@router.post("/{ticket_id}/confirm", response_model=TicketPublic, responses=DECISION_RESPONSES)
def confirm(
    ticket: TicketDep,
    body: DecisionCreate,
    session: SessionDep,
    store: StoreDep,
    trusted: TrustedKeysDep,
    user: Decider,
) -> TicketPublic:
    """Officer confirms the AI candidate is a violation (the legally required human review). Refused while any
    of its evidence fails its hash or a manifest signature fails."""
    return _decide(ticket, body, DecisionAction.CONFIRM, session, user, evidence_problems(store, ticket, trusted))


@router.post("/{ticket_id}/reject", response_model=TicketPublic, responses=DECISION_RESPONSES)
def reject(ticket: TicketDep, body: DecisionCreate, session: SessionDep, user: Decider) -> TicketPublic:
    """Officer rejects the AI candidate (false alarm, not a violation, duplicate …) with a reason."""
    return _decide(ticket, body, DecisionAction.REJECT, session, user, [])
