"""``nonsite serve --workers N``: N processes answering on one port, each on its own listening socket.

With one shared socket (uvicorn's own ``workers``), the worker that happens to be waiting takes most new
connections, and a client that keeps its connections open (a browser, the outbox, a load generator) stays on
one busy process while the others idle. Each worker here binds the port itself with ``SO_REUSEPORT``, so the
kernel spreads connections evenly. The workers get the settings the command validated (the secret included)
from a file only this account can read, removed on the way out. A worker that dies is started again (one
that keeps dying at start-up makes the command give up); SIGTERM or Ctrl-C stops them all, each finishing
its requests (as a single ``nonsite serve`` does); a worker whose supervisor is killed stops too.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
SETTINGS_FILE = "NONSITE_SETTINGS_FILE"
STOP_GRACE_S = 30  # for all workers together
QUICK_DEATH_S = 10.0  # a worker that exits sooner than this after starting did not really start
GIVE_UP_AFTER = 5  # quick deaths in a row before the command gives up (exit 2, with the message)
PR_SET_PDEATHSIG = 1


class WorkersFailing(RuntimeError):
    """A worker died right after starting, again and again (a database it cannot open, say)."""


def serve(settings: Any, host: str, port: int, workers: int) -> None:
    """Run until SIGTERM or SIGINT. ``settings``: api.settings.Settings, already checked by the caller."""
    spawn = multiprocessing.get_context("spawn")  # a fresh interpreter: no threads or engines inherited
    stopping: list[int] = []  # a signal handler only appends (no lock it could deadlock on)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _frame: stopping.append(signum))
    with tempfile.TemporaryDirectory(prefix="nonsite-serve-") as folder:
        path = Path(folder) / "settings.json"
        settings.to_file(path)
        os.environ[SETTINGS_FILE] = str(path)  # inherited by each worker

        def start(n: int) -> tuple[multiprocessing.process.BaseProcess, float]:
            process = spawn.Process(target=_worker, args=(host, port), name=f"api-{n}")
            process.start()
            return process, time.monotonic()

        processes = [start(n) for n in range(workers)]
        quick_deaths = 0
        try:
            while not stopping:
                time.sleep(0.5)
                for n, (process, started) in enumerate(processes):
                    if process.is_alive() or stopping:
                        continue
                    quick_deaths = quick_deaths + 1 if time.monotonic() - started < QUICK_DEATH_S else 0
                    if quick_deaths >= GIVE_UP_AFTER:
                        raise WorkersFailing(
                            f"API workers exited within {QUICK_DEATH_S:g} s of starting {quick_deaths} times in a "
                            f"row (last exit code {process.exitcode}): see the messages above"
                        )
                    log.warning("API worker %d exited (code %s): starting it again", n, process.exitcode)
                    processes[n] = start(n)
        finally:
            _stop([process for process, _ in processes])


def _stop(processes: list[multiprocessing.process.BaseProcess]) -> None:
    for process in processes:
        if process.is_alive():
            process.terminate()  # SIGTERM: uvicorn finishes open requests, then the app's shutdown
    deadline = time.monotonic() + STOP_GRACE_S
    for process in processes:
        process.join(timeout=max(0.1, deadline - time.monotonic()))
        if process.is_alive():
            process.kill()
            process.join()


def bound_socket(host: str, port: int, *, shared: bool = True) -> socket.socket:
    """A socket bound to the port alongside the other workers' (``SO_REUSEPORT``); uvicorn listens on it once
    the app has started. ``shared=False`` only checks that the port is free, another server's workers
    included."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if shared:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(address)
    return sock


def _worker(host: str, port: int) -> None:
    import uvicorn

    from api.app import create_app
    from api.settings import Settings

    _die_with_parent()
    settings = Settings.from_file(Path(os.environ[SETTINGS_FILE]))
    sock = bound_socket(host, port)
    config = uvicorn.Config(create_app(settings), log_level="warning", timeout_graceful_shutdown=3)
    uvicorn.Server(config).run(sockets=[sock])


def _die_with_parent() -> None:
    """Linux: SIGTERM this worker when the supervisor dies (even by SIGKILL), so no orphan keeps the port."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: the supervisor's own stop still reaches it
        return
    if os.getppid() == 1:  # the supervisor was already gone before the call
        os.kill(os.getpid(), signal.SIGTERM)
