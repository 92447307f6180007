"""The API under load: ticket reads and idempotent ingest against a database of many tickets, on loopback.

Usage (from the repository root; needs ``wrk``, ``apt-get install wrk`` as root, which ``make bench-api`` does)::

    .venv/bin/python -m benchmarks.api [--tickets 100000] [--databases sqlite,postgres] [--workers 1,2]
        [--seconds 10] [--connections 32]

For each database (a fresh SQLite file in WAL mode; a fresh PostgreSQL server from Debian's binaries, durable:
fsync and synchronous commit on, as a bureau would run it) the benchmark migrates the schema, files
``--tickets`` tickets (100 cameras, three kinds, a tenth decided) straight into the tables, starts ``nonsite
serve --workers W`` on 127.0.0.1 and drives it with ``wrk`` (a C load generator, so the client takes little of
the two cores) for ``--seconds`` per scenario:

- ``healthz``: ``GET /healthz`` (one small query): the ceiling of the HTTP stack on this box, the run's baseline;
- ``detail``: ``GET /api/v1/tickets/{id}`` of random tickets, as an officer (each view is an audit entry);
- ``list``: the first page (50) of all tickets, newest first, with the total;
- ``filtered``: pending tickets of one camera (``?status=pending_review&camera=…``);
- ``ingest``: violation starts as the pipeline pushes them, each sent twice (the replay must change nothing).

After ``ingest`` the database is checked: every start the API acknowledged is there once, with one
``ticket.created`` audit entry (no lost or duplicated ticket). Reported per database, worker count and scenario:
requests per second, p50/p95/p99 latency, non-2xx answers and socket errors, and the rate as a ratio of the
``healthz`` baseline measured in the same run.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil
from sqlalchemy import func, insert, select, text

from api import tokens
from api.accounts import Role, hash_password
from api.db import make_engine, migrate, session_factory
from api.models import Artifact, AuditEntry, Ticket, TicketStatus, User, ViolationEventRow
from evidence.types import EventState, TimeSource, ViolationEvent, ViolationKind

REPO = Path(__file__).resolve().parents[1]
CAMERAS = 100
KINDS = (ViolationKind.STREET_STALL, ViolationKind.MUCK_TRUCK, ViolationKind.SHARED_BIKE_MISPARKED)
SCENARIOS = ("healthz", "detail", "list", "filtered", "ingest")
BENCH_PREFIX = "00000000-0000-4000-8"  # violation ids are UUIDs: 8TTT-NNNNNNNNNNNN, thread and count
SEED_ID = "00000000-0000-4000-9000-{:012x}"


def _event(violation_id: str, camera: str, kind: ViolationKind) -> ViolationEvent:
    return ViolationEvent(
        id=violation_id,
        kind=kind,
        state=EventState.START,
        camera=camera,
        zone="zone-1",
        rule=f"rule-{kind.value}",
        track_id=7,
        label="person",
        start_s=1.0,
        end_s=31.0,
        box=(10.0, 20.0, 110.0, 220.0),
        captured_at=datetime(2026, 11, 23, 9, 0, tzinfo=UTC).isoformat(),
        time_source=TimeSource.WALL_CLOCK,
        key_frame_pts_s=31.0,
    )


def seed(url: str, tickets: int) -> None:
    """Tickets straight into the tables (the API would take minutes to file them), in batches."""
    engine = make_engine(url)
    migrate(engine)
    with session_factory(engine)() as session:
        password = hash_password(secrets.token_urlsafe(16))  # nobody signs in: the benchmark issues tokens
        for role in (Role.PIPELINE, Role.OFFICER):
            session.add(User(username=role.value, password_hash=password, role=role.value, cameras=["*"]))
        session.commit()
        template = _event(SEED_ID.format(0), "cam-000", KINDS[0]).to_dict()
        created = datetime(2026, 11, 1, tzinfo=UTC)
        batch = 5000
        for first in range(1, tickets + 1, batch):
            ids = range(first, min(first + batch, tickets + 1))
            rows, artifacts, events = [], [], []
            for i in ids:
                kind = KINDS[i % len(KINDS)]
                violation = {
                    **template,
                    "id": SEED_ID.format(i),
                    "kind": kind.value,
                    "camera": f"cam-{i % CAMERAS:03d}",
                }
                violation["key"] = f"{violation['id']}:0:start"
                status = TicketStatus.CONFIRMED if i % 10 == 0 else TicketStatus.PENDING_REVIEW
                rows.append(
                    {
                        "id": i,
                        "violation_id": violation["id"],
                        "idempotency_key": violation["key"],
                        "kind": kind.value,
                        "camera": violation["camera"],
                        "zone": "zone-1",
                        "rule": violation["rule"],
                        "track_id": 7,
                        "label": "person",
                        "start_s": 1.0,
                        "end_s": 31.0,
                        "captured_at": violation["captured_at"],
                        "status": status.value,
                        "state": "open",
                        "revision": 0,
                        "violation": violation,
                        "created_at": created + timedelta(seconds=i),
                    }
                )
                digest = f"{i:064x}"
                artifacts.append(
                    {"ticket_id": i, "kind": "snapshot", "sha256": digest, "bytes": 1000, "media_type": "image/jpeg"}
                )
                events.append({"ticket_id": i, "key": violation["key"], "state": "start", "revision": 0})
            session.execute(insert(Ticket), rows)
            session.execute(insert(Artifact), artifacts)
            session.execute(insert(ViolationEventRow), events)
            session.commit()
            print(f"  seeded {ids[-1]:,} / {tickets:,} tickets", end="\r", flush=True)
        if engine.dialect.name == "postgresql":  # the ids were given: move the sequence past them
            session.execute(
                text("SELECT setval(pg_get_serial_sequence('tickets', 'id'), (SELECT max(id) FROM tickets))")
            )
            session.commit()
    if engine.dialect.name == "postgresql":  # the statistics autovacuum would have gathered by now
        with engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
    print()
    engine.dispose()


@dataclass(frozen=True)
class Result:
    database: str
    workers: int
    scenario: str
    requests: int
    seconds: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int
    server_cpu: float  # CPU-seconds of the server per wall second (2.0: both cores)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


LUA_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('RESULT {"requests": %d, "us": %d, "p50": %d, "p95": %d, "p99": %d, "non_2xx": %d, '
    .. '"socket_errors": %d}\\n', summary.requests, summary.duration, latency:percentile(50),
    latency:percentile(95), latency:percentile(99), e.status, e.connect + e.read + e.write + e.timeout))
end
"""


def _script(scenario: str, tickets: int, token: str, ack_dir: Path) -> str:
    auth = f'wrk.headers["Authorization"] = "Bearer {token}"\n'
    if scenario == "healthz":
        return 'wrk.path = "/healthz"\n' + LUA_DONE
    if scenario == "detail":
        return (
            auth
            + "local threads = 0\nsetup = function(t) threads = threads + 1; t:set('tid', threads) end\n"
            + "init = function() math.randomseed(tid * 7919 + os.time()) end\n"
            + f'request = function() return wrk.format("GET", "/api/v1/tickets/" .. math.random(1, {tickets})) end\n'
            + LUA_DONE
        )
    if scenario == "list":
        return auth + 'wrk.path = "/api/v1/tickets?limit=50"\n' + LUA_DONE
    if scenario == "filtered":
        return auth + 'wrk.path = "/api/v1/tickets?status=pending_review&camera=cam-017&limit=50"\n' + LUA_DONE
    assert scenario == "ingest"
    body = json.dumps(_event(SEED_ID.format(0), "cam-100", KINDS[0]).to_dict()).replace(SEED_ID.format(0), "@VID@")
    return (
        'wrk.method = "POST"\nwrk.path = "/api/v1/tickets"\n'
        + f"local body = [=[{body}]=]\n"
        + "local threads = 0\nsetup = function(t) threads = threads + 1; t:set('tid', threads) end\n"
        + f'init = function() n = 0; acks = io.open("{ack_dir}/acks-" .. tid .. ".txt", "w") end\n'
        + "request = function()\n"
        + f'  local vid = string.format("{BENCH_PREFIX}%03x-%012x", tid, math.floor(n / 2))\n'
        + "  n = n + 1\n"
        + f'  local headers = {{["Authorization"] = "Bearer {token}", ["Content-Type"] = "application/json",'
        + ' ["Idempotency-Key"] = vid .. ":0:start"}\n'
        + '  return wrk.format(nil, nil, headers, (body:gsub("@VID@", vid)))\n'
        + "end\n"
        + "response = function(status, headers, body)\n"
        + "  if status == 200 or status == 201 then\n"
        + '    local vid = body:match(\'"violation_id":"([^"]+)"\')\n'
        + '    if vid then acks:write(vid, "\\n"); acks:flush() end\n'
        + "  end\n"
        + "end\n"
        + LUA_DONE
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Server:
    """``nonsite serve`` with W workers on a free loopback port, stopped with SIGTERM."""

    def __init__(self, url: str, root: Path, workers: int, secret: str) -> None:
        self.port = _free_port()
        env = {**os.environ, "NONSITE_JWT_SECRET": secret, "NONSITE_FIXITY_INTERVAL_S": "0"}
        self.process = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("nonsite")),
                "serve",
                "--database-url",
                url,
                "--evidence-dir",
                str(root / "evidence"),
                "--port",
                str(self.port),
                "--workers",
                str(workers),
            ],
            env=env,
            cwd=root,
            stdout=subprocess.DEVNULL,
            stderr=(root / "serve.log").open("w"),
        )
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{self.base}/healthz", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"nonsite serve did not start (exit {self.process.poll()})")
            time.sleep(0.3)
        # Every worker listening, or the load generator's connections all go to the first one up.
        while self._listening() < workers:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"only {self._listening()} of {workers} workers of nonsite serve listen")
            time.sleep(0.3)

    def _tree(self) -> list[psutil.Process]:
        """The server and its workers (none once it has gone)."""
        try:
            return [psutil.Process(self.process.pid), *psutil.Process(self.process.pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def _listening(self) -> int:
        count = 0
        for p in self._tree():
            try:
                count += any(c.status == "LISTEN" and c.laddr.port == self.port for c in p.net_connections("tcp"))
            except psutil.NoSuchProcess:
                continue
        return count

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cpu_seconds(self) -> float:
        total = 0.0
        for p in self._tree():
            try:
                t = p.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += t.user + t.system
        return total

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def run_wrk(server: Server, script: Path, seconds: float, connections: int) -> dict[str, Any]:
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s", "-s", str(script)]
    done = subprocess.run([*command, server.base], capture_output=True, text=True, check=False)
    found = re.search(r"^RESULT (\{.*\})$", done.stdout, re.MULTILINE)
    if found is None:
        raise SystemExit(f"wrk gave no result:\n{done.stdout}\n{done.stderr}")
    return json.loads(found.group(1))  # type: ignore[no-any-return]


def check_ingest(url: str, ack_dir: Path) -> tuple[int, int, int]:
    """(acknowledged starts, of them missing from the database, tickets with more than one creation entry)."""
    acked = {line.strip() for f in ack_dir.glob("acks-*.txt") for line in f.read_text().splitlines() if line.strip()}
    engine = make_engine(url)
    with session_factory(engine)() as session:
        filed = set(session.scalars(select(Ticket.violation_id).where(Ticket.violation_id.like(f"{BENCH_PREFIX}%"))))
        created = func.count(AuditEntry.id)
        doubled = session.scalar(
            select(func.count()).select_from(
                select(AuditEntry.ticket_id)
                .where(AuditEntry.action == "ticket.created")
                .group_by(AuditEntry.ticket_id)
                .having(created > 1)
                .subquery()
            )
        )
    engine.dispose()
    return len(acked), len(acked - filed), int(doubled or 0)


def measure(
    database: str, url: str, root: Path, workers: int, args: argparse.Namespace, scenarios: list[str]
) -> list[Result]:
    secret = secrets.token_urlsafe(32)
    server = Server(url, root, workers, secret)
    results = []
    try:
        for scenario in scenarios:
            user = "pipeline" if scenario == "ingest" else "officer"
            token = tokens.issue(user, secret, 86_400)
            ack_dir = Path(tempfile.mkdtemp(dir=root))
            script = root / f"{scenario}.lua"
            script.write_text(_script(scenario, args.tickets, token, ack_dir))
            before, start = server.cpu_seconds(), time.monotonic()
            out = run_wrk(server, script, args.seconds, args.connections)
            cpu = (server.cpu_seconds() - before) / (time.monotonic() - start)
            result = Result(
                database,
                workers,
                scenario,
                out["requests"],
                out["us"] / 1e6,
                out["p50"] / 1000,
                out["p95"] / 1000,
                out["p99"] / 1000,
                out["non_2xx"],
                out["socket_errors"],
                cpu,
            )
            results.append(result)
            if result.non_2xx or result.socket_errors:
                log = (root / "serve.log").read_text(errors="replace").strip().splitlines()
                print("  the server said (last lines of serve.log):\n    " + "\n    ".join(log[-6:]), flush=True)
            print(
                f"  {database} ×{workers} {scenario:9s} {result.rate:8.0f}/s  p95 {result.p95_ms:6.1f} ms  "
                f"non-2xx {result.non_2xx}  cpu {cpu:.2f}",
                flush=True,
            )
            if scenario == "ingest":
                acked, lost, doubled = check_ingest(url, ack_dir)
                print(f"  ingest check: {acked} acknowledged, {lost} lost, {doubled} duplicated", flush=True)
                if lost or doubled:
                    raise SystemExit(f"ingest lost {lost} or duplicated {doubled} tickets")
    finally:
        server.stop()
    return results


def table(results: list[Result]) -> str:
    baseline = {(r.database, r.workers): r.rate for r in results if r.scenario == "healthz"}
    lines = [
        "| database | workers | scenario | requests/s | p50 ms | p95 ms | p99 ms | non-2xx | socket errors "
        "| server CPU (cores) | × healthz |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        ratio = r.rate / baseline[(r.database, r.workers)] if (r.database, r.workers) in baseline else float("nan")
        lines.append(
            f"| {r.database} | {r.workers} | {r.scenario} | {r.rate:,.0f} | {r.p50_ms:.1f} | {r.p95_ms:.1f} "
            f"| {r.p99_ms:.1f} | {r.non_2xx} | {r.socket_errors} | {r.server_cpu:.2f} | {ratio:.2f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=100_000, help="tickets in the database (default 100000)")
    parser.add_argument("--databases", default="sqlite,postgres", help="sqlite, postgres or both (default both)")
    parser.add_argument("--workers", default="1,2", help="server worker processes to try (default 1,2)")
    parser.add_argument("--seconds", type=float, default=10, help="load per scenario (default 10)")
    parser.add_argument("--connections", type=int, default=32, help="concurrent connections (default 32)")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help=f"default {','.join(SCENARIOS)}")
    parser.add_argument("--out", type=Path, help="also write the table (markdown) to this file")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        parser.error("wrk is not installed: `apt-get install wrk` as root (or `make bench-api`)")
    scenarios = [s for s in args.scenarios.split(",") if s]
    if unknown := set(scenarios) - set(SCENARIOS):
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))} (known: {', '.join(SCENARIOS)})")
    results: list[Result] = []
    for database in args.databases.split(","):
        for workers in (int(w) for w in args.workers.split(",")):
            root = Path(tempfile.mkdtemp(prefix=f"nonsite-bench-api-{database}-"))
            try:
                url = _database(database, root)
                print(f"{database}, {workers} worker(s): seeding {args.tickets:,} tickets", flush=True)
                seed(url, args.tickets)
                results += measure(database, url, root, workers, args, scenarios)
            finally:
                shutil.rmtree(root, ignore_errors=True)
    print(table(results))
    if args.out:
        args.out.write_text(table(results) + "\n")
    return 0


_POSTGRES: Any = None  # one durable server for the whole run


def _database(database: str, root: Path) -> str:
    global _POSTGRES
    if database == "sqlite":
        return f"sqlite:///{root / 'nonsite.db'}"
    if database == "postgres":
        from tests.postgres import LocalPostgres

        if _POSTGRES is None:
            _POSTGRES = LocalPostgres(durable=True)
            atexit.register(_POSTGRES.stop)
        return str(_POSTGRES.new_database())
    raise SystemExit(f"unknown database {database!r} (sqlite or postgres)")


if __name__ == "__main__":
    sys.exit(main())
