"""Child processes that are started again when they die: ``nonsite serve --workers`` and ``nonsite run
--processes`` both run on it.

Each child is a fresh interpreter (``spawn``: no threads, engines or models inherited) that dies with its
supervisor (Linux ``PR_SET_PDEATHSIG``), so killing the supervisor, even with SIGKILL, leaves no orphan. A
child that dies is started again; one that keeps dying right after starting makes the supervisor give up.
Signal handlers only append to a list, so they never wait on a lock the interrupted code holds.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Sequence
from multiprocessing.process import BaseProcess
from typing import Any

log = logging.getLogger(__name__)
STOP_GRACE_S = 30.0  # for all children together
QUICK_DEATH_S = 10.0  # a child that exits sooner than this after starting did not really start
GIVE_UP_AFTER = 5  # quick deaths in a row before the supervisor gives up
PR_SET_PDEATHSIG = 1


class ChildrenFailing(RuntimeError):
    """A child died right after starting, again and again (a database it cannot open, say)."""


class Supervisor:
    """``count`` children running ``target(n, *args)``; :meth:`run` watches them until asked to stop.

    ``finished(exitcode)`` says whether an exit is the child's normal end (it is not started again: a run of
    video files that is done); by default every exit is a death.
    """

    def __init__(
        self,
        what: str,
        target: Callable[..., None],
        args: Sequence[Any],
        count: int,
        finished: Callable[[int | None], bool] = lambda _code: False,
        stop_grace_s: float = STOP_GRACE_S,
        blocked: frozenset[int] = frozenset(),
    ) -> None:
        """``blocked``: signals a child starts with blocked (the target installs its handler, then unblocks
        them), so one sent while it starts is held for it instead of killing it."""
        self.what, self.target, self.args, self.finished = what, target, tuple(args), finished
        self.stop_grace_s, self.blocked = stop_grace_s, blocked
        self._spawn = multiprocessing.get_context("spawn")
        self.children: list[tuple[BaseProcess, float]] = []
        self.exit_codes: dict[int, int | None] = {}  # children that finished, by number
        self._count = count

    def _start(self, n: int) -> tuple[BaseProcess, float]:
        process = self._spawn.Process(target=_child, args=(self.target, n, *self.args), name=f"{self.what}-{n}")
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, self.blocked)  # the child inherits the mask
        try:
            process.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        return process, time.monotonic()

    def restart(self, n: int) -> None:
        """Start child ``n`` again after it finished (it has work again: a reload gave it cameras)."""
        if n in self.exit_codes:
            del self.exit_codes[n]
            self.children[n] = self._start(n)

    def alive(self) -> list[tuple[int, BaseProcess]]:
        return [(n, p) for n, (p, _) in enumerate(self.children) if n not in self.exit_codes and p.is_alive()]

    def run(self, stopping: list[int], between: Callable[[], None] = lambda: None, poll_s: float = 0.5) -> None:
        """Start the children; return once ``stopping`` has an entry (a signal handler appends it) or every
        child has finished. Children are stopped on the way out, whatever ends the watch."""
        self.children = [self._start(n) for n in range(self._count)]
        quick_deaths = 0
        try:
            while not stopping and len(self.exit_codes) < self._count:
                time.sleep(poll_s)
                between()
                for n, (process, started) in enumerate(self.children):
                    if n in self.exit_codes or process.is_alive() or stopping:
                        continue
                    if self.finished(process.exitcode):
                        self.exit_codes[n] = process.exitcode
                        continue
                    quick_deaths = quick_deaths + 1 if time.monotonic() - started < QUICK_DEATH_S else 0
                    if quick_deaths >= GIVE_UP_AFTER:
                        raise ChildrenFailing(
                            f"{self.what} processes exited within {QUICK_DEATH_S:g} s of starting {quick_deaths} "
                            f"times in a row (last exit code {process.exitcode}): see the messages above"
                        )
                    log.warning("%s process %d exited (code %s): starting it again", self.what, n, process.exitcode)
                    self.children[n] = self._start(n)
        finally:
            self.stop()

    def signal(self, signum: int) -> None:
        for _, process in self.alive():
            if process.pid is not None:
                os.kill(process.pid, signum)

    def stop(self) -> None:
        """SIGTERM to each child (each stops as its single-process command would), SIGKILL after the grace."""
        processes = [process for process, _ in self.children]
        for process in processes:
            if process.is_alive():
                process.terminate()
        deadline = time.monotonic() + self.stop_grace_s
        for n, process in enumerate(processes):
            process.join(timeout=max(0.1, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()
            self.exit_codes.setdefault(n, process.exitcode)


def _child(target: Callable[..., None], n: int, *args: Any) -> None:
    die_with_parent()
    target(n, *args)


def die_with_parent() -> None:
    """Linux: SIGTERM this process when its supervisor dies (even by SIGKILL), so no orphan is left."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: the supervisor's own stop still reaches it
        return
    if os.getppid() == 1:  # the supervisor was already gone before the call
        os.kill(os.getpid(), signal.SIGTERM)
