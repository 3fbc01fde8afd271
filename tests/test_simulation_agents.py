"""Simulated agents against a real mosquitto: real wire protocol, real wills, real faults."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiomqtt
import pytest

from agents.broker import parse_broker_url
from agents.lifecycle import cancel_and_wait
from agents.protocol import SUBSCRIPTION, CenterState, Heartbeat, LinkReport, Message, decode
from monitor.registry import Registry, load_registry
from monitor.simulation.agent import Timing
from monitor.simulation.federation import Simulator
from monitor.simulation.network import Fault
from monitor.simulation.scale import scale_registry
from tests.services import Mosquitto

FAST = Timing(
    heartbeat_interval_s=0.3, probe_interval_s=0.5, capacity_interval_s=1.0, heartbeat_misses=3
)


class Observer:
    """Every decoded message seen on ``dcmon/v1/#``, with a way to wait for one."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self._changed = asyncio.Condition()

    async def add(self, message: Message) -> None:
        async with self._changed:
            self.messages.append(message)
            self._changed.notify_all()

    async def wait_for(
        self, predicate: Callable[[Message], bool], timeout_s: float = 20.0
    ) -> Message:
        """The first message (already seen or new) that matches."""
        async with asyncio.timeout(timeout_s), self._changed:
            while True:
                for message in self.messages:
                    if predicate(message):
                        return message
                await self._changed.wait()


@pytest.fixture
def small_registry(registry_path: Path) -> Registry:
    """The first 12 centers of the sample federation (nationals, hubs, HPC, a few provinces)."""
    return scale_registry(load_registry(registry_path), 12)


@pytest.fixture
async def observer(mosquitto: Mosquitto) -> AsyncIterator[Observer]:
    """A subscriber to every dcmon topic of the test broker."""
    seen = Observer()
    async with aiomqtt.Client("127.0.0.1", mosquitto.port, identifier="test-observer") as client:
        await client.subscribe(SUBSCRIPTION, qos=1)

        async def pump() -> None:
            async for raw in client.messages:
                await seen.add(decode(str(raw.topic), bytes(raw.payload)))

        task = asyncio.create_task(pump())
        try:
            yield seen
        finally:
            await cancel_and_wait({task})


def _state(center: str, status: str, reason: str | None = None) -> Callable[[Message], bool]:
    def match(m: Message) -> bool:
        p = m.payload
        return (
            m.source == center
            and isinstance(p, CenterState)
            and p.status == status
            and (reason is None or p.reason == reason)
        )

    return match


def _links_of(center: str) -> Callable[[Message], bool]:
    return lambda m: m.source == center and isinstance(m.payload, LinkReport)


async def test_every_simulated_center_is_born_and_reports_links(
    mosquitto: Mosquitto, observer: Observer, small_registry: Registry
) -> None:
    """Each simulated center publishes a valid birth, heartbeats and probes of its neighbours."""
    async with Simulator(small_registry, parse_broker_url(mosquitto.url), FAST, seed=1):
        for center in small_registry.centers:
            await observer.wait_for(_state(center.id, "online"))
            report = await observer.wait_for(_links_of(center.id))
            assert isinstance(report.payload, LinkReport)
            peers = {p.peer for p in report.payload.probes}
            assert peers == set(small_registry.neighbours(center.id))
            assert all(p.reachable for p in report.payload.probes)


async def test_stopped_agent_dies_by_its_will(
    mosquitto: Mosquitto, observer: Observer, small_registry: Registry
) -> None:
    """stop-agent drops the connection uncleanly: the broker publishes the will (offline, lost)."""
    async with Simulator(small_registry, parse_broker_url(mosquitto.url), FAST, seed=1) as sim:
        birth = await observer.wait_for(_state("hub-north", "online"))
        sim.inject(Fault("stop-agent", ("hub-north",)))
        will = await observer.wait_for(_state("hub-north", "offline", "lost"), timeout_s=10)
        assert isinstance(will.payload, CenterState)
        assert isinstance(birth.payload, CenterState)
        assert will.payload.session == birth.payload.session


async def test_frozen_agent_goes_silent_then_restarts_with_a_new_session_on_heal(
    mosquitto: Mosquitto, observer: Observer, small_registry: Registry
) -> None:
    """freeze stops heartbeats and pings (the broker fires the will); heal starts a new session."""
    async with Simulator(small_registry, parse_broker_url(mosquitto.url), FAST, seed=1) as sim:
        birth = await observer.wait_for(_state("hub-south", "online"))
        sim.inject(Fault("freeze", ("hub-south",)))
        await observer.wait_for(_state("hub-south", "offline", "lost"), timeout_s=15)
        assert isinstance(birth.payload, CenterState)
        old_session = birth.payload.session
        sim.inject(Fault("heal"))
        reborn = await observer.wait_for(
            lambda m: (
                _state("hub-south", "online")(m)
                and isinstance(m.payload, CenterState)
                and m.payload.session > old_session
            )
        )
        await observer.wait_for(
            lambda m: (
                m.source == "hub-south"
                and isinstance(m.payload, Heartbeat)
                and m.payload.session == reborn.payload.session
            )
        )


async def test_down_center_is_reported_unreachable_by_its_neighbours(
    mosquitto: Mosquitto, observer: Observer, small_registry: Registry
) -> None:
    """down kills the agent and its links: a neighbour's next probe says unreachable."""
    async with Simulator(small_registry, parse_broker_url(mosquitto.url), FAST, seed=1) as sim:
        await observer.wait_for(_state("hub-central", "online"))
        sim.inject(Fault("down", ("hub-central",)))
        await observer.wait_for(_state("hub-central", "offline", "lost"), timeout_s=10)
        await observer.wait_for(
            lambda m: (
                m.source == "ndc-north"
                and isinstance(m.payload, LinkReport)
                and any(p.peer == "hub-central" and not p.reachable for p in m.payload.probes)
            )
        )


async def test_agents_say_goodbye_when_the_simulator_stops(
    mosquitto: Mosquitto, observer: Observer, small_registry: Registry
) -> None:
    """Leaving the simulator publishes a retained goodbye (offline, shutdown) for every center."""
    async with Simulator(small_registry, parse_broker_url(mosquitto.url), FAST, seed=1):
        for center in small_registry.centers:
            await observer.wait_for(_state(center.id, "online"))
    for center in small_registry.centers:
        await observer.wait_for(_state(center.id, "offline", "shutdown"), timeout_s=10)
