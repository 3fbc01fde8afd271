"""A simulated federation with fault injection from stdin, for the Prometheus integration test.

Run as ``python -m tests.simulated_federation BROKER_URL TOPOLOGY``. Prints ``ready`` once every
agent runs, then applies one fault per stdin line (``partition central``, ``down hub-north``,
``heal``) and answers ``injected <line>``. Closing stdin stops every agent gracefully.
"""

from __future__ import annotations

import asyncio
import sys
from typing import cast

from agents.broker import parse_broker_url
from monitor.registry import load_registry
from monitor.simulation.agent import Timing
from monitor.simulation.federation import Simulator
from monitor.simulation.network import Fault, FaultKind

# Fast enough for a test: a heartbeat window of 3 s.
TIMING = Timing(heartbeat_interval_s=1.0, probe_interval_s=1.0, capacity_interval_s=2.0)


async def run(broker_url: str, topology: str) -> None:
    """Simulate every center of ``topology`` until stdin closes."""
    registry = load_registry(topology)
    loop = asyncio.get_running_loop()
    async with Simulator(registry, parse_broker_url(broker_url), TIMING, seed=7) as simulator:
        print("ready", flush=True)
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            kind, *args = line.split()
            simulator.inject(Fault(cast(FaultKind, kind), tuple(args)))
            print("injected", line.strip(), flush=True)


if __name__ == "__main__":
    asyncio.run(run(sys.argv[1], sys.argv[2]))
