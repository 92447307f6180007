"""Engine, sessions and migrations (Alembic). Migrations are their own step (``nonsite db upgrade``): the API
refuses to start on a schema that is not the newest, instead of changing a production database as a side
effect of starting."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def make_engine(url: str, *, connections: int | None = None) -> Engine:
    """``connections``: a pool of exactly that many (the audit writer's own), instead of the request pool."""
    parsed = make_url(url)
    sqlite = parsed.get_backend_name() == "sqlite"
    in_memory = sqlite and parsed.database in (None, "", ":memory:")  # one connection, SQLAlchemy's own pool
    if sqlite and not in_memory and not str(parsed.database).startswith("file:"):  # a URI names its own path
        Path(str(parsed.database)).parent.mkdir(parents=True, exist_ok=True)
    # Kept open for the request threads (anyio runs up to 40 sync handlers at once), so that connections are not
    # opened and closed per request; PostgreSQL's are fewer (its max_connections, 100 by default, is shared
    # by every worker process: see the README's "The API under load").
    pool = {} if in_memory else {"pool_size": 40 if sqlite else 20, "max_overflow": 8 if sqlite else 20}
    if connections is not None and not in_memory:
        pool = {"pool_size": connections, "max_overflow": 0}
    engine = create_engine(url, connect_args={"check_same_thread": False} if sqlite else {}, **pool)
    if sqlite:
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


_WRITERS: dict[str, threading.Lock] = {}  # by database: the audit writer has an engine of its own
_WRITERS_LOCK = threading.Lock()


@contextmanager
def one_writer(session: Session) -> Iterator[None]:
    """Around a write transaction on SQLite: the process's threads take turns instead of sleeping in SQLite's
    busy handler (which backs off up to 100 ms, so a busy API's writes would wait far longer than they take).
    SQLite has one writer at a time anyway; PostgreSQL's writers run at once (a no-op there)."""
    engine = session.get_bind()
    if not isinstance(engine, Engine) or engine.dialect.name != "sqlite":
        yield
        return
    with _WRITERS_LOCK:
        lock = _WRITERS.setdefault(engine.url.render_as_string(hide_password=False), threading.Lock())
    with lock:
        yield


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


class SchemaOutOfDate(RuntimeError):
    """The database's schema is not the revision this build needs; the message says what to run."""


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to the newest revision, or to ``revision`` (idempotent)."""
    config = _alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def revisions(engine: Engine) -> tuple[str | None, str]:
    """(the database's revision, or None for an empty database; the newest revision this build has)."""
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None, "the migrations folder has no revision"
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision(), head


def require_current_schema(engine: Engine) -> None:
    """Raise SchemaOutOfDate unless the database is at the newest revision."""
    current, head = revisions(engine)
    if current == head:
        return
    if current is None:
        raise SchemaOutOfDate("the database has no nonsite schema yet: run `nonsite db upgrade` first")
    known = {script.revision for script in ScriptDirectory.from_config(_alembic_config()).walk_revisions()}
    if current not in known:
        raise SchemaOutOfDate(
            f"the database is at revision {current}, which this build does not know (a newer nonsite?): "
            "run the nonsite version that migrated it"
        )
    raise SchemaOutOfDate(
        f"the database is at revision {current} and this build needs {head}: back it up, then run `nonsite db upgrade`"
    )


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
