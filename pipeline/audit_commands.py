"""``nonsite export``, ``nonsite verify`` and ``nonsite audit verify|checkpoint``.

``export`` and ``audit`` run on the server (they read the database, the evidence store and the audit folder);
``verify`` needs only the bundle, so an auditor runs it anywhere, with the bureau's published keys.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evidence import bundle, signing
from pipeline.config import load_config


@dataclass(frozen=True)
class _Server:
    database_url: str
    evidence_dir: Path
    keys_dir: Path
    audit_dir: Path

    @property
    def database_shown(self) -> str:
        """The URL with its password hidden, for messages."""
        from sqlalchemy.engine import make_url

        return make_url(self.database_url).render_as_string(hide_password=True)


def _server(args: argparse.Namespace) -> _Server:
    """Each path from its option, else the config, else the API's environment variable, else its default."""
    config = load_config(args.config) if args.config else None
    env = os.environ.get

    def pick(option: Any, from_config: Any, variable: str, default: str) -> Any:
        return option or from_config or env(variable) or default

    return _Server(
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


class _ServerError(Exception):
    """The database, the evidence store or the audit folder cannot be used; the message says which and why."""


@contextmanager
def _session(server: _Server) -> Iterator[Any]:
    from sqlalchemy.exc import SQLAlchemyError

    from api.db import make_engine, migrate, session_factory

    try:
        engine = make_engine(server.database_url)
        migrate(engine)
    except SQLAlchemyError as exc:
        raise _ServerError(f"the database {server.database_shown} cannot be used: {exc.__class__.__name__}") from exc
    try:
        with session_factory(engine)() as session:
            yield session
    except SQLAlchemyError as exc:
        raise _ServerError(f"the database failed: {exc.__class__.__name__}: {exc.args[0] if exc.args else ''}") from exc
    except signing.SigningKeyError as exc:
        raise _ServerError(str(exc)) from exc
    except OSError as exc:
        raise _ServerError(f"{exc.filename or 'a file'}: {exc.strerror or exc}") from exc
    finally:
        engine.dispose()


def _reported(command: Any) -> Any:
    """Run ``command``; a server-side failure is one line on stderr and exit status 2, not a traceback."""

    def run(args: argparse.Namespace) -> int:
        try:
            code: int = command(args)
        except _ServerError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        return code

    return run


def cmd_export(args: argparse.Namespace) -> int:
    from api import audit, crud
    from api.export import export_case
    from evidence.audit_log import AuditMirror
    from evidence.store import ContentStore

    server = _server(args)
    with _session(server) as session:
        ticket = crud.get_ticket(session, ticket_id=args.ticket)
        if ticket is None:
            print(f"error: there is no ticket {args.ticket} in {server.database_shown}", file=sys.stderr)
            return 2
        data = export_case(
            session,
            ticket,
            store=ContentStore(server.evidence_dir),
            mirror=AuditMirror(server.audit_dir),
            manifest_keys=signing.trusted_keys(server.keys_dir),
            actor=audit.Actor.shell(),
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(data)
    print(
        f"exported ticket {args.ticket} to {args.out} ({len(data):,} bytes); check it with: nonsite verify {args.out}"
    )
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    try:
        data = args.bundle.read_bytes()
        trusted = signing.trusted_keys(args.keys) if args.keys else None
    except OSError as exc:
        print(f"error: cannot read {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 2
    except signing.SigningKeyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.keys and not trusted:
        print(f"error: {args.keys} holds no *.pub keys", file=sys.stderr)
        return 2
    try:
        checks = bundle.verify(data, trusted)
    except bundle.BundleError as exc:
        print(f"error: {args.bundle}: {exc}", file=sys.stderr)
        return 2
    failed = [c for c in checks if not c.ok]
    if args.json:
        print(json.dumps({"ok": not failed, "checks": [vars(c) for c in checks]}, ensure_ascii=False, indent=2))
        return 1 if failed else 0
    for check in checks:
        print(f"{'PASS' if check.ok else 'FAIL'}  {check.name:<26} {check.detail}")
        for problem in check.problems:
            print(f"      - {problem}")
    if failed:
        print(f"NOT VERIFIED: {len(failed)} of {len(checks)} checks failed ({', '.join(c.name for c in failed)})")
        return 1
    print(f"verified: all {len(checks)} checks passed")
    return 0


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from api import audit
    from evidence.audit_log import AuditMirror

    server = _server(args)
    with _session(server) as session:
        check = audit.verify(session, AuditMirror(server.audit_dir))
    covered = f"{check.latest.size} checkpointed at {check.latest.at}" if check.latest else "no checkpoint yet"
    print(f"audit log: {check.entries} entries, {covered}")
    for finding in check.findings:
        print(f"  - {finding}")
    print("intact" if check.ok else f"NOT INTACT: {len(check.findings)} finding(s)")
    return 0 if check.ok else 1


def cmd_audit_checkpoint(args: argparse.Namespace) -> int:
    from api import audit
    from evidence.audit_log import AuditMirror

    server = _server(args)
    with _session(server) as session:
        signed = audit.checkpoint(session, AuditMirror(server.audit_dir))
    print(f"checkpoint: {signed.size} entries, root {signed.root.hex()}, key {signed.key_id}, at {signed.at}")
    return 0


def _server_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, help="take the database, evidence, key and audit paths from this config")
    p.add_argument("--database-url", help="SQLAlchemy URL of the API's database (or NONSITE_DATABASE_URL)")
    p.add_argument("--evidence-dir", type=Path, help="the evidence store (or NONSITE_EVIDENCE_DIR)")
    p.add_argument("--keys-dir", type=Path, help="the trusted manifest keys, *.pub (or NONSITE_TRUSTED_KEYS_DIR)")
    p.add_argument("--audit-dir", type=Path, help="the audit log's checkpoints and key (or NONSITE_AUDIT_DIR)")


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "export",
        help="write one case as a zip an auditor can verify offline",
        description="The zip holds the evidence as stored, the signed manifest, the case's audit entries with "
        "inclusion proofs, a signed checkpoint and the public keys. The export is recorded in the audit log.",
    )
    p.add_argument("ticket", type=int, help="the ticket number")
    p.add_argument("--out", type=Path, required=True, help="where to write the zip")
    _server_options(p)
    p.set_defaults(func=_reported(cmd_export))

    p = sub.add_parser(
        "verify",
        help="check an exported case zip; needs no server or database",
        description="Runs every check and names what failed. Exit status: 0 verified, 1 a check failed, 2 the file "
        "is not a readable bundle. Without --keys the bundle's own keys are used: that proves nothing changed "
        "since they signed, and the key ids printed must then be compared with the bureau's published keys.",
    )
    p.add_argument("bundle", type=Path, help="the zip from nonsite export (or the API's export)")
    p.add_argument("--keys", type=Path, help="a folder of the bureau's trusted public keys (*.pub); others fail")
    p.add_argument("--json", action="store_true", help="print the checks as JSON")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("audit", help="the audit log: verify it against its signed checkpoints, or sign one now")
    actions = p.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    q = actions.add_parser("verify", help="re-hash every entry; name any edited, deleted or truncated one")
    _server_options(q)
    q.set_defaults(func=_reported(cmd_audit_verify))
    q = actions.add_parser("checkpoint", help="sign a checkpoint of the log's head now (the API does it every 30 s)")
    _server_options(q)
    q.set_defaults(func=_reported(cmd_audit_checkpoint))
