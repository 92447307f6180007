"""The audit log, for auditors and legal reviewers: entries, the newest signed checkpoint, a full verification,
and one case's entries with their inclusion proofs."""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Response, status
from sqlalchemy import func, select

from api import audit
from api.deps import (
    AUTH_RESPONSES,
    AuditMirrorDep,
    AuditReader,
    AuditWriterDep,
    SessionDep,
    SettingsDep,
    StoreDep,
    TicketDep,
    TrustedKeysDep,
)
from api.export import export_case
from api.models import AuditEntry
from api.schemas import (
    AuditEntryList,
    AuditEntryPublic,
    AuditFinding,
    AuditVerification,
    BundleCheck,
    BundleVerification,
    CaseAudit,
    ProvenEntry,
)
from evidence import bundle
from evidence.wire import MAX_SAFE_INT

router = APIRouter(prefix="/api/v1", tags=["audit"], responses=AUTH_RESPONSES)


@router.get("/audit", response_model=AuditEntryList)
def list_entries(
    session: SessionDep,
    settings: SettingsDep,
    _: AuditReader,
    ticket_id: Annotated[int | None, Query(ge=1, le=MAX_SAFE_INT)] = None,
    actor: Annotated[str | None, Query(max_length=128)] = None,
    action: Annotated[audit.Action | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_SAFE_INT)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_SAFE_INT)] = 0,
) -> AuditEntryList:
    """Newest first. Filters: a ticket, an actor, an action."""
    query = select(AuditEntry)
    if ticket_id is not None:
        query = query.where(AuditEntry.ticket_id == ticket_id)
    if actor is not None:
        query = query.where(AuditEntry.actor == actor)
    if action is not None:
        query = query.where(AuditEntry.action == action.value)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(AuditEntry.seq.desc()).limit(min(limit, settings.page_size_max)).offset(offset)
    )
    return AuditEntryList(total=total, items=[AuditEntryPublic(**e.as_entry()) for e in rows])


@router.get(
    "/audit/checkpoint",
    response_model=dict[str, Any],
    responses={404: {"description": "No checkpoint has been signed yet"}},
)
def newest_checkpoint(mirror: AuditMirrorDep, _: AuditReader) -> dict[str, Any]:
    """The newest signed checkpoint of the log's Merkle tree head (keep a copy: it is what an edit is caught
    against later)."""
    documents = mirror.checkpoint_documents()
    if not documents:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no checkpoint has been signed yet")
    document: dict[str, Any] = json.loads(documents[-1])
    return document


@router.get("/audit/verify", response_model=AuditVerification)
def verify(session: SessionDep, mirror: AuditMirrorDep, writer: AuditWriterDep, user: AuditReader) -> AuditVerification:
    """Re-hash every entry and check the log against the leaf mirror and every signed checkpoint: an edited,
    deleted or truncated entry is named with its position."""
    check = audit.verify(session, mirror)
    writer.record(
        user,
        audit.Action.AUDIT_VERIFIED,
        "audit",
        outcome=audit.Outcome.OK if check.ok else audit.Outcome.FAILED,
        detail={"entries": check.entries, "findings": len(check.findings)},
    )
    return AuditVerification(
        ok=check.ok,
        entries=check.entries,
        checkpointed=check.latest.size if check.latest else 0,
        checkpoint_at=check.latest.at if check.latest else None,
        key_id=check.latest.key_id if check.latest else None,
        findings=[AuditFinding(position=f.position, problem=f.problem) for f in check.findings],
    )


@router.get("/tickets/{ticket_id}/audit", response_model=CaseAudit, responses={404: {"description": "No such ticket"}})
def case_audit(ticket: TicketDep, session: SessionDep, mirror: AuditMirrorDep, _: AuditReader) -> CaseAudit:
    """The case's timeline: every entry about this ticket, each proven to be in the signed tree (a fresh
    checkpoint is signed first, so it covers them all)."""
    signed, proven = audit.proven_case_entries(session, mirror, ticket.id)
    entries = [
        ProvenEntry(entry=AuditEntryPublic(**e.as_entry()), proof=[p.hex() for p in proof]) for e, proof in proven
    ]
    return CaseAudit(checkpoint=json.loads(signed.document), entries=entries)


@router.get(
    "/tickets/{ticket_id}/export",
    responses={
        200: {"content": {"application/zip": {}}, "description": "The case bundle (check it with nonsite verify)"},
        404: {"description": "No such ticket"},
    },
)
def export(
    ticket: TicketDep,
    session: SessionDep,
    store: StoreDep,
    mirror: AuditMirrorDep,
    trusted: TrustedKeysDep,
    user: AuditReader,
) -> Response:
    """The case as one zip: evidence as stored, signed manifest, audit entries with inclusion proofs, a signed
    checkpoint and the public keys. ``nonsite verify FILE.zip`` checks it with no server."""
    data = export_case(session, ticket, store=store, mirror=mirror, manifest_keys=trusted, actor=user)
    return Response(
        content=data,
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="nonsite-case-{ticket.id}.zip"',
            "X-Content-SHA256": hashlib.sha256(data).hexdigest(),
        },
    )


@router.get(
    "/tickets/{ticket_id}/verification",
    response_model=BundleVerification,
    responses={404: {"description": "No such ticket"}},
)
def verification(
    ticket: TicketDep,
    session: SessionDep,
    store: StoreDep,
    mirror: AuditMirrorDep,
    trusted: TrustedKeysDep,
    user: AuditReader,
) -> BundleVerification:
    """Builds the case's bundle and runs on it exactly the checks of ``nonsite verify`` (with this server's
    trusted keys), so the auditor page shows what an offline check of an export would."""
    data = export_case(
        session,
        ticket,
        store=store,
        mirror=mirror,
        manifest_keys=trusted,
        actor=user,
        action=audit.Action.TICKET_VERIFIED,
    )
    checks = bundle.verify(data, trusted | audit.trusted_keys(mirror))
    return BundleVerification(
        ok=all(c.ok for c in checks),
        bundle_sha256=hashlib.sha256(data).hexdigest(),
        checks=[BundleCheck(name=c.name, ok=c.ok, problems=c.problems, detail=c.detail) for c in checks],
    )
