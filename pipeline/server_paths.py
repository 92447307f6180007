"""Where the API's state lives, for the commands run on the server (export, audit, db, fixity): each path from
its option, else the config, else the API's environment variable, else its default; and a session on its
database whose failures are one line on stderr and exit status 2."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evidence import signing
from pipeline.config import load_config


@dataclass(frozen=True)
class Server:
    database_url: str
    evidence_dir: Path
    keys_dir: Path
    audit_dir: Path

    @property
    def database_shown(self) -> str:
        """The URL with its password hidden, for messages."""
        from sqlalchemy.engine import make_url

        return make_url(self.database_url).render_as_string(hide_password=True)


def server_from(args: argparse.Namespace) -> Server:
    """Each path from its option, else the config, else the API's environment variable, else its default."""
    config = load_config(args.config) if args.config else None
    env = os.environ.get

    def pick(option: Any, from_config: Any, variable: str, default: str) -> Any:
        return option or from_config or env(variable) or default

    return Server(
        database_url=pick(
            args.database_url, config and config.database.url, "NONSITE_DATABASE_URL", "sqlite:///var/nonsite.db"
        ),
        evidence_dir=Path(
            pick(args.evidence_dir, config and config.storage.evidence_dir, "NONSITE_EVIDENCE_DIR", "var/evidence")
        ),
        keys_dir=Path(
            pick(args.keys_dir, config and config.storage.signing_key.parent, "NONSITE_TRUSTED_KEYS_DIR", "var/keys")
        ),
        audit_dir=Path(pick(args.audit_dir, config and config.database.audit_dir, "NONSITE_AUDIT_DIR", "var/audit")),
    )


class ServerError(Exception):
    """The database, the evidence store or the audit folder cannot be used; the message says which and why."""


@contextmanager
def server_session(server: Server) -> Iterator[Any]:
    from sqlalchemy.exc import SQLAlchemyError

    from api.db import SchemaOutOfDate, make_engine, require_current_schema, session_factory

    try:
        engine = make_engine(server.database_url)
        require_current_schema(engine)
    except SchemaOutOfDate as exc:
        raise ServerError(f"{server.database_shown}: {exc}") from exc
    except SQLAlchemyError as exc:
        raise ServerError(f"the database {server.database_shown} cannot be used: {exc.__class__.__name__}") from exc
    try:
        with session_factory(engine)() as session:
            yield session
    except SQLAlchemyError as exc:
        raise ServerError(f"the database failed: {exc.__class__.__name__}: {exc.args[0] if exc.args else ''}") from exc
    except signing.SigningKeyError as exc:
        raise ServerError(str(exc)) from exc
    except OSError as exc:
        raise ServerError(f"{exc.filename or 'a file'}: {exc.strerror or exc}") from exc
    finally:
        engine.dispose()


def reported(command: Any) -> Any:
    """Run ``command``; a server-side failure is one line on stderr and exit status 2, not a traceback."""

    def run(args: argparse.Namespace) -> int:
        try:
            code: int = command(args)
        except ServerError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        return code

    return run


def add_server_options(p: argparse.ArgumentParser, *, database_only: bool = False) -> None:
    p.add_argument("--config", type=Path, help="take the database, evidence, key and audit paths from this config")
    p.add_argument("--database-url", help="SQLAlchemy URL of the API's database (or NONSITE_DATABASE_URL)")
    if database_only:
        p.set_defaults(evidence_dir=None, keys_dir=None, audit_dir=None)
        return
    p.add_argument("--evidence-dir", type=Path, help="the evidence store (or NONSITE_EVIDENCE_DIR)")
    p.add_argument("--keys-dir", type=Path, help="the trusted manifest keys, *.pub (or NONSITE_TRUSTED_KEYS_DIR)")
    p.add_argument("--audit-dir", type=Path, help="the audit log's checkpoints and key (or NONSITE_AUDIT_DIR)")
