"""``nonsite users add|list|disable|enable``: the API's accounts, from a shell on the server."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pipeline.config import load_config

ROLES = ("operator", "officer", "legal_reviewer", "auditor", "admin", "pipeline")


@contextmanager
def _session(args: argparse.Namespace) -> Iterator[Any]:
    from api.db import SchemaOutOfDate, make_engine, require_current_schema, session_factory

    config = load_config(args.config) if args.config else None
    url = args.database_url or (config.database.url if config else None) or os.environ.get("NONSITE_DATABASE_URL")
    if url is None:
        raise SystemExit("error: give --config or --database-url (or set NONSITE_DATABASE_URL)")
    engine = make_engine(url)
    try:
        require_current_schema(engine)
    except SchemaOutOfDate as exc:
        raise SystemExit(f"error: {exc}") from exc
    with session_factory(engine)() as session:
        yield session


def _password(args: argparse.Namespace) -> str:
    if args.password_env:
        password = os.environ.get(args.password_env)
        if not password:
            raise SystemExit(f"error: the environment variable {args.password_env} is not set")
        return password
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    if not sys.stdin.isatty():
        raise SystemExit("error: no terminal to ask for the password: use --password-stdin or --password-env VAR")
    first = getpass.getpass(f"password for {args.username}: ")
    if getpass.getpass("again: ") != first:
        raise SystemExit("error: the two passwords differ")
    return first


def cmd_add(args: argparse.Namespace) -> int:
    from api import accounts, audit

    password = _password(args)
    with _session(args) as session:
        try:
            user = accounts.add_user(
                session,
                username=args.username,
                password=password,
                role=accounts.Role(args.role),
                cameras=args.cameras,
                by=audit.Actor.shell(),
            )
        except accounts.AccountError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"added {user.username} ({user.role}; cameras {', '.join(user.cameras)})")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from api import accounts

    with _session(args) as session:
        users = accounts.list_users(session)
        print(f"{'user':<24} {'role':<15} {'state':<9} cameras")
        for user in users:
            state = "disabled" if user.disabled else "active"
            print(f"{user.username:<24} {user.role:<15} {state:<9} {', '.join(user.cameras)}")
        if not users:
            print("(no users yet: nonsite users add NAME --role ROLE)")
    return 0


def _cmd_set_disabled(disabled: bool) -> Any:
    def run(args: argparse.Namespace) -> int:
        from api import accounts, audit

        with _session(args) as session:
            try:
                accounts.set_disabled(session, args.username, disabled, by=audit.Actor.shell())
            except accounts.AccountError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
        print(f"{args.username} {'disabled: their tokens stop working now' if disabled else 'enabled'}")
        return 0

    return run


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "users",
        help="the API's accounts: add, list, disable, enable",
        description="Accounts sign in to the API and its pages. Roles: operator (cameras and channels), officer "
        "(reviews and decides the cases of their cameras), legal_reviewer and auditor (read and verify; never "
        "decide), admin (accounts; never evidence), pipeline (the account `nonsite run` pushes tickets with). "
        "Users are disabled, never deleted: decisions keep their names.",
    )
    actions = p.add_subparsers(dest="users_command", required=True, metavar="ACTION")

    def common(q: argparse.ArgumentParser) -> None:
        q.add_argument("--config", type=Path, help="take the database URL from this config")
        q.add_argument("--database-url", help="SQLAlchemy URL of the API's database")

    add = actions.add_parser("add", help="add an account (asks for its password)")
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument(
        "--cameras",
        nargs="+",
        default=["*"],
        metavar="PATTERN",
        help="camera ids (or patterns with * and ?) whose cases and channels this user sees (default: all)",
    )
    source = add.add_mutually_exclusive_group()
    source.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    source.add_argument("--password-env", metavar="VAR", help="take the password from this environment variable")
    common(add)
    add.set_defaults(func=cmd_add)

    listing = actions.add_parser("list", help="every account with its role, state and cameras")
    common(listing)
    listing.set_defaults(func=cmd_list)
    for name, disabled in (("disable", True), ("enable", False)):
        q = actions.add_parser(name, help=f"{name} an account")
        q.add_argument("username")
        common(q)
        q.set_defaults(func=_cmd_set_disabled(disabled))
