"""Capacity sources: where an agent learns its center's CPU cores, GPUs, memory and storage."""

from __future__ import annotations

import logging
from typing import Protocol

import msgspec

from agents.errors import DcmonError
from agents.protocol import RESOURCES, Resource

log = logging.getLogger(__name__)


class CapacityReading(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One reading of a center's capacity; every resource is optional."""

    cpu_cores: Resource | None = None
    gpus: Resource | None = None
    memory_bytes: Resource | None = None
    storage_bytes: Resource | None = None

    def check(self) -> CapacityReading:
        """Return self if every resource has ``available <= total``, else raise."""
        for name in RESOURCES:
            res: Resource | None = getattr(self, name)
            if res is not None and res.available > res.total:
                raise CapacitySourceError(
                    f"{name}: available {res.available:g} exceeds total {res.total:g}"
                )
        return self


class CapacitySourceError(DcmonError):
    """A capacity source could not produce a reading (the agent keeps its last good one)."""


class CapacitySource(Protocol):
    """Anything that can read the current capacity."""

    @property
    def name(self) -> str:
        """Short name for logs (``host``, ``slurm``, …)."""
        ...

    async def read(self) -> CapacityReading:
        """Read the capacity now; raise ``CapacitySourceError`` when it cannot."""
        ...


class CapacityTracker:
    """Wraps a source: a failed read is logged and counted, and the last good reading is kept.

    Attributes:
        failures: reads that failed so far.
        failing: whether the latest read failed.
        last_good: the latest good reading, ``None`` before any.
    """

    def __init__(self, source: CapacitySource, center: str) -> None:
        self.source = source
        self.center = center
        self.failures = 0
        self.failing = False
        self.last_good: CapacityReading | None = None

    async def read(self) -> CapacityReading | None:
        """The fresh reading, or the last good one (``None`` before any success)."""
        extra = {"center": self.center}
        try:
            self.last_good = (await self.source.read()).check()
        except Exception as exc:  # a failing source must never stop the agent
            self.failures += 1
            self.failing = True
            log.warning(
                "capacity source %s failed (failure %d): %s; %s",
                self.source.name,
                self.failures,
                exc,
                "keeping the last good value"
                if self.last_good is not None
                else "no capacity to report yet",
                exc_info=not isinstance(exc, CapacitySourceError),
                extra=extra,
            )
        else:
            if self.failing:
                self.failing = False
                log.info("capacity source %s works again", self.source.name, extra=extra)
        return self.last_good
