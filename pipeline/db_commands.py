"""``nonsite db upgrade|current``: the API's schema migrations, run as their own step (the API refuses to start
on an older schema rather than migrate a production database as a side effect)."""

from __future__ import annotations

import argparse

from pipeline.server_paths import ServerError, add_server_options, reported, server_from


def cmd_upgrade(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from api.db import make_engine, migrate, revisions

    server = server_from(args)
    engine = make_engine(server.database_url)
    try:
        before, head = revisions(engine)
        if before == head:
            print(f"{server.database_shown}: already at revision {head}; nothing to do")
            return 0
        migrate(engine)
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise ServerError(f"cannot migrate {server.database_shown}: {type(exc).__name__}: {reason}") from exc
    finally:
        engine.dispose()
    print(f"{server.database_shown}: upgraded from {before or 'an empty database'} to revision {head}")
    return 0


def cmd_current(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from api.db import make_engine, revisions

    server = server_from(args)
    engine = make_engine(server.database_url)
    try:
        current, head = revisions(engine)
    except SQLAlchemyError as exc:
        raise ServerError(f"cannot read {server.database_shown}: {type(exc).__name__}") from exc
    finally:
        engine.dispose()
    state = "up to date" if current == head else "needs `nonsite db upgrade`"
    print(f"{server.database_shown}: revision {current or '(empty)'}, newest {head}: {state}")
    return 0 if current == head else 1


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "db",
        help="the API database's schema: upgrade it (before the first start and after each update), or show it",
        description="Migrations are their own step: back the database up, run `nonsite db upgrade`, then start "
        "the API. The API refuses to start on an older schema and says so.",
    )
    actions = p.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    q = actions.add_parser("upgrade", help="bring the schema to the newest revision (safe to repeat)")
    add_server_options(q, database_only=True)
    q.set_defaults(func=reported(cmd_upgrade))
    q = actions.add_parser("current", help="print the schema's revision; exit status 1 if an upgrade is due")
    add_server_options(q, database_only=True)
    q.set_defaults(func=reported(cmd_current))
