"""Retention changes are audited actions: the start that finds a new policy in the settings records it (before
and after), and every quarantined file deleted by retention or on low disk is listed in the audit log."""

from __future__ import annotations

import os
import time
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select

from api import retention
from api.app import create_app
from api.db import make_engine, session_factory
from api.models import AuditEntry
from api.settings import Settings
from tests.conftest import settings_for


def _entries(settings: Settings, action: str) -> list[AuditEntry]:
    with session_factory(make_engine(settings.database_url))() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)))


def test_each_start_with_a_new_policy_records_the_change_and_a_same_policy_records_nothing(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    create_app(settings)
    create_app(settings)  # the same policy: nothing new
    first = _entries(settings, "retention.changed")
    assert len(first) == 1 and first[0].actor == "system" and first[0].detail["before"] == {}
    assert first[0].detail["now"]["quarantine_retention_days"] == 90
    assert first[0].detail["now"]["evidence"] == retention.LEGAL_HOLD  # what the settings cannot change

    create_app(settings.model_copy(update={"quarantine_retention_days": 30}))
    changed = _entries(settings, "retention.changed")
    assert len(changed) == 2
    assert changed[1].detail["changed"] == ["quarantine_retention_days"]
    assert (
        changed[1].detail["before"]["quarantine_retention_days"],
        changed[1].detail["now"]["quarantine_retention_days"],
    ) == (90, 30)


def test_quarantined_files_pruned_by_retention_are_listed_in_the_audit_log(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, quarantine_retention_days=1)
    app = create_app(settings)
    quarantine = settings.evidence_dir / "quarantine"
    quarantine.mkdir(parents=True, exist_ok=True)
    old, new = quarantine / "old.tmp", quarantine / "new.tmp"
    old.write_bytes(b"left over two days ago")
    new.write_bytes(b"left over just now")
    two_days_ago = time.time() - 2 * 86_400
    os.utime(old, (two_days_ago, two_days_ago))
    with TestClient(app):
        pruned = app.state.disk.prune(0)
    assert (pruned.files, pruned.names, pruned.why) == (1, ("old.tmp",), "retention")
    assert not old.exists() and new.exists()
    [entry] = _entries(settings, "store.pruned")
    assert (entry.actor, entry.object) == ("system", "evidence-store/quarantine")
    assert entry.detail == {"files": ["old.tmp"], "bytes": len(b"left over two days ago"), "why": "retention"}
