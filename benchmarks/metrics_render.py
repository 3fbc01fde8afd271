"""``/metrics`` latency at 1k and 10k centers, against prometheus-client on the same data; RSS.

For each size: a synthetic federation (the engine benchmark's) fed births, heartbeats, probes and
capacity; then, in the same run,

* baseline: ``generate_latest`` over ``SnapshotCollector`` (prometheus-client's own rendering);
* the fast renderer cold (first render) and after one link change (incremental);
* ``GET /metrics`` on the real aiohttp app, median over scrapes of a cached generation;
* the longest event-loop stall while a new generation is rendered (on the loop, in slices) and
  scraped, against the same 1 ms probe on an idle loop (baseline);
* process RSS after serving, against the same process with its modules imported (each size runs
  in a fresh process). Targets: <= 20 ms at 1k, <= 150 ms at 10k, stall <= 50 ms, RSS <= 150 MB
  at 10k.

Run: ``python -m benchmarks.metrics_render [--sizes 1000,10000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from typing import Any

import psutil
from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest

from agents.protocol import Capacity, LinkReport, Message, MessageKind, Probe, Resource
from benchmarks.engine_evaluation import registry_neighbours, synthetic_registry, warm_engine
from benchmarks.scrape import curl
from monitor.config import AggregatorConfig
from monitor.service.aggregator import Aggregator
from monitor.service.exposition import SnapshotExposition
from monitor.service.http import build_app
from monitor.service.metrics import SnapshotCollector

TARGETS_S = {1_000: 0.020, 10_000: 0.150}


def _aggregator(size: int) -> Aggregator:
    registry = synthetic_registry(size)
    config = AggregatorConfig(broker="mqtt://127.0.0.1:9", listen="127.0.0.1:0")
    aggregator = Aggregator(config, registry)
    aggregator.engine = warm_engine(registry)
    amount = Resource(total=64, available=20)
    for cid in registry.center_ids():
        report = Capacity(
            session=1,
            seq=3,
            ts=0.0,
            cpu_cores=amount,
            gpus=amount,
            memory_bytes=amount,
            storage_bytes=amount,
        )
        aggregator.engine.ingest(Message(MessageKind.CAPACITY, cid, report), 0.5)
    aggregator.evaluate(1.5)
    return aggregator


def _cut(aggregator: Aggregator, now: float, seq: int) -> None:
    """Both ends of one ring link report it unreachable (a new snapshot generation)."""
    for end, other in (("p-1", "p-2"), ("p-2", "p-1")):
        probes = tuple(
            Probe(peer=p, reachable=p != other, rtt_s=0.002 if p != other else None)
            for p in registry_neighbours(aggregator.registry, end)
        )
        report = LinkReport(session=1, seq=seq, ts=now, probes=probes)
        aggregator.engine.ingest(Message(MessageKind.LINKS, end, report), now)
    aggregator.evaluate(now)


async def _stall_while(work: asyncio.Future[Any]) -> float:
    """Longest gap between 1 ms ticks of the event loop until ``work`` is done."""
    longest = 0.0
    last = time.perf_counter()
    while not work.done():
        await asyncio.sleep(0.001)
        now = time.perf_counter()
        longest = max(longest, now - last)
        last = now
    return longest


async def measure(size: int, scrapes: int) -> None:
    """Print the figures of one federation size."""
    rss_start_mb = psutil.Process().memory_info().rss / 2**20
    idle = asyncio.ensure_future(asyncio.sleep(0.5))
    idle_stall = await _stall_while(idle)
    aggregator = _aggregator(size)
    runner = web.AppRunner(build_app(aggregator))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        size_bytes = await curl(url)  # renders the current generation
        latencies = []
        for _ in range(scrapes):
            start = time.perf_counter()
            await curl(url)
            latencies.append(time.perf_counter() - start)
        _cut(aggregator, 4.0, 11)  # a new generation: rendered on the loop in slices, scraped
        work = asyncio.ensure_future(curl(url))
        stall = await _stall_while(work)
        fresh_start = time.perf_counter()
        _cut(aggregator, 5.0, 12)
        await curl(url)
        fresh = time.perf_counter() - fresh_start
    finally:
        await runner.cleanup()
    rss_mb = psutil.Process().memory_info().rss / 2**20

    snapshot = aggregator.snapshot
    reference = CollectorRegistry(auto_describe=False)
    SnapshotCollector(lambda: aggregator.snapshot, aggregator.registry, registry=reference)
    start = time.perf_counter()
    reference_text = generate_latest(reference)
    baseline = time.perf_counter() - start
    fast = SnapshotExposition(aggregator.registry)
    start = time.perf_counter()
    text = fast.render(snapshot)
    cold = time.perf_counter() - start
    assert text == reference_text, "fast renderer differs from prometheus-client"
    _cut(aggregator, 6.0, 13)
    start = time.perf_counter()
    fast.render(aggregator.snapshot)
    incremental = time.perf_counter() - start
    scrape_s = statistics.median(latencies)
    target = TARGETS_S.get(size)
    verdict = "" if target is None else (" OK" if scrape_s <= target else " MISSES TARGET")
    print(
        f"{size:>6} centers, {size_bytes / 2**20:5.1f} MiB exposition:\n"
        f"  prometheus-client generate_latest  {baseline * 1000:8.1f} ms (baseline)\n"
        f"  fast renderer, cold                {cold * 1000:8.1f} ms  "
        f"({baseline / cold:4.1f}x faster)\n"
        f"  fast renderer, after a link change {incremental * 1000:8.1f} ms  "
        f"({baseline / incremental:4.1f}x faster)\n"
        f"  GET /metrics, cached generation    {scrape_s * 1000:8.1f} ms  "
        f"({scrape_s / baseline:5.3f} of baseline; target {target and target * 1000} ms){verdict}\n"
        f"  GET /metrics, new generation       {fresh * 1000:8.1f} ms\n"
        f"  longest event-loop stall in a render+scrape {stall * 1000:6.1f} ms (target 50 ms) = "
        f"{stall / idle_stall:.1f}x an idle loop's {idle_stall * 1000:.1f} ms (baseline)\n"
        f"  RSS {rss_mb:6.1f} MB after serving (target at 10k: 150 MB) = "
        f"{rss_mb / rss_start_mb:.2f}x the {rss_start_mb:5.1f} MB with the modules imported"
    )


def main() -> None:
    """Parse flags and run."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--scrapes", type=int, default=20)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if len(sizes) == 1:
        asyncio.run(measure(sizes[0], args.scrapes))
        return
    for size in sizes:  # a fresh process each, so RSS is that size's own
        subprocess.run(
            [
                sys.executable,
                "-m",
                "benchmarks.metrics_render",
                "--sizes",
                str(size),
                "--scrapes",
                str(args.scrapes),
            ],
            check=True,
        )


if __name__ == "__main__":
    main()
