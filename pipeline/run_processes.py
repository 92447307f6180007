"""``nonsite run --processes N``: a config's cameras spread over N analysis processes, each a whole ``nonsite
run`` of its share (its own detector, analysis and evidence threads, outbox pusher and health reports).

One process's tracking, rules and evidence run in Python threads that take turns on one interpreter lock, so
a single process stops keeping up at about one core however many the box has; N processes use N. The
supervisor here assigns cameras, starts the processes (started again if one dies; see
:mod:`pipeline.supervisor`), forwards a reload and stops them all on SIGTERM or Ctrl-C.

- **Assignment**: cameras are dealt out in config order; on a reload a camera that stays keeps its process
  (it is not restarted), a removed one leaves, and a new one goes to the process with the fewest. The
  assignment is a JSON file the processes read at start and at each reload.
- **Outbox**: every process writes to the config's one outbox and pushes only its own cameras' events (events
  of a camera no process has any more are pushed by process 0), so nothing is sent twice and nothing waits
  for ever.
- **Metrics**: process K serves ``/metrics`` on ``metrics.port + K``.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.config import ConfigError, NonsiteConfig, load_config
from pipeline.supervisor import Supervisor

STOP_GRACE_S = 60.0  # open violations end and are sealed, the outbox is pushed: as one `nonsite run` does
EXIT_USAGE = 2  # the CLI's exit for a run with a failed camera (pipeline.cli.EXIT_USAGE)
# A process that ran to its end with a camera that failed (it said which): not started again, unlike one that
# exits 2 because it could not start (a model it cannot load, a port taken since the check).
EXIT_CAMERA_FAILED = 3
RELOAD_ASKED = threading.Event()  # in a process: SIGHUP came while it was starting (applied once it runs)


class AssignmentError(RuntimeError):
    """The assignment file a process was given cannot be read (it is the supervisor's own temporary file)."""


def assign(
    camera_ids: list[str],
    processes: int,
    previous: list[list[str]] | None = None,
    homes: dict[str, int] | None = None,
) -> list[list[str]]:
    """Cameras → processes. Kept cameras stay where they were; a camera back after a removal goes to the process
    it had (which may still be sealing its last violations: it must not run in two at once); other new ones go,
    in order, to the fewest."""
    shards: list[list[str]] = [
        [c for c in (previous[n] if previous else []) if c in camera_ids] for n in range(processes)
    ]
    placed = {c for shard in shards for c in shard}
    for camera_id in camera_ids:
        if camera_id in placed:
            continue
        home = (homes or {}).get(camera_id)
        # the first of the emptiest: config order deals them out
        (shards[home] if home is not None and home < processes else min(shards, key=len)).append(camera_id)
    return shards


def homes_of(shards: list[list[str]], homes: dict[str, int]) -> dict[str, int]:
    """Every camera's last process, those of removed cameras included."""
    return homes | {camera_id: n for n, shard in enumerate(shards) for camera_id in shard}


def write_assignment(path: Path, shards: list[list[str]]) -> None:
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps({"shards": shards}), "utf-8")
    os.replace(partial, path)  # a process reading it sees the old or the new one, never half


def read_assignment(path: Path) -> list[list[str]]:
    try:
        shards = json.loads(path.read_text("utf-8"))["shards"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise AssignmentError(f"cannot read the camera assignment {path}: {exc}") from exc
    return [[str(c) for c in shard] for shard in shards]


@dataclass
class Shard:
    """One analysis process's share: its cameras (and their rules) and its metrics port."""

    path: Path
    index: int
    shards: list[list[str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.refresh()

    def refresh(self) -> None:
        shards = read_assignment(self.path)
        if not 0 <= self.index < len(shards):
            raise AssignmentError(f"the camera assignment {self.path} has no process {self.index}")
        self.shards = shards

    @property
    def camera_ids(self) -> list[str]:
        return list(self.shards[self.index])

    def owns(self, camera_id: str) -> bool:
        """This process pushes the camera's events: its own, or (process 0) a camera no process has now."""
        if camera_id in self.shards[self.index]:
            return True
        return self.index == 0 and not any(camera_id in shard for shard in self.shards)

    def view(self, config: NonsiteConfig) -> NonsiteConfig:
        """The config as this process runs it (the assignment read again: a reload may have changed it)."""
        self.refresh()
        mine = set(self.camera_ids)
        return config.model_copy(
            update={
                "cameras": [c for c in config.cameras if c.id in mine],
                "rules": [r for r in config.rules if r.camera in mine],
                "metrics": config.metrics.model_copy(update={"port": config.metrics.port + self.index}),
            }
        )


def run(config_path: Path, config: NonsiteConfig, processes: int, child_args: list[str]) -> int:
    """Run until every process has finished (files) or SIGTERM / Ctrl-C (live cameras); SIGHUP reloads.
    Returns the exit code: 0, or the highest a process ended with."""
    stopping: list[int] = []
    reloads: list[int] = []  # signal handlers only append (no lock they could deadlock on)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _frame: stopping.append(signum))
    signal.signal(signal.SIGHUP, lambda signum, _frame: reloads.append(signum))
    with tempfile.TemporaryDirectory(prefix="nonsite-run-") as folder:
        path = Path(folder) / "cameras.json"
        shards = assign([c.id for c in config.cameras], processes)
        homes = homes_of(shards, {})
        write_assignment(path, shards)
        for n, shard in enumerate(shards):
            print(f"analysis process {n}: {', '.join(shard)}", file=sys.stderr)
        supervisor = Supervisor(
            "analysis",
            _child,
            (str(config_path), str(path), child_args),
            processes,
            finished=lambda code: code in (0, EXIT_CAMERA_FAILED),
            stop_grace_s=STOP_GRACE_S,
            blocked=frozenset({signal.SIGHUP}),
        )

        def between() -> None:
            nonlocal shards, homes
            if not reloads:
                return
            reloads.clear()
            try:
                new = load_config(config_path)
            except ConfigError as exc:
                print(f"config reload refused, nothing changed: {exc}", file=sys.stderr)
                return
            old, shards = shards, assign([c.id for c in new.cameras], processes, shards, homes)
            homes = homes_of(shards, homes)
            write_assignment(path, shards)
            supervisor.signal(signal.SIGHUP)  # each running process reloads its share (see Shard.view)
            for n, shard in enumerate(shards):
                if set(shard) - set(old[n]):  # a process that had ended (its cameras all removed) gets new ones
                    supervisor.restart(n)

        supervisor.run(stopping, between)
    codes = [EXIT_USAGE if c == EXIT_CAMERA_FAILED else c for c in supervisor.exit_codes.values() if c is not None]
    killed = any(c < 0 and c != -signal.SIGTERM for c in codes)  # did not stop within the grace
    return max((c for c in codes if c > 0), default=1 if killed else 0)


def _child(n: int, config_path: str, assignment: str, child_args: list[str]) -> None:
    from pipeline.cli import main  # here: the CLI imports this module

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the supervisor, which stops every process
    # Started with SIGHUP blocked: one sent while this process starts is remembered, and the run reloads once
    # it listens (it reads its share at start, but the supervisor may have changed it since).
    signal.signal(signal.SIGHUP, lambda _signum, _frame: RELOAD_ASKED.set())
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGHUP})
    sys.exit(main(["run", "--config", config_path, "--shard", f"{n}:{assignment}", *child_args]))
