"""``capacity.source: host``: this machine's cores, memory and disk, via psutil."""

from __future__ import annotations

import os

import psutil

from agents.capacity import CapacityReading, CapacitySourceError
from agents.protocol import Resource

# Rounding keeps tiny fluctuations from counting as a change (a change is published at once).
_MEMORY_STEP = 64 * 1024 * 1024
_STORAGE_STEP = 1024 * 1024 * 1024


class HostSource:
    """Cores (available = cores minus the 1-minute load), memory and one filesystem's space."""

    name = "host"

    def __init__(self, storage_path: str = "/") -> None:
        self._storage_path = storage_path

    async def read(self) -> CapacityReading:
        """Read this machine's capacity (a few cheap system calls)."""
        try:
            cores = psutil.cpu_count() or 1
            load1 = os.getloadavg()[0]
            memory = psutil.virtual_memory()
            disk = psutil.disk_usage(self._storage_path)
        except OSError as exc:
            raise CapacitySourceError(f"cannot read host capacity: {exc}") from exc
        return CapacityReading(
            cpu_cores=Resource(total=cores, available=max(0, round(cores - load1))),
            memory_bytes=Resource(
                total=memory.total, available=_round_down(memory.available, _MEMORY_STEP)
            ),
            storage_bytes=Resource(
                total=disk.total, available=_round_down(disk.free, _STORAGE_STEP)
            ),
        )


def _round_down(value: int, step: int) -> int:
    return value - value % step
