"""Tickets as the API shows them, read with plain SQL queries (no ORM objects): the hot read path.

Officers open cases and page through lists far more often than anything is written, and building ORM objects
with their five collections costs several times the queries themselves. Here one query reads the tickets and
one per collection reads their children, for any number of tickets at once. Writes answer with the same view
of what they committed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.models import Artifact, Decision, EvidenceTombstone, IntegrityFailure, Ticket, ViolationEventRow
from api.schemas import TicketPublic

_COLLECTIONS = {
    "artifacts": Artifact,
    "decisions": Decision,
    "events": ViolationEventRow,
    "tombstones": EvidenceTombstone,
    "integrity_failures": IntegrityFailure,
}


def evidence_url(ticket_id: int, sha256: str) -> str:
    return f"/api/v1/tickets/{ticket_id}/evidence/{sha256}"


def ticket_public(session: Session, ticket_id: int) -> TicketPublic:
    """One ticket that exists (after a write that filed or changed it)."""
    [shown] = tickets_public(session, [ticket_id])
    return shown


def tickets_public(session: Session, ids: Sequence[int]) -> list[TicketPublic]:
    """The tickets of ``ids`` that exist, in that order."""
    if not ids:
        return []
    connection = session.connection()
    tickets = {
        row["id"]: dict(row)
        for row in connection.execute(select(Ticket.__table__).where(Ticket.id.in_(ids))).mappings()
    }
    children: dict[str, defaultdict[int, list[dict[str, Any]]]] = {}
    for name, model in _COLLECTIONS.items():
        table = model.__table__
        query = select(table).where(table.c.ticket_id.in_(ids)).order_by(table.c.id)
        grouped: defaultdict[int, list[dict[str, Any]]] = defaultdict(list)
        for row in connection.execute(query).mappings():
            grouped[row["ticket_id"]].append(dict(row))
        children[name] = grouped
    shown = []
    for ticket_id in ids:
        if (ticket := tickets.get(ticket_id)) is None:
            continue
        failures = children["integrity_failures"][ticket_id]
        artifacts = [a | {"url": evidence_url(ticket_id, a["sha256"])} for a in children["artifacts"][ticket_id]]
        values = ticket | {
            "artifacts": artifacts,
            "decisions": children["decisions"][ticket_id],
            "events": children["events"][ticket_id],
            "tombstones": children["tombstones"][ticket_id],
            "integrity_failed_at": min((f["detected_at"] for f in failures), default=None),
        }
        shown.append(TicketPublic.model_validate(values))
    return shown
