"""Maintenance windows (DESIGN §11): declared times when a center or a link is being worked on.

A center inside a window is ``maintenance``; a link inside one keeps the state its probes give
it but is never a failed element, so it opens no incident. Pure: the time is an argument.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from monitor.registry import LinkKey

MaintenanceKind = Literal["center", "link"]


@dataclass(frozen=True, slots=True)
class MaintenanceWindow:
    """A window of one center or one link (wall-clock seconds, ``start <= t < end``)."""

    ids: tuple[str, ...]
    """``(center,)`` for a center, ``(a, b)`` with ``a < b`` for a link."""
    start: float
    end: float
    reason: str = ""

    @property
    def kind(self) -> MaintenanceKind:
        """``center`` or ``link``."""
        return "center" if len(self.ids) == 1 else "link"

    def covers(self, now: float) -> bool:
        """Whether ``now`` is inside the window."""
        return self.start <= now < self.end


@dataclass(frozen=True, slots=True)
class InMaintenance:
    """What is inside a window at one moment."""

    centers: frozenset[str] = frozenset()
    links: frozenset[LinkKey] = frozenset()


def in_maintenance(windows: Iterable[MaintenanceWindow], now: float) -> InMaintenance:
    """The centers and links inside one of ``windows`` at ``now``."""
    centers: set[str] = set()
    links: set[LinkKey] = set()
    for window in windows:
        if not window.covers(now):
            continue
        if window.kind == "center":
            centers.add(window.ids[0])
        else:
            links.add((window.ids[0], window.ids[1]))
    return InMaintenance(frozenset(centers), frozenset(links))
