"""What the API checks when it starts, after a crash or not: the database's own integrity check, the evidence
store's leftovers, and the audit log against its signed checkpoints.

- A temp file in the store (``.NAME.*.tmp``) is a write that never finished: it is moved to ``quarantine/``.
- An object no ticket lists was finalised but never registered (the pipeline died between writing it and
  pushing its event; its outbox will push it later). It is re-hashed: kept if it still matches its name, moved
  to ``quarantine/`` if not. Listed objects are re-hashed by the scheduled fixity check, not at every start.
- The audit log is verified against the mirror and every signed checkpoint (``api.audit.verify``).

Nothing is deleted. Every problem is logged, shown by ``/healthz`` (status ``degraded``) and, when files were
quarantined, recorded in the audit log.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from api import audit
from api.models import Artifact, utcnow
from evidence.audit_log import AuditMirror
from evidence.store import ContentStore

log = logging.getLogger(__name__)


@dataclass
class Reconciliation:
    at: datetime
    database: str = "ok"  # the database's own check: "ok", or what it reported
    quarantined: list[str] = field(default_factory=list)  # store-relative paths moved aside, with why
    kept_unregistered: int = 0  # finalised objects no ticket lists yet that still match their hash
    audit_findings: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        found = [] if self.database == "ok" else [f"database: {self.database}"]
        found += [f"quarantined {q}" for q in self.quarantined]
        return found + [f"audit log: {f}" for f in self.audit_findings]


def reconcile(session: Session, store: ContentStore, mirror: AuditMirror) -> Reconciliation:
    report = Reconciliation(at=utcnow())
    report.database = _database_check(session)
    registered = set(session.scalars(select(Artifact.sha256).distinct()))
    quarantine = store.root / "quarantine" / report.at.strftime("%Y%m%dT%H%M%SZ")
    for path in sorted((store.root / "objects").glob("*/*")):
        reason = _leftover(path, registered)
        if reason is None:
            if path.name not in registered:
                report.kept_unregistered += 1
            continue
        quarantine.mkdir(parents=True, exist_ok=True)
        shutil.move(path, quarantine / path.name)
        report.quarantined.append(f"{path.relative_to(store.root)} ({reason})")
    report.audit_findings = [str(f) for f in audit.verify(session, mirror).findings]
    if report.quarantined:
        audit.record_now(
            session,
            audit.SYSTEM,
            audit.Action.STORE_RECONCILED,
            "evidence-store",
            outcome=audit.Outcome.FAILED,
            detail={"quarantined": report.quarantined, "to": str(quarantine.relative_to(store.root))},
        )
    for problem in report.problems:
        log.warning("start-up check: %s", problem)
    return report


def _database_check(session: Session) -> str:
    if session.get_bind().dialect.name != "sqlite":
        return "ok"  # PostgreSQL checks its own pages (checksums, amcheck) as the server's administrator runs them
    rows = [row[0] for row in session.execute(text("PRAGMA quick_check"))]
    return "ok" if rows == ["ok"] else "; ".join(map(str, rows[:5]))


def _leftover(path: Path, registered: set[str]) -> str | None:
    """Why the file must be moved aside, or None to keep it."""
    if path.name.startswith(".") and path.name.endswith(".tmp"):
        return "an unfinished write"
    if path.name in registered or not path.is_file():
        return None
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return None if digest == path.name else f"unregistered, and its bytes hash to {digest[:12]}…"
