"""The real broker carries the protocol: retained births and wills of killed clients."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

import aiomqtt

from agents import protocol
from agents.protocol import CenterState, MessageKind
from tests.services import Mosquitto

WILL_CLIENT = """
import sys, time, paho.mqtt.client as mqtt
from agents import protocol
port, center = int(sys.argv[1]), sys.argv[2]
topic = protocol.center_topic(center, protocol.MessageKind.STATE)
will = protocol.encode(protocol.CenterState(center=center, status="offline", session=42,
                                            ts=time.time(), reason="lost"))
birth = protocol.encode(protocol.CenterState(center=center, status="online", session=42,
                                             ts=time.time(), heartbeat_interval_s=5))
client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=center)
client.will_set(topic, will, qos=1, retain=True)
client.connect("127.0.0.1", port, keepalive=60)
client.loop_start()
client.publish(topic, birth, qos=1, retain=True).wait_for_publish()
print("born", flush=True)
time.sleep(600)
"""


async def _next_state(port: int, center: str, timeout_s: float = 10.0) -> CenterState:
    async with aiomqtt.Client("127.0.0.1", port, identifier=f"watch-{time.monotonic_ns()}") as c:
        await c.subscribe(protocol.center_topic(center, MessageKind.STATE), qos=1)
        async with asyncio.timeout(timeout_s):
            async for msg in c.messages:
                payload = protocol.decode(str(msg.topic), msg.payload).payload
                assert isinstance(payload, CenterState)
                return payload
    raise AssertionError("unreachable")


async def test_retained_birth_then_will_of_a_killed_client(mosquitto: Mosquitto) -> None:
    """A client killed without DISCONNECT leaves its retained birth replaced by its will."""
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    proc = subprocess.Popen(
        [sys.executable, "-c", WILL_CLIENT, str(mosquitto.port), "prov-ha-noi"],
        stdout=subprocess.PIPE,
        env=env,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"born"
        born = await _next_state(mosquitto.port, "prov-ha-noi")
        assert (born.status, born.session) == ("online", 42)

        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        async with asyncio.timeout(10):
            while (state := await _next_state(mosquitto.port, "prov-ha-noi")).status == "online":
                await asyncio.sleep(0.05)
        assert (state.status, state.reason, state.session) == ("offline", "lost", 42)
    finally:
        proc.kill()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
