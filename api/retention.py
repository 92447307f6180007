"""The retention policy in force, in the audit log: each start that finds it changed records the change.

Retention is set by the operator in the API's settings (``NONSITE_<NAME>``, see ``api.settings``), so a change
happens between two starts of the server; the start that first runs with it writes a ``retention.changed``
entry with the policy before and after. The first start records the policy it began with. What the settings
cannot change is written with it: evidence of every ticket is on legal hold.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api import audit
from api.models import AuditEntry
from api.settings import Settings

LEGAL_HOLD = (
    "evidence of every ticket, open or decided, is kept: neither retention nor disk pressure deletes it; "
    "only a legal reviewer deletes one item, with a reason, leaving a tombstone"
)


def policy(settings: Settings) -> dict[str, Any]:
    """Whole numbers only: audit details have no floats."""
    return {
        "evidence": LEGAL_HOLD,
        "quarantine_retention_days": settings.quarantine_retention_days,
        "fixity_interval_s": round(settings.fixity_interval_s),
        "disk_low_mb": settings.disk_low_mb,
        "disk_reserve_mb": settings.disk_reserve_mb,
    }


def record_if_changed(session: Session, settings: Settings) -> bool:
    """Write a ``retention.changed`` entry when the policy differs from the last one recorded (or none was)."""
    now = policy(settings)
    last = session.scalar(
        select(AuditEntry)
        .where(AuditEntry.action == audit.Action.RETENTION_CHANGED.value)
        .order_by(AuditEntry.seq.desc())
    )
    before: dict[str, Any] = last.detail.get("now", {}) if last is not None else {}
    if before == now:
        return False
    changed = sorted(k for k in now.keys() | before.keys() if before.get(k) != now.get(k))
    audit.record_now(
        session,
        audit.SYSTEM,
        audit.Action.RETENTION_CHANGED,
        "retention",
        detail={"before": before, "now": now, "changed": changed},
    )
    return True
