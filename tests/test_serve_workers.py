"""``nonsite serve --workers N``: several processes answer on one port with the same settings (a development
secret included) and share its connections, one of them runs the background jobs, the settings file is
private and gone after a stop."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psutil

from api import audit, tokens
from api.db import make_engine, session_factory
from evidence.audit_log import AuditMirror
from tests.conftest import add_test_users, free_port, make_event, settings_for


def test_two_workers_share_the_port_the_settings_and_one_set_of_background_jobs(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    add_test_users(settings)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "NONSITE_JWT_SECRET": settings.secret,
        "NONSITE_AUDIT_DIR": str(settings.audit_dir),
        "NONSITE_TRUSTED_KEYS_DIR": str(settings.trusted_keys_dir),
        "NONSITE_FIXITY_INTERVAL_S": "0",
    }
    command = [sys.executable, "-m", "pipeline.cli", "serve", "--workers", "2", "--port", str(port)]
    command += ["--database-url", settings.database_url, "--evidence-dir", str(settings.evidence_dir)]
    process = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        workers = _listening_workers(process, port, 2)
        settings_file = Path(workers[0].environ()["NONSITE_SETTINGS_FILE"])
        assert settings_file.stat().st_mode & 0o777 == 0o600
        assert _jobs_lock_is_held(settings.audit_dir)  # by the worker that runs checkpoints and fixity
        pipeline = {"Authorization": f"Bearer {tokens.issue('pipeline', settings.secret, 600)}"}
        officer = {"Authorization": f"Bearer {tokens.issue('officer', settings.secret, 600)}"}
        for n in range(20):  # spread over both workers by the kernel; every one of them takes the same tokens
            start = make_event(f"00000000-0000-4000-8000-{n:012d}").to_dict()
            filed = httpx.post(f"{url}/api/v1/tickets", json=start, headers=pipeline, timeout=10)
            assert filed.status_code == 201, filed.text
            shown = httpx.get(f"{url}/api/v1/tickets/{filed.json()['id']}", headers=officer, timeout=10)
            assert shown.status_code == 200
        listed = httpx.get(f"{url}/api/v1/tickets?limit=1", headers=officer, timeout=10).json()
        assert listed["total"] == 20
        clients = [httpx.Client(base_url=url, timeout=10) for _ in range(16)]  # kept-open connections
        for client in clients:
            assert client.get("/healthz").status_code == 200
        held = [
            sum(1 for c in w.net_connections(kind="tcp") if c.status == "ESTABLISHED" and c.laddr.port == port)
            for w in workers
        ]
        assert sum(held) == 16 and min(held) > 0, held  # each worker listens itself: the kernel spreads them
        guess = {"username": "auditor", "password": "guess"}  # sent at once over both workers: five are tried
        with ThreadPoolExecutor(len(clients)) as pool:
            codes = sorted(pool.map(lambda c: c.post("/api/v1/auth/token", data=guess).status_code, clients))
        assert codes == [401] * 5 + [429] * (len(clients) - 5)
        for client in clients:
            client.close()
        workers[0].kill()  # a worker that dies is started again, and the port keeps answering meanwhile
        workers[0].wait(timeout=10)
        assert httpx.get(f"{url}/healthz", timeout=10).status_code == 200
        restarted = _listening_workers(process, port, 2)
        assert workers[0].pid not in {w.pid for w in restarted}
    finally:
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err.decode()
    assert not settings_file.exists() and not settings_file.parent.exists()
    assert b"Traceback" not in err
    with session_factory(make_engine(settings.database_url))() as session:  # the jobs' last checkpoint has it all
        check = audit.verify(session, AuditMirror(settings.audit_dir))
    assert check.ok, check.findings
    # The retention policy the first worker found, 20 filed, 20 viewed, 5 wrong passwords.
    assert check.latest is not None and check.latest.size == check.entries == 46


def _listening_workers(process: subprocess.Popen[bytes], port: int, count: int) -> list[psutil.Process]:
    """The supervisor's worker processes, once ``count`` of them listen on the port."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, "nonsite serve exited"
        workers = [p for p in psutil.Process(process.pid).children() if "spawn" in " ".join(p.cmdline())]
        listening = [
            w
            for w in workers
            if any(c.status == "LISTEN" and c.laddr.port == port for c in w.net_connections(kind="tcp"))
        ]
        if len(listening) == count:
            return listening
        time.sleep(0.2)
    raise AssertionError(f"{count} workers did not come to listen on {port}")


def _jobs_lock_is_held(folder: Path) -> bool:
    with open(folder / ".jobs.lock", "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False
