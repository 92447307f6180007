"""``nonsite export``, ``nonsite verify``, ``nonsite audit verify|checkpoint`` and ``nonsite fixity``.

``export`` and ``audit`` run on the server (they read the database, the evidence store and the audit folder);
``verify`` needs only the bundle, so an auditor runs it anywhere, with the bureau's published keys.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from evidence import bundle, signing
from pipeline.server_paths import add_server_options, reported, server_from, server_session


def cmd_export(args: argparse.Namespace) -> int:
    from api import audit, crud
    from api.export import export_case
    from evidence.audit_log import AuditMirror
    from evidence.store import ContentStore

    server = server_from(args)
    with server_session(server) as session:
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

    server = server_from(args)
    with server_session(server) as session:
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

    server = server_from(args)
    with server_session(server) as session:
        signed = audit.checkpoint(session, AuditMirror(server.audit_dir))
    print(f"checkpoint: {signed.size} entries, root {signed.root.hex()}, key {signed.key_id}, at {signed.at}")
    return 0


def cmd_fixity(args: argparse.Namespace) -> int:
    from api import audit, fixity
    from evidence.store import ContentStore

    server = server_from(args)
    with server_session(server) as session:
        run = fixity.check(session, ContentStore(server.evidence_dir), actor=audit.Actor.shell())
    print(f"fixity: {run.objects} object(s), {run.bytes:,} bytes re-hashed")
    for failure in run.new_failures:
        print(f"  NEW  {failure}")
    if run.known_failures:
        print(f"  {run.known_failures} problem(s) found before are still there")
    print("all objects match their hashes" if run.ok else "FIXITY FAILED: see the lines above and the audit log")
    return 0 if run.ok else 1


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "export",
        help="write one case as a zip an auditor can verify offline",
        description="The zip holds the evidence as stored, the signed manifest, the case's audit entries with "
        "inclusion proofs, a signed checkpoint and the public keys. The export is recorded in the audit log.",
    )
    p.add_argument("ticket", type=int, help="the ticket number")
    p.add_argument("--out", type=Path, required=True, help="where to write the zip")
    add_server_options(p)
    p.set_defaults(func=reported(cmd_export))

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

    p = sub.add_parser(
        "fixity",
        help="re-hash every stored evidence object now (the API does it every fixity_interval_s)",
        description="Missing or altered objects are recorded (audit entry fixity.failed, the ticket's integrity "
        "mark, an alert on the operations page). Exit status: 0 all match, 1 a problem was found, 2 the server's "
        "state cannot be read.",
    )
    add_server_options(p)
    p.set_defaults(func=reported(cmd_fixity))

    p = sub.add_parser("audit", help="the audit log: verify it against its signed checkpoints, or sign one now")
    actions = p.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    q = actions.add_parser("verify", help="re-hash every entry; name any edited, deleted or truncated one")
    add_server_options(q)
    q.set_defaults(func=reported(cmd_audit_verify))
    q = actions.add_parser("checkpoint", help="sign a checkpoint of the log's head now (the API does it every 30 s)")
    add_server_options(q)
    q.set_defaults(func=reported(cmd_audit_checkpoint))
