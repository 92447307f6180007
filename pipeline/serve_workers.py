"""``nonsite serve --workers N``: N processes answering on one port, each on its own listening socket.

With one shared socket (uvicorn's own ``workers``), the worker that happens to be waiting takes most new
connections, and a client that keeps its connections open (a browser, the outbox, a load generator) stays on
one busy process while the others idle. Each worker here binds the port itself with ``SO_REUSEPORT``, so the
kernel spreads connections evenly. The workers get the settings the command validated (the secret included)
from a file only this account can read, removed on the way out. A worker that dies is started again;
SIGTERM or Ctrl-C stops them all, each finishing its requests (as a single ``nonsite serve`` does).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import tempfile
import threading
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
SETTINGS_FILE = "NONSITE_SETTINGS_FILE"
STOP_GRACE_S = 30


def serve(settings: Any, host: str, port: int, workers: int) -> None:
    """Run until SIGTERM or SIGINT. ``settings``: api.settings.Settings, already checked by the caller."""
    spawn = multiprocessing.get_context("spawn")  # a fresh interpreter: no threads or engines inherited
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    with tempfile.TemporaryDirectory(prefix="nonsite-serve-") as folder:
        path = Path(folder) / "settings.json"
        settings.to_file(path)
        os.environ[SETTINGS_FILE] = str(path)  # inherited by each worker
        processes = [spawn.Process(target=_worker, args=(host, port), name=f"api-{n}") for n in range(workers)]
        for process in processes:
            process.start()
        while not stop.wait(1.0):
            for n, process in enumerate(processes):
                if not process.is_alive():
                    log.warning("API worker %d exited (code %s): starting it again", n, process.exitcode)
                    print(f"API worker {n} exited (code {process.exitcode}): starting it again", flush=True)
                    processes[n] = spawn.Process(target=_worker, args=(host, port), name=f"api-{n}")
                    processes[n].start()
        for process in processes:
            if process.is_alive():
                process.terminate()  # SIGTERM: uvicorn finishes open requests, then the app's shutdown
        for process in processes:
            process.join(timeout=STOP_GRACE_S)
            if process.is_alive():
                process.kill()
                process.join()


def listening_socket(host: str, port: int, *, listen: bool = True) -> socket.socket:
    """A socket bound to the port alongside the other workers' (``SO_REUSEPORT``); ``listen=False`` only
    checks that the port can be had (a bound socket that does not listen takes no connections)."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(address)
    if listen:
        sock.listen(2048)
    return sock


def _worker(host: str, port: int) -> None:
    import uvicorn

    from api.app import create_app
    from api.settings import Settings

    settings = Settings.from_file(Path(os.environ[SETTINGS_FILE]))
    sock = listening_socket(host, port)
    config = uvicorn.Config(create_app(settings), log_level="warning", timeout_graceful_shutdown=3)
    uvicorn.Server(config).run(sockets=[sock])
