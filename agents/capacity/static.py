"""``capacity.source: static``: numbers written in the config file."""

from __future__ import annotations

from agents.capacity import CapacityReading


class StaticSource:
    """Always returns the same configured reading."""

    name = "static"

    def __init__(self, reading: CapacityReading) -> None:
        self._reading = reading

    async def read(self) -> CapacityReading:
        """The configured reading."""
        return self._reading
