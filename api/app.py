"""The application factory: nothing is built at import time."""

from __future__ import annotations

import asyncio
import fcntl
import functools
import logging
import threading
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import anyio
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import SQLAlchemyError

from api import audit, fixity, retention, sign_in_limit
from api.audit_writer import AuditWriter
from api.db import make_engine, require_current_schema, session_factory
from api.disk import DiskGuard, Pruned, watched_folders
from api.errors import HANDLERS, validation_error
from api.limits import BodySizeLimit
from api.reconcile import reconcile
from api.routes import alerts, auth, channels, evidence, keys, tickets, users
from api.routes import audit as audit_routes
from api.settings import Settings
from evidence.audit_log import AuditMirror
from evidence.store import ContentStore

WEB = Path(__file__).resolve().parent / "web"
log = logging.getLogger(__name__)


@contextmanager
def _held(path: Path, *, wait: bool) -> Iterator[bool]:
    """An exclusive lock on ``path``, shared with the other worker processes of this server: True while this one
    holds it; False at once if another does and ``wait`` is off."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@asynccontextmanager
async def _background_jobs(app: FastAPI) -> AsyncIterator[None]:
    """In one worker of the server (the first to start): signs audit checkpoints while serving (and a last one at
    shutdown); re-hashes evidence on schedule and then applies the quarantine's retention. Every other worker
    signs one checkpoint at shutdown, after its own last entries: the holder's last checkpoint may come first."""
    with _held(app.state.settings.audit_dir / ".jobs.lock", wait=False) as mine:
        if not mine:
            log.info("another worker of this server runs the checkpoints and the fixity check")
            try:
                yield
            finally:
                app.state.audit_writer.close()
                audit.checkpoint_or_warn(app.state.sessions, app.state.audit_mirror)
            return
        async with _jobs(app):
            yield


@asynccontextmanager
async def _jobs(app: FastAPI) -> AsyncIterator[None]:
    state, settings = app.state, app.state.settings
    stop = threading.Event()
    jobs: list[tuple[str, Callable[..., None], tuple[object, ...]]] = [
        (
            "audit-checkpoints",
            audit.keep_checkpointing,
            (state.sessions, state.audit_mirror, settings.audit_checkpoint_s, stop),
        )
    ]
    if settings.fixity_interval_s:
        prune = functools.partial(state.disk.prune, 0)  # quarantined files past their retention
        jobs.append(
            ("fixity", fixity.keep_checking, (state.sessions, state.store, settings.fixity_interval_s, stop, prune))
        )
    workers = [threading.Thread(target=target, args=args, name=name, daemon=True) for name, target, args in jobs]
    for worker in workers:
        worker.start()
    try:
        yield
    finally:
        state.audit_writer.close()  # its last entries go into the last checkpoint
        stop.set()
        for worker in workers:
            worker.join(timeout=30)


class ReadTurns:
    """The ticket reads one worker runs at once (``read_concurrency``): a limiter of the event loop that serves.
    A limiter belongs to one loop; a test client without its context runs each request in a loop of its own,
    and gets a limiter of its own there."""

    def __init__(self, turns: int) -> None:
        self.turns = turns
        # One entry while serving (one loop per worker); a finished loop's entry goes with it.
        self._limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = (
            weakref.WeakKeyDictionary()
        )

    def here(self) -> anyio.CapacityLimiter:
        loop = asyncio.get_running_loop()
        if (limiter := self._limiters.get(loop)) is None:
            limiter = self._limiters[loop] = anyio.CapacityLimiter(self.turns)
        return limiter


def _record_prune(writer: AuditWriter, pruned: Pruned) -> None:
    try:
        writer.record(
            audit.SYSTEM,
            audit.Action.STORE_PRUNED,
            "evidence-store/quarantine",
            detail={"files": list(pruned.names), "bytes": pruned.bytes, "why": pruned.why},
        )
    except (SQLAlchemyError, OSError) as exc:  # the files are gone either way; the log line says which
        log.warning("the prune of %s could not be recorded in the audit log: %s", ", ".join(pruned.names), exc)


def create_app(settings: Settings) -> FastAPI:
    engine = make_engine(settings.database_url)
    require_current_schema(engine)  # migrations are their own step: `nonsite db upgrade`
    sessions = session_factory(engine)
    mirror = AuditMirror(settings.audit_dir)

    app = FastAPI(
        lifespan=_background_jobs,
        title="nonsite",
        version="0.1.0",
        description="Tickets from AI-flagged violations; officers confirm or reject each one.",
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessions = sessions
    app.state.audit_mirror = mirror
    app.state.read_turns = ReadTurns(settings.read_concurrency)
    app.state.sign_in_turns = sign_in_limit.Turns(settings.audit_dir / ".sign-in.lock")
    app.state.store = ContentStore(settings.evidence_dir)
    # Its own connection: requests waiting for their entry hold theirs, and must not starve it.
    app.state.audit_writer = AuditWriter(session_factory(make_engine(settings.database_url, connections=1)))
    app.state.disk = DiskGuard(
        watched_folders(settings.database_url, settings.evidence_dir, settings.audit_dir),
        quarantine=settings.evidence_dir / "quarantine",
        low_bytes=settings.disk_low_mb * 1024 * 1024,
        reserve_bytes=settings.disk_reserve_mb * 1024 * 1024,
        quarantine_retention_s=settings.quarantine_retention_days * 86_400,
        on_pruned=functools.partial(_record_prune, app.state.audit_writer),
    )
    with _held(settings.audit_dir / ".reconcile.lock", wait=True), sessions() as session:  # one worker at a time
        app.state.reconciliation = reconcile(session, app.state.store, mirror)
        retention.record_if_changed(session, settings)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_exception_handler(RequestValidationError, validation_error)
    for error, handler in HANDLERS.items():
        app.add_exception_handler(error, handler)
    app.include_router(tickets.router)
    app.include_router(evidence.router)
    app.include_router(channels.router)
    app.include_router(alerts.router)
    app.include_router(keys.router)
    app.include_router(auth.router)
    app.include_router(users.router)
    app.include_router(audit_routes.router)
    app.mount("/static", StaticFiles(directory=WEB), name="static")

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/officer")

    @app.get("/officer", include_in_schema=False)
    def officer_page() -> FileResponse:
        return FileResponse(WEB / "officer.html", media_type="text/html; charset=utf-8")

    @app.get("/audit", include_in_schema=False)
    def audit_page() -> FileResponse:
        return FileResponse(WEB / "audit.html", media_type="text/html; charset=utf-8")

    @app.get("/ops", include_in_schema=False)
    def operations_page() -> FileResponse:
        return FileResponse(WEB / "ops.html", media_type="text/html; charset=utf-8")

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, object]:
        """``degraded`` while the start-up check found problems (database, quarantined files, audit log), the
        disk is low or full, or the fixity check found evidence missing or altered."""
        problems = list(app.state.reconciliation.problems)
        if (disk := app.state.disk.state().problem) is not None:
            problems.append(disk)
        with sessions() as session:
            if failed := fixity.failed_tickets(session):
                problems.append(f"fixity: evidence of {failed} ticket(s) is missing or altered")
        return {"status": "degraded" if problems else "ok", "problems": problems}

    return app
