"""The read path (api.views, plain SQL) shows every ticket exactly as its ORM objects hold it: evidence with its
links, events, decisions, tombstones and the integrity mark, in order."""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api import audit, crud, views
from api.app import create_app
from api.db import make_engine, session_factory
from api.models import DecisionAction, EvidenceTombstone, IntegrityFailure, Ticket, User
from api.schemas import ArtifactPublic, TicketPublic, ViolationCreate
from evidence.types import ArtifactKind, EventState, EvidenceRecord
from tests.conftest import add_test_users, bearer, key_header, make_event, settings_for

PIPELINE = audit.Actor("pipeline", "pipeline")


def _from_orm(ticket: Ticket | None) -> TicketPublic:
    """The reference: the same schema validated from the ORM object and its relationships."""
    assert ticket is not None
    public = TicketPublic.model_validate(ticket)
    url = "/api/v1/tickets/{}/evidence/{}"
    public.artifacts = [
        ArtifactPublic.model_validate(a).model_copy(update={"url": url.format(ticket.id, a.sha256)})
        for a in ticket.artifacts
    ]
    return public


def _evidence(n: int, kind: ArtifactKind) -> EvidenceRecord:
    digest = f"{n:064x}"
    return EvidenceRecord(kind=kind, storage_key=digest, sha256=digest, bytes=100 + n, media_type="image/jpeg")


def _push(session: object, event: object) -> int:
    record = ViolationCreate.model_validate(event.to_dict())  # type: ignore[attr-defined]
    ticket, _ = crud.apply_event(session, key=record.key, record=record, sender=PIPELINE)  # type: ignore[arg-type]
    return ticket.id


def test_the_read_path_and_the_write_path_show_the_same_tickets(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    sessions = session_factory(make_engine(settings.database_url))
    officer = User(username="officer", password_hash="x", role="officer", cameras=["*"])
    with sessions() as session:
        ids = []
        for n in range(4):
            vid = str(uuid.UUID(int=n + 1, version=4))
            snapshot = _evidence(10 * n, ArtifactKind.SNAPSHOT)
            ids.append(_push(session, make_event(vid, camera=f"cam-{n}", evidence=(snapshot,))))
        clip = _evidence(99, ArtifactKind.ORIGINAL_CLIP)
        first = str(uuid.UUID(int=1, version=4))
        _push(session, make_event(first, state=EventState.UPDATE, revision=1, camera="cam-0", evidence=(clip,)))
        ended = "2026-11-23T09:01:00+00:00"
        _push(session, make_event(first, state=EventState.END, revision=2, camera="cam-0", ended_at=ended))
        for ticket_id, action, reason in [
            (ids[0], DecisionAction.CONFIRM, "plate and cover seen"),
            (ids[1], DecisionAction.REJECT, "not a stall"),
        ]:
            ticket = crud.get_ticket(session, ticket_id=ticket_id)
            assert ticket is not None
            crud.decide(session, ticket=ticket, action=action, reason=reason, officer=officer)
        session.add(IntegrityFailure(ticket_id=ids[2], sha256=f"{20:064x}", kind="snapshot", problem="altered"))
        session.add(
            EvidenceTombstone(
                ticket_id=ids[3],
                sha256=f"{30:064x}",
                kind="snapshot",
                bytes=130,
                deleted_by="lr",
                role="legal_reviewer",
                reason="a bystander's face, court order 12",
            )
        )
        session.commit()
        shown = views.tickets_public(session, [*reversed(ids), 999])  # the order asked for; no such ticket: left out
        session.expire_all()
        built = [_from_orm(crud.get_ticket(session, ticket_id=i)) for i in reversed(ids)]
    assert [t.id for t in shown] == list(reversed(ids))
    assert [t.model_dump() for t in shown] == [t.model_dump() for t in built]
    first_shown = shown[-1]
    assert [a.kind for a in first_shown.artifacts] == ["snapshot", "original_clip"]
    assert first_shown.artifacts[1].url == f"/api/v1/tickets/{ids[0]}/evidence/{99:064x}"
    assert [e.state for e in first_shown.events] == ["start", "update", "end"]
    assert first_shown.state == "ended" and first_shown.status == "confirmed"
    assert shown[1].integrity_failed_at is not None and shown[0].tombstones[0].reason.startswith("a bystander")


def _most_reads_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, read_concurrency: int) -> int:
    """Eight officers open a case and page the list at the same moment: how many reads ran side by side."""
    settings = settings_for(tmp_path, read_concurrency=read_concurrency)
    add_test_users(settings)
    running, most, inside = 0, 0, threading.Condition()
    real = views.tickets_public

    def counted(*args: Any) -> list[TicketPublic]:
        nonlocal running, most
        with inside:
            running += 1
            most = max(most, running)
            inside.notify_all()
            inside.wait_for(lambda: running >= read_concurrency, timeout=2.0)  # the allowed others come in
        time.sleep(0.05)  # and any that should not have a moment to come in too
        try:
            return real(*args)
        finally:
            with inside:
                running -= 1

    with TestClient(create_app(settings)) as client, monkeypatch.context() as patch:  # one loop, as a worker has
        start = make_event().to_dict()
        ticket = client.post("/api/v1/tickets", json=start, headers=key_header(start)).json()
        patch.setattr(views, "tickets_public", counted)
        urls = [f"/api/v1/tickets/{ticket['id']}", "/api/v1/tickets"] * 4
        with ThreadPoolExecutor(len(urls)) as pool:
            codes = list(pool.map(lambda url: client.get(url, headers=bearer("officer")).status_code, urls))
    assert codes == [200] * len(urls)
    return most


def test_reads_take_turns_per_worker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``read_concurrency`` reads at a time (one by default: measured faster than side by side), never more."""
    assert _most_reads_at_once(tmp_path / "one", monkeypatch, 1) == 1
    assert _most_reads_at_once(tmp_path / "three", monkeypatch, 3) == 3
