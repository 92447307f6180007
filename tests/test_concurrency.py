"""Writers racing on one database, on SQLite and on a real PostgreSQL server: concurrent confirms of one ticket
(exactly one wins), the same event pushed at once (one ticket), audit entries numbered without gaps."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from api import audit, crud
from api.db import make_engine, migrate, session_factory
from api.models import AuditEntry, DecisionAction, Ticket, User
from evidence.audit_log import AuditMirror
from evidence.wire import ViolationWire
from tests import postgres
from tests.conftest import violation_payload

WORKERS = 8
OFFICER = audit.Actor("officer", "officer")


@pytest.fixture(params=["sqlite", "postgresql"])
def sessions(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    if request.param == "postgresql":
        if postgres.binaries() is None:
            pytest.skip("PostgreSQL is not installed (`make test` installs it as root)")
        url = postgres.server().new_database()
    else:
        url = f"sqlite:///{tmp_path / 'api.db'}"
    engine = make_engine(url)
    migrate(engine)
    yield session_factory(engine)
    engine.dispose()


def _race(work: Callable[[int], Any]) -> list[Any]:
    """Run ``work(i)`` in WORKERS threads released together; each result, or the exception it raised."""
    start = threading.Barrier(WORKERS)
    results: list[Any] = [None] * WORKERS

    def run(i: int) -> None:
        start.wait()
        try:
            results[i] = work(i)
        except Exception as exc:  # collected and asserted on by the test
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def _file(sessions: Any) -> int:
    record = ViolationWire.model_validate(violation_payload())
    with sessions() as session:
        ticket, _ = crud.apply_event(session, key=record.key, record=record, sender=audit.Actor("pipeline", "pipeline"))
        return ticket.id


def test_concurrent_confirms_of_one_ticket_exactly_one_wins(sessions: Any) -> None:
    ticket_id = _file(sessions)
    officer = User(username="officer", role="officer", password_hash="-", cameras=["*"])

    def confirm(i: int) -> str:
        with sessions() as session:
            ticket = crud.get_ticket(session, ticket_id=ticket_id)
            assert ticket is not None
            try:
                crud.decide(session, ticket=ticket, action=DecisionAction.CONFIRM, reason=f"seen {i}", officer=officer)
            except crud.AlreadyDecided:
                return "refused"
            return "won"

    results = _race(confirm)
    assert sorted(map(str, results)) == ["refused"] * (WORKERS - 1) + ["won"], results
    with sessions() as session:
        ticket = session.get(Ticket, ticket_id)
        assert ticket is not None and len(ticket.decisions) == 1 and ticket.status == "confirmed"
        confirmed = session.scalar(select(func.count()).where(AuditEntry.action == "ticket.confirmed"))
        assert confirmed == 1


def test_the_same_event_pushed_at_once_files_one_ticket(sessions: Any) -> None:
    record = ViolationWire.model_validate(violation_payload())

    def push(_: int) -> str:
        with sessions() as session:
            _ticket, outcome = crud.apply_event(
                session, key=record.key, record=record, sender=audit.Actor("pipeline", "pipeline")
            )
            return outcome.value

    results = _race(push)
    assert sorted(map(str, results)) == ["created"] + ["replayed"] * (WORKERS - 1), results
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Ticket)) == 1
        assert session.scalar(select(func.count()).where(AuditEntry.action == "ticket.created")) == 1


def test_audit_entries_written_at_once_are_numbered_without_gaps(sessions: Any, tmp_path: Path) -> None:
    per_worker = 10

    def write(i: int) -> None:
        with sessions() as session:
            for n in range(per_worker):
                audit.record_now(session, OFFICER, audit.Action.TICKET_VIEWED, f"ticket/{i}-{n}")

    assert [r for r in _race(write) if r is not None] == []
    with sessions() as session:
        seqs = list(session.scalars(select(AuditEntry.seq).order_by(AuditEntry.seq)))
        assert seqs == list(range(1, WORKERS * per_worker + 1))
        mirror = AuditMirror(tmp_path / "audit")
        assert audit.checkpoint(session, mirror).size == len(seqs)
        assert audit.verify(session, mirror).ok
