"""How many simulated agents one process sustains: published rate against the scheduled rate.

Runs ``Simulator`` at each scale against a private mosquitto for a fixed time and prints the
message rate it achieved as a ratio of the rate its schedule asks for (1.00 = keeps up), with the
worst schedule lag. Usage: ``python -m benchmarks.simulate_rate [N ...]`` (default 72 500 2000).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

from agents.broker import parse_broker_url
from monitor.registry import load_registry
from monitor.simulation.agent import Timing
from monitor.simulation.federation import Simulator
from monitor.simulation.scale import scale_registry
from tests.services import Mosquitto

REPO = Path(__file__).resolve().parent.parent
WARMUP_S = 5.0
MEASURE_S = 30.0
"""A whole capacity interval, so every message kind is counted in full."""


async def measure(size: int, url: str) -> tuple[float, float, float]:
    """(published msg/s, scheduled msg/s, max lag s) at ``size`` centers."""
    registry = scale_registry(load_registry(REPO / "config" / "topology.yaml"), size)
    timing = Timing()
    scheduled = size * (
        1 / timing.heartbeat_interval_s
        + 1 / timing.probe_interval_s
        + 1 / timing.capacity_interval_s
    )
    async with Simulator(registry, parse_broker_url(url), timing, seed=1) as simulator:
        await asyncio.sleep(WARMUP_S)
        start_total, start = simulator.stats.total, time.monotonic()
        simulator.stats.max_lag_s = 0.0
        await asyncio.sleep(MEASURE_S)
        rate = (simulator.stats.total - start_total) / (time.monotonic() - start)
        return rate, scheduled, simulator.stats.max_lag_s


def main(argv: list[str]) -> None:
    """Measure each requested scale."""
    sizes = [int(a) for a in argv] or [72, 500, 2000]
    with tempfile.TemporaryDirectory() as workdir:
        broker = Mosquitto(Path(workdir))
        broker.start()
        try:
            for size in sizes:
                rate, scheduled, lag = asyncio.run(measure(size, broker.url))
                print(
                    f"{size:5d} centers: {rate:7.0f} msg/s published / {scheduled:7.0f} scheduled"
                    f" = {rate / scheduled:.2f}; worst schedule lag {lag:.2f} s"
                )
        finally:
            broker.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
