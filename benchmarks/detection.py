"""Detection latency: real agents, a real mosquitto and the aggregator, fault to flagged status.

The seven-center federation of ``tests/agent_federation.py`` runs as real ``python -m agents``
processes (heartbeat every 1 s, probes every 2 s with a 0.5 s timeout and one exchange); the
aggregator runs in a thread of this process. Each fault is injected ``--repeats`` times at a
random phase, and the time from the fault to the aggregator's flag is measured on the aggregator's
own clock (the ``at`` of its status event, the ``evaluated_at`` of the snapshot):

* agent crash: SIGKILL of ``prov-2`` -> its will -> ``stale``/``down``. Target 1 s. Then, for
  information, until ``down`` (its neighbours' probes are refused: one probe interval at most).
* frozen agent: SIGSTOP of ``prov-1`` -> no heartbeat -> ``stale``/``down``. Target
  misses x interval + 0.5 s.
* cut link: the probes across ``ndc-a--prov-1`` go through a relay that is switched to a
  blackhole -> the link is ``down``. Target probe interval + probe timeout + 0.5 s.

Baselines, measured in the same run by a bare aiomqtt subscriber on the same broker: the will's
delivery; the last heartbeat received before the freeze plus the silence window (when a perfect
observer applying the same rule would flag it); the arrival of both ends' "unreachable" reports.

Run: ``python -m benchmarks.detection [--repeats 5]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiomqtt

from agents.protocol import CenterState, Heartbeat, LinkReport, ProtocolError, decode
from monitor.config import Thresholds
from monitor.status.model import link_key
from tests.agent_federation import AgentTiming, Federation, running_federation, write_federation
from tests.aggregator_harness import LiveAggregator, aggregator_config
from tests.services import Mosquitto

TIMING = AgentTiming(
    heartbeat_interval_s=1.0, probe_interval_s=2.0, probe_timeout_s=0.5, probe_count=1
)
MISSES = 3
CRASHED, FROZEN, CUT = "prov-2", "prov-1", ("ndc-a", "prov-1")
SILENT = ("stale", "down", "unreachable")
DEADLINE_S = 30.0


@dataclass
class Observer:
    """A bare subscriber: the receive time (``time.time()``) of what matters, per center."""

    heartbeats: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    wills: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    unreachable: dict[tuple[str, str], list[float]] = field(
        default_factory=lambda: defaultdict(list)
    )

    async def run(self, port: int, subscribed: asyncio.Event) -> None:
        """Record every center message until cancelled."""
        async with aiomqtt.Client("127.0.0.1", port) as client:
            await client.subscribe("dcmon/v1/centers/#", qos=1)
            subscribed.set()
            async for message in client.messages:
                at = time.time()
                assert isinstance(message.payload, bytes)
                try:
                    decoded = decode(message.topic.value, message.payload)
                except ProtocolError:
                    continue
                payload, source = decoded.payload, decoded.source
                if isinstance(payload, Heartbeat):
                    self.heartbeats[source].append(at)
                elif isinstance(payload, CenterState) and payload.status == "offline":
                    self.wills[source].append(at)
                elif isinstance(payload, LinkReport):
                    for probe in payload.probes:
                        if not probe.reachable:
                            self.unreachable[(source, probe.peer)].append(at)

    @staticmethod
    async def first_after(times: list[float], t0: float) -> float:
        """The first recorded time after ``t0`` (waiting for it to be recorded)."""
        found: list[float] = []

        async def recorded() -> bool:
            found.extend(t for t in times if t > t0)
            return bool(found)

        await poll(recorded, "the bare subscriber's message")
        return found[0]


@dataclass
class Trials:
    """Latencies of one scenario: the aggregator's and the baseline's, per trial (seconds)."""

    name: str
    target_s: float
    measured: list[float] = field(default_factory=list)
    baseline: list[float] = field(default_factory=list)

    def row(self) -> str:
        """One line of the report."""
        median, worst = statistics.median(self.measured), max(self.measured)
        base = statistics.median(self.baseline)
        verdict = "OK" if worst <= self.target_s else "MISSES TARGET"
        return (
            f"  {self.name:<26} target {self.target_s:5.2f} s | median {median:6.3f} s "
            f"({median / self.target_s:4.2f}x target, {median / base:5.2f}x baseline) | "
            f"max {worst:6.3f} s ({worst / self.target_s:4.2f}x target) | "
            f"baseline median {base:6.3f} s  {verdict}"
        )


async def poll(predicate: Callable[[], Awaitable[object]], what: str) -> None:
    """Await until ``predicate()`` is truthy (every 10 ms), or fail after a generous deadline."""
    deadline = time.monotonic() + DEADLINE_S
    while not await predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {DEADLINE_S} s")
        await asyncio.sleep(0.01)


class Bench:
    """The running aggregator, federation and observer, and the three fault scenarios."""

    def __init__(self, live: LiveAggregator, fed: Federation, observer: Observer) -> None:
        self.live = live
        self.fed = fed
        self.observer = observer

    def _status(self, center: str) -> str:
        assert self.live.aggregator is not None
        return self.live.aggregator.snapshot.centers[center].status

    def _link_state(self) -> str:
        assert self.live.aggregator is not None
        return self.live.aggregator.snapshot.links[link_key(*CUT)].state

    async def _status_is(self, center: str, status: str) -> bool:
        return self._status(center) == status

    async def until_connected(self, center: str) -> None:
        """Wait until ``center`` is connected."""
        await poll(lambda: self._status_is(center, "connected"), f"{center} connected")

    async def _event_at(self, center: str, since: int, statuses: tuple[str, ...]) -> float | None:
        path = f"/api/v1/events?center={center}&since={since}&type=center"
        events = (await asyncio.to_thread(self.live.json, path))["events"]
        return next((float(e["at"]) for e in events if e["new"] in statuses), None)

    async def _last_seq(self) -> int:
        events = (await asyncio.to_thread(self.live.json, "/api/v1/events?limit=1"))["events"]
        return int(events[-1]["seq"]) if events else 0

    async def _wait_event(self, center: str, since: int, statuses: tuple[str, ...]) -> float:
        found: list[float] = []

        async def check() -> bool:
            at = await self._event_at(center, since, statuses)
            if at is not None:
                found.append(at)
            return at is not None

        await poll(check, f"{center} {'/'.join(statuses)}")
        return found[0]

    async def _random_phase(self, period_s: float) -> None:
        await asyncio.sleep(random.uniform(0, period_s))

    async def crash(self, flagged: Trials, down: Trials) -> None:
        """SIGKILL an agent; time to silent (will) and to down (neighbours' probes)."""
        await self._random_phase(TIMING.heartbeat_interval_s)
        since = await self._last_seq()
        t0 = time.time()
        self.fed.kill(CRASHED)
        flagged.measured.append(await self._wait_event(CRASHED, since, SILENT) - t0)
        down.measured.append(await self._wait_event(CRASHED, since, ("down",)) - t0)
        obs = self.observer
        flagged.baseline.append(await obs.first_after(obs.wills[CRASHED], t0) - t0)
        # down needs one neighbour's "unreachable": the first of them to arrive
        reports = await asyncio.gather(
            *(obs.first_after(obs.unreachable[(peer, CRASHED)], t0) for peer in ("ndc-b", "prov-1"))
        )
        down.baseline.append(min(reports) - t0)
        self.fed.start_agent(CRASHED)
        await self.until_connected(CRASHED)

    async def freeze(self, flagged: Trials) -> None:
        """SIGSTOP an agent; time to silent. SIGCONT afterwards."""
        await self._random_phase(TIMING.heartbeat_interval_s)
        since = await self._last_seq()
        t0 = time.time()
        self.fed.freeze(FROZEN)
        try:
            flagged.measured.append(await self._wait_event(FROZEN, since, SILENT) - t0)
            last_beat = max(self.observer.heartbeats[FROZEN])
        finally:
            self.fed.thaw(FROZEN)
        flagged.baseline.append(last_beat + MISSES * TIMING.heartbeat_interval_s - t0)
        await self.until_connected(FROZEN)

    async def cut(self, down: Trials) -> None:
        """Blackhole both directions of a link's probes; time until the link is down."""
        await self._random_phase(TIMING.probe_interval_s)
        t0 = time.time()
        self.fed.cut(*CUT)
        seen: list[float] = []

        async def link_down() -> bool:
            assert self.live.aggregator is not None
            snapshot = self.live.aggregator.snapshot
            if snapshot.links[link_key(*CUT)].state == "down":
                seen.append(snapshot.evaluated_at)
            return bool(seen)

        await poll(link_down, "cut link down")
        down.measured.append(seen[0] - t0)
        a, b = CUT
        obs = self.observer
        both = await asyncio.gather(
            obs.first_after(obs.unreachable[(a, b)], t0),
            obs.first_after(obs.unreachable[(b, a)], t0),
        )
        down.baseline.append(max(both) - t0)
        self.fed.restore(*CUT)

        async def link_up() -> bool:
            return self._link_state() == "up"

        await poll(link_up, "restored link up")


async def main_async(repeats: int) -> None:
    """Start everything, run each scenario ``repeats`` times, print the figures."""
    window = MISSES * TIMING.heartbeat_interval_s
    crash = Trials("agent crash -> flagged", 1.0)
    crash_down = Trials("agent crash -> down", TIMING.probe_interval_s + 0.5)
    frozen = Trials("frozen agent -> flagged", window + 0.5)
    cut = Trials("cut link -> link down", TIMING.probe_interval_s + TIMING.probe_timeout_s + 0.5)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        broker = Mosquitto(workdir / "mosquitto")
        broker.start()
        try:
            config = aggregator_config(
                broker.url,
                write_federation(workdir),
                default_heartbeat_interval_s=TIMING.heartbeat_interval_s,
                heartbeat_misses=MISSES,
                probe_fresh_s=4 * TIMING.probe_interval_s,
                thresholds=Thresholds(degraded_rtt_s=None, degraded_loss_ratio=None),
            )
            observer = Observer()
            subscribed = asyncio.Event()
            watching = asyncio.create_task(observer.run(broker.port, subscribed))
            await subscribed.wait()
            with LiveAggregator(config) as live:
                async with running_federation(
                    workdir / "agents", broker.url, TIMING, relayed_links=[CUT]
                ) as fed:
                    bench = Bench(live, fed, observer)
                    for center in (CRASHED, FROZEN):
                        await bench.until_connected(center)
                    for _ in range(repeats):
                        await bench.crash(crash, crash_down)
                        await bench.freeze(frozen)
                        await bench.cut(cut)
            watching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watching
        finally:
            broker.stop()
    print(
        f"detection latency, {repeats} trials each; agents beat every "
        f"{TIMING.heartbeat_interval_s:g} s ({MISSES} misses = {window:g} s window), probe every "
        f"{TIMING.probe_interval_s:g} s with a {TIMING.probe_timeout_s:g} s timeout"
    )
    for trials in (crash, crash_down, frozen, cut):
        print(trials.row())


def main() -> None:
    """Parse flags and run."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main_async(args.repeats))


if __name__ == "__main__":
    main()
