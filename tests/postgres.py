"""A real PostgreSQL server for the tests, on 127.0.0.1, started from Debian's binaries (``make test`` installs the
``postgresql`` package as root). As root it runs as the ``postgres`` account, since the server refuses root.

``NONSITE_TEST_POSTGRES=1`` makes every test database a fresh PostgreSQL database on it (``make test`` runs the
API, audit and export tests a second time that way); ``tests/test_postgres.py`` always uses it when present.
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

USER = "nonsite"


def binaries() -> Path | None:
    """The newest installed server's bin folder (Debian: /usr/lib/postgresql/N/bin)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(Path(p).parent.parent.name))
    return Path(found[-1]).parent if found else None


def wanted() -> bool:
    return os.environ.get("NONSITE_TEST_POSTGRES", "").lower() in ("1", "true", "yes")


class LocalPostgres:
    """``durable``: fsync and synchronous commit on, as a bureau runs it (benchmarks); off for the tests' speed."""

    def __init__(self, durable: bool = False) -> None:
        bindir = binaries()
        if bindir is None:
            raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql; `make test` does it as root)")
        self.root = Path(tempfile.mkdtemp(prefix="nonsite-pg-"))
        self.root.chmod(0o755)
        run_as: list[str] = []
        if os.geteuid() == 0:  # the server refuses to run as root
            account = pwd.getpwnam("postgres")
            os.chown(self.root, account.pw_uid, account.pw_gid)
            run_as = ["runuser", "-u", "postgres", "--"]
        data = self.root / "data"
        subprocess.run(
            [*run_as, str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", USER, "-E", "UTF8", "--no-sync"],
            check=True,
            capture_output=True,
        )
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        fast: tuple[str, ...] = () if durable else ("fsync=off", "synchronous_commit=off", "full_page_writes=off")
        fast += ("max_connections=400",)
        server = [str(bindir / "postgres"), "-D", str(data), "-p", str(self.port), "-h", "127.0.0.1"]
        self.process = subprocess.Popen(
            [*run_as, *server, "-k", str(self.root), *(arg for setting in fast for arg in ("-c", setting))],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._wait_ready()

    @property
    def base_url(self) -> str:
        return f"postgresql+psycopg://{USER}@127.0.0.1:{self.port}"

    def _wait_ready(self) -> None:
        import psycopg

        deadline = time.monotonic() + 30
        while True:
            try:
                psycopg.connect(f"host=127.0.0.1 port={self.port} user={USER} dbname=postgres").close()
                return
            except psycopg.OperationalError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the test PostgreSQL server did not start") from None
                time.sleep(0.1)

    def new_database(self) -> str:
        """A fresh, empty database; its SQLAlchemy URL."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user={USER} dbname=postgres", autocommit=True) as db:
            db.execute(f"CREATE DATABASE {name}")
        return f"{self.base_url}/{name}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.root, ignore_errors=True)


_server: LocalPostgres | None = None


def server() -> LocalPostgres:
    """The one server of this test run, started on first use and stopped at exit."""
    global _server
    if _server is None:
        _server = LocalPostgres()
        atexit.register(_server.stop)
    return _server
