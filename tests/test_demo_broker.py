"""The demo's broker: mosquitto when installed, else the embedded iotcore (retained and wills)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiomqtt
import psutil

from agents.broker import parse_broker_url
from agents.protocol import CenterState, MessageKind, center_topic, decode
from monitor.demo.broker import find_mosquitto, start_broker
from monitor.registry import load_registry
from monitor.simulation.agent import Timing
from monitor.simulation.federation import Simulator
from monitor.simulation.network import Fault
from monitor.simulation.scale import scale_registry


def test_auto_prefers_mosquitto_and_stop_leaves_no_process() -> None:
    """With mosquitto installed the demo uses it; stop() ends the child process."""
    assert find_mosquitto() is not None
    broker = start_broker("auto")
    pid = broker.process.pid
    try:
        assert broker.kind == "mosquitto"
        assert broker.url.startswith("mqtt://127.0.0.1:")
    finally:
        broker.stop()
    assert not psutil.pid_exists(pid)


async def _retained_state(port: int, center: str) -> CenterState:
    async with aiomqtt.Client("127.0.0.1", port, identifier="test-reader") as client:
        await client.subscribe(center_topic(center, MessageKind.STATE), qos=1)
        async with asyncio.timeout(10):
            async for raw in client.messages:
                payload = decode(str(raw.topic), bytes(raw.payload)).payload
                assert isinstance(payload, CenterState)
                return payload
    raise AssertionError("no retained state")


async def test_embedded_iotcore_broker_keeps_retained_births_and_fires_wills(
    registry_path: Path,
) -> None:
    """The iotcore fallback keeps retained births and publishes a killed agent's will."""
    broker = start_broker("iotcore")
    pid = broker.process.pid
    try:
        registry = scale_registry(load_registry(registry_path), 6)
        timing = Timing(heartbeat_interval_s=0.3, probe_interval_s=0.5, capacity_interval_s=1)
        async with Simulator(registry, parse_broker_url(broker.url), timing, seed=2) as sim:

            async def born() -> CenterState:
                while True:
                    state = await _retained_state(broker.port, "hub-north")
                    if state.status == "online":
                        return state
                    await asyncio.sleep(0.2)

            birth = await asyncio.wait_for(born(), 15)
            sim.inject(Fault("stop-agent", ("hub-north",)))

            async def will() -> CenterState:
                while True:
                    state = await _retained_state(broker.port, "hub-north")
                    if state.status == "offline":
                        return state
                    await asyncio.sleep(0.2)

            lost = await asyncio.wait_for(will(), 15)
            assert lost.reason == "lost"
            assert lost.session == birth.session
    finally:
        broker.stop()
    assert not psutil.pid_exists(pid)
