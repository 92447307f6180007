"""Group commit for the audit entries of read actions (a ticket viewed, evidence downloaded, a check run).

Every view is an audit entry, and one commit per view would make the log's single writer the limit of how many
officers can read at once (on SQLite, threads waiting on the write lock sleep in the busy handler). Here one
thread writes the entries of all requests waiting at that moment in one transaction; each request still waits
until its own entry is committed, so nothing is shown that is not recorded, and a failed commit fails the
requests it carried (answered 503 or 507 like any database error).
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from api import audit
from api.db import one_writer
from api.models import User

log = logging.getLogger(__name__)
MAX_BATCH = 500  # entries per transaction; more wait for the next one


@dataclass
class _Pending:
    entry: dict[str, Any]  # audit.entry's values, timed when the request asked
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None


class AuditWriter:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start = threading.Lock()

    def record(self, actor: audit.Actor | User, action: audit.Action, obj: str, **kwargs: Any) -> None:
        """``audit.record`` in a transaction shared with other waiting requests; returns once it is committed,
        raises what the commit raised."""
        pending = _Pending(audit.entry(actor, action, obj, **kwargs))
        with self._start:  # queued ahead of a concurrent close's stop, or to a thread started anew
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
                self._thread.start()
            self._queue.put(pending)
        pending.done.wait()
        if pending.error is not None:
            raise pending.error

    def close(self) -> None:
        """Write what is queued, then stop the thread (a later ``record`` starts it again)."""
        with self._start:
            if self._thread is None:
                return
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        while (first := self._queue.get()) is not None:
            batch = [first]
            stop = False
            while len(batch) < MAX_BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            self._write(batch)
            if stop:
                return

    def _write(self, batch: list[_Pending]) -> None:
        try:
            with self._sessions() as session, one_writer(session):
                audit.record_many(session, [p.entry for p in batch])
                session.commit()
        except Exception as exc:  # every waiting request gets the commit's error, whatever it is
            log.warning("%d audit entries could not be committed: %s", len(batch), exc)
            for p in batch:
                p.error = exc
        finally:
            for p in batch:
                p.done.set()
