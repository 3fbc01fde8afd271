"""Ingest rate of the aggregator against a bare aiomqtt subscriber on the same broker, same run.

A private mosquitto; a publisher process sends ``--messages`` QoS 0 heartbeats (~300 B, valid
sessions and growing seq) of a 1,000-center synthetic federation as fast as it can. Each
receiver is measured from its first to its last message:

* baseline: a bare aiomqtt subscriber that receives and decodes (``agents.protocol.decode``);
* the aggregator's ``Ingest`` feeding the real status engine, with the evaluation loop running
  and ``/metrics`` scraped every 100 ms (the longest event-loop stall is reported too).

Target: aggregator rate >= 0.75x baseline; no stall > 50 ms. Run:
``python -m benchmarks.aggregator_ingest [--messages 100000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiomqtt

from agents.protocol import CenterState, MessageKind, center_topic, decode, encode
from benchmarks.engine_evaluation import synthetic_registry
from monitor.config import AggregatorConfig
from monitor.service import Aggregator
from tests.services import Mosquitto

CENTERS = 1000
PUBLISHING = 900
"""Heartbeats come from the provincial centers ``p-0`` … ``p-899`` (all registered)."""
PUBLISHER = r"""
import sys, time
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
port, count, centers, session, offset = (int(a) for a in sys.argv[1:6])
pad = "x" * 180
client = mqtt.Client(CallbackAPIVersion.VERSION2)
client.max_queued_messages_set(0)
client.connect("127.0.0.1", port)
client.loop_start()
for i in range(count):
    c = i % centers
    body = '{"v":1,"session":%d,"seq":%d,"ts":%f,"pad":"%s"}' % (
        session, i + offset, time.time(), pad)
    while client.publish("dcmon/v1/centers/p-%d/heartbeat" % c, body, qos=0).rc != 0:
        time.sleep(0.001)
    if i % 2000 == 0:
        time.sleep(0)
client.loop_stop()
client.disconnect()
"""


def _publish(port: int, count: int, session: int, offset: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            PUBLISHER,
            *(str(n) for n in (port, count, PUBLISHING, session, offset)),
        ]
    )


async def _births(port: int, session: int, centers: list[str]) -> None:
    async with aiomqtt.Client("127.0.0.1", port) as client:
        for cid in centers:
            birth = CenterState(
                center=cid, status="online", session=session, ts=time.time(), heartbeat_interval_s=5
            )
            await client.publish(
                center_topic(cid, MessageKind.STATE), encode(birth), qos=1, retain=True
            )


async def bare_subscriber(port: int, count: int, session: int) -> float:
    """Messages per second received and decoded by a bare aiomqtt subscriber."""
    async with aiomqtt.Client("127.0.0.1", port) as client:
        await client.subscribe("dcmon/v1/centers/+/heartbeat", qos=1)
        publisher = _publish(port, count, session, 10)
        received = 0
        first = 0.0
        async for message in client.messages:
            if received == 0:
                first = time.perf_counter()
            payload = message.payload
            assert isinstance(payload, bytes)
            decode(message.topic.value, payload)
            received += 1
            if received == count:
                break
        elapsed = time.perf_counter() - first
        publisher.wait()
    return count / elapsed


async def aggregator_ingest(port: int, count: int, session: int) -> tuple[float, float, int]:
    """Messages per second through the aggregator; longest loop stall; evaluations."""
    registry = synthetic_registry(CENTERS)
    config = AggregatorConfig(broker=f"mqtt://127.0.0.1:{port}", listen="127.0.0.1:0")
    aggregator = Aggregator(config, registry)
    async with aggregator.running():
        while not aggregator.ready:  # noqa: ASYNC110 - a flag of the ingest, no event to await
            await asyncio.sleep(0.05)
        received = aggregator.received
        before = received["heartbeat"]
        evaluations = aggregator.evaluations
        publisher = _publish(port, count, session, count + 10)
        longest = 0.0
        last = time.perf_counter()
        next_scrape = last
        first = 0.0
        while received["heartbeat"] - before < count:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            longest = max(longest, now - last)
            last = now
            if not first and received["heartbeat"] > before:
                first = now
            if now >= next_scrape:
                next_scrape = now + 0.1
                await aggregator.metrics_text()
        elapsed = time.perf_counter() - first
        publisher.wait()
        rejected = sum(aggregator.rejected.values())
        assert rejected == 0, dict(aggregator.rejected)
        return count / elapsed, longest, aggregator.evaluations - evaluations


async def main_async(count: int) -> None:
    """Run both receivers on one broker and print the figures."""
    with tempfile.TemporaryDirectory() as tmp:
        broker = Mosquitto(Path(tmp), extra_config="max_queued_messages 0\n")
        broker.start()
        try:
            registry = synthetic_registry(CENTERS)
            session = int(time.time() * 1000)
            await _births(broker.port, session, list(registry.center_ids()))
            baseline = await bare_subscriber(broker.port, count, session)
            rate, stall, evaluations = await aggregator_ingest(broker.port, count, session)
        finally:
            broker.stop()
    verdict = "OK" if rate >= 0.75 * baseline else "MISSES TARGET"
    print(
        f"{count} QoS 0 heartbeats from {CENTERS} centers:\n"
        f"  bare aiomqtt subscriber + decode  {baseline:9.0f} msg/s (baseline)\n"
        f"  aggregator ingest + engine        {rate:9.0f} msg/s  "
        f"({rate / baseline:.2f}x baseline; target 0.75x) {verdict}\n"
        f"  evaluations during the run: {evaluations}; /metrics scraped every 100 ms; "
        f"longest event-loop stall {stall * 1000:.1f} ms (target 50 ms)"
    )


def main() -> None:
    """Parse flags and run."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=100_000)
    args = parser.parse_args()
    asyncio.run(main_async(args.messages))


if __name__ == "__main__":
    main()
