"""Capacity that drifts plausibly: jobs start and end, storage fills and is freed slowly."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Final

from agents.protocol import Resource
from monitor.registry import CenterSpec, DeclaredCapacity

GIB: Final = 1024**3
TB: Final = 10**12

# Nominal capacity of a center whose registry entry declares none (generated centers).
DEFAULT_CAPACITY: Final[dict[str, DeclaredCapacity]] = {
    "national": DeclaredCapacity(
        cpu_cores=50_000, gpus=256, memory_bytes=400_000 * GIB, storage_bytes=50_000 * TB
    ),
    "regional": DeclaredCapacity(
        cpu_cores=10_000, gpus=64, memory_bytes=80_000 * GIB, storage_bytes=5_000 * TB
    ),
    "hpc": DeclaredCapacity(
        cpu_cores=30_000, gpus=512, memory_bytes=200_000 * GIB, storage_bytes=10_000 * TB
    ),
    "provincial": DeclaredCapacity(
        cpu_cores=800, gpus=0, memory_bytes=6_000 * GIB, storage_bytes=500 * TB
    ),
}


@dataclass(frozen=True, slots=True)
class Job:
    """A running job holding part of a center's compute until ``ends_at``."""

    cpu_cores: int
    gpus: int
    memory_bytes: int
    ends_at: float


@dataclass
class CapacityDrift:
    """One center's capacity over time: a random stream of jobs on its declared totals.

    Utilisation hovers around ``target_utilisation`` with jobs of 0.5-6 % of the center each,
    lasting from a few seconds to a couple of minutes, so the numbers move but stay plausible.
    """

    totals: DeclaredCapacity
    rng: random.Random
    target_utilisation: float = 0.6
    jobs: list[Job] = field(default_factory=list)
    storage_used_ratio: float = 0.5

    @classmethod
    def for_center(cls, center: CenterSpec, rng: random.Random) -> CapacityDrift:
        """A drift model starting from the center's declared (or default) capacity."""
        totals = center.capacity or DEFAULT_CAPACITY[center.tier]
        return cls(
            totals=totals,
            rng=rng,
            target_utilisation=rng.uniform(0.35, 0.8),
            storage_used_ratio=rng.uniform(0.3, 0.7),
        )

    def _used(self) -> tuple[int, int, int]:
        cores = sum(j.cpu_cores for j in self.jobs)
        gpus = sum(j.gpus for j in self.jobs)
        memory = sum(j.memory_bytes for j in self.jobs)
        return cores, gpus, memory

    def advance(self, now: float) -> None:
        """End finished jobs and start new ones until utilisation is near its target."""
        self.jobs = [j for j in self.jobs if j.ends_at > now]
        total = self.totals
        while True:
            cores, gpus, memory = self._used()
            utilisation = cores / total.cpu_cores if total.cpu_cores else 1.0
            if utilisation >= self.target_utilisation * self.rng.uniform(0.85, 1.1):
                break
            share = self.rng.uniform(0.005, 0.06)
            job = Job(
                cpu_cores=min(total.cpu_cores - cores, max(1, round(total.cpu_cores * share))),
                gpus=min(total.gpus - gpus, round(total.gpus * share * self.rng.uniform(0, 2))),
                memory_bytes=min(total.memory_bytes - memory, round(total.memory_bytes * share)),
                ends_at=now + self.rng.uniform(5, 120),
            )
            if job.cpu_cores <= 0:
                break
            self.jobs.append(job)
        drift = self.rng.gauss(0, 0.002)
        self.storage_used_ratio = min(0.98, max(0.05, self.storage_used_ratio + drift))

    def report(self, now: float) -> dict[str, Resource]:
        """The capacity an agent would report now (advances the model first)."""
        self.advance(now)
        cores, gpus, memory = self._used()
        total = self.totals
        out: dict[str, Resource] = {}
        for name, size, used in (
            ("cpu_cores", total.cpu_cores, cores),
            ("gpus", total.gpus, gpus),
            ("memory_bytes", total.memory_bytes, memory),
            (
                "storage_bytes",
                total.storage_bytes,
                round(total.storage_bytes * self.storage_used_ratio),
            ),
        ):
            if size > 0:
                out[name] = Resource(total=size, available=max(0, size - used))
        return out
