"""Pre-roll buffer of the record stream's encoded packets (a few MB, not decoded frames)."""

from __future__ import annotations

import threading
from collections import deque

from evidence.clips import EncodedPacket


class PacketRingBuffer:
    """Keeps at least ``seconds`` of packets, always starting at a keyframe so clips can be cut.

    Capture appends while the evidence stage reads, from another thread: every access holds the lock. A
    violation that has started but is not sealed yet *pins* the buffer at its clip's start, so its pre-roll is
    kept however far capture runs ahead of the evidence stage; sealing unpins it.
    """

    def __init__(self, seconds: float) -> None:
        if seconds <= 0:
            raise ValueError(f"seconds must be > 0, got {seconds}")
        self.seconds = seconds
        self._packets: deque[EncodedPacket] = deque()
        self._pins: dict[str, float] = {}
        self._lock = threading.Lock()

    def pin(self, owner: str, from_s: float) -> None:
        """Keep every packet needed for a clip from ``from_s`` until ``unpin(owner)``."""
        with self._lock:
            self._pins[owner] = from_s

    def unpin(self, owner: str) -> None:
        with self._lock:
            self._pins.pop(owner, None)

    def append(self, packet: EncodedPacket) -> None:
        with self._lock:
            self._packets.append(packet)
            self._trim()

    def _trim(self) -> None:
        newest = self._packets[-1].t_s
        # Drop whole GOPs only: the oldest keyframe that still leaves `seconds` of history becomes the head.
        while len(self._packets) > 1:
            next_key = next((i for i, p in enumerate(self._packets) if i > 0 and p.is_keyframe), None)
            if next_key is None or newest - self._packets[next_key].t_s < self.seconds:
                break
            if self._pins and self._packets[next_key].t_s > min(self._pins.values()) + 1e-6:
                break  # the GOP before the next keyframe holds a pinned clip's start
            for _ in range(next_key):
                self._packets.popleft()

    @property
    def latest_s(self) -> float | None:
        with self._lock:
            return self._packets[-1].t_s if self._packets else None

    @property
    def nbytes(self) -> int:
        with self._lock:
            return sum(len(p.data) for p in self._packets)

    def snapshot(self) -> list[EncodedPacket]:
        with self._lock:
            return list(self._packets)
