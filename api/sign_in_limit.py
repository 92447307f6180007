"""Failed sign-ins per user name and client address in a moving minute, counted from the audit log.

Every failed sign-in is already an audit entry (``auth.sign_in_failed``, with the client's address), so the
count is the same for every worker of ``nonsite serve --workers N`` and survives a restart: N workers no longer
allow N times the attempts, and restarting the server does not reset a guesser's count. Requests racing in
different workers may each pass before either failure is written: the limit can be passed by at most the
number of sign-ins in flight at that moment.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.audit import Action
from api.models import AuditEntry

WINDOW = timedelta(minutes=1)


@dataclass(frozen=True)
class Refusal:
    failures: int
    retry_after_s: int  # until the oldest failure in the window leaves it


def check(session: Session, username: str, client: str, allowed: int, now: datetime) -> Refusal | None:
    """``None`` when another attempt is allowed; else how many failures the window holds and how long to wait."""
    cutoff = (now - WINDOW).isoformat(timespec="microseconds")
    times = session.scalars(
        select(AuditEntry.at)
        .where(
            AuditEntry.action == Action.SIGN_IN_FAILED.value,
            AuditEntry.object == subject(username),
            AuditEntry.at > cutoff,
            AuditEntry.detail["client"].as_string() == client,
        )
        .order_by(AuditEntry.at.desc())
        .limit(allowed)
    ).all()
    if len(times) < allowed:
        return None
    oldest_counted = datetime.fromisoformat(times[-1])  # the allowed-th newest: the next to leave that matters
    wait_s = (oldest_counted + WINDOW - now).total_seconds()
    return Refusal(failures=len(times), retry_after_s=max(1, math.ceil(wait_s)))


def subject(username: str) -> str:
    """The audit entry's object for a sign-in as ``username`` (cut to what the log keeps)."""
    return f"user/{username[:64]}"
