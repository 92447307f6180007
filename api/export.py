"""Gathers one case for its export bundle (evidence.bundle): the ticket, its stored evidence, its audit entries
with inclusion proofs against a fresh signed checkpoint, and the public keys."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy.orm import Session

from api import audit
from api.models import Ticket, User, utcnow
from api.schemas import TicketPublic
from evidence import bundle
from evidence.audit_log import AuditMirror
from evidence.store import ContentStore


def _stored(store: ContentStore, sha256: str) -> bytes:
    """The object's bytes as stored, damaged or not (the bundle's check names a damaged one); empty if gone."""
    try:
        return store.path_for(sha256).read_bytes()
    except OSError:
        return b""


def export_case(
    session: Session,
    ticket: Ticket,
    *,
    store: ContentStore,
    mirror: AuditMirror,
    manifest_keys: dict[str, Ed25519PublicKey],
    actor: audit.Actor | User,
    action: audit.Action = audit.Action.TICKET_EXPORTED,
) -> bytes:
    """The bundle's bytes. The export is itself recorded first, so the bundle holds its own entry."""
    who = actor if isinstance(actor, audit.Actor) else audit.Actor.of(actor)
    audit.record(session, who, action, f"ticket/{ticket.id}", ticket_id=ticket.id)
    session.commit()
    signed, proven = audit.proven_case_entries(session, mirror, ticket.id)
    entries = [(e.as_entry(), proof) for e, proof in proven]
    summary = TicketPublic.model_validate(ticket).model_dump(mode="json", exclude={"artifacts", "events"})
    case = bundle.Case(
        ticket=summary,
        artifacts=[bundle.Artifact(a.kind, a.sha256, a.media_type, _stored(store, a.sha256)) for a in ticket.artifacts],
        entries=entries,
        checkpoint=signed.document,
        manifest_keys=manifest_keys,
        exported_at=utcnow().isoformat(timespec="seconds"),
        exported_by=f"{who.name} ({who.role})",
    )
    return bundle.build(case, mirror.signer())
