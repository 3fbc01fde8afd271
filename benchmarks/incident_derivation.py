"""What deriving incidents costs: re-evaluation with and without them, in the same run.

Same synthetic federations as ``engine_evaluation`` (a meshed national core, dual-homed hubs,
rings of provinces). Scenarios: one link cut inside a ring (1k, 10k, 100k), one hub down (1k,
10k), and a thousand provincial centers down at once at 10k. Every figure is the median over
``--rounds`` evaluations and is printed as a ratio to the same engine with incidents turned off
(``EngineSettings(incidents=False)``), measured in the same run. Run:
``python -m benchmarks.incident_derivation [--sizes 1000,10000,100000] [--rounds 5]``. At 10k it
also runs the thousand-failure derivation the way the aggregator does (in a worker thread) and
prints the event loop's longest stall meanwhile, against an idle loop's.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from collections.abc import Callable

from agents.protocol import CenterState, Heartbeat, LinkReport, Message, MessageKind, Probe
from benchmarks.engine_evaluation import synthetic_registry
from monitor.registry import Registry
from monitor.status.engine import EngineSettings, IncidentJob, StatusEngine

BUDGET_RATIO = 2.0
"""Issue 11: re-evaluation with incidents at most 2x without, for a single failure."""
STALL_BUDGET_S = 0.2
"""Issue 11: a thousand simultaneous failures at 10k must not stall the loop more than this."""
TICK_S = 0.005
START = 100.0
"""Evaluations run after the start-up grace period (when incidents are derived)."""


class Federation:
    """A warm engine and what its agents would report; faults are applied by reporting them."""

    def __init__(self, registry: Registry, *, incidents: bool, defer: bool = False) -> None:
        self.registry = registry
        self.neighbours = registry.adjacency()
        # Reports stay fresh for the whole run: each round changes only what it measures.
        settings = EngineSettings(incidents=incidents, probe_fresh_s=1e6, defer_incidents=defer)
        self.engine = StatusEngine(registry, settings, started_at=-100.0)
        self.seq = 1
        self.sessions: dict[str, int] = {}
        self.down: set[str] = set()
        self.cut: set[frozenset[str]] = set()
        for cid in registry.center_ids():
            birth = CenterState(
                center=cid, status="online", session=1, ts=0.0, heartbeat_interval_s=60.0
            )
            self.engine.ingest(Message(MessageKind.STATE, cid, birth), 0.0)
            beat = Heartbeat(session=1, seq=1, ts=0.0)
            self.engine.ingest(Message(MessageKind.HEARTBEAT, cid, beat), 0.0)
        self.report(self.registry.center_ids(), 0.0)
        self.engine.evaluate(START - 1)

    def report(self, centers: object, now: float) -> None:
        """Links reports of ``centers`` as they see the current faults."""
        assert isinstance(centers, tuple | list | set)
        self.seq += 1
        for cid in centers:
            if cid in self.down:
                continue
            probes = tuple(
                Probe(peer=p, reachable=False)
                if p in self.down or frozenset((cid, p)) in self.cut
                else Probe(peer=p, reachable=True, rtt_s=0.002)
                for p in self.neighbours[cid]
            )
            report = LinkReport(session=1, seq=self.seq, ts=now, probes=probes)
            self.engine.ingest(Message(MessageKind.LINKS, cid, report), now)

    def fail_centers(self, centers: list[str], now: float) -> None:
        """``centers`` go down: their wills arrive, their neighbours lose them."""
        self.down.update(centers)
        for cid in centers:
            session = self.sessions.get(cid, 1)
            will = CenterState(center=cid, status="offline", session=session, ts=now, reason="lost")
            self.engine.ingest(Message(MessageKind.STATE, cid, will), now)
        self.report({p for c in centers for p in self.neighbours[c]}, now)

    def heal_centers(self, centers: list[str], now: float) -> None:
        """``centers`` come back (a new session each) and report their links."""
        self.down.difference_update(centers)
        for cid in centers:
            self.sessions[cid] = session = 2 + int(now)
            birth = CenterState(
                center=cid, status="online", session=session, ts=now, heartbeat_interval_s=60.0
            )
            self.engine.ingest(Message(MessageKind.STATE, cid, birth), now)
        self.report({p for c in centers for p in self.neighbours[c]} | set(centers), now)

    def toggle_link(self, a: str, b: str, now: float) -> None:
        """The link ``a``--``b`` fails if it works, works if it failed."""
        self.cut ^= {frozenset((a, b))}
        self.report([a, b], now)

    def timed_evaluation(self, now: float) -> float:
        """Seconds for needs_evaluation() and evaluate() at ``now``."""
        start = time.perf_counter()
        self.engine.needs_evaluation(now)
        self.engine.evaluate(now)
        return time.perf_counter() - start


Scenario = Callable[[Federation, int, float], None]


def ring_link(fed: Federation, i: int, now: float) -> None:
    """Cut, then restore, one link inside a ring of provinces."""
    fed.toggle_link("p-1", "p-2", now)


def hub_down(fed: Federation, i: int, now: float) -> None:
    """The first hub fails, then comes back."""
    if i % 2 == 0:
        fed.fail_centers(["hub-0"], now)
    else:
        fed.heal_centers(["hub-0"], now)


def thousand_down(fed: Federation, i: int, now: float) -> None:
    """A thousand random provincial centers fail at once, then come back."""
    provinces = [c for c in fed.registry.center_ids() if c.startswith("p-")]
    chosen = random.Random(7).sample(provinces, 1000)
    if i % 2 == 0:
        fed.fail_centers(chosen, now)
    else:
        fed.heal_centers(chosen, now)


def measure(registry: Registry, scenario: Scenario, rounds: int) -> tuple[float, float, int]:
    """Median evaluation time after the failure (rounds with it applied), without and with."""
    medians = []
    incidents = 0
    for with_incidents in (False, True):
        fed = Federation(registry, incidents=with_incidents)
        times = []
        for i in range(2 * rounds):
            now = START + i
            scenario(fed, i, now)
            elapsed = fed.timed_evaluation(now)
            if i % 2 == 0:  # the failure, not the recovery
                times.append(elapsed)
                incidents = max(incidents, len(fed.engine.snapshot.incidents))
        medians.append(statistics.median(times))
    return medians[0], medians[1], incidents


async def _loop_stalls(job: IncidentJob) -> tuple[float, float, float]:
    """Longest event-loop stall idle (baseline) and while ``job`` runs in a worker thread, as
    the aggregator runs it; and how long the job took."""
    lags: list[float] = []

    async def ticker() -> None:
        while True:
            start = time.perf_counter()
            await asyncio.sleep(TICK_S)
            lags.append(time.perf_counter() - start - TICK_S)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0.3)
    idle = max(lags)
    lags.clear()
    start = time.perf_counter()
    await asyncio.to_thread(job.run)
    took = time.perf_counter() - start
    stall = max(lags, default=0.0)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return idle, stall, took


def measure_deferred(registry: Registry, scenario: Scenario, name: str) -> None:
    """A failure derived off the loop as the aggregator does: the evaluation on the loop, the
    derivation in a worker thread, and the loop's longest stall meanwhile."""
    fed = Federation(registry, incidents=True, defer=True)
    scenario(fed, 0, START)
    started = time.perf_counter()
    fed.engine.needs_evaluation(START)
    fed.engine.evaluate(START)
    evaluation = time.perf_counter() - started
    job = fed.engine.take_incident_job()
    assert job is not None, "the failures left an incident derivation to run"
    idle, stall, took = asyncio.run(_loop_stalls(job))
    print(
        f"{len(registry.centers):>7} centers, {name}, derived off the loop: "
        f"evaluation {evaluation * 1000:.1f} ms on the loop, derivation {took * 1000:.0f} ms in "
        f"a worker thread; longest loop stall meanwhile {stall * 1000:.1f} ms = "
        f"{stall / idle:.1f}x an idle loop's {idle * 1000:.1f} ms (baseline); budget "
        f"{STALL_BUDGET_S * 1000:.0f} ms: " + ("met" if stall <= STALL_BUDGET_S else "MISSED")
    )


def main() -> None:
    """Run every scenario at the requested sizes and print the ratios."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    for size in sizes:
        registry = synthetic_registry(size)
        plans: list[tuple[str, Scenario]] = [("one ring link cut", ring_link)]
        if size <= 10_000:
            plans.append(("one hub down", hub_down))
        if size == 10_000:
            plans.append(("1,000 centers down", thousand_down))
        if size == 10_000:
            measure_deferred(registry, thousand_down, "1,000 centers down")
        if size >= 100_000:
            measure_deferred(registry, ring_link, "one ring link cut")
        for name, scenario in plans:
            without, with_, incidents = measure(registry, scenario, args.rounds)
            ratio = with_ / without
            print(
                f"{size:>7} centers, {name:<18}: re-evaluation {with_ * 1000:8.1f} ms with "
                f"incidents ({incidents} open) = {ratio:4.2f}x the {without * 1000:.1f} ms "
                f"without (baseline, same run); budget {BUDGET_RATIO:g}x: "
                + ("met" if ratio <= BUDGET_RATIO else "MISSED")
            )


if __name__ == "__main__":
    main()
