"""The audit writer's group commit: many requests share a transaction, each returns only once its own entry is
committed, numbering stays gap-free, and a commit that fails fails every request it carried."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from api import audit
from api.audit_writer import AuditWriter
from api.db import make_engine, session_factory
from api.models import AuditEntry
from tests.conftest import settings_for

OFFICER = audit.Actor("officer", "officer")


def test_concurrent_views_are_each_committed_before_record_returns_and_numbered_without_gaps(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    sessions = session_factory(make_engine(settings.database_url))
    writer = AuditWriter(sessions)
    seen_after_return: list[bool] = []
    lock = threading.Lock()

    def view(thread: int) -> None:
        for n in range(25):
            obj = f"ticket/{thread}-{n}"
            writer.record(OFFICER, audit.Action.TICKET_VIEWED, obj)
            with sessions() as other:  # another connection sees it at once: it was committed
                found = other.scalar(select(AuditEntry.seq).where(AuditEntry.object == obj)) is not None
            with lock:
                seen_after_return.append(found)

    threads = [threading.Thread(target=view, args=(t,)) for t in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    writer.close()
    assert len(seen_after_return) == 400 and all(seen_after_return)
    with sessions() as session:
        rows = list(session.scalars(select(AuditEntry).order_by(AuditEntry.seq)))
    assert [r.seq for r in rows] == list(range(1, 401))
    assert len({r.object for r in rows}) == 400  # each view once
    assert {(r.actor, r.role, r.action) for r in rows} == {("officer", "officer", "ticket.viewed")}


def test_a_failed_commit_fails_the_request_and_the_writer_keeps_going(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    database = Path(settings.database_url.removeprefix("sqlite:///"))
    if not settings.database_url.startswith("sqlite"):
        pytest.skip("a read-only database file is a SQLite case")
    read_only = session_factory(make_engine(f"sqlite:///file:{database}?mode=ro&uri=true"))
    writer = AuditWriter(read_only)
    with pytest.raises(OperationalError, match="readonly"):
        writer.record(OFFICER, audit.Action.TICKET_VIEWED, "ticket/1")
    with pytest.raises(OperationalError, match="readonly"):  # the thread survived and answers the next one
        writer.record(OFFICER, audit.Action.TICKET_VIEWED, "ticket/2")
    writer.close()
    assert sqlite3.connect(database).execute("SELECT count(*) FROM audit_entries").fetchone() == (0,)
