"""Evidence download: bytes are re-hashed before they leave the server."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Response, status

from api import audit
from api.deps import AUTH_RESPONSES, SessionDep, StoreDep, TicketDep, Watcher
from evidence.store import EvidenceIntegrityError

router = APIRouter(prefix="/api/v1/tickets", tags=["evidence"], responses=AUTH_RESPONSES)


@router.get(
    "/{ticket_id}/evidence/{sha256}",
    responses={
        200: {"content": {"application/octet-stream": {}}, "description": "The artifact, hash-checked"},
        404: {"description": "No such ticket, or the artifact is not part of it / missing from the store"},
        409: {"description": "Stored bytes no longer match the recorded SHA-256"},
        503: {"description": "The evidence store cannot be read"},
    },
)
def download(ticket: TicketDep, sha256: str, session: SessionDep, store: StoreDep, user: Watcher) -> Response:
    """The artifact's bytes after re-hashing them; each download is recorded in the audit log."""
    artifact = next((a for a in ticket.artifacts if a.sha256 == sha256), None)
    if artifact is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"ticket {ticket.id} has no artifact {sha256}")
    try:
        data = store.read_verified(sha256)
    except FileNotFoundError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"artifact {sha256} is missing from the evidence store") from exc
    except EvidenceIntegrityError as exc:
        audit.record_now(
            session,
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
    audit.record_now(
        session,
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
