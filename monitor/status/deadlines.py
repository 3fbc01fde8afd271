"""Deadlines: the times at which the picture may change without any new message.

A center turns silent when its heartbeat window runs out (``alive``), its links report stops
counting when it is no longer fresh (``fresh``), a grace period ends (``grace``), and a
maintenance window starts or ends (``maintenance``). The engine pushes them here and, at each
evaluation, pops the ones that passed and checks whether they really changed anything.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterator
from typing import Literal

DeadlineKind = Literal["alive", "fresh", "grace", "maintenance"]


class Deadlines:
    """A min-heap of ``(at, kind, center)``; ``alive`` and ``fresh`` are queued once per center."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, DeadlineKind, str]] = []
        self._queued: set[tuple[DeadlineKind, str]] = set()
        self._tiebreak = itertools.count()

    def push(self, at: float, kind: DeadlineKind, center: str = "") -> None:
        """Add a deadline (``grace`` and ``maintenance`` may be queued several times)."""
        heapq.heappush(self._heap, (at, next(self._tiebreak), kind, center))

    def push_once(self, at: float, kind: DeadlineKind, center: str) -> None:
        """Add a per-center deadline unless one of that kind is already queued for it."""
        key = (kind, center)
        if key not in self._queued:
            self._queued.add(key)
            self.push(at, kind, center)

    def pop_due(self, now: float) -> Iterator[tuple[DeadlineKind, str]]:
        """Remove and yield every deadline at or before ``now``, earliest first."""
        heap = self._heap
        while heap and heap[0][0] <= now:
            _, _, kind, center = heapq.heappop(heap)
            self._queued.discard((kind, center))
            yield kind, center

    def next_at(self) -> float | None:
        """The earliest queued deadline, if any."""
        return self._heap[0][0] if self._heap else None
