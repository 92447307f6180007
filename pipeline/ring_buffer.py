"""Pre-roll buffer of the record stream's encoded packets (a few MB, not decoded frames)."""

from __future__ import annotations

import threading
from collections import deque

from evidence.clips import EncodedPacket


class PacketRingBuffer:
    """Keeps at least ``seconds`` of packets, always starting at a keyframe so clips can be cut.

    Capture appends while the evidence stage reads, from another thread: every access holds the lock.
    """

    def __init__(self, seconds: float) -> None:
        if seconds <= 0:
            raise ValueError(f"seconds must be > 0, got {seconds}")
        self.seconds = seconds
        self._packets: deque[EncodedPacket] = deque()
        self._lock = threading.Lock()

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
