"""Time per center per status per UTC day, accumulated from snapshots (the report's figures).

``StatusClock`` knows each center's current bucket (its status, or ``blind`` for ``unknown``
while the monitor has no broker) and since when; every transition, blind change and flush
credits the time since then to that bucket, split at UTC midnights. Time the aggregator did not
run is credited to nothing: the report shows it as not observed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Final

from monitor.service.store.schema import BLIND
from monitor.status.model import Snapshot, Status

DAY_S: Final = 86_400

Credit = tuple[str, int, str]
"""``(center, UTC day number, bucket)``: what a share of time is credited to."""


def day_of(at: float) -> int:
    """The UTC day number (days since 1970-01-01) of Unix time ``at``."""
    return int(at // DAY_S)


def split_by_day(start: float, end: float) -> Iterator[tuple[int, float]]:
    """``(day, seconds)`` pieces of ``[start, end)`` cut at UTC midnights."""
    while start < end:
        day = day_of(start)
        piece_end = min(end, (day + 1) * DAY_S)
        yield day, piece_end - start
        start = piece_end


def bucket_of(status: Status, blind: bool) -> str:
    """The time bucket of a center in ``status`` (``unknown`` while blind is ``blind``)."""
    return BLIND if blind and status == "unknown" else status


class StatusClock:
    """Each center's current bucket and the time owed to it (run in the store's thread).

    Args:
        pause: called every ``PACE`` centers or events handled (the store's thread hands the GIL
            to the event loop there, so a burst is never one long hold).
    """

    PACE: Final = 100

    def __init__(self, pause: Callable[[], None] = lambda: None) -> None:
        self._pause = pause
        self._handled = 0
        self._current: dict[str, tuple[str, float]] = {}
        self._blind = False
        self._last_seq = 0
        self.owed: dict[Credit, float] = {}
        """Seconds credited and not yet written, by (center, day, bucket)."""

    def observe(self, snapshot: Snapshot) -> None:
        """Fold in one snapshot: its new transitions, and the monitor going blind or back."""
        now = snapshot.evaluated_at
        if not self._current:
            self._blind = snapshot.blind
            self._current = {
                center: (bucket_of(view.status, snapshot.blind), now)
                for center, view in snapshot.centers.items()
            }
            self._last_seq = max((e.seq for e in snapshot.transitions), default=0)
            return
        for event in snapshot.transitions:
            if event.seq <= self._last_seq:
                continue  # a snapshot may carry its predecessor's events
            self._last_seq = event.seq
            self._move(event.center, bucket_of(event.new, snapshot.blind), event.at)
        if len(self._current) > len(snapshot.centers):  # a reload removed centers
            for center in [c for c in self._current if c not in snapshot.centers]:
                self._move(center, "", now)
                del self._current[center]
        if snapshot.blind != self._blind:
            self._blind = snapshot.blind
            for center, (bucket, _) in list(self._current.items()):
                if bucket in ("unknown", BLIND):
                    self._move(center, bucket_of("unknown", snapshot.blind), now)

    def _paced(self) -> None:
        self._handled += 1
        if self._handled % self.PACE == 0:
            self._pause()

    def _move(self, center: str, bucket: str, at: float) -> None:
        self._paced()
        before = self._current.get(center)
        if before is not None:
            at = max(at, before[1])  # settled past it already: the time was credited once
            self._credit(center, before[0], before[1], at)
        self._current[center] = (bucket, at)

    def _credit(self, center: str, bucket: str, start: float, end: float) -> None:
        day = day_of(start)
        if end <= (day + 1) * DAY_S:  # the common case (settled often): no midnight between
            key = (center, day, bucket)
            self.owed[key] = self.owed.get(key, 0.0) + (end - start)
            return
        for day, seconds in split_by_day(start, end):
            key = (center, day, bucket)
            self.owed[key] = self.owed.get(key, 0.0) + seconds

    def settle(self, now: float) -> None:
        """Credit every center's current bucket up to ``now`` (before a write or a report)."""
        for center, (bucket, since) in self._current.items():
            self._paced()
            if now > since:
                self._credit(center, bucket, since, now)
                self._current[center] = (bucket, now)

    def take(self) -> dict[Credit, float]:
        """The owed seconds, handed over for writing."""
        owed, self.owed = self.owed, {}
        return owed
