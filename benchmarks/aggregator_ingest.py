"""Ingest rate, event-loop stall and RSS of the aggregator at 1k and 10k centers, same run.

For each size, in a fresh process: a private mosquitto; a publisher process sends ``--messages``
QoS 0 heartbeats (~300 B, valid sessions and growing seq) of a synthetic federation as fast as it
can. Each receiver is measured from its first to its last message:

* baseline: a bare aiomqtt subscriber that receives and decodes (``agents.protocol.decode``),
  with the same 1 ms loop-lag probe running (the machine's own scheduling noise);
* the aggregator (``build_app``: ingest, the real status engine, the evaluation loop and the HTTP
  app) while ``curl`` scrapes ``/metrics`` from another process, 100 ms after each scrape ended.

Printed as ratios to the baselines of the same process: rate (target >= 0.75x), the longest
event-loop stall (target 50 ms), and RSS against the process with every module imported (target
150 MB at 10k). Run: ``python -m benchmarks.aggregator_ingest [--centers 1000,10000]``.
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
import psutil
from aiohttp import web

from agents.protocol import CenterState, MessageKind, center_topic, decode, encode
from benchmarks.engine_evaluation import synthetic_registry
from benchmarks.scrape import curl
from monitor.config import AggregatorConfig
from monitor.service.aggregator import Aggregator
from monitor.service.http import build_app
from tests.services import Mosquitto

PUBLISHING_SHARE = 0.9
"""Heartbeats come from the provincial centers ``p-0`` … (90% of the federation)."""
SCRAPE_PAUSE_S = 0.1
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


def _rss_mb() -> float:
    return float(psutil.Process().memory_info().rss) / 2**20


def _publish(
    port: int, count: int, centers: int, session: int, offset: int
) -> subprocess.Popen[bytes]:
    publishing = int(centers * PUBLISHING_SHARE)
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            PUBLISHER,
            *(str(n) for n in (port, count, publishing, session, offset)),
        ]
    )


class LagProbe:
    """The longest gap between 1 ms ticks of the event loop while it runs.

    ``longest`` is wall time; ``longest_cpu`` the CPU time this thread spent between two ticks
    (the part of a stall that is our own work, not the shared machine running something else).
    """

    def __init__(self) -> None:
        self.longest = 0.0
        self.longest_cpu = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        last = time.perf_counter()
        last_cpu = time.thread_time()
        while True:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            now_cpu = time.thread_time()
            self.longest = max(self.longest, now - last)
            self.longest_cpu = max(self.longest_cpu, now_cpu - last_cpu)
            last, last_cpu = now, now_cpu

    async def __aenter__(self) -> LagProbe:
        self._task = asyncio.create_task(self._tick())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


async def _scrape_forever(url: str, sizes: list[int]) -> None:
    """GET ``url`` with curl (another process), pausing 100 ms after each answer."""
    while True:
        sizes.append(await curl(url))
        await asyncio.sleep(SCRAPE_PAUSE_S)


async def _births(port: int, session: int, centers: list[str]) -> None:
    async with aiomqtt.Client("127.0.0.1", port) as client:
        for cid in centers:
            birth = CenterState(
                center=cid, status="online", session=session, ts=time.time(), heartbeat_interval_s=5
            )
            await client.publish(
                center_topic(cid, MessageKind.STATE), encode(birth), qos=1, retain=True
            )


async def bare_subscriber(
    port: int, count: int, centers: int, session: int
) -> tuple[float, LagProbe]:
    """Messages per second received and decoded by a bare aiomqtt subscriber; longest loop lag."""
    async with aiomqtt.Client("127.0.0.1", port) as client, LagProbe() as lag:
        await client.subscribe("dcmon/v1/centers/+/heartbeat", qos=1)
        publisher = _publish(port, count, centers, session, 10)
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
    return count / elapsed, lag


async def aggregator_ingest(
    port: int, count: int, centers: int, session: int, *, scrape: bool
) -> tuple[float, LagProbe, int, int, tuple[float, float, float, float]]:
    """Messages per second through the aggregator; loop lag; evaluations; scrapes; RSS (MB)
    before and after the flood; the longest render slice and evaluation (s). ``scrape``: curl
    ``/metrics`` all along."""
    registry = synthetic_registry(centers)
    config = AggregatorConfig(broker=f"mqtt://127.0.0.1:{port}", listen="127.0.0.1:0")
    aggregator = Aggregator(config, registry)
    runner = web.AppRunner(build_app(aggregator))
    await runner.setup()  # starts the aggregator (cleanup_ctx)
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/metrics"
        while not aggregator.ready:  # noqa: ASYNC110 - a flag of the ingest, no event to await
            await asyncio.sleep(0.05)
        await aggregator.metrics_parts()  # the first (cold) render is not what is measured
        idle_rss = _rss_mb()
        received = aggregator.received
        before = received["heartbeat"]
        evaluations = aggregator.evaluations
        sizes: list[int] = []
        scraper = asyncio.create_task(_scrape_forever(url, sizes) if scrape else asyncio.sleep(0))
        async with LagProbe() as lag:
            publisher = _publish(port, count, centers, session, count + 10)
            first = 0.0
            while received["heartbeat"] - before < count:
                await asyncio.sleep(0.001)
                if not first and received["heartbeat"] > before:
                    first = time.perf_counter()
            elapsed = time.perf_counter() - first
        scraper.cancel()
        await asyncio.gather(scraper, return_exceptions=True)
        publisher.wait()
        rss = _rss_mb()
        rejected = sum(aggregator.rejected.values())
        assert rejected == 0, dict(aggregator.rejected)
        assert sizes or not scrape, "no scrape finished"
        assert all(sizes), "every scrape must answer"
        return (
            count / elapsed,
            lag,
            aggregator.evaluations - evaluations,
            len(sizes),
            (
                idle_rss,
                rss,
                aggregator.exposition.longest_slice_s,
                aggregator.evaluation_durations.longest,
            ),
        )
    finally:
        await runner.cleanup()


async def main_async(count: int, centers: int) -> None:
    """Run both receivers on one broker and print the figures of one federation size."""
    imported_mb = _rss_mb()
    with tempfile.TemporaryDirectory() as tmp:
        broker = Mosquitto(Path(tmp), extra_config="max_queued_messages 0\n")
        broker.start()
        try:
            registry = synthetic_registry(centers)
            session = int(time.time() * 1000)
            await _births(broker.port, session, list(registry.center_ids()))
            del registry
            baseline, baseline_lag = await bare_subscriber(broker.port, count, centers, session)
            rate, _, _, _, _ = await aggregator_ingest(
                broker.port, count, centers, session, scrape=False
            )
            scraped_rate, lag, evaluations, scrapes, extra = await aggregator_ingest(
                broker.port, count, centers, session, scrape=True
            )
        finally:
            broker.stop()
    idle_rss, rss, slice_s, evaluation_s = extra
    verdict = "OK" if rate >= 0.75 * baseline else "MISSES TARGET"
    stall_verdict = "OK" if slice_s <= 0.050 else "MISSES TARGET"
    rss_target = " (target 150 MB)" if centers == 10_000 else ""
    print(
        f"{count} QoS 0 heartbeats from {int(centers * PUBLISHING_SHARE)} of {centers} centers:\n"
        f"  bare aiomqtt subscriber + decode  {baseline:9.0f} msg/s (baseline)\n"
        f"  aggregator ingest + engine        {rate:9.0f} msg/s  "
        f"({rate / baseline:.2f}x baseline; target 0.75x) {verdict}\n"
        f"  the same while curl scrapes /metrics ({scrapes} scrapes, 100 ms apart; "
        f"{evaluations} evaluations): {scraped_rate:.0f} msg/s ({scraped_rate / baseline:.2f}x)\n"
        f"  longest event-loop stall caused by a scrape (a render slice): {slice_s * 1000:.1f} ms "
        f"(target 50 ms) {stall_verdict}; longest evaluation {evaluation_s * 1000:.1f} ms\n"
        f"  longest event-loop stall of any cause while scraped: {lag.longest_cpu * 1000:.1f} ms "
        f"on CPU, {lag.longest * 1000:.1f} ms wall; the bare "
        f"subscriber's: {baseline_lag.longest_cpu * 1000:.1f} ms on CPU "
        f"({lag.longest_cpu / baseline_lag.longest_cpu:.1f}x), "
        f"{baseline_lag.longest * 1000:.1f} ms wall ({lag.longest / baseline_lag.longest:.1f}x)\n"
        f"  RSS{rss_target}: {idle_rss:.1f} MB before the flood = {idle_rss / imported_mb:.2f}x, "
        f"{rss:.1f} MB after it = {rss / imported_mb:.2f}x the {imported_mb:.1f} MB of the "
        "process with its modules imported (the flood's backlog waits in aiomqtt's queue)"
    )


def main() -> None:
    """Parse flags and run every size in a fresh process (so RSS is that size's own)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--centers", default="1000,10000")
    args = parser.parse_args()
    sizes = [int(n) for n in args.centers.split(",")]
    if len(sizes) == 1:
        asyncio.run(main_async(args.messages, sizes[0]))
        return
    for size in sizes:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "benchmarks.aggregator_ingest",
                "--messages",
                str(args.messages),
                "--centers",
                str(size),
            ],
            check=True,
        )


if __name__ == "__main__":
    main()
