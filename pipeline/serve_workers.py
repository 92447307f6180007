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

import logging
import os
import signal
import socket
import tempfile
from pathlib import Path
from typing import Any

from pipeline.supervisor import Supervisor

log = logging.getLogger(__name__)
SETTINGS_FILE = "NONSITE_SETTINGS_FILE"


def serve(settings: Any, host: str, port: int, workers: int) -> None:
    """Run until SIGTERM or SIGINT. ``settings``: api.settings.Settings, already checked by the caller."""
    stopping: list[int] = []  # a signal handler only appends (no lock it could deadlock on)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _frame: stopping.append(signum))
    with tempfile.TemporaryDirectory(prefix="nonsite-serve-") as folder:
        path = Path(folder) / "settings.json"
        settings.to_file(path)
        os.environ[SETTINGS_FILE] = str(path)  # inherited by each worker
        # SIGTERM: uvicorn finishes open requests, then the app's shutdown
        Supervisor("API worker", _worker, (host, port), workers).run(stopping)


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


def _worker(_n: int, host: str, port: int) -> None:
    import uvicorn

    from api.app import create_app
    from api.settings import Settings

    settings = Settings.from_file(Path(os.environ[SETTINGS_FILE]))
    sock = bound_socket(host, port)
    config = uvicorn.Config(create_app(settings), log_level="warning", timeout_graceful_shutdown=3)
    uvicorn.Server(config).run(sockets=[sock])
