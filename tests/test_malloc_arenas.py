"""The analysis process's malloc arena cap, observed in glibc's own report (``malloc_info``)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from pipeline.malloc_arenas import limit_malloc_arenas

# Eight threads compress at once (zlib drops the GIL and allocates its state with malloc), so glibc sees a busy
# heap and makes arenas; then the process counts its heaps in malloc_info's XML.
BUSY_THREADS = """
import ctypes, os, re, sys, tempfile, threading, zlib
from pipeline.malloc_arenas import limit_malloc_arenas
if sys.argv[1] == "cap":
    print(limit_malloc_arenas())
data = os.urandom(1 << 20)
threads = [threading.Thread(target=lambda: [zlib.compress(data, 6) for _ in range(30)]) for _ in range(8)]
[t.start() for t in threads]
[t.join() for t in threads]
libc = ctypes.CDLL(None)
libc.fdopen.restype = ctypes.c_void_p
fd, path = tempfile.mkstemp()
report = libc.fdopen(fd, b"w")
libc.malloc_info(0, ctypes.c_void_p(report))
libc.fclose(ctypes.c_void_p(report))
print(len(re.findall("<heap nr=", open(path).read())))
os.unlink(path)
"""


def _heaps(mode: str, env: dict[str, str]) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", BUSY_THREADS, mode], capture_output=True, text=True, check=True, timeout=120, env=env
    )
    return done.stdout.split()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_busy_threads_share_two_arenas_once_capped() -> None:
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    (free,) = _heaps("free", env)
    if int(free) <= 2:
        pytest.skip(f"the threads did not contend on this machine ({free} heaps without a cap)")
    capped, heaps = _heaps("cap", env)
    assert capped == "True"
    assert int(heaps) <= 2 < int(free)


def test_an_operators_malloc_arena_max_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert limit_malloc_arenas() is False
