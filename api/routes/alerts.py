"""Live alerts for the operations centre: new tickets pushed as Server-Sent Events (and evidence the fixity
check found missing or altered, as ``integrity`` events), and today's counts.

The stream reads the database (the API keeps no state of its own), so every worker of a multi-worker API
serves the same alerts; a browser that reconnects sends ``Last-Event-ID`` and misses nothing.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import datetime, time
from typing import Annotated

from fastapi import APIRouter, Header, Query
from fastapi.sse import EventSourceResponse, ServerSentEvent
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from api.accounts import camera_clause
from api.deps import AUTH_RESPONSES, SessionDep, SettingsDep, Watcher
from api.models import IntegrityFailure, Ticket, User
from api.schemas import Alert, IntegrityAlert, TodayStats
from evidence.wire import MAX_SAFE_INT

router = APIRouter(prefix="/api/v1", tags=["alerts"], responses=AUTH_RESPONSES)

SNAPSHOT_KINDS = ("annotated_snapshot", "snapshot")
BATCH = 100  # alerts read per poll


def to_alert(ticket: Ticket) -> Alert:
    snapshots = {a.kind: a.sha256 for a in ticket.artifacts if a.kind in SNAPSHOT_KINDS}
    sha = next((snapshots[k] for k in SNAPSHOT_KINDS if k in snapshots), None)
    plate = ticket.violation.get("plate")
    return Alert(
        ticket_id=ticket.id,
        kind=ticket.kind,
        camera=ticket.camera,
        zone=ticket.zone,
        label=ticket.label,
        plate=plate if isinstance(plate, str) else None,
        captured_at=ticket.captured_at,
        created_at=ticket.created_at,
        snapshot_url=f"/api/v1/tickets/{ticket.id}/evidence/{sha}" if sha else None,
    )


def _after(sessions: sessionmaker[Session], last_id: int | None, user: User) -> tuple[int, list[Alert]]:
    """The newest ticket id, and the alerts after ``last_id`` on cameras this user may see."""
    with sessions() as session:
        if last_id is None:  # a new subscriber: from now on
            return session.scalar(select(func.max(Ticket.id))) or 0, []
        query = select(Ticket).where(Ticket.id > last_id, camera_clause(Ticket.camera, user.cameras))
        rows = session.scalars(query.order_by(Ticket.id).limit(BATCH)).all()
        return (rows[-1].id if rows else last_id), [to_alert(t) for t in rows]


def _failures_after(
    sessions: sessionmaker[Session], last_id: int | None, user: User
) -> tuple[int, list[IntegrityAlert]]:
    """The newest integrity failure id, and the failures after ``last_id`` on cameras this user may see."""
    with sessions() as session:
        if last_id is None:
            return session.scalar(select(func.max(IntegrityFailure.id))) or 0, []
        query = (
            select(IntegrityFailure, Ticket.camera)
            .join(Ticket, Ticket.id == IntegrityFailure.ticket_id)
            .where(IntegrityFailure.id > last_id, camera_clause(Ticket.camera, user.cameras))
        )
        rows = session.execute(query.order_by(IntegrityFailure.id).limit(BATCH)).all()
        alerts = [
            IntegrityAlert(
                ticket_id=f.ticket_id,
                camera=camera,
                kind=f.kind,
                sha256=f.sha256,
                problem=f.problem,
                detected_at=f.detected_at,
            )
            for f, camera in rows
        ]
        return (rows[-1][0].id if rows else last_id), alerts


@router.get("/alerts", response_model=list[Alert])
def recent_alerts(session: SessionDep, user: Watcher, limit: Annotated[int, Query(ge=1, le=200)] = 20) -> list[Alert]:
    """The newest tickets as alerts, newest first: what the operations page shows before the stream's first."""
    query = select(Ticket).where(camera_clause(Ticket.camera, user.cameras))
    rows = session.scalars(query.order_by(Ticket.id.desc()).limit(limit)).all()
    return [to_alert(t) for t in rows]


@router.get("/alerts/stream", response_class=EventSourceResponse)
async def alert_stream(
    request: Request,
    settings: SettingsDep,
    user: Watcher,
    after: Annotated[int | None, Query(ge=0, le=MAX_SAFE_INT, description="Send tickets after this id")] = None,
    last_event_id: Annotated[str | None, Header(max_length=32)] = None,
) -> AsyncIterator[ServerSentEvent]:
    """One ``alert`` event per new ticket, as the pipeline files it (``id`` is the ticket number). Without
    ``after`` or ``Last-Event-ID`` the stream starts with tickets filed from now on. One ``integrity`` event
    (no id) per object the fixity check finds missing or altered while the stream is open."""
    last = after
    if last_event_id is not None and re.fullmatch(r"[0-9]{1,16}", last_event_id):
        last = min(int(last_event_id), MAX_SAFE_INT)  # anything else (a stale or forged header) is ignored
    sessions: sessionmaker[Session] = request.app.state.sessions
    last, _ = await run_in_threadpool(_after, sessions, last, user) if last is None else (last, [])
    # Its id is where a reconnecting browser resumes (Last-Event-ID), even before any alert came.
    yield ServerSentEvent(event="ready", id=str(last), data={"after": last}, retry=3000)
    failures_after, _ = await run_in_threadpool(_failures_after, sessions, None, user)
    while True:
        last, alerts = await run_in_threadpool(_after, sessions, last, user)
        for alert in alerts:
            yield ServerSentEvent(event="alert", id=str(alert.ticket_id), data=alert.model_dump(mode="json"))
        failures_after, failures = await run_in_threadpool(_failures_after, sessions, failures_after, user)
        for failure in failures:
            yield ServerSentEvent(event="integrity", data=failure.model_dump(mode="json"))
        if not alerts and not failures:
            await asyncio.sleep(settings.alert_poll_s)


@router.get("/stats/today", response_model=TodayStats)
def stats_today(session: SessionDep, settings: SettingsDep, user: Watcher) -> TodayStats:
    """Tickets filed since local midnight (the API's ``timezone``), per kind."""
    zone = settings.timezone
    today = datetime.now(zone).date()
    midnight = datetime.combine(today, time(0, 0), zone)
    rows = session.execute(
        select(Ticket.kind, func.count())
        .where(Ticket.created_at >= midnight, camera_clause(Ticket.camera, user.cameras))
        .group_by(Ticket.kind)
    ).all()
    by_kind = {kind: count for kind, count in rows}
    return TodayStats(date=today.isoformat(), timezone=zone.key, total=sum(by_kind.values()), by_kind=by_kind)
