"""The audit log in the database: one entry per action, written in the same transaction as what it records;
checkpoints of it signed outside the database; the check that the two still agree.

Entries name the actor and their role, the action, its object and its outcome. ``record`` adds the entry to the
caller's transaction, so a change and its entry commit (or roll back) together; read actions (a view, a
download) commit their entry before the response leaves. Sequence numbers have no gaps: on PostgreSQL writers
take a transaction-scoped advisory lock, on SQLite there is one writer at a time anyway.
"""

from __future__ import annotations

import getpass
import logging
from dataclasses import dataclass, field
from enum import StrEnum
from threading import Event
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import func, insert, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from api.models import AuditEntry, User, utcnow
from evidence import checkpoints, merkle
from evidence.audit_log import AuditMirror, Finding, compare, entry_leaf, signed_checkpoints
from evidence.signing import SigningKeyError

log = logging.getLogger(__name__)
ADVISORY_LOCK = 0x6E6F6E73  # "nons": serialises audit appends on PostgreSQL


class Action(StrEnum):
    TICKET_CREATED = "ticket.created"
    TICKET_EVENT = "ticket.event"  # an update or end from the pipeline (applied or kept)
    TICKET_VIEWED = "ticket.viewed"
    TICKET_INTEGRITY_CHECKED = "ticket.integrity_checked"
    EVIDENCE_DOWNLOADED = "evidence.downloaded"
    TICKET_EXPORTED = "ticket.exported"
    TICKET_VERIFIED = "ticket.verified"  # the auditor page's verification of the case bundle
    TICKET_CONFIRMED = "ticket.confirmed"
    TICKET_REJECTED = "ticket.rejected"
    SIGNED_IN = "auth.signed_in"
    SIGN_IN_FAILED = "auth.sign_in_failed"
    USER_ADDED = "user.added"
    USER_DISABLED = "user.disabled"
    USER_ENABLED = "user.enabled"
    AUDIT_VERIFIED = "audit.verified"
    STORE_RECONCILED = "store.reconciled"  # files moved to quarantine at start-up (api.reconcile)
    FIXITY_CHECKED = "fixity.checked"  # a scheduled re-hash of every stored object (api.fixity)
    FIXITY_FAILED = "fixity.failed"  # one object of a ticket missing or altered, the first time it is found
    EVIDENCE_DELETED = "evidence.deleted"  # by a legal reviewer, with a reason; a tombstone stays
    STORE_PRUNED = "store.pruned"  # non-evidence removed by retention or on low disk space (api.disk)
    RETENTION_CHANGED = "retention.changed"  # the policy in the settings, recorded by the start that finds it new


class Outcome(StrEnum):
    OK = "ok"
    REFUSED = "refused"  # not allowed or not possible (already decided, integrity failed, wrong password)
    FAILED = "failed"  # done, and what it checked did not hold (an integrity check that found problems)


@dataclass(frozen=True)
class Actor:
    name: str
    role: str

    @classmethod
    def of(cls, user: User) -> Actor:
        return cls(user.username, user.role)

    @classmethod
    def shell(cls) -> Actor:
        """Someone at the server's shell (``nonsite users …``): named by their operating-system account."""
        return cls(f"shell:{getpass.getuser()}", "shell")


SYSTEM = Actor("system", "system")  # the server itself: start-up checks, retention


def record(
    session: Session,
    actor: Actor | User,
    action: Action,
    obj: str,
    *,
    ticket_id: int | None = None,
    outcome: Outcome = Outcome.OK,
    detail: dict[str, Any] | None = None,
) -> None:
    """Add an entry to the session's transaction (the caller commits). ``detail``: strings, integers, booleans
    and lists or objects of them (no floats: they have no single canonical form)."""
    record_many(session, [entry(actor, action, obj, ticket_id=ticket_id, outcome=outcome, detail=detail)])


def entry(
    actor: Actor | User,
    action: Action,
    obj: str,
    *,
    ticket_id: int | None = None,
    outcome: Outcome = Outcome.OK,
    detail: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An entry's values, timed now, without its sequence number (``record_many`` gives it)."""
    who = actor if isinstance(actor, Actor) else Actor.of(actor)
    return {
        "at": utcnow().isoformat(timespec="microseconds"),
        "actor": who.name,
        "role": who.role,
        "action": action.value,
        "object": obj,
        "ticket_id": ticket_id,
        "outcome": outcome.value,
        "detail": detail or {},
    }


def record_many(session: Session, entries: list[dict[str, Any]]) -> None:
    """Add entries (of :func:`entry`) to the session's transaction, numbered on from the newest."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK})
    first, *rest = entries
    # Numbered in the insert itself: on SQLite that takes the write lock, so the newest number read next
    # cannot change before this transaction commits (on PostgreSQL the advisory lock does that).
    next_seq = select(func.coalesce(func.max(AuditEntry.seq), 0) + 1).scalar_subquery()
    session.execute(insert(AuditEntry).values(seq=next_seq, **first))
    if rest:
        newest = session.scalar(select(func.max(AuditEntry.seq))) or 0
        session.execute(insert(AuditEntry), [e | {"seq": newest + n} for n, e in enumerate(rest, start=1)])


def record_now(session: Session, actor: Actor | User, action: Action, obj: str, **kwargs: Any) -> None:
    """``record`` in a transaction of its own: for reads, and for refusals whose change was rolled back."""
    session.rollback()
    record(session, actor, action, obj, **kwargs)
    session.commit()


def trusted_keys(mirror: AuditMirror) -> dict[str, Ed25519PublicKey]:
    signer = mirror.signer()
    return {signer.key_id: signer.public_key}


def checkpoint(session: Session, mirror: AuditMirror) -> checkpoints.Checkpoint:
    """Append the entries not yet in the mirror and sign a checkpoint of the tree head (the newest one when
    nothing is new). Stops at a gap in the sequence: :func:`verify` names it."""
    with mirror.lock():
        have = len(mirror.leaves())
        new = []
        rows = session.scalars(select(AuditEntry).where(AuditEntry.seq > have).order_by(AuditEntry.seq))
        for expected, row in enumerate(rows, start=have + 1):
            if row.seq != expected:
                break
            new.append(entry_leaf(row.as_entry()))
        signed, _ = signed_checkpoints(mirror, trusted_keys(mirror))
        if not new and signed and signed[-1].size == have:
            return signed[-1]
        return mirror.append(new, utcnow())


@dataclass(frozen=True)
class AuditCheck:
    entries: int
    latest: checkpoints.Checkpoint | None
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings


def verify(session: Session, mirror: AuditMirror) -> AuditCheck:
    """Re-hash every entry and compare with the mirror and every signed checkpoint (see evidence.audit_log)."""
    rows = [(e.seq, entry_leaf(e.as_entry())) for e in session.scalars(select(AuditEntry).order_by(AuditEntry.seq))]
    signed, findings = signed_checkpoints(mirror, trusted_keys(mirror))
    findings += compare(rows, mirror.leaves(), signed)
    latest = max(signed, key=lambda c: c.size) if signed else None
    return AuditCheck(entries=len(rows), latest=latest, findings=findings)


def case_entries(session: Session, ticket_id: int) -> list[AuditEntry]:
    return list(session.scalars(select(AuditEntry).where(AuditEntry.ticket_id == ticket_id).order_by(AuditEntry.seq)))


def proven_case_entries(
    session: Session, mirror: AuditMirror, ticket_id: int
) -> tuple[checkpoints.Checkpoint, list[tuple[AuditEntry, list[bytes]]]]:
    """A fresh signed checkpoint and every entry about the ticket with its inclusion proof in that tree (all
    proven in one pass over it)."""
    signed = checkpoint(session, mirror)
    rows = [e for e in case_entries(session, ticket_id) if e.seq <= signed.size]
    proofs = merkle.inclusion_proofs([e.seq - 1 for e in rows], mirror.leaves()[: signed.size])
    return signed, [(e, proofs[e.seq - 1]) for e in rows]


def checkpoint_or_warn(sessions: sessionmaker[Session], mirror: AuditMirror) -> None:
    """:func:`checkpoint` in a session of its own; a failure (disk full, database gone) is logged: the entries stay
    in the database, and the next checkpoint takes them."""
    try:
        with sessions() as session:
            checkpoint(session, mirror)
    except (OSError, SQLAlchemyError, SigningKeyError) as exc:
        log.warning(
            "the audit checkpoint could not be written (its entries stay in the database for the next): %s", exc
        )


def keep_checkpointing(sessions: sessionmaker[Session], mirror: AuditMirror, every_s: float, stop: Event) -> None:
    """Sign a checkpoint now, then every ``every_s`` seconds until ``stop``, and once more on the way out."""
    while True:
        checkpoint_or_warn(sessions, mirror)
        if stop.is_set():
            return
        stop.wait(every_s)
