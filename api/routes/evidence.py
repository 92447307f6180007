"""Evidence download (bytes are re-hashed before they leave the server) and deletion: a legal reviewer's act,
with a reason, that leaves a tombstone; nothing automatic ever deletes the evidence of a case."""

from __future__ import annotations

import logging

from fastapi import APIRouter, HTTPException, Response, status
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api import audit
from api.deps import AUTH_RESPONSES, AuditWriterDep, EvidenceDeleter, SessionDep, StoreDep, TicketDep, Watcher
from api.models import Artifact, EvidenceTombstone
from api.schemas import EvidenceDeletion, TombstonePublic
from evidence.store import ContentStore, EvidenceIntegrityError

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/tickets", tags=["evidence"], responses=AUTH_RESPONSES)


@router.get(
    "/{ticket_id}/evidence/{sha256}",
    responses={
        200: {"content": {"application/octet-stream": {}}, "description": "The artifact, hash-checked"},
        404: {"description": "No such ticket, or the artifact is not part of it / missing from the store"},
        409: {"description": "Stored bytes no longer match the recorded SHA-256"},
        410: {"description": "Deleted by a legal reviewer (the detail says who, when and why)"},
        503: {"description": "The evidence store cannot be read"},
    },
)
def download(ticket: TicketDep, sha256: str, writer: AuditWriterDep, store: StoreDep, user: Watcher) -> Response:
    """The artifact's bytes after re-hashing them; each download is recorded in the audit log."""
    artifact = next((a for a in ticket.artifacts if a.sha256 == sha256), None)
    if artifact is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"ticket {ticket.id} has no artifact {sha256}")
    if (tombstone := next((t for t in ticket.tombstones if t.sha256 == sha256), None)) is not None:
        raise HTTPException(status.HTTP_410_GONE, tombstone.describe())
    try:
        data = store.read_verified(sha256)
    except FileNotFoundError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"artifact {sha256} is missing from the evidence store") from exc
    except EvidenceIntegrityError as exc:
        writer.record(
            user,
            audit.Action.EVIDENCE_DOWNLOADED,
            f"ticket/{ticket.id}/evidence/{sha256}",
            ticket_id=ticket.id,
            outcome=audit.Outcome.FAILED,
            detail={"kind": artifact.kind, "sha256": sha256, "problem": str(exc)},
        )
        raise HTTPException(status.HTTP_409_CONFLICT, f"integrity check failed: {exc}") from exc
    except OSError as exc:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, f"the evidence store cannot be read: {exc.strerror or exc}"
        ) from exc
    writer.record(
        user,
        audit.Action.EVIDENCE_DOWNLOADED,
        f"ticket/{ticket.id}/evidence/{sha256}",
        ticket_id=ticket.id,
        detail={"kind": artifact.kind, "sha256": sha256, "bytes": len(data)},
    )
    return Response(
        content=data,
        media_type=artifact.media_type,
        headers={
            "X-Content-SHA256": sha256,
            "Cache-Control": "private, max-age=3600",
            "Content-Disposition": f'inline; filename="{artifact.kind}-{sha256[:12]}"',
        },
    )


@router.post(
    "/{ticket_id}/evidence/{sha256}/delete",
    response_model=TombstonePublic,
    responses={
        400: {"description": "The body is not JSON"},
        404: {"description": "No such ticket, or the artifact is not part of it"},
        409: {"description": "Already deleted"},
        422: {"description": "No reason, or a field the server owns"},
    },
)
def delete_evidence(
    ticket: TicketDep,
    sha256: str,
    body: EvidenceDeletion,
    session: SessionDep,
    store: StoreDep,
    user: EvidenceDeleter,
) -> EvidenceTombstone:
    """Delete one artifact of a case (legal reviewers only, with a reason). The tombstone keeps what it was,
    who deleted it, when and why; the case's integrity check then names it, so no decision rests on it
    unnoticed. The bytes leave the store unless another ticket still lists them."""
    artifacts = [a for a in ticket.artifacts if a.sha256 == sha256]
    if not artifacts:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"ticket {ticket.id} has no artifact {sha256}")
    if (earlier := next((t for t in ticket.tombstones if t.sha256 == sha256), None)) is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, f"already {earlier.describe()}")
    tombstone = EvidenceTombstone(
        ticket_id=ticket.id,
        sha256=sha256,
        kind=artifacts[0].kind,
        bytes=artifacts[0].bytes,
        deleted_by=user.username,
        role=user.role,
        reason=body.reason,
    )
    session.add(tombstone)
    audit.record(
        session,
        user,
        audit.Action.EVIDENCE_DELETED,
        f"ticket/{ticket.id}/evidence/{sha256}",
        ticket_id=ticket.id,
        detail={"kind": tombstone.kind, "bytes": tombstone.bytes, "reason": body.reason},
    )
    try:
        session.commit()
    except IntegrityError as exc:  # deleted at the same moment by another reviewer: theirs stands
        session.rollback()
        raise HTTPException(status.HTTP_409_CONFLICT, f"artifact {sha256} was deleted meanwhile") from exc
    _remove_unless_listed(session, store, sha256)
    return tombstone


def _remove_unless_listed(session: Session, store: ContentStore, sha256: str) -> None:
    """Unlink the object unless a ticket without a tombstone for it still lists it (identical bytes)."""
    holders = set(session.scalars(select(Artifact.ticket_id).where(Artifact.sha256 == sha256)))
    deleted = set(session.scalars(select(EvidenceTombstone.ticket_id).where(EvidenceTombstone.sha256 == sha256)))
    if holders - deleted:
        return
    path = store.path_for(sha256)
    try:
        path.unlink(missing_ok=True)  # write-once (0444) files can still be unlinked by their owner
    except OSError as exc:  # recorded as deleted: fixity skips it; the bytes wait for an administrator
        log.error("evidence %s is recorded as deleted but could not be removed: %s", sha256, exc)
