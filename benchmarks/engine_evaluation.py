"""Re-evaluation time of the status engine after one link change, at 1k, 10k and 100k centers.

Synthetic federations with the sample's structure: a meshed national core, regional hubs
dual-homed on it and ringed, provinces in protected rings behind each hub (both ring ends on the
hub) with cross-links between neighbouring rings (about 3 links per center). Every figure is
printed next to a baseline measured in the same run: networkx ``connected_components`` on the
same graph. Run: ``python -m benchmarks.engine_evaluation [--sizes 1000,10000,100000]``.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
from typing import Any

from agents.protocol import CenterState, Heartbeat, LinkReport, Message, MessageKind, Probe
from monitor.registry import Registry, parse_registry
from monitor.status.engine import EngineSettings, StatusEngine
from monitor.status.model import link_key

TARGETS_S = {1_000: 0.010, 10_000: 0.100, 100_000: 1.5}
RING = 8


def synthetic_registry(size: int) -> Registry:
    """A federation of about ``size`` centers with the sample's structure."""
    centers: list[dict[str, Any]] = []
    links: list[dict[str, Any]] = []

    def center(cid: str, tier: str) -> None:
        centers.append(
            {
                "id": cid,
                "name": cid,
                "tier": tier,
                "region": "r",
                "location": {"lat": 16.0, "lon": 107.0},
            }
        )

    def link(a: str, b: str) -> None:
        links.append({"a": a, "b": b, "bandwidth_gbps": 100})

    nationals = [f"ndc-{i}" for i in range(3)]
    for n in nationals:
        center(n, "national")
    for i, a in enumerate(nationals):
        for b in nationals[i + 1 :]:
            link(a, b)
    hubs = [f"hub-{i}" for i in range(max(3, size // 200))]
    for i, hub in enumerate(hubs):
        center(hub, "regional")
        link(hub, nationals[i % 3])
        link(hub, nationals[(i + 1) % 3])
    for i, hub in enumerate(hubs):
        link(hub, hubs[(i + 1) % len(hubs)])
    remaining = size - len(centers)
    rings: list[list[str]] = []
    index = 0
    while remaining > 0:
        hub = hubs[len(rings) % len(hubs)]
        members = [f"p-{index + k}" for k in range(min(RING, remaining))]
        index += len(members)
        remaining -= len(members)
        for m in members:
            center(m, "provincial")
        link(hub, members[0])
        for a, b in itertools.pairwise(members):
            link(a, b)
        if len(members) > 1:
            link(members[-1], hub)
        rings.append(members)
    for previous, ring in itertools.pairwise(rings):
        for a, b in zip(previous[1::2], ring[1::2], strict=False):
            link(a, b)
    return parse_registry({"centers": centers, "links": links}, "synthetic")


def warm_engine(registry: Registry) -> StatusEngine:
    """An engine fed a birth, a heartbeat and an all-reachable links report of every center."""
    engine = StatusEngine(registry, EngineSettings(), started_at=-100.0)
    neighbours: dict[str, list[str]] = {c: [] for c in registry.center_ids()}
    for spec in registry.links:
        neighbours[spec.a].append(spec.b)
        neighbours[spec.b].append(spec.a)
    for cid, peers in neighbours.items():
        engine.ingest(
            Message(
                MessageKind.STATE,
                cid,
                CenterState(
                    center=cid, status="online", session=1, ts=0.0, heartbeat_interval_s=60.0
                ),
            ),
            0.0,
        )
        engine.ingest(Message(MessageKind.HEARTBEAT, cid, Heartbeat(session=1, seq=1, ts=0.0)), 0.0)
        probes = tuple(Probe(peer=p, reachable=True, rtt_s=0.002) for p in peers)
        engine.ingest(
            Message(MessageKind.LINKS, cid, LinkReport(session=1, seq=2, ts=0.0, probes=probes)),
            0.0,
        )
    engine.evaluate(1.0)
    return engine


def registry_neighbours(registry: Registry, center: str) -> list[str]:
    """Registry neighbours of one center."""
    return [spec.b if spec.a == center else spec.a for spec in registry.links if center in spec.key]


def measure(size: int, rounds: int) -> None:
    """Print the median re-evaluation time after one link change, and its baseline."""
    import networkx as nx  # here only: the benchmarks that import this module measure RSS

    registry = synthetic_registry(size)
    graph = nx.Graph()
    graph.add_edges_from(spec.key for spec in registry.links)
    baseline = []
    for _ in range(rounds):
        start = time.perf_counter()
        sum(1 for _ in nx.connected_components(graph))
        baseline.append(time.perf_counter() - start)
    engine = warm_engine(registry)
    # The link p-1 -- p-2 (inside a protected ring) is cut, then restored, each round: both
    # ends report it; the timing covers needs_evaluation() and evaluate().
    cut = ("p-1", "p-2")
    neighbours = {end: registry_neighbours(registry, end) for end in cut}
    timings = []
    heartbeat_checks = []
    seq = 3
    for i in range(rounds):
        now = 2.0 + i
        broken = i % 2 == 0
        for end, other in (cut, cut[::-1]):
            probes = tuple(
                Probe(peer=p, reachable=True, rtt_s=0.002)
                if p != other or not broken
                else Probe(peer=p, reachable=False)
                for p in neighbours[end]
            )
            report = LinkReport(session=1, seq=seq, ts=now, probes=probes)
            engine.ingest(Message(MessageKind.LINKS, end, report), now)
        seq += 1
        start = time.perf_counter()
        needed = engine.needs_evaluation(now)
        snapshot = engine.evaluate(now)
        timings.append(time.perf_counter() - start)
        assert needed, "a link change must call for a re-evaluation"
        assert snapshot.links[link_key(*cut)].state == ("down" if broken else "up")
        engine.ingest(
            Message(MessageKind.HEARTBEAT, "p-3", Heartbeat(session=1, seq=seq, ts=now)), now
        )
        seq += 1
        heartbeat_checks.append(engine.needs_evaluation(now))
    median = statistics.median(timings)
    base = statistics.median(baseline)
    target = TARGETS_S.get(size)
    verdict = (
        ""
        if target is None
        else f"target {target * 1000:.0f} ms: "
        + ("met" if median <= target else f"MISSED by {median / target:.2f}x")
    )
    print(
        f"{len(registry.centers):>7} centers {len(registry.links):>7} links: "
        f"re-evaluation {median * 1000:8.2f} ms = {median / base:5.1f}x networkx "
        f"connected_components ({base * 1000:.2f} ms); {verdict}; "
        f"heartbeat triggered evaluation: {any(heartbeat_checks)}"
    )


def main() -> None:
    """Run the benchmark for the requested sizes."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    for size in (int(s) for s in args.sizes.split(",")):
        measure(size, args.rounds)


if __name__ == "__main__":
    main()
