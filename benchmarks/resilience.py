"""What the resilience ranking and the link suggestions cost, at 72 and 1,000 centers.

The shipped sample (72 centers) and the synthetic federation of ``engine_evaluation`` at 1,000
centers (scattered over Viet Nam here, with random capacity reports). Every time is printed as a
ratio to one ``graph.resilience`` pass over the same healthy federation (the baseline, median,
measured in the same run). Then k=2 at 1,000 centers runs the way the service runs it (in a
worker thread, ``asyncio.to_thread``) while a ticker sleeping 1 ms records the event loop's
worst lateness, next to the same ticker's worst lateness with no work. Run:
``python -m benchmarks.resilience [--links 3]``.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import msgspec

from agents.protocol import RESOURCES
from benchmarks.engine_evaluation import synthetic_registry
from monitor.registry import Location, Registry, load_registry
from monitor.status.failures import HealthyFederation, rank_failures
from monitor.status.graph import resilience
from monitor.status.suggestions import suggest_links

SAMPLE = Path(__file__).resolve().parent.parent / "config" / "topology.yaml"
TICK_S = 0.001
LIMIT = 10
T = TypeVar("T")


def sample() -> HealthyFederation:
    """The shipped sample, each center reporting its declared capacity as available."""
    registry = load_registry(SAMPLE)
    capacity = {
        c.id: {name: float(getattr(c.capacity, name)) for name in RESOURCES}
        for c in registry.centers
        if c.capacity is not None
    }
    return HealthyFederation.of(registry, capacity)


def synthetic(size: int) -> HealthyFederation:
    """``engine_evaluation``'s federation, scattered over Viet Nam, with random capacity."""
    rng = random.Random(size)
    base = synthetic_registry(size)
    centers = tuple(
        msgspec.structs.replace(
            c, location=Location(lat=rng.uniform(8.5, 23.0), lon=rng.uniform(102.5, 109.0))
        )
        for c in base.centers
    )
    registry: Registry = msgspec.structs.replace(base, centers=centers)
    capacity = {
        c.id: {"cpu_cores": float(rng.randint(0, 4096)), "gpus": float(rng.randint(0, 64))}
        for c in centers
        if rng.random() < 0.8
    }
    return HealthyFederation.of(registry, capacity)


def timed(work: Callable[[], T]) -> tuple[float, T]:
    """Wall time of one call, and its result."""
    start = time.perf_counter()
    result = work()
    return time.perf_counter() - start, result


def baseline(fed: HealthyFederation, rounds: int = 21) -> float:
    """Median time of one ``resilience`` pass over the healthy federation."""
    times = [timed(lambda: resilience(fed.core, fed.index.neighbours))[0] for _ in range(rounds)]
    return statistics.median(times)


async def _worst_lateness(work: Callable[[], object] | None) -> tuple[float, float]:
    """Worst lateness of a 1 ms ticker while ``work`` runs in a worker thread (or for 1 s
    idle), and how long that took."""
    worst = 0.0

    async def ticker() -> None:
        nonlocal worst
        while True:
            start = time.perf_counter()
            await asyncio.sleep(TICK_S)
            worst = max(worst, time.perf_counter() - start - TICK_S)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0.2)
    worst = 0.0
    start = time.perf_counter()
    if work is None:
        await asyncio.sleep(1.0)
    else:
        await asyncio.to_thread(work)
    took = time.perf_counter() - start
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return worst, took


def measure(name: str, fed: HealthyFederation, links: int) -> None:
    """Print the k=1, k=2 and suggestion times against the baseline."""
    base = baseline(fed)
    print(
        f"{name}: {len(fed.index.ids)} centers, {len(fed.index.links)} links; baseline: one "
        f"resilience pass {base * 1000:.2f} ms"
    )
    for k in (1, 2):
        took, ranking = timed(lambda k=k: rank_failures(fed, k, LIMIT))  # type: ignore[misc]
        worst = ranking.failures[0]
        print(
            f"  k={k}: {took * 1000:9.1f} ms = {took / base:8.0f}x baseline; "
            f"{ranking.evaluated} failure sets; worst: {worst.label} "
            f"({len(worst.lost_core)} lose the core, {len(worst.lost_redundancy)} redundancy)"
        )
    took, suggestions = timed(lambda: suggest_links(fed, links))
    print(
        f"  suggestions ({links}): {took * 1000:9.1f} ms = {took / base:8.0f}x baseline; "
        + "; ".join(
            f"{s.a}--{s.b} {s.distance_km:.0f} km fixes {len(s.fixes)}" for s in suggestions
        )
    )


def main() -> None:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--links", type=int, default=3)
    args = parser.parse_args()
    measure("sample", sample(), args.links)
    big = synthetic(1000)
    measure("synthetic", big, args.links)
    idle, _ = asyncio.run(_worst_lateness(None))
    stall, took = asyncio.run(_worst_lateness(lambda: rank_failures(big, 2, LIMIT)))
    print(
        f"k=2 at 1,000 centers in a worker thread ({took:.1f} s): worst loop lateness "
        f"{stall * 1000:.1f} ms = {stall / idle:.1f}x an idle loop's {idle * 1000:.2f} ms "
        f"(baseline, 1 ms ticker)"
    )


if __name__ == "__main__":
    main()
