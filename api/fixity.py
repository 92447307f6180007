"""Fixity: every stored object of every ticket re-hashed on a schedule (and by ``nonsite fixity``).

An object missing from the store or whose bytes no longer hash to its name is recorded the first time it is
found: a row in ``integrity_failures`` (the operations page's alert stream sends it), an audit entry
``fixity.failed`` naming the object; the ticket's ``integrity_failed_at`` is read from those rows. Each run leaves one
``fixity.checked`` entry, so the schedule survives restarts: the next run is one interval after the last.
Objects a legal reviewer deleted (a tombstone) are not missing.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session, sessionmaker

from api import audit
from api.models import Artifact, AuditEntry, EvidenceTombstone, IntegrityFailure, utcnow
from evidence.store import ContentStore, EvidenceIntegrityError

log = logging.getLogger(__name__)
SYSTEM = audit.Actor("system", "system")


@dataclass
class FixityRun:
    objects: int = 0  # distinct objects re-hashed
    bytes: int = 0
    new_failures: list[str] = field(default_factory=list)  # "ticket N: KIND SHA…: problem", found this run
    known_failures: int = 0  # found again, already recorded

    @property
    def ok(self) -> bool:
        return not self.new_failures and not self.known_failures


def _problem(store: ContentStore, sha256: str) -> tuple[str | None, int]:
    """What is wrong with the object (None: it holds), and its size in bytes."""
    try:
        return None, len(store.read_verified(sha256))
    except FileNotFoundError:
        return "missing from the evidence store", 0
    except EvidenceIntegrityError as exc:
        return str(exc), 0
    except OSError as exc:
        return f"cannot be read: {exc.strerror or exc}", 0


def check(session: Session, store: ContentStore, actor: audit.Actor = SYSTEM) -> FixityRun:
    """Re-hash every object any ticket lists; record what is newly wrong; commit."""
    run = FixityRun()
    holders: dict[str, list[Artifact]] = defaultdict(list)
    for artifact in session.scalars(select(Artifact).order_by(Artifact.id)):
        holders[artifact.sha256].append(artifact)
    deleted = {(t, s) for t, s in session.execute(select(EvidenceTombstone.ticket_id, EvidenceTombstone.sha256))}
    known = {(t, s) for t, s in session.execute(select(IntegrityFailure.ticket_id, IntegrityFailure.sha256))}
    for sha256, artifacts in holders.items():
        problem, size = _problem(store, sha256)
        run.objects += 1
        run.bytes += size
        if problem is None:
            continue
        for artifact in artifacts:
            if (artifact.ticket_id, sha256) in deleted:
                continue
            if (artifact.ticket_id, sha256) in known:
                run.known_failures += 1
                continue
            known.add((artifact.ticket_id, sha256))
            _record_failure(session, artifact, problem, actor)
            run.new_failures.append(f"ticket {artifact.ticket_id}: {artifact.kind} {sha256[:12]}…: {problem}")
    audit.record(
        session,
        actor,
        audit.Action.FIXITY_CHECKED,
        "evidence-store",
        outcome=audit.Outcome.OK if run.ok else audit.Outcome.FAILED,
        detail={
            "objects": run.objects,
            "bytes": run.bytes,
            "new_failures": len(run.new_failures),
            "known_failures": run.known_failures,
        },
    )
    session.commit()
    for failure in run.new_failures:
        log.error("fixity: %s", failure)
    return run


def _record_failure(session: Session, artifact: Artifact, problem: str, actor: audit.Actor) -> None:
    session.add(
        IntegrityFailure(ticket_id=artifact.ticket_id, sha256=artifact.sha256, kind=artifact.kind, problem=problem)
    )
    audit.record(
        session,
        actor,
        audit.Action.FIXITY_FAILED,
        f"ticket/{artifact.ticket_id}/evidence/{artifact.sha256}",
        ticket_id=artifact.ticket_id,
        outcome=audit.Outcome.FAILED,
        detail={"kind": artifact.kind, "problem": problem},
    )


def failed_tickets(session: Session) -> int:
    return session.scalar(select(func.count(distinct(IntegrityFailure.ticket_id)))) or 0


def last_run(session: Session) -> datetime | None:
    at = session.scalar(
        select(AuditEntry.at)
        .where(AuditEntry.action == audit.Action.FIXITY_CHECKED.value)
        .order_by(AuditEntry.seq.desc())
        .limit(1)
    )
    return datetime.fromisoformat(at) if at else None


def keep_checking(
    sessions: sessionmaker[Session],
    store: ContentStore,
    interval_s: float,
    stop: threading.Event,
    after_each: Callable[[], object] = lambda: None,
) -> None:
    """Run ``check`` one interval after the last run (at once if it never ran or is overdue), then
    ``after_each`` (the API applies retention there), until ``stop``."""
    while not stop.is_set():
        try:
            with sessions() as session:
                last = last_run(session)
                if last is None or utcnow() - last >= timedelta(seconds=interval_s):
                    check(session, store)
                    after_each()
                    continue
                wait = (last + timedelta(seconds=interval_s) - utcnow()).total_seconds()
        except Exception:  # a failing disk or database must not end the schedule
            log.exception("fixity: the scheduled check failed; retrying in a minute")
            wait = 60.0
        stop.wait(min(max(wait, 1.0), 3600.0))
