"""A real RTSP server (tests/rtsp_server.py under Debian's python3 with gi) that tests can kill, freeze and
restart, and a recorder of a source's health over time."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.sources.rtsp import ChannelState, RtspSource

SERVER = Path(__file__).with_name("rtsp_server.py")
SYSTEM_PYTHON = "/usr/bin/python3"
USER, PASSWORD = "admin", "p@ss:w.rd"  # a password with @, : and . as typed


def _has_gst_rtsp() -> bool:
    probe = (
        "import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstRtspServer', '1.0'); "
        "from gi.repository import Gst, GstRtspServer; Gst.init(None); "
        "assert all(Gst.ElementFactory.find(e) for e in ('x264enc', 'rtph264pay', 'opusenc', 'rtpopuspay'))"
    )
    try:
        return subprocess.run([SYSTEM_PYTHON, "-c", probe], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


needs_rtsp_server = pytest.mark.skipif(
    not _has_gst_rtsp(), reason="gst-rtsp-server for /usr/bin/python3 is missing (make test installs it as root)"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def consecutive_free_ports(count: int) -> int:
    """The first of ``count`` free ports in a row on 127.0.0.1 (``run --processes K`` serves metrics on port + k)."""
    while True:
        first = free_port()
        try:
            for port in range(first + 1, first + count):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        return first


class RtspServer:
    def __init__(self, port: int, auth: bool = True, size: str = "640x360", main_size: str = "1280x720") -> None:
        self.port, self.auth, self.size, self.main_size = port, auth, size, main_size
        self.process: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        userinfo = f"{USER}:{PASSWORD}@" if self.auth else ""
        return f"rtsp://{userinfo}127.0.0.1:{self.port}/cam"

    def start(self) -> None:
        args = [
            SYSTEM_PYTHON,
            str(SERVER),
            "--port",
            str(self.port),
            "--size",
            self.size,
            "--main-size",
            self.main_size,
        ]
        if self.auth:
            args += ["--user", USER, "--password", PASSWORD]
        # stderr to a file: a pipe nobody reads would fill and stop the server
        self._log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - lives as long as the server
        self.process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self._log, text=True)
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], 20)
        line = self.process.stdout.readline() if ready else "(no answer in 20 s)"
        if not line.startswith("READY"):
            raise RuntimeError(f"RTSP server did not start: {line!r} {self._server_log()}")

    def _server_log(self) -> str:
        self._log.seek(0)
        return self._log.read()[-2000:]

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None

    def freeze(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGCONT)

    def stop(self) -> None:
        if self.process is not None:
            self.thaw()
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
            self.process = None


@pytest.fixture
def rtsp_server() -> Iterator[RtspServer]:
    server = RtspServer(free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


class HealthLog:
    """Samples a source's state every 50 ms: the transitions, with when they happened."""

    def __init__(self, source: RtspSource) -> None:
        self.source = source
        self.states: list[tuple[float, ChannelState]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            state = self.source.health().state
            if not self.states or self.states[-1][1] is not state:
                self.states.append((time.monotonic(), state))
            self._stop.wait(0.05)

    def transitions(self) -> list[ChannelState]:
        return [state for _, state in self.states]

    def wait_for(self, state: ChannelState | set[ChannelState], timeout_s: float) -> float:
        """Seconds until the source is in ``state`` (or one of them); fails the test past ``timeout_s``."""
        wanted = state if isinstance(state, set) else {state}
        start = time.monotonic()
        while time.monotonic() - start < timeout_s:
            if self.source.health().state in wanted:
                return time.monotonic() - start
            time.sleep(0.05)
        raise AssertionError(f"not {state} after {timeout_s} s: {self.transitions()} ({self.source.health()})")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)


class ResettingProxy:
    """A loopback TCP proxy in front of the server that can drop every connection at once with a reset (RST),
    as a flaky network or a restarting NVR does."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._lock = threading.Lock()
        self._closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._pairs.append((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass

    def reset(self) -> int:
        """Drop every open connection with a TCP reset; returns how many."""
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            for sock in pair:
                with contextlib.suppress(OSError):
                    # Linger 0 makes the last close send RST; SHUT_RD wakes the pipe thread blocked in recv
                    # (a plain close from another thread would not reach the kernel until that recv returned).
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    sock.shutdown(socket.SHUT_RD)
                sock.close()
        return len(pairs)

    def close(self) -> None:
        self._closed.set()
        self.listener.close()
        self.reset()


def capture_processes() -> list[str]:
    """This test process's capture children still in the process table (running, or zombies not reaped)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        state, ppid = fields[0], int(fields[1])
        if ppid == os.getpid() and ("rtsp_capture" in cmdline or state == "Z"):
            found.append(f"{stat.parent.name} {state} {cmdline.strip()}")
    return found
