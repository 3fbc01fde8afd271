"""The capacity planner (DESIGN §5 ``/api/v1/capacity``): pure functions over a ``Snapshot``.

Counted capacity is that of centers whose connected flag is 1 and whose agent is live with a
capacity report of its current session: a silent agent's capacity never counts (a ``stale``
center included). Candidate paths run over usable links through live and stale centers and
minimise the path RTT (networkx's Dijkstra): per link the mean RTT of its fresh reachable
probes, or the registry's ``est_rtt_ms`` when no probe measured it (the candidate says so).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import pairwise
from typing import TYPE_CHECKING

from agents.errors import ParameterError
from agents.protocol import RESOURCES, Resource
from monitor.registry import Registry
from monitor.status.model import CenterView, Snapshot

if TYPE_CHECKING:
    import networkx as nx


@dataclass(frozen=True, slots=True)
class ResourceTotal:
    """Available and total amount of one resource."""

    available: float = 0.0
    total: float = 0.0


@dataclass(frozen=True, slots=True)
class CapacityTotals:
    """Capacity of the counted centers: overall, and by tier, region and partition."""

    centers: tuple[str, ...]
    """The counted centers (registry order)."""
    overall: Mapping[str, ResourceTotal]
    by_tier: Mapping[str, Mapping[str, ResourceTotal]]
    by_region: Mapping[str, Mapping[str, ResourceTotal]]
    by_partition: Mapping[int, Mapping[str, ResourceTotal]]


@dataclass(frozen=True, slots=True)
class Candidate:
    """A center with enough of a resource, and the lowest-RTT usable path to it."""

    center: str
    available: float
    total: float
    path: tuple[str, ...]
    """From the query's origin to ``center``, both included."""
    hops: int
    path_rtt_s: float
    rtt_estimated: bool
    """True if some hop had no fresh RTT and the registry's ``est_rtt_ms`` stood in."""
    bottleneck_bandwidth_gbps: float | None
    """Lowest registry bandwidth along the path (None for the origin itself)."""


def counts_capacity(view: CenterView) -> bool:
    """Whether a center's capacity counts: connected flag 1, live agent, a capacity report."""
    return view.connected and view.live and bool(view.capacity)


@dataclass
class _Sums:
    available: dict[str, float] = field(default_factory=dict)
    total: dict[str, float] = field(default_factory=dict)

    def add(self, view: CenterView) -> None:
        for name, amount in view.capacity.items():
            self.available[name] = self.available.get(name, 0.0) + amount.available
            self.total[name] = self.total.get(name, 0.0) + amount.total

    def frozen(self) -> dict[str, ResourceTotal]:
        return {
            name: ResourceTotal(self.available.get(name, 0.0), self.total.get(name, 0.0))
            for name in RESOURCES
        }


def capacity_totals(snapshot: Snapshot, registry: Registry) -> CapacityTotals:
    """Totals of capacity over the counted centers, grouped by tier, region and partition."""
    overall = _Sums()
    tiers: dict[str, _Sums] = {}
    regions: dict[str, _Sums] = {}
    partitions: dict[int, _Sums] = {}
    counted: list[str] = []
    for spec in registry.centers:
        view = snapshot.centers.get(spec.id)
        if view is None or not counts_capacity(view):
            continue
        counted.append(spec.id)
        overall.add(view)
        tiers.setdefault(spec.tier, _Sums()).add(view)
        regions.setdefault(spec.region, _Sums()).add(view)
        if view.partition is not None:
            partitions.setdefault(view.partition, _Sums()).add(view)
    return CapacityTotals(
        centers=tuple(counted),
        overall=overall.frozen(),
        by_tier={name: sums.frozen() for name, sums in tiers.items()},
        by_region={name: sums.frozen() for name, sums in regions.items()},
        by_partition={index: sums.frozen() for index, sums in sorted(partitions.items())},
    )


def _usable_graph(snapshot: Snapshot, registry: Registry) -> nx.Graph:
    """Usable links between forwarding (live or stale) centers, weighted by RTT in seconds."""
    # Imported here, not at module level: networkx adds ~22 MB to the aggregator's RSS, paid
    # only by deployments that ask the planner for candidates.
    import networkx as nx

    forwarding = {
        center for center, view in snapshot.centers.items() if view.live or view.status == "stale"
    }
    estimates = {link.key: link.est_rtt_ms for link in registry.links}
    graph = nx.Graph()
    graph.add_nodes_from(forwarding)
    for key, link in snapshot.links.items():
        if not link.usable or link.a not in forwarding or link.b not in forwarding:
            continue
        if link.rtt_s is not None:
            rtt, estimated = link.rtt_s, False
        else:
            rtt, estimated = (estimates.get(key) or 0.0) / 1000.0, True
        graph.add_edge(
            link.a, link.b, rtt_s=rtt, estimated=estimated, bandwidth_gbps=link.bandwidth_gbps
        )
    return graph


def find_candidates(  # noqa: PLR0917 - the agreed call shape of the HTTP layer
    snapshot: Snapshot,
    registry: Registry,
    resource: str,
    minimum: float,
    origin: str,
    max_rtt_ms: float | None = None,
) -> list[Candidate]:
    """Counted centers with at least ``minimum`` of ``resource`` available, reachable from
    ``origin``, with their lowest-RTT path; sorted by path RTT.

    Raises:
        ParameterError: for an unknown resource or origin, or a negative ``minimum``/``max_rtt_ms``.
    """
    if resource not in RESOURCES:
        raise ParameterError("resource", f"{resource!r} is not one of {', '.join(RESOURCES)}")
    if origin not in snapshot.centers:
        raise ParameterError("from", f"unknown center {origin!r}")
    if minimum < 0:
        raise ParameterError("min", "must not be negative")
    if max_rtt_ms is not None and max_rtt_ms < 0:
        raise ParameterError("max_rtt_ms", "must not be negative")
    origin_view = snapshot.centers[origin]
    if not (origin_view.live or origin_view.status == "stale"):
        return []
    graph = _usable_graph(snapshot, registry)
    from networkx import single_source_dijkstra

    rtts, paths = single_source_dijkstra(graph, origin, weight="rtt_s")
    found: list[Candidate] = []
    for center, rtt in rtts.items():
        view = snapshot.centers[center]
        amount = view.capacity.get(resource)
        if amount is None or amount.available < minimum or not counts_capacity(view):
            continue
        if max_rtt_ms is not None and rtt * 1000.0 > max_rtt_ms:
            continue
        found.append(_candidate(graph, paths[center], float(rtt), amount))
    found.sort(key=lambda c: (c.path_rtt_s, c.hops, c.center))
    return found


def _candidate(graph: nx.Graph, path: list[str], rtt_s: float, amount: Resource) -> Candidate:
    hops = [graph.edges[a, b] for a, b in pairwise(path)]
    return Candidate(
        center=path[-1],
        available=amount.available,
        total=amount.total,
        path=tuple(path),
        hops=len(hops),
        path_rtt_s=rtt_s,
        rtt_estimated=any(hop["estimated"] for hop in hops),
        bottleneck_bandwidth_gbps=min((hop["bandwidth_gbps"] for hop in hops), default=None),
    )
