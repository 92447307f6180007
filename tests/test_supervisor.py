"""The supervisor behind ``run --processes`` and ``serve --workers``: children that finish are not started
again, children that die are, one that keeps dying at start-up makes it give up, and stop ends them all."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

from pipeline.supervisor import ChildrenFailing, Supervisor


def exits(n: int, code: int) -> None:
    sys.exit(code)


def count_and_exit(n: int, folder: str, code: int) -> None:
    with (Path(folder) / f"{n}-{time.monotonic_ns()}").open("w"):
        pass
    sys.exit(code)


def sleeps(n: int, folder: str) -> None:
    partial = Path(folder) / f"{n}.partial"
    partial.write_text(str(os.getpid()))
    partial.replace(Path(folder) / f"{n}.pid")
    time.sleep(600)


def hup_after_a_slow_start(n: int, folder: str) -> None:
    """Takes a while to start (as a run loading its models), then listens for SIGHUP and unblocks it."""
    got = threading.Event()
    (Path(folder) / "started").write_text(str(os.getpid()))
    time.sleep(1.0)
    signal.signal(signal.SIGHUP, lambda _signum, _frame: got.set())
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGHUP})
    (Path(folder) / ("got" if got.wait(5) else "missed")).write_text("")


def test_a_signal_sent_while_a_child_starts_waits_for_its_handler(tmp_path: Path) -> None:
    supervisor = Supervisor(
        "test",
        hup_after_a_slow_start,
        (str(tmp_path),),
        1,
        finished=lambda code: code == 0,
        blocked=frozenset({signal.SIGHUP}),
    )
    watch = threading.Thread(target=supervisor.run, args=([],), kwargs={"poll_s": 0.05})
    watch.start()
    pid = _pid(tmp_path / "started")
    os.kill(pid, signal.SIGHUP)  # before its handler: unblocked, SIGHUP would end it
    watch.join(30)
    assert supervisor.exit_codes == {0: 0}
    assert (tmp_path / "got").exists()
    assert signal.SIGHUP not in signal.pthread_sigmask(signal.SIG_BLOCK, set())  # the supervisor's mask is back


def test_children_that_finish_are_not_started_again() -> None:
    supervisor = Supervisor("test", exits, (0,), 2, finished=lambda code: code == 0)
    supervisor.run([], poll_s=0.05)
    assert supervisor.exit_codes == {0: 0, 1: 0}


def test_a_child_that_keeps_dying_at_start_makes_it_give_up(tmp_path: Path) -> None:
    supervisor = Supervisor("test", count_and_exit, (str(tmp_path), 3), 1)
    with pytest.raises(ChildrenFailing, match=r"exited within 10 s of starting 5 times in a row \(last exit code 3\)"):
        supervisor.run([], poll_s=0.05)
    assert len(list(tmp_path.iterdir())) == 5  # the first start and four more: the fifth death gives up


def test_a_killed_child_is_started_again_and_stop_ends_every_child(tmp_path: Path) -> None:
    stopping: list[int] = []
    supervisor = Supervisor("test", sleeps, (str(tmp_path),), 2, stop_grace_s=5)
    watch = threading.Thread(target=supervisor.run, args=(stopping,), kwargs={"poll_s": 0.05})
    watch.start()
    try:
        first = _pid(tmp_path / "1.pid")
        (tmp_path / "1.pid").unlink()
        os.kill(first, signal.SIGKILL)
        second = _pid(tmp_path / "1.pid")  # child 1 again, a new process
        assert second != first
    finally:
        stopping.append(signal.SIGTERM)
        watch.join(30)
    assert not watch.is_alive()
    assert supervisor.exit_codes == {0: -signal.SIGTERM, 1: -signal.SIGTERM}
    assert supervisor.alive() == []


def _pid(path: Path, timeout_s: float = 30) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists() and path.read_text():
            return int(path.read_text())
        time.sleep(0.05)
    raise AssertionError(f"{path} not written")
