"""Run a whole simulated federation: one agent (one MQTT client) per center, one event loop."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import replace
from types import TracebackType

from agents.broker import BrokerAddress
from monitor.registry import Registry
from monitor.simulation.agent import PublishStats, SimulatedAgent, Timing
from monitor.simulation.network import Fault, SimulatedNetwork

logger = logging.getLogger(__name__)

CONNECTS_PER_SECOND = 400
"""Start-up pacing, so that thousands of agents do not hit the broker in the same instant."""
STOP_TIMEOUT_S = 10.0


class Simulator:
    """Simulated agents for every center of a registry, with fault injection.

    Use as an async context manager: entering starts every agent, leaving says goodbye for each
    and waits for them.

    Args:
        registry: the federation to simulate.
        broker: where the agents publish.
        timing: publishing intervals of every agent.
        seed: makes probe noise and capacity drift reproducible.
        center_accounts: each agent logs in as its center (user name = center id, the broker
            address's password), as real agents do; a broker that ties client id to user name
            (the shipped config) would otherwise let the agents of one shared account evict
            one another.
        flap_period_s: how long a flapping link stays failed, then working.
        clock: wall clock for payload timestamps and flap phases.
    """

    def __init__(
        self,
        registry: Registry,
        broker: BrokerAddress,
        timing: Timing | None = None,
        *,
        seed: int | None = None,
        center_accounts: bool = False,
        flap_period_s: float = 4.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        rng = random.Random(seed)
        self.registry = registry
        self.timing = timing or Timing()
        self.network = SimulatedNetwork(
            registry, flap_period_s=flap_period_s, rng=random.Random(rng.random())
        )
        self.stats = PublishStats()
        self._clock = clock
        neighbours = registry.adjacency()
        self.agents = {
            center.id: SimulatedAgent(
                center,
                neighbours.get(center.id, ()),
                self.network,
                broker=replace(broker, username=center.id) if center_accounts else broker,
                timing=self.timing,
                stats=self.stats,
                rng=random.Random(rng.random()),
                clock=clock,
            )
            for center in registry.centers
        }
        self._tasks: list[asyncio.Task[None]] = []
        self._flap_task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Start every agent (paced) and the flap ticker."""
        for i, agent in enumerate(self.agents.values()):
            self._tasks.append(asyncio.create_task(agent.run(), name=f"simulated-{agent.id}"))
            if (i + 1) % CONNECTS_PER_SECOND == 0:
                await asyncio.sleep(1)
        self._flap_task = asyncio.create_task(self._flap_ticker(), name="simulated-flaps")
        logger.info("simulating %d centers", len(self.agents))

    async def stop(self) -> None:
        """Every agent says goodbye and disconnects; stragglers are cancelled."""
        if self._flap_task is not None:
            self._flap_task.cancel()
        for agent in self.agents.values():
            agent.stop()
        tasks = [t for t in self._tasks if not t.done()]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=STOP_TIMEOUT_S)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self._flap_task is not None:
            await asyncio.gather(self._flap_task, return_exceptions=True)
        self._tasks.clear()

    def inject(self, fault: Fault) -> None:
        """Apply a fault (or ``heal``) now and wake the agents it concerns.

        Raises:
            FaultError: for an unknown fault, center, region or link.
        """
        affected = self.network.apply(fault, self._clock())
        logger.info("fault injected: %s", fault.describe())
        for center in affected:
            self.agents[center].poke()

    def connection_errors(self) -> int:
        """Broker connections of the agents that failed or were lost, plus simulation errors."""
        return self.stats.errors + sum(agent.failures for agent in self.agents.values())

    def agents_cut_off(self) -> int:
        """How many agents that should hold a broker connection (running, not frozen) do not."""
        network = self.network
        return sum(
            1
            for center, agent in self.agents.items()
            if network.agent_runs(center) and not network.agent_frozen(center)
            if not agent.connected
        )

    def connected_agents(self) -> int:
        """How many agents hold a broker connection right now."""
        return sum(agent.connected for agent in self.agents.values())

    async def _flap_ticker(self) -> None:
        """Probe both ends of flapping links at each flip, so the flap shows at once."""
        period = self.network.flap_period_s
        while True:
            await asyncio.sleep(period / 2)
            for a, b in list(self.network.flapping_links):
                self.agents[a].poke()
                self.agents[b].poke()
